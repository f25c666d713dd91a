//! Who may talk to the backend.
//!
//! - `Host` must name this server: on a loopback bind, only loopback names are
//!   accepted, which defeats DNS rebinding (a page on `evil.example` resolving
//!   to 127.0.0.1 still sends `Host: evil.example`).
//! - A browser's `Origin`, when present, must be this server's own origin: a
//!   page on another site must not drive a local backend.
//! - With a token, every `/api` request and socket (and `/metrics`) needs it: as
//!   `Authorization: Bearer`, or for browsers a `?token=` query parameter or
//!   a `yoi_token` cookie. The token is never logged.

use axum::extract::{Request, State};
use axum::http::header::{AUTHORIZATION, COOKIE, HOST, ORIGIN};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use yoi_protocol::ErrorCode;

use yoi_http::token::{bearer, constant_time_eq};
use yoi_http::Failure;

use crate::AppState;

/// What the security layer checks, fixed at start.
#[derive(Clone)]
pub struct Access {
    /// Whether the server is bound to a loopback address.
    pub loopback: bool,
    /// The bearer token, when one is required.
    pub token: Option<String>,
}

impl std::fmt::Debug for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token stays out of logs and panics.
        f.debug_struct("Access")
            .field("loopback", &self.loopback)
            .field("token", &self.token.as_ref().map(|_| "<set>"))
            .finish()
    }
}

/// The name of a `Host` value (`name`, `name:port`, `[v6]`, `[v6]:port`), or
/// `None` when it is malformed.
fn host_name(host: &str) -> Option<&str> {
    let (name, port) = if let Some(rest) = host.strip_prefix('[') {
        let (inside, after) = rest.split_once(']')?;
        inside.parse::<std::net::Ipv6Addr>().ok()?;
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':')?),
        };
        (inside, port)
    } else {
        match host.split_once(':') {
            Some((name, port)) => (name, Some(port)),
            None => (host, None),
        }
    };
    if port.is_some_and(|p| {
        p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) || p.parse::<u16>().is_err()
    }) {
        return None;
    }
    let plain = name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    (!name.is_empty() && (host.starts_with('[') || plain)).then_some(name)
}

fn is_loopback_name(name: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost"
        || name.ends_with(".localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The request's `Host` header, or the authority of its URI (HTTP/2).
fn request_host(req: &Request) -> Option<String> {
    match req.headers().get(HOST) {
        Some(h) => h.to_str().ok().map(str::to_owned),
        None => req.uri().authority().map(|a| a.as_str().to_owned()),
    }
}

fn check_host(access: &Access, req: &Request) -> Result<(), Failure> {
    let name = request_host(req)
        .as_deref()
        .and_then(host_name)
        .map(str::to_owned);
    let Some(name) = name else {
        return Err(Failure::invalid(
            "a request needs a well-formed Host header",
        ));
    };
    // Off loopback the token guards every call; any name may reach us.
    if !access.loopback || is_loopback_name(&name) {
        Ok(())
    } else {
        Err(Failure::new(
            ErrorCode::ForbiddenOrigin,
            "this backend answers only requests addressed to a loopback host name",
        ))
    }
}

fn check_origin(headers: &HeaderMap) -> Result<(), Failure> {
    let Some(origin) = headers.get(ORIGIN) else {
        return Ok(());
    };
    let origin = origin.to_str().unwrap_or("");
    let host = headers
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    let own = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
        .is_some_and(|rest| !host.is_empty() && rest.eq_ignore_ascii_case(host));
    if own {
        Ok(())
    } else {
        Err(Failure::new(
            ErrorCode::ForbiddenOrigin,
            "requests from another site's pages are refused",
        ))
    }
}

fn presented_token(req: &Request) -> Option<String> {
    let headers = req.headers();
    if let Some(token) = headers
        .get(AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(bearer)
    {
        return Some(token.to_owned());
    }
    if let Some(query) = req.uri().query() {
        if let Some((_, v)) = url_pairs(query).find(|(k, _)| k == "token") {
            return Some(v);
        }
    }
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|h| h.to_str().ok())
        .flat_map(|h| h.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == "yoi_token")
        .map(|(_, v)| v.to_owned())
}

fn url_pairs(query: &str) -> impl Iterator<Item = (String, String)> + '_ {
    serde_urlencoded::from_str::<Vec<(String, String)>>(query)
        .unwrap_or_default()
        .into_iter()
}

fn check_token(access: &Access, req: &Request) -> Result<(), Failure> {
    let Some(expected) = &access.token else {
        return Ok(());
    };
    match presented_token(req) {
        Some(t) if constant_time_eq(t.as_bytes(), expected.as_bytes()) => Ok(()),
        Some(_) => Err(Failure::new(ErrorCode::Unauthorized, "the token is wrong")),
        None => Err(Failure::new(
            ErrorCode::Unauthorized,
            "this backend needs a token: send Authorization: Bearer <token>",
        )),
    }
}

/// Host and origin checks for every request; the token for `/api`.
pub async fn guard(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let access = &state.access;
    // `/metrics` is guarded like the API: it tells what the workspace does.
    let api = req.uri().path().starts_with("/api") || req.uri().path() == "/metrics";
    let checked = check_host(access, &req)
        .and_then(|()| {
            if api {
                check_origin(req.headers())
            } else {
                Ok(())
            }
        })
        .and_then(|()| {
            if api {
                check_token(access, &req)
            } else {
                Ok(())
            }
        });
    match checked {
        Ok(()) => next.run(req).await,
        Err(failure) => failure.into_response(),
    }
}

/// One info line per request: method, path (never the query, which may hold
/// the token), status and time.
pub async fn log_request(req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let started = std::time::Instant::now();
    let response = next.run(req).await;
    tracing::info!(
        %method,
        %path,
        status = response.status().as_u16(),
        ms = started.elapsed().as_millis() as u64,
        "request"
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_prints_the_token() {
        let access = Access {
            loopback: false,
            token: Some("backend-token-never-printed".into()),
        };
        let shown = format!("{access:?}");
        assert!(!shown.contains("never-printed"), "{shown}");
        assert!(shown.contains("<set>"), "{shown}");
    }

    #[test]
    fn host_names_parse_with_and_without_ports() {
        assert_eq!(host_name("127.0.0.1:7760"), Some("127.0.0.1"));
        assert_eq!(host_name("[::1]:7760"), Some("::1"));
        assert_eq!(host_name("[::1]"), Some("::1"));
        assert_eq!(host_name("localhost"), Some("localhost"));
        assert!(is_loopback_name("localhost"));
        assert!(is_loopback_name("::1"));
        assert!(!is_loopback_name("evil.example"));
        assert!(!is_loopback_name("192.168.1.10"));
    }

    #[test]
    fn malformed_hosts_have_no_name() {
        for bad in [
            "",
            "[::1]junk",
            "[::1",
            "[junk]",
            "[::1]:",
            "[::1]:x",
            "localhost:",
            "localhost:99999",
            "localhost:+1",
            "a b",
            "127.0.0.1:80:80",
            "::1",
            "evil/x",
            "user@localhost",
        ] {
            assert_eq!(host_name(bad), None, "{bad:?}");
        }
    }
}
