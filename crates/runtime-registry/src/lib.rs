//! The runtime registry: one [`Registry`] per backend routes every command and
//! subscription, named by `runtime_id + worker_id`, to the runtime that holds
//! the Worker.
//!
//! - [`registry`]: the `RegistryActor` owning `runtime_id -> RuntimeHandle`,
//!   and the [`Registry`] handle the server calls.
//! - [`handle`]: [`RuntimeHandle`], one variant per runtime kind, all with the
//!   same operations; [`WorkerStream`], a Worker's frames wherever it lives.
//! - [`error`]: [`RegistryError`]: unknown runtime, unavailable runtime,
//!   unsupported operation, and the runtime's own errors carried unchanged.

pub mod error;
pub mod handle;
pub mod registry;

pub use error::RegistryError;
pub use handle::{RuntimeHandle, WorkerStream};
pub use registry::Registry;
