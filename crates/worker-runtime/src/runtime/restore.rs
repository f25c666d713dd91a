//! Restoring the Workers the store kept, at a Runtime's start. A Worker
//! whose profile is gone (or whose profile's prompt file is) is restored
//! with its history and refuses input with `profile_missing`, saying what to
//! do. A Worker that cannot be restored (its rows are damaged, its name no
//! longer validates) is quarantined rather than dropped: it is listed with
//! status `quarantined`, takes no input, and a log line says which and what
//! to do; the others load.

use ractor::ActorRef;
use yoi_protocol::WorkerId;

use super::actor::{add_worker, settings, RuntimeMsg, RuntimeState};
use crate::error::RuntimeError;
use crate::profile::{load_profile, Profile};
use crate::store::SavedWorker;
use crate::worker::WorkerCore;

/// Restores `saved`, or quarantines it when it cannot be.
pub(super) async fn restore_worker(
    myself: &ActorRef<RuntimeMsg>,
    state: &mut RuntimeState,
    saved: SavedWorker,
) {
    let worker_id = saved.row.worker_id;
    if state.workers.contains_key(&worker_id) {
        tracing::error!(%worker_id, "the store holds this worker twice; the second is left out");
        return;
    }
    let raw_name = saved.row.display_name.clone();
    let raw_profile = saved.row.profile.clone();
    let why = match saved.damaged.clone() {
        Some(why) => why,
        None => match restore(myself, state, saved).await {
            Ok(()) => return,
            Err(e) => {
                tracing::error!(
                    %worker_id,
                    error = %e,
                    "worker {worker_id} is quarantined: it cannot be restored. It is listed as `quarantined` and takes no input; fix the cause (a profile that is gone, a name that no longer validates) and restart, or stop the worker to drop it"
                );
                e.to_string()
            }
        },
    };
    if let Err(e) = quarantine(myself, state, worker_id, &raw_name, &raw_profile).await {
        tracing::error!(%worker_id, error = %e, why, "a damaged worker could not even be quarantined");
    }
}

async fn restore(
    myself: &ActorRef<RuntimeMsg>,
    state: &mut RuntimeState,
    saved: SavedWorker,
) -> Result<(), RuntimeError> {
    let display_name = yoi_protocol::validate_display_name(&saved.row.display_name)?;
    // A profile that is gone (or whose prompt file is) leaves the Worker
    // readable: restored with its history, refusing input with why.
    let (profile, refused) = match load_profile(&saved.row.profile, &state.config) {
        Ok(profile) => (profile, None),
        Err(e) => {
            tracing::warn!(
                worker_id = %saved.row.worker_id,
                error = %e,
                "worker {} is restored without its profile: its history is readable, input answers profile_missing until the profile is back",
                saved.row.worker_id
            );
            (placeholder(&saved.row.profile), Some(e.input_error()))
        }
    };
    let settings = settings(
        state,
        saved.row.worker_id,
        display_name,
        profile,
        saved.lease.0,
    );
    let mut core = WorkerCore::restore(settings, saved);
    if let Some(error) = refused {
        core.refuse_input(error);
    }
    add_worker(myself, state, core).await?;
    Ok(())
}

/// A profile that cannot be built, by its stored name only: no model, no
/// prompt, no tools.
fn placeholder(name: &str) -> Profile {
    Profile {
        name: name.chars().take(64).collect(),
        model: String::new(),
        system_prompt: String::new(),
    }
}

/// Lists the Worker as `quarantined`, under its stored name when that
/// still validates (else its id).
async fn quarantine(
    myself: &ActorRef<RuntimeMsg>,
    state: &mut RuntimeState,
    worker_id: WorkerId,
    raw_name: &str,
    raw_profile: &str,
) -> Result<(), RuntimeError> {
    let display_name = yoi_protocol::validate_display_name(raw_name)
        .unwrap_or_else(|_| format!("quarantined-{}", worker_id.to_string().to_lowercase()));
    let profile =
        load_profile(raw_profile, &state.config).unwrap_or_else(|_| placeholder(raw_profile));
    let core = WorkerCore::quarantined(settings(state, worker_id, display_name, profile, 0));
    add_worker(myself, state, core).await?;
    Ok(())
}
