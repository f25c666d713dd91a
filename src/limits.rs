//! `[limits]` of `yoi.toml`: what the backend and its runtimes allow their
//! clients, each with a default, an environment variable that overrides it,
//! and a range. A local runtime is handed the backend's values through the
//! same variables; `yoi runtime serve` reads them from its environment.

use std::collections::HashMap;

use serde::Deserialize;
use std::time::Duration;
use worker_runtime::config::{
    DEFAULT_MAX_ANSWER_BYTES, DEFAULT_MAX_SUBSCRIBERS, DEFAULT_MAX_WORKERS,
};
use worker_runtime::RuntimeLimits;

use yoi_http::limits::{
    ServerLimits, DEFAULT_HEADER_TIMEOUT, DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_CONNECTIONS,
};

use crate::config::ConfigError;

/// `[limits]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileLimits {
    pub workers_per_runtime: Option<u64>,
    pub subscribers_per_worker: Option<u64>,
    pub connections: Option<u64>,
    pub answer_bytes: Option<u64>,
    pub header_timeout_ms: Option<u64>,
    pub idle_timeout_ms: Option<u64>,
    pub store_bytes: Option<u64>,
}

/// Every limit, checked.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    pub runtime: RuntimeLimits,
    pub server: ServerLimits,
}

/// One limit: its key, its variable, its default and its range.
struct Limit {
    key: &'static str,
    var: &'static str,
    default: usize,
    min: u64,
    max: u64,
}

const WORKERS: Limit = Limit {
    key: "limits.workers_per_runtime",
    var: "YOI_MAX_WORKERS",
    default: DEFAULT_MAX_WORKERS,
    min: 1,
    max: 100_000,
};
const SUBSCRIBERS: Limit = Limit {
    key: "limits.subscribers_per_worker",
    var: "YOI_MAX_SUBSCRIBERS",
    default: DEFAULT_MAX_SUBSCRIBERS,
    min: 1,
    max: 100_000,
};
const CONNECTIONS: Limit = Limit {
    key: "limits.connections",
    var: "YOI_MAX_CONNECTIONS",
    default: DEFAULT_MAX_CONNECTIONS,
    min: 1,
    max: 1_000_000,
};
const HEADER_TIMEOUT_MS: Limit = Limit {
    key: "limits.header_timeout_ms",
    var: "YOI_HEADER_TIMEOUT_MS",
    default: DEFAULT_HEADER_TIMEOUT.as_millis() as usize,
    min: 100,
    max: 600_000,
};
const IDLE_TIMEOUT_MS: Limit = Limit {
    key: "limits.idle_timeout_ms",
    var: "YOI_IDLE_TIMEOUT_MS",
    default: DEFAULT_IDLE_TIMEOUT.as_millis() as usize,
    min: 100,
    max: 3_600_000,
};
const ANSWER_BYTES: Limit = Limit {
    key: "limits.answer_bytes",
    var: "YOI_MAX_ANSWER_BYTES",
    default: DEFAULT_MAX_ANSWER_BYTES,
    min: 1024,
    max: 256 * 1024 * 1024,
};

/// No default: the store grows as the disk allows unless this is set.
const STORE_BYTES: Limit = Limit {
    key: "limits.store_bytes",
    var: "YOI_MAX_STORE_BYTES",
    default: 0,
    min: 64 * 1024,
    max: 1 << 50,
};

impl Limit {
    fn resolve(
        &self,
        file: Option<u64>,
        env: &HashMap<String, String>,
    ) -> Result<usize, ConfigError> {
        let value = match env
            .get(self.var)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
        {
            Some(v) => v.parse::<u64>().map_err(|_| ConfigError::Value {
                key: self.key,
                why: format!(
                    "`{}` in {} is not a whole number",
                    v.chars().take(20).collect::<String>(),
                    self.var
                ),
            })?,
            None => match file {
                Some(n) => n,
                None => return Ok(self.default),
            },
        };
        if !(self.min..=self.max).contains(&value) {
            return Err(ConfigError::Value {
                key: self.key,
                why: format!("{value} is out of range ({} to {})", self.min, self.max),
            });
        }
        usize::try_from(value).map_err(|_| ConfigError::Value {
            key: self.key,
            why: format!("{value} is too large for this machine"),
        })
    }
}

/// The limits of `file`, each overridden by its variable in `env`.
pub fn resolve(file: &FileLimits, env: &HashMap<String, String>) -> Result<Limits, ConfigError> {
    Ok(Limits {
        runtime: RuntimeLimits {
            workers: WORKERS.resolve(file.workers_per_runtime, env)?,
            subscribers_per_worker: SUBSCRIBERS.resolve(file.subscribers_per_worker, env)?,
            answer_bytes: ANSWER_BYTES.resolve(file.answer_bytes, env)?,
            store_bytes: match STORE_BYTES.resolve(file.store_bytes, env)? {
                0 => None,
                n => Some(u64::try_from(n).unwrap_or(u64::MAX)),
            },
        },
        server: ServerLimits {
            max_connections: CONNECTIONS.resolve(file.connections, env)?,
            header_timeout: millis(HEADER_TIMEOUT_MS.resolve(file.header_timeout_ms, env)?),
            idle_timeout: millis(IDLE_TIMEOUT_MS.resolve(file.idle_timeout_ms, env)?),
            ..ServerLimits::default()
        },
    })
}

fn millis(ms: usize) -> Duration {
    Duration::from_millis(u64::try_from(ms).unwrap_or(u64::MAX))
}

/// The variables that hand `limits` to a local runtime.
pub fn to_env(limits: &Limits) -> Vec<(String, String)> {
    [
        (WORKERS.var, limits.runtime.workers),
        (SUBSCRIBERS.var, limits.runtime.subscribers_per_worker),
        (CONNECTIONS.var, limits.server.max_connections),
        (ANSWER_BYTES.var, limits.runtime.answer_bytes),
        (
            HEADER_TIMEOUT_MS.var,
            duration_ms(limits.server.header_timeout),
        ),
        (IDLE_TIMEOUT_MS.var, duration_ms(limits.server.idle_timeout)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_string()))
    .chain(
        limits
            .runtime
            .store_bytes
            .map(|n| (STORE_BYTES.var.to_owned(), n.to_string())),
    )
    .collect()
}

fn duration_ms(d: Duration) -> usize {
    usize::try_from(d.as_millis()).unwrap_or(usize::MAX)
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

    #[test]
    fn defaults_file_and_environment() {
        let none = resolve(&FileLimits::default(), &env(&[])).unwrap();
        assert_eq!(none, Limits::default());
        let file: FileLimits = toml::from_str(
            "workers_per_runtime = 3\nanswer_bytes = 4096\nheader_timeout_ms = 2500",
        )
        .unwrap();
        let l = resolve(
            &file,
            &env(&[("YOI_MAX_WORKERS", "5"), ("YOI_MAX_CONNECTIONS", "9")]),
        )
        .unwrap();
        assert_eq!(l.runtime.workers, 5);
        assert_eq!(l.runtime.answer_bytes, 4096);
        assert_eq!(l.server.max_connections, 9);
        assert_eq!(l.server.header_timeout, Duration::from_millis(2500));
        assert_eq!(l.server.idle_timeout, DEFAULT_IDLE_TIMEOUT);
        assert_eq!(
            resolve(
                &FileLimits::default(),
                &env(&to_env(&l)
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect::<Vec<_>>())
            )
            .unwrap(),
            l
        );
    }

    #[test]
    fn bad_limits_are_named() {
        for (vars, key) in [
            (vec![("YOI_MAX_WORKERS", "0")], "limits.workers_per_runtime"),
            (
                vec![("YOI_MAX_SUBSCRIBERS", "many")],
                "limits.subscribers_per_worker",
            ),
            (vec![("YOI_MAX_ANSWER_BYTES", "10")], "limits.answer_bytes"),
            (vec![("YOI_MAX_CONNECTIONS", "-1")], "limits.connections"),
            (
                vec![("YOI_HEADER_TIMEOUT_MS", "5")],
                "limits.header_timeout_ms",
            ),
            (
                vec![("YOI_IDLE_TIMEOUT_MS", "soon")],
                "limits.idle_timeout_ms",
            ),
        ] {
            let err = resolve(&FileLimits::default(), &env(&vars)).unwrap_err();
            assert!(err.to_string().starts_with(key), "{key}: {err}");
        }
        assert!(toml::from_str::<FileLimits>("workers = 3").is_err());
    }

    #[test]
    fn store_bytes_has_no_default_and_reaches_a_local_runtime() {
        let none = resolve(&FileLimits::default(), &env(&[])).unwrap();
        assert_eq!(none.runtime.store_bytes, None);
        assert!(!to_env(&none)
            .iter()
            .any(|(k, _)| k == "YOI_MAX_STORE_BYTES"));
        let file: FileLimits = toml::from_str("store_bytes = 1048576").unwrap();
        let l = resolve(&file, &env(&[])).unwrap();
        assert_eq!(l.runtime.store_bytes, Some(1_048_576));
        let passed = to_env(&l);
        assert!(passed.contains(&("YOI_MAX_STORE_BYTES".to_owned(), "1048576".to_owned())));
        let err = resolve(
            &FileLimits::default(),
            &env(&[("YOI_MAX_STORE_BYTES", "10")]),
        )
        .unwrap_err();
        assert!(err.to_string().starts_with("limits.store_bytes"), "{err}");
    }
}
