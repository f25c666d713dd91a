//! The runtime registry: one [`Registry`] per backend routes every command and
//! subscription, named by `runtime_id + worker_id`, to the runtime that holds
//! the Worker.
//!
//! - [`registry`]: the `RegistryActor` owning `runtime_id -> Arc<dyn
//!   RuntimeApi>`, and the [`Registry`] handle the server asks for the
//!   runtime a request names ([`Registry::route`]). The server then calls
//!   that runtime's [`worker_runtime::RuntimeApi`] itself: nothing here
//!   forwards a worker command.
//! - [`remote`]: [`RemoteRuntime`], the `RuntimeApi` of a runtime process
//!   over TCP or a Unix socket: REST commands, event sockets that resume
//!   from their cursor, health checks and the runtime's workspace events.
//! - [`local`]: a `local` runtime, a supervised child process
//!   (`yoi runtime serve --unix`) reached with the same client.
//! - [`error`]: [`RegistryError`]: unknown runtime, duplicate runtime, bad
//!   runtime configuration. A runtime's own answers (including
//!   `runtime_unavailable`) are `worker_runtime::RuntimeError`s.
//!
//! ```text
//! route handler --route(runtime_id)--> Registry --> Arc<dyn RuntimeApi>
//!      |                                              |
//!      `---- .input(worker_id, ...) ------------------+--> Runtime (embedded, actors)
//!                                                     `--> RemoteRuntime --HTTP/WS--> yoi runtime serve
//! ```

pub mod error;
pub mod local;
pub mod registry;
pub mod remote;

pub use error::RegistryError;
pub use local::{start_local, LocalConfig};
pub use registry::{Registry, SharedRuntime};
pub use remote::{Endpoint, OwnedProcess, RemoteConfig, RemoteRuntime, Timing};
