//! The built web console, embedded in the binary and served at `/`.
//!
//! Hashed assets (`/assets/*`) never change under their name and are cached
//! for a year; `index.html` and everything else is revalidated every time.
//!
//! Every answer carries a strict Content-Security-Policy: scripts, styles and
//! connections only from this server (no inline script, no `eval`), no
//! framing by any site, no sniffing, no referrer.

use axum::http::{header, HeaderMap, HeaderName, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use rust_embed::RustEmbed;

#[derive(RustEmbed)]
#[folder = "$YOI_WEB_DIST_DIR"]
struct Assets;

/// The console's policy. `connect-src 'self'` covers the same host's
/// WebSockets in current browsers; the explicit `ws:`/`wss:` sources of this
/// request's (already checked) `Host` cover the others.
fn content_security_policy(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| !h.contains([';', ',', ' ', '\'', '"']))
        .map(|h| format!(" ws://{h} wss://{h}"))
        .unwrap_or_default();
    format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         font-src 'self'; connect-src 'self'{host}; manifest-src 'self'; base-uri 'none'; \
         form-action 'none'; frame-ancestors 'none'"
    )
}

/// The headers every console answer carries.
fn security_headers(headers: &HeaderMap) -> [(HeaderName, String); 4] {
    [
        (
            header::CONTENT_SECURITY_POLICY,
            content_security_policy(headers),
        ),
        (header::X_FRAME_OPTIONS, "DENY".to_owned()),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_owned()),
        (header::REFERRER_POLICY, "no-referrer".to_owned()),
    ]
}

pub async fn serve(uri: Uri, headers: HeaderMap) -> Response {
    let secure = security_headers(&headers);
    let path = uri.path().trim_start_matches('/');
    let (name, file) = match Assets::get(path).filter(|_| !path.is_empty()) {
        Some(file) => (path, file),
        // Unknown paths are client-side routes of the single-page app.
        None if !path.starts_with("assets/") => match Assets::get("index.html") {
            Some(file) => ("index.html", file),
            None => return (secure, StatusCode::NOT_FOUND).into_response(),
        },
        None => return (secure, StatusCode::NOT_FOUND).into_response(),
    };
    let cache = if name.starts_with("assets/") {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    (
        secure,
        [
            (header::CONTENT_TYPE, file.metadata.mimetype().to_owned()),
            (header::CACHE_CONTROL, cache.to_owned()),
        ],
        file.data,
    )
        .into_response()
}
