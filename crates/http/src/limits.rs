//! How much a client may send, the same for the backend and a runtime. The
//! contract's own limits on content (text length, transcript `limit`) are in
//! `yoi-protocol`.

/// Largest request body; bigger ones are answered 413 `payload_too_large`.
pub const BODY_LIMIT: usize = 256 * 1024;

/// Largest WebSocket message a client may send; clients send nothing that
/// matters on the event sockets.
pub const MAX_CLIENT_MESSAGE: usize = 64 * 1024;
