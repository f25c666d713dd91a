//! A Worker: one actor per Worker, in three parts.
//!
//! - [`core`]: [`WorkerCore`], the model: state machine (`idle -> running ->
//!   idle`, `stopped`), event log, transcript, usage, the run in flight, and
//!   the rules (single-flight input answered `busy`, idempotent
//!   `client_message_id`, exactly one terminal event per run).
//! - [`actor`]: `WorkerActor`, the mailbox in front of the core; `cancel`,
//!   snapshots and `busy` are answered while a run streams.
//! - [`run`]: the run task that streams from the provider, enforces the
//!   timeouts and reports back by message.
//! - `snapshot_cache`: one snapshot frame shared by the subscribers that ask
//!   while nothing changed.
//!
//! The core is shared with the Runtime behind a mutex, so that a Worker actor
//! that panics is restarted with its transcript and event log intact; the
//! restarted actor fails the run that was in flight.

pub mod actor;
pub mod core;
pub mod run;
mod snapshot_cache;

pub use self::core::{CoreSettings, SubscribeFrom, SubscribeStart, WorkerCore};
pub use actor::{WorkerActor, WorkerArgs, WorkerMsg};
pub use run::RunItem;
