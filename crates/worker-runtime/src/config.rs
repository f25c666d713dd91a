//! Configuration of a runtime and of its provider.

use std::path::PathBuf;
use std::time::Duration;

use yoi_protocol::{RuntimeId, RuntimeKind};

/// Default `provider.base_url`.
pub const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";
/// Default `provider.api_key_env`.
pub const DEFAULT_API_KEY_ENV: &str = "OPENAI_API_KEY";
/// Default `provider.model`: a small current OpenAI chat model.
pub const DEFAULT_MODEL: &str = "gpt-4o-mini";
/// Default first-token timeout.
pub const DEFAULT_FIRST_TOKEN_TIMEOUT: Duration = Duration::from_millis(60_000);
/// Default whole-run timeout.
pub const DEFAULT_RUN_TIMEOUT: Duration = Duration::from_millis(600_000);
/// Default size of a Worker's event ring.
pub const DEFAULT_EVENT_RING: usize = 4096;
/// Default bound of a Worker's transcript.
pub const DEFAULT_TRANSCRIPT_BOUND: usize = 500;
/// Default bound of a Worker's queue of inputs.
pub const DEFAULT_QUEUE_LIMIT: usize = 8;
/// The largest `queue_limit` a configuration may set.
pub const MAX_QUEUE_LIMIT: usize = 256;
/// Default `limits.workers_per_runtime`.
pub const DEFAULT_MAX_WORKERS: usize = 10_000;
/// Default `limits.subscribers_per_worker`.
pub const DEFAULT_MAX_SUBSCRIBERS: usize = 32;
/// Default `limits.answer_bytes`: 1 MiB of text and reasoning per run.
pub const DEFAULT_MAX_ANSWER_BYTES: usize = 1024 * 1024;
/// The value of `{{language}}` when the configuration names none.
pub const DEFAULT_LANGUAGE: &str = "the language the user writes in";

/// Which kind of service a provider is; the provider factory builds one per kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ProviderKind {
    /// Any endpoint that speaks the OpenAI chat completions API (OpenAI,
    /// Ollama, vLLM, llama.cpp server, LM Studio, OpenRouter).
    #[default]
    OpenAiCompatible,
}

impl ProviderKind {
    /// The name `provider.kind` takes in `yoi.toml`.
    pub const NAMES: &'static [&'static str] = &["openai-compatible"];

    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "openai-compatible" => Some(ProviderKind::OpenAiCompatible),
            _ => None,
        }
    }
}

/// Where the provider lives and how long to wait for it.
///
/// `api_key` is the value read from the variable named by `api_key_env`; it is
/// never logged nor sent anywhere but to the provider. An empty `api_key_env`
/// names no variable: a profile on another host than `[provider]` that sets none.
#[derive(Clone)]
pub struct ProviderConfig {
    pub kind: ProviderKind,
    pub base_url: String,
    pub api_key_env: String,
    pub api_key: Option<String>,
    pub model: String,
    pub first_token_timeout: Duration,
    pub run_timeout: Duration,
}

impl std::fmt::Debug for ProviderConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderConfig")
            .field("kind", &self.kind)
            .field("model", &self.model)
            .field("api_key_env", &self.api_key_env)
            .field("api_key", &self.api_key.as_ref().map(|_| "<set>"))
            .field("first_token_timeout", &self.first_token_timeout)
            .field("run_timeout", &self.run_timeout)
            .finish_non_exhaustive()
    }
}

impl Default for ProviderConfig {
    fn default() -> Self {
        Self {
            kind: ProviderKind::default(),
            base_url: DEFAULT_BASE_URL.to_owned(),
            api_key_env: DEFAULT_API_KEY_ENV.to_owned(),
            api_key: None,
            model: DEFAULT_MODEL.to_owned(),
            first_token_timeout: DEFAULT_FIRST_TOKEN_TIMEOUT,
            run_timeout: DEFAULT_RUN_TIMEOUT,
        }
    }
}

impl ProviderConfig {
    /// Whether the base URL points at this machine (Ollama, llama.cpp, vLLM...),
    /// where no key is needed.
    pub fn base_url_is_loopback(&self) -> bool {
        let rest = self
            .base_url
            .strip_prefix("http://")
            .or_else(|| self.base_url.strip_prefix("https://"))
            .unwrap_or(&self.base_url);
        let authority = rest.split('/').next().unwrap_or("");
        let host = if let Some(v6) = authority.strip_prefix('[') {
            v6.split(']').next().unwrap_or("")
        } else {
            authority.rsplit_once(':').map_or(authority, |(h, _)| h)
        };
        host == "localhost"
            || host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    }

    /// `Err(message)` when input cannot work: no key and a base URL that needs one.
    pub fn check_configured(&self) -> Result<(), String> {
        let has_key = self
            .api_key
            .as_deref()
            .is_some_and(|k| !k.trim().is_empty());
        if has_key || self.base_url_is_loopback() {
            Ok(())
        } else if self.api_key_env.is_empty() {
            // A profile on another host than `[provider]`, which names no variable.
            Err("no API key for this profile's provider: it points at another host than [provider], so give its [profiles.<name>] an api_key_env and restart yoi".to_owned())
        } else {
            Err(format!(
                "no API key for the provider: set {} (or point OPENAI_BASE_URL at a local OpenAI-compatible server such as Ollama) and restart yoi",
                self.api_key_env
            ))
        }
    }
}

/// A profile of `[profiles.<name>]`, resolved: its own provider (unset keys
/// taken from `[provider]`), prompt file and language.
#[derive(Debug, Clone)]
pub struct ProfileSpec {
    pub name: String,
    pub description: Option<String>,
    pub provider: ProviderConfig,
    /// The Markdown file of its system prompt; `None`: the Companion's.
    pub prompt: Option<PathBuf>,
    /// The language it answers in; `None`: the runtime's.
    pub language: Option<String>,
    /// Its tool rules (`[profiles.<name>.tools]`); none: no tools.
    pub tools: crate::tools::ToolGrants,
}

/// What a runtime allows, each set in `yoi.toml` `[limits]`; past one, the
/// request answers `limit_reached` (a run that streams too much ends failed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuntimeLimits {
    /// Workers a runtime holds (those restored from its state count too).
    pub workers: usize,
    /// Event sockets open on one Worker at a time.
    pub subscribers_per_worker: usize,
    /// Bytes of text and reasoning one run may stream.
    pub answer_bytes: usize,
    /// Bytes the store's database may grow to (`None`: as the disk allows);
    /// past it, writes fail as on a full disk (`store_unavailable`).
    pub store_bytes: Option<u64>,
}

impl Default for RuntimeLimits {
    fn default() -> Self {
        Self {
            workers: DEFAULT_MAX_WORKERS,
            subscribers_per_worker: DEFAULT_MAX_SUBSCRIBERS,
            answer_bytes: DEFAULT_MAX_ANSWER_BYTES,
            store_bytes: None,
        }
    }
}

/// Everything a runtime needs to start.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    pub runtime_id: RuntimeId,
    pub display_name: String,
    /// How the runtime reports itself: `embedded` in the backend, `local` or
    /// `remote` when it serves in a process of its own.
    pub kind: RuntimeKind,
    pub provider: ProviderConfig,
    /// Name of the workspace, for prompt placeholders.
    pub workspace_name: String,
    /// Language the Companion answers in, for prompt placeholders.
    pub language: String,
    /// A directory whose files override the embedded prompts by name.
    pub prompts_dir: Option<PathBuf>,
    pub event_ring: usize,
    pub transcript_bound: usize,
    /// How many inputs may wait in a Worker's queue (`queue_limit`).
    pub queue_limit: usize,
    /// Where Workers are saved to survive a restart; `None` keeps them in memory only.
    pub state_dir: Option<PathBuf>,
    /// Profiles besides the built-in `companion` (one of that name replaces
    /// the built-in's settings).
    pub profiles: Vec<ProfileSpec>,
    pub limits: RuntimeLimits,
    /// Bounds of tool calls (`[tools]`).
    pub tool_limits: crate::tools::ToolLimits,
}

impl RuntimeConfig {
    pub fn new(runtime_id: RuntimeId, display_name: impl Into<String>) -> Self {
        Self {
            runtime_id,
            display_name: display_name.into(),
            kind: RuntimeKind::Embedded,
            provider: ProviderConfig::default(),
            workspace_name: "workspace".to_owned(),
            language: DEFAULT_LANGUAGE.to_owned(),
            prompts_dir: None,
            event_ring: DEFAULT_EVENT_RING,
            transcript_bound: DEFAULT_TRANSCRIPT_BOUND,
            queue_limit: DEFAULT_QUEUE_LIMIT,
            state_dir: None,
            profiles: Vec::new(),
            limits: RuntimeLimits::default(),
            tool_limits: crate::tools::ToolLimits::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_url(url: &str) -> ProviderConfig {
        ProviderConfig {
            base_url: url.to_owned(),
            ..ProviderConfig::default()
        }
    }

    #[test]
    fn loopback_urls_need_no_key() {
        for url in [
            "http://127.0.0.1:11434/v1",
            "http://localhost:8080/v1",
            "http://[::1]:8000/v1",
            "http://127.0.0.2/v1",
        ] {
            assert!(with_url(url).check_configured().is_ok(), "{url}");
        }
    }

    #[test]
    fn remote_urls_without_key_name_the_variable() {
        let err = with_url("https://api.openai.com/v1")
            .check_configured()
            .unwrap_err();
        assert!(err.contains("OPENAI_API_KEY"));
        let mut keyed = with_url("https://api.openai.com/v1");
        keyed.api_key = Some("sk-test".into());
        assert!(keyed.check_configured().is_ok());
    }

    #[test]
    fn debug_never_prints_the_key() {
        let c = ProviderConfig {
            api_key: Some("sk-secret-123".into()),
            ..ProviderConfig::default()
        };
        assert!(!format!("{c:?}").contains("sk-secret-123"));
    }
}
