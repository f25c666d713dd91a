//! `[mcp.<name>]` of `yoi.toml`: the MCP servers a runtime offers as tool
//! sources, checked at start. A bad entry stops `yoi serve` (and `yoi
//! runtime serve`) with a message naming the server and the key.
//!
//! ```toml
//! [mcp.time]                          # a child process over stdio
//! command = ["uvx", "mcp-server-time"]
//! env = { TZ = "Europe/Berlin" }      # added to the allowlisted environment
//! timeout_ms = 30000                  # per call (default: tools.call_timeout_ms)
//! start = "lazy"                      # or "eager" (default lazy)
//!
//! [mcp.docs]                          # streamable HTTP
//! url = "https://mcp.example.com/mcp"
//! bearer_token_env = "DOCS_MCP_TOKEN" # the token is read from this variable
//! ```

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use runtime_registry::remote::Url;
use serde::Deserialize;
use yoi_mcp::{inherited_env, McpServerConfig, StartMode, Transport};

use crate::config::ConfigError;

/// One `[mcp.<name>]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileMcp {
    command: Option<Vec<String>>,
    env: Option<BTreeMap<String, String>>,
    timeout_ms: Option<u64>,
    url: Option<String>,
    bearer_token_env: Option<String>,
    allow_insecure: Option<bool>,
    start: Option<String>,
}

/// The servers, checked, and the variables holding their tokens (a local
/// runtime is given them: it starts the same servers).
pub struct McpServers {
    pub servers: Vec<McpServerConfig>,
    pub token_env: Vec<(String, String)>,
}

/// Reads every `[mcp.<name>]`. Relative commands are found on `PATH` (a
/// bare name) or in `workspace` (a path with `/`).
pub fn servers(
    tables: &BTreeMap<String, toml::Table>,
    workspace: &Path,
    env: &HashMap<String, String>,
) -> Result<McpServers, ConfigError> {
    let mut out = McpServers {
        servers: Vec::new(),
        token_env: Vec::new(),
    };
    for (name, table) in tables {
        let shown: String = name.chars().take(64).collect();
        let name_ok = (1..=64).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            && name != "yoi";
        if !name_ok {
            return Err(bad(
                "mcp",
                &shown,
                "a server name is 1 to 64 characters a-z, A-Z, 0-9, '-' or '_', and not `yoi`",
            ));
        }
        let file: FileMcp = table
            .clone()
            .try_into()
            .map_err(|e: toml::de::Error| bad("mcp", &shown, e.message()))?;
        let (server, token) = server(name, &file, workspace, env)?;
        out.servers.push(server);
        out.token_env.extend(token);
    }
    Ok(out)
}

fn bad(key: &'static str, server: &str, why: &str) -> ConfigError {
    ConfigError::Value {
        key,
        why: format!("MCP server `{server}`: {why}"),
    }
}

type Checked = (McpServerConfig, Option<(String, String)>);

fn server(
    name: &str,
    file: &FileMcp,
    workspace: &Path,
    env: &HashMap<String, String>,
) -> Result<Checked, ConfigError> {
    let start = match file.start.as_deref() {
        None | Some("lazy") => StartMode::Lazy,
        Some("eager") => StartMode::Eager,
        Some(_) => return Err(bad("mcp.start", name, "start is \"lazy\" or \"eager\"")),
    };
    let call_timeout = match file.timeout_ms {
        None => None,
        Some(ms) if (1..=86_400_000).contains(&ms) => Some(Duration::from_millis(ms)),
        Some(ms) => {
            return Err(bad(
                "mcp.timeout_ms",
                name,
                &format!("{ms} ms is out of range (1 to 86400000)"),
            ))
        }
    };
    let (transport, token) = match (&file.command, &file.url) {
        (Some(_), Some(_)) => return Err(bad(
            "mcp.url",
            name,
            "give either `command` (a child process on stdio) or `url` (streamable HTTP), not both",
        )),
        (None, None) => {
            return Err(bad(
                "mcp.command",
                name,
                "needs a `command` (a child process on stdio) or a `url` (streamable HTTP)",
            ))
        }
        (Some(command), None) => (stdio(name, command, file, workspace, env)?, None),
        (None, Some(url)) => http(name, url, file, env)?,
    };
    let server = McpServerConfig {
        name: name.to_owned(),
        transport,
        start,
        call_timeout,
    };
    Ok((server, token))
}

fn stdio(
    name: &str,
    command: &[String],
    file: &FileMcp,
    workspace: &Path,
    env: &HashMap<String, String>,
) -> Result<Transport, ConfigError> {
    if file.bearer_token_env.is_some() || file.allow_insecure.is_some() {
        return Err(bad(
            "mcp.command",
            name,
            "`bearer_token_env` and `allow_insecure` are for a `url`, not a `command`",
        ));
    }
    let Some((program, args)) = command.split_first().filter(|(p, _)| !p.trim().is_empty()) else {
        return Err(bad(
            "mcp.command",
            name,
            "`command` is a list: the program, then its arguments",
        ));
    };
    let program = resolve_program(name, program, workspace, env)?;
    let mut child_env = inherited_env(env);
    for (key, value) in file.env.iter().flatten() {
        let ok = !key.is_empty()
            && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            && !key.starts_with(|c: char| c.is_ascii_digit());
        if !ok {
            return Err(bad(
                "mcp.env",
                name,
                &format!(
                    "`{}` is not an environment variable name",
                    key.chars().take(40).collect::<String>()
                ),
            ));
        }
        child_env.retain(|(k, _)| k != key);
        child_env.push((key.clone(), value.clone()));
    }
    Ok(Transport::Stdio {
        program,
        args: args.to_vec(),
        env: child_env,
        workdir: Some(workspace.to_path_buf()),
    })
}

/// An absolute program as written (checked when it starts: a server that
/// is missing then is listed down); a bare name found on `PATH`; a relative
/// path found in the workspace.
fn resolve_program(
    name: &str,
    program: &str,
    workspace: &Path,
    env: &HashMap<String, String>,
) -> Result<PathBuf, ConfigError> {
    let path = Path::new(program);
    if path.is_absolute() {
        return Ok(path.to_path_buf());
    }
    if program.contains('/') {
        let found = workspace.join(path);
        if found.is_file() {
            return Ok(found);
        }
        return Err(bad(
            "mcp.command",
            name,
            &format!("the program `{program}` is not in the workspace"),
        ));
    }
    let dirs = env.get("PATH").map(String::as_str).unwrap_or_default();
    std::env::split_paths(dirs)
        .filter(|dir| dir.is_absolute())
        .map(|dir| dir.join(program))
        .find(|candidate| is_executable(candidate))
        .ok_or_else(|| {
            bad(
                "mcp.command",
                name,
                &format!("the program `{program}` is not found on PATH"),
            )
        })
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

fn http(
    name: &str,
    raw: &str,
    file: &FileMcp,
    env: &HashMap<String, String>,
) -> Result<(Transport, Option<(String, String)>), ConfigError> {
    if file.env.is_some() {
        return Err(bad(
            "mcp.env",
            name,
            "`env` is for a `command`, not a `url`",
        ));
    }
    // The URL is not repeated in messages: it may be private.
    let url = Url::parse(raw)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
        .ok_or_else(|| {
            bad(
                "mcp.url",
                name,
                "the url must be http:// or https:// with a host",
            )
        })?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad(
            "mcp.url",
            name,
            "the url may not hold a user or password: put the token in the variable `bearer_token_env` names",
        ));
    }
    if url.fragment().is_some() {
        return Err(bad(
            "mcp.url",
            name,
            "the url may not hold a fragment (`#...`)",
        ));
    }
    let host = url.host_str().unwrap_or("");
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if url.scheme() == "http" && !loopback && file.allow_insecure != Some(true) {
        return Err(bad(
            "mcp.allow_insecure",
            name,
            "plain http:// to a host that is not loopback sends the calls (and any token) in the clear: use https://, or set allow_insecure = true",
        ));
    }
    let token = match &file.bearer_token_env {
        None => None,
        Some(var) => {
            let ok = !var.is_empty()
                && var.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                && !var.starts_with(|c: char| c.is_ascii_digit());
            if !ok {
                return Err(bad(
                    "mcp.bearer_token_env",
                    name,
                    "`bearer_token_env` is the name of an environment variable",
                ));
            }
            let value = env
                .get(var)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
                .ok_or_else(|| {
                    bad(
                        "mcp.bearer_token_env",
                        name,
                        &format!("set {var} to the server's token"),
                    )
                })?;
            Some((var.clone(), value))
        }
    };
    let transport = Transport::Http {
        url: url.to_string(),
        bearer_token: token.as_ref().map(|(_, v)| v.clone()),
    };
    Ok((transport, token))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str, env: &[(&str, &str)]) -> Result<McpServers, String> {
        let file: crate::config::FileConfig = toml::from_str(text).map_err(|e| e.to_string())?;
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        servers(&file.mcp, Path::new("/nonexistent-workspace"), &env).map_err(|e| e.to_string())
    }

    #[test]
    fn bad_servers_are_named_with_their_key() {
        let path = [("PATH", "/usr/bin:/bin")];
        let cases: &[(&str, &str)] = &[
            ("[mcp.t]\nenv = {A = \"b\"}", "mcp.command"),
            ("[mcp.t]\ncommand = []", "mcp.command"),
            (
                "[mcp.t]\ncommand = [\"no-such-program-yoi\"]",
                "mcp.command",
            ),
            ("[mcp.t]\ncommand = [\"./missing\"]", "mcp.command"),
            (
                "[mcp.t]\ncommand = [\"/bin/sh\"]\nurl = \"https://h/mcp\"",
                "mcp.url",
            ),
            ("[mcp.t]\nurl = \"https://me:pw@h/mcp\"", "mcp.url"),
            ("[mcp.t]\nurl = \"https://h/mcp#top\"", "mcp.url"),
            ("[mcp.t]\nurl = \"ftp://h/mcp\"", "mcp.url"),
            (
                "[mcp.t]\nurl = \"http://10.0.0.5/mcp\"",
                "mcp.allow_insecure",
            ),
            (
                "[mcp.t]\nurl = \"https://h/mcp\"\nbearer_token_env = \"T_TOKEN\"",
                "mcp.bearer_token_env",
            ),
            (
                "[mcp.t]\ncommand = [\"/bin/sh\"]\nstart = \"soon\"",
                "mcp.start",
            ),
            (
                "[mcp.t]\ncommand = [\"/bin/sh\"]\ntimeout_ms = 0",
                "mcp.timeout_ms",
            ),
            ("[mcp.t]\ncommand = [\"/bin/sh\"]\ncolour = 1", "mcp"),
            ("[mcp.yoi]\ncommand = [\"/bin/sh\"]", "mcp"),
        ];
        for (text, key) in cases {
            let err = read(text, &path)
                .err()
                .unwrap_or_else(|| panic!("accepted: {text}"));
            assert!(err.starts_with(&format!("{key}: ")), "{text}: {err}");
            assert!(
                err.contains("`t`") || err.contains("`yoi`"),
                "names the server: {err}"
            );
        }
    }

    #[test]
    fn good_servers_are_read_with_an_allowlisted_environment() {
        let ok = read(
            "[mcp.time]\ncommand = [\"sh\", \"-c\", \"true\"]\nenv = {TZ = \"Asia/Tokyo\"}\ntimeout_ms = 500\nstart = \"eager\"\n\
             [mcp.docs]\nurl = \"http://127.0.0.1:9/mcp\"\nbearer_token_env = \"DOCS_TOKEN\"\n\
             [mcp.far]\nurl = \"http://10.0.0.5/mcp\"\nallow_insecure = true\n",
            &[
                ("PATH", "/usr/bin:/bin"),
                ("DOCS_TOKEN", "docs-secret"),
                ("OPENAI_API_KEY", "sk-never"),
            ],
        )
        .unwrap();
        assert_eq!(ok.servers.len(), 3);
        assert_eq!(
            ok.token_env,
            [("DOCS_TOKEN".to_owned(), "docs-secret".to_owned())]
        );
        let time = ok.servers.iter().find(|s| s.name == "time").unwrap();
        assert_eq!(time.start, StartMode::Eager);
        assert_eq!(time.call_timeout, Some(Duration::from_millis(500)));
        match &time.transport {
            Transport::Stdio { program, env, .. } => {
                assert!(program.is_absolute());
                let names: Vec<&str> = env.iter().map(|(k, _)| k.as_str()).collect();
                assert_eq!(names, ["PATH", "TZ"]);
            }
            Transport::Http { .. } => panic!("stdio expected"),
        }
        let docs = ok.servers.iter().find(|s| s.name == "docs").unwrap();
        assert_eq!(docs.start, StartMode::Lazy);
        assert!(
            matches!(&docs.transport, Transport::Http { bearer_token: Some(t), .. } if t == "docs-secret")
        );
    }
}
