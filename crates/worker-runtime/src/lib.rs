//! The worker runtime: hosts LLM Workers as actors. No HTTP server lives
//! here, and no HTTP client: the servers are `yoi-http` and
//! `yoi-runtime-server`, the providers are `yoi-providers`.
//!
//! - [`RuntimeApi`] ([`api`]) is what a runtime offers, the same for every
//!   kind: the embedded [`Runtime`] implements it with direct actor calls,
//!   the registry's client of a runtime process implements it over the wire.
//! - [`Runtime`] ([`runtime`]) is the handle to a `RuntimeActor`, which
//!   creates, lists, stops and supervises Workers.
//! - Each Worker ([`worker`]) is a model ([`worker::WorkerCore`]: single-flight
//!   input, idempotent input, one terminal event per run), an actor in front
//!   of it, and a run task that streams from the provider with first-token
//!   and whole-run timeouts.
//! - A Worker's [`event_log`] numbers its events gaplessly from 1, keeps a
//!   bounded ring, and feeds [`Subscription`]s that follow the cursor rules of
//!   the contract; its [`transcript`] is the bounded projection UIs render.
//! - The [`provider`] boundary turns a conversation into a stream of deltas;
//!   a [`provider::ProviderFactory`] builds the provider a configuration names.
//! - [`profile`] builds Worker profiles from the prompt resources in `prompts/`.
//! - [`persist`] keeps Workers (transcript, usage, `seq`) across restarts when
//!   the Runtime has a state directory.
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

pub mod api;
pub mod config;
pub mod error;
pub mod event_log;
pub mod persist;
pub mod profile;
pub mod provider;
pub mod runtime;
pub mod subscription;
pub mod transcript;
pub mod worker;

pub use api::{RuntimeApi, WorkerStream};
pub use config::{ProviderConfig, RuntimeConfig, RuntimeLimits};
pub use error::RuntimeError;
pub use event_log::EventFrame;
pub use runtime::Runtime;
pub use subscription::Subscription;
