//! The runtime registry: one [`Registry`] per backend routes every command and
//! subscription, named by `runtime_id + worker_id`, to the runtime that holds
//! the Worker.
//!
//! - [`registry`]: the `RegistryActor` owning `runtime_id -> RuntimeHandle`,
//!   and the [`Registry`] handle the server calls.
//! - [`handle`]: [`RuntimeHandle`], one variant per way of reaching a
//!   runtime, all with the same operations; [`WorkerStream`], a Worker's
//!   frames wherever it lives.
//! - [`remote`]: [`RemoteRuntime`], the client of a runtime process over TCP
//!   or a Unix socket: REST commands, event sockets that resume from their
//!   cursor, health checks and the runtime's workspace events.
//! - [`local`]: a `local` runtime, a supervised child process
//!   (`yoi runtime serve --unix`) reached with the same client.
//! - [`error`]: [`RegistryError`]: unknown runtime, unavailable runtime,
//!   unsupported operation, and the runtime's own errors carried unchanged.

pub mod error;
pub mod handle;
pub mod local;
pub mod registry;
pub mod remote;

pub use error::RegistryError;
pub use handle::{RuntimeHandle, WorkerStream};
pub use local::{start_local, LocalConfig};
pub use registry::Registry;
pub use remote::{Endpoint, RemoteConfig, RemoteRuntime, Timing};
