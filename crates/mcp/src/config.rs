//! One MCP server as the runtime runs it: checked by the binary's
//! configuration (`[mcp.<name>]` of `yoi.toml`), never printed whole.

use std::path::PathBuf;
use std::time::Duration;

/// When a server is started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StartMode {
    /// When the first run of a worker that may use it needs it.
    #[default]
    Lazy,
    /// With its runtime.
    Eager,
}

/// How the runtime reaches the server.
#[derive(Clone)]
pub enum Transport {
    /// A child process speaking MCP on its stdin and stdout.
    Stdio {
        /// The program, an absolute path (a relative one was resolved when
        /// the configuration was read).
        program: PathBuf,
        args: Vec<String>,
        /// The child's whole environment: the allowlisted variables of the
        /// runtime's own and the server's `env`.
        env: Vec<(String, String)>,
        /// Where it runs (the workspace).
        workdir: Option<PathBuf>,
    },
    /// A streamable HTTP server.
    Http {
        url: String,
        /// Sent as `Authorization: Bearer`, read from `bearer_token_env`.
        bearer_token: Option<String>,
    },
}

/// One `[mcp.<name>]`.
#[derive(Clone)]
pub struct McpServerConfig {
    /// The source name: the first part of its tools' names.
    pub name: String,
    pub transport: Transport,
    pub start: StartMode,
    /// One call's time (`timeout_ms`); `None`: `tools.call_timeout_ms`.
    pub call_timeout: Option<Duration>,
}

impl std::fmt::Debug for McpServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The command line, environment, URL and token stay out of logs.
        let transport = match self.transport {
            Transport::Stdio { .. } => "stdio",
            Transport::Http { .. } => "http",
        };
        f.debug_struct("McpServerConfig")
            .field("name", &self.name)
            .field("transport", &transport)
            .field("start", &self.start)
            .field("call_timeout", &self.call_timeout)
            .finish_non_exhaustive()
    }
}

impl McpServerConfig {
    /// Every string of the configuration that must never reach a client or
    /// the log: the command line, the environment's values, the URL, the
    /// token. Messages that come from below (the SDK, the OS) are scrubbed
    /// of them.
    pub(crate) fn secrets(&self) -> Vec<String> {
        let mut out = Vec::new();
        match &self.transport {
            Transport::Stdio {
                program,
                args,
                env,
                workdir,
            } => {
                out.push(program.to_string_lossy().into_owned());
                out.extend(args.iter().cloned());
                out.extend(env.iter().map(|(_, v)| v.clone()));
                out.extend(workdir.iter().map(|w| w.to_string_lossy().into_owned()));
            }
            Transport::Http { url, bearer_token } => {
                out.push(url.clone());
                if let Some((_, rest)) = url.split_once("://") {
                    out.push(rest.split('/').next().unwrap_or(rest).to_owned());
                }
                out.extend(bearer_token.iter().cloned());
            }
        }
        // Short values ("1", "en") would blank out ordinary words.
        out.retain(|s| s.len() >= 4);
        out.sort_by_key(|s| std::cmp::Reverse(s.len()));
        out
    }
}

/// Variables a runtime's child processes (a local runtime, an MCP server)
/// inherit by name (and every `LC_*`): what a process needs to run and to
/// reach the network. Nothing else passes: no token, no key, no unrelated
/// secret of yoi's environment.
pub const INHERITED_ENV: &[&str] = &[
    "PATH",
    "HOME",
    "LANG",
    "LANGUAGE",
    "TZ",
    "TMPDIR",
    "RUST_LOG",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "all_proxy",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
];

/// The allowlisted variables of `parent` ([`INHERITED_ENV`] and `LC_*`).
pub fn inherited_env<'a>(
    parent: impl IntoIterator<Item = (&'a String, &'a String)>,
) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = parent
        .into_iter()
        .filter(|(k, _)| INHERITED_ENV.contains(&k.as_str()) || k.starts_with("LC_"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    env.sort();
    env
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn only_allowlisted_variables_are_inherited() {
        let parent: HashMap<String, String> = [
            ("PATH", "/bin"),
            ("LC_ALL", "C"),
            ("OPENAI_API_KEY", "sk-secret"),
            ("YOI_TOKEN", "t"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let env = inherited_env(&parent);
        let names: Vec<&str> = env.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["LC_ALL", "PATH"]);
    }

    #[test]
    fn debug_never_shows_the_command_env_url_or_token() {
        let stdio = McpServerConfig {
            name: "time".into(),
            transport: Transport::Stdio {
                program: "/opt/secret-path/server".into(),
                args: vec!["--secret-arg".into()],
                env: vec![("TOKEN".into(), "secret-value".into())],
                workdir: None,
            },
            start: StartMode::Lazy,
            call_timeout: None,
        };
        let http = McpServerConfig {
            name: "docs".into(),
            transport: Transport::Http {
                url: "https://secret-host.example/mcp".into(),
                bearer_token: Some("secret-token".into()),
            },
            start: StartMode::Eager,
            call_timeout: None,
        };
        for config in [stdio, http] {
            let text = format!("{config:?}");
            assert!(!text.contains("secret"), "{text}");
            assert!(!config.secrets().is_empty());
        }
    }
}
