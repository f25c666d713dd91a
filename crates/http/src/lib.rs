//! yoi-http: the HTTP pieces the backend (`yoi-workspace-server`) and a
//! runtime's own server (`yoi-runtime-server`) share, each written once.
//!
//! - [`routes`]: the routes of a runtime and its Workers (summary, list,
//!   create, detail, stop, input, cancel, transcript, events). Each handler
//!   calls the [`worker_runtime::RuntimeApi`] of the runtime its path names.
//! - [`host`]: [`Host`], how a server tells the routes which runtime a path
//!   names and when it shuts down.
//! - [`extract`]: JSON bodies, queries and path targets, every malformed
//!   request answered `invalid_input` in the envelope.
//! - [`failure`]: [`Failure`], the one renderer of the error envelope.
//! - [`socket`]: the event socket pumps (the client read all along so a
//!   Close is answered at once, sends with a deadline, pings, drain at
//!   shutdown, frames shared, never copied per socket).
//! - [`limits`]: body and message limits, and [`limits::ServerLimits`]: the
//!   socket policy, the connection slots a server hands out
//!   (`limit_reached` when none is free) and its connection timeouts.
//! - [`connection`]: [`connection::serve`], how both servers serve their
//!   connections: one slot per connection, header-read and idle timeouts.
//! - [`tcp`]: how each accepted TCP connection is set up (no Nagle delay,
//!   little unsent data queued in the kernel, so that a Close reply is not
//!   behind megabytes of frames).
//! - [`usage`]: usage over time, summed over every runtime the server
//!   answers for, and the process's Prometheus metrics.
//! - [`transcript_md`]: a worker's whole conversation as Markdown.
//! - [`search`]: search across conversations, merged over every runtime
//!   the server answers for (and within one worker).
//! - [`token`]: bearer tokens (at least 16 characters, compared in constant
//!   time).
//!
//! ```text
//! request --> extract (WorkerTarget: Host resolves the runtime) --> routes handler
//!         --> RuntimeApi (embedded actors, or a runtime process over the wire)
//! frames <-- socket::pump_frames <-- RuntimeApi::subscribe stream
//! ```

pub mod connection;
pub mod extract;
pub mod failure;
pub mod host;
pub mod limits;
pub mod routes;
pub mod search;
pub mod socket;
pub mod tcp;
pub mod token;
pub mod transcript_md;
pub mod usage;

pub use failure::Failure;
pub use host::{Host, OneRuntime, Runtimes};
