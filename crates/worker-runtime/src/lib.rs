//! The worker runtime: hosts LLM Workers as actors. No HTTP server lives
//! here, and no HTTP client: the servers are `yoi-http` and
//! `yoi-runtime-server`, the providers are `yoi-providers`.
//!
//! - [`RuntimeApi`] ([`api`]) is what a runtime offers, the same for every
//!   kind: the embedded [`Runtime`] implements it with direct actor calls,
//!   the registry's client of a runtime process implements it over the wire.
//! - [`Runtime`] ([`runtime`]) is the handle to a `RuntimeActor`, which
//!   creates, lists (a page at a time, in creation or activity order, by
//!   name: `runtime/listing.rs`), stops and supervises Workers.
//! - Each Worker ([`worker`]) is a model ([`worker::WorkerCore`]: single-flight
//!   input or a bounded queue of inputs (`on_busy: queue`) whose next one
//!   starts in the step that ends a run, idempotent input, one terminal event
//!   per run), an actor in front
//!   of it, and a run task that streams from the provider with first-token
//!   and whole-run timeouts.
//! - A Worker's [`event_log`] numbers its events gaplessly from 1, keeps a
//!   bounded ring, and feeds [`Subscription`]s that follow the cursor rules of
//!   the contract; its [`transcript`] is the bounded projection UIs render.
//! - The [`provider`] boundary turns a conversation into a stream of deltas;
//!   a [`provider::ProviderFactory`] builds the provider a configuration names.
//! - [`profile`] builds Worker profiles: the built-in `companion` and those of
//!   the configuration ([`config::ProfileSpec`]), each with its own provider
//!   (the Runtime builds one per profile through its factory) and prompt.
//! - [`tools`]: what a Worker may call. Tool sources sit behind one trait
//!   ([`tools::ToolSource`]; `yoi`'s own workspace tools live here, sources
//!   that need a network or a child process live in crates of their own);
//!   a profile's grants ([`tools::ToolGrants`]) decide which tools the model
//!   is offered and which ask a person first. The loop that runs a turn's
//!   calls is the Worker's (`worker::core::tool_loop`). A source that starts
//!   on demand (an MCP server, `yoi-mcp`) is started by a run's first turn,
//!   which waits for it (`ToolSource::prepare`, then `WorkerMsg::ToolsReady`).
//! - [`store`] keeps Workers, their whole history and runs in SQLite when the
//!   Runtime has a state directory; the transcript and event ring in memory
//!   are its caches, and a restarted Worker never hands out a `seq` twice.
//!   A write it cannot commit is answered `store_unavailable`, never
//!   success; a Worker whose rows cannot be read is `quarantined`
//!   ([`runtime`] restores the others). Each run's end also adds itself to
//!   daily usage roll-ups ([`store::usage`]), which [`RuntimeApi::usage`]
//!   sums on a read connection of its own. Every stored message is in a
//!   full-text index kept by triggers in the same transaction
//!   ([`store::search`]), which [`RuntimeApi::search`] and
//!   [`RuntimeApi::transcript_window`] read the same way.
//! - [`metrics`]: the process's Prometheus metrics (runs, tokens, errors,
//!   latencies, workers, sockets, queue, commits, tool calls, approvals),
//!   counted where they happen with atomics and encoded by
//!   `prometheus-client`.
//!
//! The path of one input, from the HTTP request to the provider and back:
//!
//! ```text
//! POST .../input --> RuntimeApi::input --> WorkerMsg::Input --> WorkerCore::accept_input
//!                                                   | (input_accepted, run_started in the EventLog)
//!                                                   v
//!                       run task: Provider::stream --> WorkerMsg::Run(item) --> WorkerCore
//!                                                   | (assistant_delta ..., run_completed)
//!                                                   v
//! WebSocket frame <-- RuntimeApi::subscribe stream <-- EventLog broadcast (JSON made once)
//! ```
//!
//! Where a tool call goes: a model turn that ends with tool calls starts a
//! round in the tool loop instead of ending the run.
//!
//! ```text
//! run task: ProviderEvent::ToolCall ... End --> WorkerCore::begin_tool_round
//!   each call: look up (ToolRegistry) -> check arguments (JSON Schema) -> grant
//!     allow: ToolStep::Call --> actor spawns ToolSource::call (deadline) --> WorkerMsg::ToolDone
//!     ask:   tool_approval_requested ... RuntimeApi::approve --> WorkerMsg::Approve
//!   round over: results bounded --> ToolStep::NextTurn --> a new run task, same run
//! ```

pub mod api;
pub mod config;
pub mod error;
pub mod event_log;
pub mod metrics;
pub mod profile;
pub mod provider;
pub mod runtime;
pub mod store;
pub mod subscription;
#[cfg(feature = "test-hooks")]
pub mod testing;
pub mod tools;
pub mod transcript;
pub mod worker;

pub use api::{RuntimeApi, WorkerStream};
pub use config::{ProviderConfig, RuntimeConfig, RuntimeLimits};
pub use error::RuntimeError;
pub use event_log::EventFrame;
pub use runtime::Runtime;
pub use subscription::Subscription;
