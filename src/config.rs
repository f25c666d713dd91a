//! Configuration of `yoi serve`: `yoi.toml` in the workspace (optional),
//! overridden by environment variables, overridden by command-line flags.
//! The API key and the server token are only ever read from the environment
//! variables the configuration names.

use std::collections::HashMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use worker_runtime::config::{
    DEFAULT_API_KEY_ENV, DEFAULT_BASE_URL, DEFAULT_FIRST_TOKEN_TIMEOUT, DEFAULT_MODEL,
    DEFAULT_RUN_TIMEOUT,
};
use worker_runtime::{ProviderConfig, RuntimeConfig};
use yoi_protocol::RuntimeId;

pub const DEFAULT_BIND: &str = "127.0.0.1:7760";
pub const DEFAULT_TOKEN_ENV: &str = "YOI_TOKEN";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("the workspace directory does not exist or is not a directory")]
    NoWorkspace,
    #[error("the config file could not be read: {0}")]
    Unreadable(std::io::Error),
    #[error("the config file is not valid: {0}")]
    Invalid(String),
    #[error("{key}: {why}")]
    Value { key: &'static str, why: String },
    #[error(
        "refusing to listen on {0} without a token: set {1} to a long random string (clients then send Authorization: Bearer <token>), or bind to 127.0.0.1"
    )]
    TokenRequired(SocketAddr, String),
}

/// `yoi.toml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub bind: Option<String>,
    pub token_env: Option<String>,
    pub language: Option<String>,
    #[serde(default)]
    pub provider: FileProvider,
    #[serde(default)]
    pub runtimes: Vec<FileRuntime>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileProvider {
    pub base_url: Option<String>,
    pub api_key_env: Option<String>,
    pub model: Option<String>,
    pub first_token_timeout_ms: Option<u64>,
    pub run_timeout_ms: Option<u64>,
}

/// `[[runtimes]]`: runtimes in other processes. Parsed and checked now so that
/// a file written for a later version fails loudly rather than silently.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileRuntime {
    pub id: String,
    pub kind: String,
    pub url: Option<String>,
    pub token_env: Option<String>,
    pub display_name: Option<String>,
}

/// Everything `yoi serve` runs with.
#[derive(Debug)]
pub struct ServeConfig {
    pub bind: SocketAddr,
    pub token: Option<String>,
    pub token_env: String,
    pub runtime: RuntimeConfig,
}

/// Flags of `yoi serve`.
#[derive(Debug, Default)]
pub struct ServeFlags {
    pub workspace: Option<PathBuf>,
    pub bind: Option<String>,
    pub config: Option<PathBuf>,
}

pub fn load(flags: &ServeFlags, env: &HashMap<String, String>) -> Result<ServeConfig, ConfigError> {
    let workspace = match &flags.workspace {
        Some(dir) => dir.clone(),
        None => std::env::current_dir().map_err(|_| ConfigError::NoWorkspace)?,
    };
    if !workspace.is_dir() {
        return Err(ConfigError::NoWorkspace);
    }
    let file = read_file(&workspace, flags.config.as_deref())?;
    resolve(&workspace, file, flags, env)
}

fn read_file(workspace: &Path, explicit: Option<&Path>) -> Result<FileConfig, ConfigError> {
    let (path, required) = match explicit {
        Some(p) => (p.to_path_buf(), true),
        None => (workspace.join("yoi.toml"), false),
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => toml::from_str(&text).map_err(|e| ConfigError::Invalid(e.to_string())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => {
            Ok(FileConfig::default())
        }
        Err(e) => Err(ConfigError::Unreadable(e)),
    }
}

fn non_empty(env: &HashMap<String, String>, key: &str) -> Option<String> {
    env.get(key)
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

fn parse_bind(raw: &str) -> Result<SocketAddr, ConfigError> {
    let bad = |why: &str| ConfigError::Value {
        key: "bind",
        why: format!("`{raw}` {why}; expected an address such as 127.0.0.1:7760"),
    };
    if let Ok(addr) = raw.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let (host, _) = raw.rsplit_once(':').ok_or_else(|| bad("has no port"))?;
    if host != "localhost" {
        return Err(bad("is not an IP address and port"));
    }
    raw.to_socket_addrs()
        .map_err(|_| bad("does not resolve"))?
        .find(|a| a.ip().is_loopback())
        .ok_or_else(|| bad("does not resolve to loopback"))
}

fn env_name(key: &'static str, raw: &str) -> Result<String, ConfigError> {
    let ok = !raw.is_empty()
        && raw.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !raw.starts_with(|c: char| c.is_ascii_digit());
    if ok {
        Ok(raw.to_owned())
    } else {
        Err(ConfigError::Value {
            key,
            why: format!("`{raw}` is not an environment variable name"),
        })
    }
}

fn timeout(
    key: &'static str,
    file: Option<u64>,
    env: Option<String>,
    default: Duration,
) -> Result<Duration, ConfigError> {
    let ms = match env {
        Some(v) => v.parse::<u64>().map_err(|_| ConfigError::Value {
            key,
            why: format!("`{v}` is not a whole number of milliseconds"),
        })?,
        None => match file {
            Some(ms) => ms,
            None => return Ok(default),
        },
    };
    if !(1..=86_400_000).contains(&ms) {
        return Err(ConfigError::Value {
            key,
            why: format!("{ms} ms is out of range (1 to 86400000)"),
        });
    }
    Ok(Duration::from_millis(ms))
}

pub fn resolve(
    workspace: &Path,
    file: FileConfig,
    flags: &ServeFlags,
    env: &HashMap<String, String>,
) -> Result<ServeConfig, ConfigError> {
    let bind_raw = flags
        .bind
        .clone()
        .or_else(|| non_empty(env, "YOI_BIND"))
        .or(file.bind)
        .unwrap_or_else(|| DEFAULT_BIND.to_owned());
    let bind = parse_bind(&bind_raw)?;

    let token_env = env_name(
        "token_env",
        file.token_env.as_deref().unwrap_or(DEFAULT_TOKEN_ENV),
    )?;
    let token = non_empty(env, &token_env);
    if let Some(t) = &token {
        if t.len() < 8 {
            return Err(ConfigError::Value {
                key: "token",
                why: format!("the token in {token_env} is shorter than 8 characters"),
            });
        }
    }
    if !bind.ip().is_loopback() && token.is_none() {
        return Err(ConfigError::TokenRequired(bind, token_env));
    }

    let base_url = non_empty(env, "OPENAI_BASE_URL")
        .or(file.provider.base_url)
        .unwrap_or_else(|| DEFAULT_BASE_URL.to_owned());
    if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
        return Err(ConfigError::Value {
            key: "provider.base_url",
            why: "must start with http:// or https://".to_owned(),
        });
    }
    let api_key_env = env_name(
        "provider.api_key_env",
        file.provider
            .api_key_env
            .as_deref()
            .unwrap_or(DEFAULT_API_KEY_ENV),
    )?;
    let model = non_empty(env, "YOI_MODEL")
        .or(file.provider.model)
        .unwrap_or_else(|| DEFAULT_MODEL.to_owned());
    if model.trim().is_empty() || model.len() > 200 {
        return Err(ConfigError::Value {
            key: "provider.model",
            why: "must be 1 to 200 characters".to_owned(),
        });
    }
    let provider = ProviderConfig {
        api_key: non_empty(env, &api_key_env),
        api_key_env,
        base_url,
        model,
        first_token_timeout: timeout(
            "provider.first_token_timeout_ms",
            file.provider.first_token_timeout_ms,
            non_empty(env, "YOI_FIRST_TOKEN_TIMEOUT_MS"),
            DEFAULT_FIRST_TOKEN_TIMEOUT,
        )?,
        run_timeout: timeout(
            "provider.run_timeout_ms",
            file.provider.run_timeout_ms,
            non_empty(env, "YOI_RUN_TIMEOUT_MS"),
            DEFAULT_RUN_TIMEOUT,
        )?,
    };

    for rt in &file.runtimes {
        RuntimeId::parse(&rt.id).map_err(|e| ConfigError::Value {
            key: "runtimes.id",
            why: e.to_string(),
        })?;
        return Err(ConfigError::Value {
            key: "runtimes",
            why: format!(
                "runtime `{}` of kind `{}`: runtimes in other processes are not supported by this version yet",
                rt.id, rt.kind
            ),
        });
    }

    let mut runtime = RuntimeConfig::new(RuntimeId::backend_internal(), "Backend");
    runtime.provider = provider;
    runtime.workspace_name = workspace
        .canonicalize()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "workspace".to_owned());
    if let Some(lang) = file.language.filter(|l| !l.trim().is_empty()) {
        runtime.language = lang;
    }
    runtime.prompts_dir = Some(workspace.join("prompts"));
    // Workers (the Companion among them) survive restarts of the backend.
    runtime.state_dir = Some(workspace.join(".yoi").join("workers"));
    Ok(ServeConfig {
        bind,
        token,
        token_env,
        runtime,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn file(text: &str) -> FileConfig {
        toml::from_str(text).unwrap()
    }

    fn ws() -> PathBuf {
        std::env::temp_dir()
    }

    #[test]
    fn defaults_follow_the_contract() {
        let c = resolve(
            &ws(),
            FileConfig::default(),
            &ServeFlags::default(),
            &env(&[]),
        )
        .unwrap();
        assert_eq!(c.bind.to_string(), "127.0.0.1:7760");
        assert_eq!(c.runtime.provider.base_url, "https://api.openai.com/v1");
        assert_eq!(c.runtime.provider.api_key_env, "OPENAI_API_KEY");
        assert_eq!(
            c.runtime.provider.first_token_timeout,
            Duration::from_millis(60_000)
        );
        assert_eq!(
            c.runtime.provider.run_timeout,
            Duration::from_millis(600_000)
        );
        assert!(c.runtime.provider.api_key.is_none());
        assert!(c.token.is_none());
    }

    #[test]
    fn environment_overrides_the_file_and_flags_override_both() {
        let f = file(
            r#"
            bind = "127.0.0.1:9000"
            [provider]
            base_url = "http://127.0.0.1:11434/v1"
            model = "file-model"
            api_key_env = "MY_KEY"
            first_token_timeout_ms = 1000
            "#,
        );
        let e = env(&[
            ("YOI_MODEL", "env-model"),
            ("MY_KEY", "k-123"),
            ("OPENAI_API_KEY", "ignored"),
            ("YOI_BIND", "127.0.0.1:9100"),
            ("YOI_RUN_TIMEOUT_MS", "5000"),
        ]);
        let flags = ServeFlags {
            bind: Some("127.0.0.1:9200".into()),
            ..ServeFlags::default()
        };
        let c = resolve(&ws(), f, &flags, &e).unwrap();
        assert_eq!(c.bind.port(), 9200);
        assert_eq!(c.runtime.provider.model, "env-model");
        assert_eq!(c.runtime.provider.base_url, "http://127.0.0.1:11434/v1");
        assert_eq!(c.runtime.provider.api_key.as_deref(), Some("k-123"));
        assert_eq!(
            c.runtime.provider.first_token_timeout,
            Duration::from_millis(1000)
        );
        assert_eq!(c.runtime.provider.run_timeout, Duration::from_millis(5000));
    }

    #[test]
    fn a_public_bind_needs_a_token() {
        let flags = ServeFlags {
            bind: Some("0.0.0.0:7760".into()),
            ..ServeFlags::default()
        };
        let err = resolve(&ws(), FileConfig::default(), &flags, &env(&[])).unwrap_err();
        assert!(matches!(err, ConfigError::TokenRequired(..)));
        assert!(err.to_string().contains("YOI_TOKEN"));
        let c = resolve(
            &ws(),
            FileConfig::default(),
            &flags,
            &env(&[("YOI_TOKEN", "long-enough-token")]),
        )
        .unwrap();
        assert_eq!(c.token.as_deref(), Some("long-enough-token"));
    }

    #[test]
    fn bad_values_are_named() {
        let cases: Vec<(FileConfig, HashMap<String, String>, &str)> = vec![
            (
                FileConfig::default(),
                env(&[("YOI_BIND", "nonsense")]),
                "bind",
            ),
            (
                FileConfig::default(),
                env(&[("OPENAI_BASE_URL", "ftp://x")]),
                "provider.base_url",
            ),
            (
                FileConfig::default(),
                env(&[("YOI_FIRST_TOKEN_TIMEOUT_MS", "soon")]),
                "provider.first_token_timeout_ms",
            ),
            (
                FileConfig::default(),
                env(&[("YOI_RUN_TIMEOUT_MS", "0")]),
                "provider.run_timeout_ms",
            ),
            (file("token_env = \"not a name\""), env(&[]), "token_env"),
            (
                file("[[runtimes]]\nid = \"gpu\"\nkind = \"remote\""),
                env(&[]),
                "runtimes",
            ),
        ];
        for (f, e, key) in cases {
            let err = resolve(&ws(), f, &ServeFlags::default(), &e).unwrap_err();
            assert!(err.to_string().starts_with(key), "{key}: {err}");
        }
    }

    #[test]
    fn unknown_keys_in_the_file_are_refused() {
        assert!(toml::from_str::<FileConfig>("bnid = \"x\"").is_err());
        assert!(toml::from_str::<FileConfig>("[provider]\nmodle = \"x\"").is_err());
    }
}
