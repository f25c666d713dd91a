//! Profiles: what a Worker is (model, provider, system prompt, language) and
//! the prompt resources they are built from.
//!
//! The built-in `companion` profile always exists: the runtime's provider
//! and the Companion's prompt. `[profiles.<name>]` of `yoi.toml` adds others
//! ([`ProfileSpec`], resolved by the binary's configuration); a profile named
//! `companion` replaces the built-in's settings. A profile's prompt is a
//! Markdown file of the workspace, read when a Worker is made.
//!
//! Prompt prose lives only in the repository's `prompts/` folder. The binary
//! embeds it; a `prompts/` directory in the workspace overrides a file by name.

use std::path::Path;

use yoi_protocol::{ApiError, ErrorCode, ProfileInfo, ProfileSummary};

use crate::config::{ProfileSpec, RuntimeConfig};

/// Name of the built-in conversational profile.
pub const COMPANION: &str = "companion";

/// What the built-in profile is, for pickers.
pub const COMPANION_DESCRIPTION: &str = "The workspace's conversational companion";

const EMBEDDED_COMPANION: &str = include_str!("../../../prompts/companion.md");

/// A Worker's profile: model, system prompt, tool registry (empty in this version).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    pub name: String,
    pub model: String,
    pub system_prompt: String,
}

impl Profile {
    pub fn info(&self) -> ProfileInfo {
        ProfileInfo {
            name: self.name.clone(),
            model: self.model.clone(),
        }
    }
}

/// Why a profile could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("unknown profile `{name}`; this runtime offers {}", known.join(", "))]
    Unknown { name: String, known: Vec<String> },
    /// `file` is relative to the workspace (or only the file's name),
    /// never an absolute path: the message reaches clients.
    #[error("the prompt file `{file}` of profile `{profile}` cannot be read")]
    PromptMissing { profile: String, file: String },
}

impl ProfileError {
    /// What input to a worker of this profile answers: `profile_missing`,
    /// naming the profile (and its prompt file) and what to do.
    pub fn input_error(&self) -> ApiError {
        let message = match self {
            ProfileError::Unknown { name, known } => format!(
                "this worker's profile `{name}` is not configured any more (this runtime offers {}); add [profiles.{name}] back to yoi.toml and restart yoi, or start a new conversation with another profile. Its history stays readable",
                known.join(", ")
            ),
            ProfileError::PromptMissing { profile, file } => format!(
                "the prompt file `{file}` of profile `{profile}` cannot be read; put it back (or change the profile's `prompt` in yoi.toml) and restart yoi, or start a new conversation with another profile"
            ),
        };
        let mut error = ApiError::new(ErrorCode::ProfileMissing, message);
        // Trying again will not help: the workspace's owner must act.
        error.retryable = false;
        error
    }
}

/// A prompt file's name as clients may see it: relative to the workspace
/// (the parent of `prompts_dir`), else only its file name.
fn shown_path(path: &Path, config: &RuntimeConfig) -> String {
    config
        .prompts_dir
        .as_deref()
        .and_then(Path::parent)
        .and_then(|workspace| path.strip_prefix(workspace).ok())
        .or_else(|| path.file_name().map(Path::new))
        .map(|p| p.display().to_string())
        .unwrap_or_default()
}

/// Every profile the runtime offers, the built-in `companion` first.
pub fn specs(config: &RuntimeConfig) -> Vec<ProfileSpec> {
    let companion = config
        .profiles
        .iter()
        .find(|p| p.name == COMPANION)
        .cloned()
        .unwrap_or_else(|| ProfileSpec {
            name: COMPANION.to_owned(),
            description: None,
            provider: config.provider.clone(),
            prompt: None,
            language: None,
            tools: crate::tools::ToolGrants::default(),
        });
    std::iter::once(companion)
        .chain(
            config
                .profiles
                .iter()
                .filter(|p| p.name != COMPANION)
                .cloned(),
        )
        .collect()
}

/// A profile as clients see it: never its URL, key or prompt path.
pub fn summary(spec: &ProfileSpec) -> ProfileSummary {
    let check = spec.provider.check_configured();
    let description = spec
        .description
        .clone()
        .or_else(|| (spec.name == COMPANION).then(|| COMPANION_DESCRIPTION.to_owned()));
    ProfileSummary {
        name: spec.name.clone(),
        description,
        model: spec.provider.model.clone(),
        configured: check.is_ok(),
        hint: check.err(),
        tools: Vec::new(),
    }
}

/// Builds the named profile from the configuration and the prompt resources.
pub fn load_profile(name: &str, config: &RuntimeConfig) -> Result<Profile, ProfileError> {
    let specs = specs(config);
    let Some(spec) = specs.iter().find(|p| p.name == name) else {
        return Err(ProfileError::Unknown {
            name: name.chars().take(64).collect(),
            known: specs.iter().map(|p| p.name.clone()).collect(),
        });
    };
    let template = match &spec.prompt {
        None => prompt_resource(
            &spec.name,
            "companion.md",
            EMBEDDED_COMPANION,
            config.prompts_dir.as_deref(),
        )?,
        Some(path) => std::fs::read_to_string(path).map_err(|e| {
            tracing::warn!(profile = name, error = %e.kind(), "profile prompt unreadable");
            ProfileError::PromptMissing {
                profile: spec.name.clone(),
                file: shown_path(path, config),
            }
        })?,
    };
    let language = spec.language.as_deref().unwrap_or(&config.language);
    Ok(Profile {
        name: spec.name.clone(),
        model: spec.provider.model.clone(),
        system_prompt: render(&template, &config.workspace_name, language),
    })
}

fn prompt_resource(
    profile: &str,
    file: &str,
    embedded: &str,
    dir: Option<&Path>,
) -> Result<String, ProfileError> {
    let Some(dir) = dir else {
        return Ok(embedded.to_owned());
    };
    let path = dir.join(file);
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(embedded.to_owned()),
        Err(e) => {
            tracing::warn!(file, error = %e, "prompt override unreadable");
            Err(ProfileError::PromptMissing {
                profile: profile.to_owned(),
                file: format!("prompts/{file}"),
            })
        }
    }
}

fn render(template: &str, workspace_name: &str, language: &str) -> String {
    template
        .replace("{{workspace_name}}", workspace_name)
        .replace("{{language}}", language)
        .trim()
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use yoi_protocol::RuntimeId;

    fn config() -> RuntimeConfig {
        let mut c = RuntimeConfig::new(RuntimeId::backend_internal(), "backend");
        c.workspace_name = "acme".into();
        c.provider.model = "m-1".into();
        c
    }

    #[test]
    fn companion_fills_placeholders_from_the_embedded_prompt() {
        let p = load_profile(COMPANION, &config()).unwrap();
        assert_eq!(p.model, "m-1");
        assert!(p.system_prompt.contains("\"acme\""));
        assert!(p.system_prompt.contains(crate::config::DEFAULT_LANGUAGE));
        assert!(!p.system_prompt.contains("{{"));
    }

    #[test]
    fn workspace_prompts_override_by_file_name() {
        let dir = std::env::temp_dir().join(format!("yoi-prompts-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("companion.md"), "Custom for {{workspace_name}}.").unwrap();
        let mut c = config();
        c.prompts_dir = Some(dir.clone());
        let p = load_profile(COMPANION, &c).unwrap();
        assert_eq!(p.system_prompt, "Custom for acme.");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn unknown_profiles_are_refused_naming_the_known_ones() {
        let err = load_profile("shell", &config()).unwrap_err();
        assert!(matches!(err, ProfileError::Unknown { .. }));
        assert!(err.to_string().contains("companion"), "{err}");
    }

    fn spec(name: &str) -> ProfileSpec {
        let mut provider = config().provider;
        provider.model = format!("{name}-model");
        provider.base_url = "http://127.0.0.1:11434/v1".into();
        ProfileSpec {
            tools: Default::default(),
            name: name.into(),
            description: Some(format!("{name} things")),
            provider,
            prompt: None,
            language: None,
        }
    }

    #[test]
    fn configured_profiles_have_their_model_prompt_and_language() {
        let dir = std::env::temp_dir().join(format!("yoi-profile-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("terse.md");
        std::fs::write(&file, "Be terse in {{language}}.").unwrap();
        let mut c = config();
        let mut terse = spec("terse");
        terse.prompt = Some(file);
        terse.language = Some("French".into());
        c.profiles = vec![terse, spec("local")];
        let p = load_profile("terse", &c).unwrap();
        assert_eq!(p.model, "terse-model");
        assert_eq!(p.system_prompt, "Be terse in French.");
        let local = load_profile("local", &c).unwrap();
        assert!(
            local.system_prompt.contains("\"acme\""),
            "the Companion's prompt"
        );
        let names: Vec<String> = specs(&c).into_iter().map(|s| s.name).collect();
        assert_eq!(names, ["companion", "terse", "local"]);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn summaries_say_whether_the_provider_is_configured_without_its_url() {
        let mut hosted = spec("hosted");
        hosted.provider.base_url = "https://api.example.com/v1".into();
        hosted.provider.api_key_env = "HOSTED_KEY".into();
        let s = summary(&hosted);
        assert!(!s.configured);
        assert!(s.hint.as_deref().unwrap_or("").contains("HOSTED_KEY"));
        let json = serde_json::to_string(&s).unwrap();
        assert!(!json.contains("example.com"), "{json}");
        assert!(summary(&spec("local")).configured);
    }
}
