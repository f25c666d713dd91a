//! Managing workers from the picker: starting a new one (its runtime, then
//! its profile, then an optional name), renaming the highlighted one, and
//! stopping it after a confirmation.
//!
//! A [`Form`] is a small pure model like the rest of `app`: [`step`] folds an
//! [`Action`] into it and says whether to stay, close, or carry out a
//! [`Request`]; the app turns a request into a command for the event loop.
//! The runtimes and profiles offered come from the workspace socket (each
//! runtime's summary lists its profiles).

use yoi_protocol::{
    ProfileSummary, RuntimeId, RuntimeStatus, WorkerRef, WorkerStatus, MAX_DISPLAY_NAME_CHARS,
};

use crate::keys::Action;
use crate::picker::{worker_ref, Picker};

/// Name of the profile every runtime has.
const COMPANION_PROFILE: &str = "companion";

/// One of the picker's forms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Form {
    /// A new worker, first: which runtime.
    Runtime {
        choices: Vec<RuntimeId>,
        selected: usize,
    },
    /// A new worker, then: which of the runtime's profiles.
    Profile {
        runtime: RuntimeId,
        choices: Vec<ProfileSummary>,
        selected: usize,
    },
    /// A new worker, last: its name (empty: the profile's name).
    Name {
        runtime: RuntimeId,
        profile: String,
        name: String,
    },
    Rename {
        target: WorkerRef,
        name: String,
    },
    ConfirmStop {
        target: WorkerRef,
        display_ref: String,
    },
}

/// What the person asked the server for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    Create {
        runtime: RuntimeId,
        profile: String,
        name: Option<String>,
    },
    Rename {
        target: WorkerRef,
        name: String,
    },
    Stop {
        target: WorkerRef,
    },
}

/// Where a form goes after an action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Stay(Form),
    /// Back to the picker's list.
    Close,
    Do(Request),
}

/// The first step of a new worker: the runtimes that can make one, the
/// backend's own preselected.
pub fn new_worker(picker: &Picker) -> Result<Form, &'static str> {
    let choices: Vec<RuntimeId> = picker
        .runtimes
        .iter()
        .filter(|r| r.status == RuntimeStatus::Available && r.capabilities.create_worker)
        .map(|r| r.runtime_id.clone())
        .collect();
    if choices.is_empty() {
        return Err("no runtime can start a worker right now");
    }
    let selected = choices
        .iter()
        .position(|id| *id == RuntimeId::backend_internal())
        .unwrap_or(0);
    Ok(Form::Runtime { choices, selected })
}

/// Renaming the highlighted worker, its name to edit.
pub fn rename(picker: &Picker) -> Result<Form, &'static str> {
    let worker = highlighted(picker)?;
    Ok(Form::Rename {
        target: worker_ref(worker),
        name: worker.display_name.clone(),
    })
}

/// Stopping the highlighted worker: asks first.
pub fn stop(picker: &Picker) -> Result<Form, &'static str> {
    let worker = highlighted(picker)?;
    Ok(Form::ConfirmStop {
        target: worker_ref(worker),
        display_ref: worker.display_ref.clone(),
    })
}

fn highlighted(picker: &Picker) -> Result<&yoi_protocol::WorkerSummary, &'static str> {
    let selected = picker.selected().ok_or("no worker highlighted")?;
    picker
        .workers
        .iter()
        .find(|w| worker_ref(w) == *selected && w.status != WorkerStatus::Stopped)
        .ok_or("that worker is stopped")
}

/// The profiles a runtime offers; only the built-in one while it is not known.
fn profiles_of(picker: &Picker, runtime: &RuntimeId) -> Vec<ProfileSummary> {
    picker
        .runtimes
        .iter()
        .find(|r| r.runtime_id == *runtime)
        .and_then(|r| r.profiles.clone())
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| {
            vec![ProfileSummary {
                tools: Vec::new(),
                name: COMPANION_PROFILE.to_owned(),
                description: None,
                model: String::new(),
                configured: true,
                hint: None,
            }]
        })
}

fn moved(selected: usize, len: usize, action: Action) -> usize {
    match action {
        Action::Up => selected.saturating_sub(1),
        Action::Down => (selected + 1).min(len.saturating_sub(1)),
        _ => selected,
    }
}

fn edit(name: &mut String, action: Action) {
    match action {
        Action::Insert(c) if !c.is_control() && name.chars().count() < MAX_DISPLAY_NAME_CHARS => {
            name.push(c);
        }
        Action::Backspace => {
            name.pop();
        }
        Action::KillLineBefore => name.clear(),
        _ => {}
    }
}

/// Folds one action into the form.
pub fn step(form: Form, action: Action, picker: &Picker) -> Step {
    match form {
        Form::Runtime { choices, selected } => step_runtime(choices, selected, action, picker),
        Form::Profile {
            runtime,
            choices,
            selected,
        } => match action {
            Action::Choose => match choices.get(selected) {
                Some(profile) => Step::Stay(Form::Name {
                    runtime,
                    profile: profile.name.clone(),
                    name: String::new(),
                }),
                None => Step::Close,
            },
            _ => Step::Stay(Form::Profile {
                selected: moved(selected, choices.len(), action),
                runtime,
                choices,
            }),
        },
        Form::Name {
            runtime,
            profile,
            mut name,
        } => {
            if action == Action::Choose {
                return Step::Do(Request::Create {
                    runtime,
                    profile,
                    name: Some(name.trim().to_owned()).filter(|n| !n.is_empty()),
                });
            }
            edit(&mut name, action);
            Step::Stay(Form::Name {
                runtime,
                profile,
                name,
            })
        }
        Form::Rename { target, name } => step_rename(target, name, action),
        Form::ConfirmStop {
            target,
            display_ref,
        } => match action {
            Action::Insert('y' | 'Y') => Step::Do(Request::Stop { target }),
            Action::Insert('n' | 'N') => Step::Close,
            _ => Step::Stay(Form::ConfirmStop {
                target,
                display_ref,
            }),
        },
    }
}

/// The runtime chosen: on to its profiles, the Companion's preselected.
fn step_runtime(choices: Vec<RuntimeId>, selected: usize, action: Action, picker: &Picker) -> Step {
    if action != Action::Choose {
        return Step::Stay(Form::Runtime {
            selected: moved(selected, choices.len(), action),
            choices,
        });
    }
    let Some(runtime) = choices.get(selected) else {
        return Step::Close;
    };
    let choices = profiles_of(picker, runtime);
    let selected = choices
        .iter()
        .position(|p| p.name == COMPANION_PROFILE)
        .unwrap_or(0);
    Step::Stay(Form::Profile {
        runtime: runtime.clone(),
        choices,
        selected,
    })
}

fn step_rename(target: WorkerRef, mut name: String, action: Action) -> Step {
    match action {
        Action::Choose if name.trim().is_empty() => Step::Stay(Form::Rename { target, name }),
        Action::Choose => Step::Do(Request::Rename {
            target,
            name: name.trim().to_owned(),
        }),
        _ => {
            edit(&mut name, action);
            Step::Stay(Form::Rename { target, name })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{runtime, worker};
    use yoi_protocol::WorkspaceEvent;

    fn profile(name: &str) -> ProfileSummary {
        ProfileSummary {
            tools: Vec::new(),
            name: name.into(),
            description: None,
            model: format!("{name}-model"),
            configured: true,
            hint: None,
        }
    }

    fn picker() -> Picker {
        let mut p = Picker::default();
        let mut own = runtime("backend-internal");
        own.profiles = Some(vec![profile("companion"), profile("terse")]);
        p.apply(WorkspaceEvent::WorkspaceSnapshot {
            runtimes: vec![runtime("aaa"), own],
            workers: vec![worker("backend-internal", "scribe")],
        });
        p
    }

    fn run(mut form: Form, actions: &[Action], p: &Picker) -> Step {
        for (i, a) in actions.iter().enumerate() {
            match step(form, *a, p) {
                Step::Stay(next) => form = next,
                other => {
                    assert_eq!(i, actions.len() - 1, "ended early with {other:?}");
                    return other;
                }
            }
        }
        Step::Stay(form)
    }

    #[test]
    fn a_new_worker_takes_a_runtime_a_profile_and_a_name() {
        let p = picker();
        let form = new_worker(&p).unwrap();
        assert!(
            matches!(form, Form::Runtime { selected: 1, .. }),
            "the backend's own first: {form:?}"
        );
        let typed: Vec<Action> = "Trip".chars().map(Action::Insert).collect();
        let mut actions = vec![Action::Choose, Action::Down];
        actions.push(Action::Choose);
        actions.extend(typed);
        actions.push(Action::Choose);
        assert_eq!(
            run(form, &actions, &p),
            Step::Do(Request::Create {
                runtime: RuntimeId::backend_internal(),
                profile: "terse".into(),
                name: Some("Trip".into()),
            })
        );
    }

    #[test]
    fn an_empty_name_takes_the_profile_default_and_unknown_profiles_fall_back_to_companion() {
        let p = picker();
        let form = new_worker(&p).unwrap();
        let step_ = run(
            form,
            &[Action::Up, Action::Choose, Action::Choose, Action::Choose],
            &p,
        );
        assert_eq!(
            step_,
            Step::Do(Request::Create {
                runtime: RuntimeId::parse("aaa").unwrap(),
                profile: "companion".into(),
                name: None,
            })
        );
    }

    #[test]
    fn rename_edits_the_highlighted_name_and_stop_asks_first() {
        let p = picker();
        let form = rename(&p).unwrap();
        let mut actions = vec![Action::Backspace; 6];
        actions.extend("Notes".chars().map(Action::Insert));
        actions.push(Action::Choose);
        let Step::Do(Request::Rename { name, .. }) = run(form, &actions, &p) else {
            panic!("no rename");
        };
        assert_eq!(name, "Notes");

        let form = stop(&p).unwrap();
        assert_eq!(run(form.clone(), &[Action::Insert('n')], &p), Step::Close);
        assert!(matches!(
            run(form.clone(), &[Action::Choose], &p),
            Step::Stay(_)
        ));
        assert!(matches!(
            run(form, &[Action::Insert('y')], &p),
            Step::Do(Request::Stop { .. })
        ));
    }
}
