//! Wire types of the yoi API, shared by every crate and client.
//!
//! This crate is the Rust spelling of `docs/api.md`: identifiers
//! ([`RuntimeId`], [`WorkerId`], [`RunId`], [`MessageId`], [`Seq`]), the shapes
//! answered by the REST routes ([`RuntimeSummary`], [`WorkerSummary`],
//! [`WorkerDetail`], [`Message`], [`Usage`], ...), the events a Worker emits
//! ([`WorkerEvent`] and its [`EventKind`]), the workspace-level events
//! ([`WorkspaceEvent`]) the error envelope ([`ApiError`], [`ErrorCode`]), the limits every
//! server checks a request against ([`validate_input_text`], ...), and how
//! many workers are listed: the activity order every server and console
//! sorts by ([`by_activity`]), the name filter ([`NameQuery`]) and the
//! bound of a workspace snapshot ([`SNAPSHOT_WORKERS`]).
//!
//! It holds no runtime machinery: no tokio, no actors, no I/O. The JSON it
//! produces is pinned by round-trip tests, and the TypeScript types of the web
//! console are generated from it with ts-rs (`cargo test -p yoi-protocol
//! export_bindings` writes them; a test fails when they are stale).

mod api;
mod error;
mod event;
mod ids;
mod listing;
mod message;
mod runtime;
mod search;
mod time;
mod tool;
mod usage;
mod validate;
mod worker;

pub use api::*;
pub use error::*;
pub use event::*;
pub use ids::*;
pub use listing::*;
pub use message::*;
pub use runtime::*;
pub use search::*;
pub use time::*;
pub use tool::*;
pub use usage::*;
pub use validate::*;
pub use worker::*;

/// The id of the backend's own in-process runtime.
pub const BACKEND_INTERNAL_RUNTIME: &str = "backend-internal";
