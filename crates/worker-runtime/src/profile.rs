//! Profiles: what a Worker is (model, system prompt, tools) and the prompt
//! resources they are built from.
//!
//! Prompt prose lives only in the repository's `prompts/` folder. The binary
//! embeds it; a `prompts/` directory in the workspace overrides a file by name.

use std::path::Path;

use yoi_protocol::ProfileInfo;

use crate::config::RuntimeConfig;

/// Name of the built-in conversational profile.
pub const COMPANION: &str = "companion";

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
    #[error("unknown profile `{0}`; this version knows `companion`")]
    Unknown(String),
    #[error("the prompt override `{0}` could not be read")]
    Unreadable(String),
}

/// Builds the named profile from the configuration and the prompt resources.
pub fn load_profile(name: &str, config: &RuntimeConfig) -> Result<Profile, ProfileError> {
    match name {
        COMPANION => {
            let template = prompt_resource(
                "companion.md",
                EMBEDDED_COMPANION,
                config.prompts_dir.as_deref(),
            )?;
            Ok(Profile {
                name: COMPANION.to_owned(),
                model: config.provider.model.clone(),
                system_prompt: render(&template, &config.workspace_name, &config.language),
            })
        }
        other => Err(ProfileError::Unknown(other.chars().take(64).collect())),
    }
}

fn prompt_resource(file: &str, embedded: &str, dir: Option<&Path>) -> Result<String, ProfileError> {
    let Some(dir) = dir else {
        return Ok(embedded.to_owned());
    };
    let path = dir.join(file);
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(embedded.to_owned()),
        Err(e) => {
            tracing::warn!(file, error = %e, "prompt override unreadable");
            Err(ProfileError::Unreadable(file.to_owned()))
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
    fn unknown_profiles_are_refused() {
        assert!(matches!(
            load_profile("shell", &config()),
            Err(ProfileError::Unknown(_))
        ));
    }
}
