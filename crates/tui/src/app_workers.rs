//! The app's side of managing workers from the picker (see [`crate::manage`]):
//! opening a form, folding keys into it, turning its request into a command,
//! and the answers of those commands; and the retry of a failed run.

use yoi_protocol::{CreateWorker, WorkerDetail, WorkerSummary, WorkspaceEvent};

use super::{switch_to, App, Command, Scroll};
use crate::client::ClientError;
use crate::keys::{Action, Focus};
use crate::manage::{self, Request, Step};
use crate::notice::{describe_client_error, Notice};
use crate::picker::worker_ref;

/// `n`, `r` or `d` in the picker: the form for it, or why there is none.
pub(super) fn open_form(app: &mut App, action: Action) {
    if app.focus != Focus::Picker {
        return;
    }
    let form = match action {
        Action::NewWorker => manage::new_worker(&app.picker),
        Action::RenameWorker => manage::rename(&app.picker),
        _ => manage::stop(&app.picker),
    };
    match form {
        Ok(form) => {
            app.form = Some(form);
            app.focus = Focus::Form;
        }
        Err(why) => app.notice = Some(Notice::warning(format!("Cannot do that: {why}"))),
    }
}

/// A key in a form.
pub(super) fn form_action(app: &mut App, action: Action) -> Vec<Command> {
    let Some(form) = app.form.take() else {
        app.focus = Focus::Picker;
        return Vec::new();
    };
    match manage::step(form, action, &app.picker) {
        Step::Stay(form) => {
            app.form = Some(form);
            Vec::new()
        }
        Step::Close => {
            app.focus = Focus::Picker;
            Vec::new()
        }
        Step::Do(request) => {
            app.focus = Focus::Picker;
            vec![command_for(app, request)]
        }
    }
}

fn command_for(app: &mut App, request: Request) -> Command {
    match request {
        Request::Create {
            runtime,
            profile,
            name,
        } => {
            app.notice = Some(Notice::info(format!("Starting a {profile} worker…")));
            Command::CreateWorker {
                runtime_id: runtime,
                request: CreateWorker {
                    display_name: name,
                    profile: Some(profile),
                },
            }
        }
        Request::Rename { target, name } => Command::RenameWorker {
            target,
            display_name: name,
        },
        Request::Stop { target } => {
            let display_ref = app
                .picker
                .workers
                .iter()
                .find(|w| worker_ref(w) == target)
                .map_or_else(|| target.to_string(), |w| w.display_ref.clone());
            Command::StopWorker {
                target,
                display_ref,
            }
        }
    }
}

/// A new worker: listed at once, and shown.
pub(super) fn created(
    app: &mut App,
    result: Result<Box<WorkerDetail>, ClientError>,
) -> Vec<Command> {
    match result {
        Ok(detail) => {
            let summary = detail.summary;
            app.picker.apply(WorkspaceEvent::WorkerCreated {
                worker: summary.clone(),
            });
            let commands = switch_to(app, worker_ref(&summary));
            app.notice = Some(Notice::info(format!("Started {}", summary.display_ref)));
            commands
        }
        Err(err) => {
            app.notice = Some(describe_client_error(&err, "the new worker"));
            Vec::new()
        }
    }
}

pub(super) fn renamed(app: &mut App, result: Result<WorkerSummary, ClientError>) {
    match result {
        Ok(summary) => {
            app.notice = Some(Notice::info(format!("Renamed to {}", summary.display_ref)));
            let event = WorkspaceEvent::WorkerUpdated { worker: summary };
            follow_rename(app, &event);
            app.picker.apply(event);
        }
        Err(err) => app.notice = Some(describe_client_error(&err, "that worker")),
    }
}

pub(super) fn stopped(app: &mut App, display_ref: &str, result: Result<(), ClientError>) {
    app.notice = Some(match result {
        Ok(()) => Notice::info(format!("Stopped {display_ref}")),
        Err(err) => describe_client_error(&err, display_ref),
    });
}

/// The shown worker's name follows a rename, wherever it was made.
pub(super) fn follow_rename(app: &mut App, event: &WorkspaceEvent) {
    let WorkspaceEvent::WorkerUpdated { worker } = event else {
        return;
    };
    if let Some(current) = app.worker.as_mut() {
        if worker_ref(current) == worker_ref(worker) {
            current.display_name.clone_from(&worker.display_name);
            current.display_ref.clone_from(&worker.display_ref);
        }
    }
}

/// Ctrl-T: the question of the failed or cancelled last run, sent again as
/// new input (with an id of its own). The draft is left alone.
pub(super) fn retry(app: &mut App) -> Vec<Command> {
    if app.sending || app.run_in_flight() {
        app.notice = Some(Notice::warning("An answer is still on its way"));
        return Vec::new();
    }
    let Some(text) = app.transcript.retry_text().map(str::to_owned) else {
        app.notice = Some(Notice::info(
            "Nothing to retry: the last answer did not fail or stop",
        ));
        return Vec::new();
    };
    let Some(target) = app.resolved() else {
        return Vec::new();
    };
    let client_message_id = app.next_client_message_id();
    app.sending = true;
    app.retrying = true;
    app.scroll = Scroll::Follow;
    app.notice = Some(Notice::info("Retrying…"));
    vec![Command::SendInput {
        generation: app.generation,
        target,
        text,
        client_message_id,
    }]
}
