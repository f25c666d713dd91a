//! The worker picker: runtimes and their workers, kept live from the
//! workspace socket (`/api/events`).
//!
//! The socket's first frame is a `workspace_snapshot`; later frames add,
//! remove or update one worker or runtime. A reconnect brings a fresh
//! snapshot, so nothing here needs sequence numbers. The selection follows a
//! worker by its `runtime_id + worker_id`, not by row, so live changes do not
//! move it to another worker.

use yoi_protocol::{
    RuntimeStatus, RuntimeSummary, WorkerRef, WorkerStatus, WorkerSummary, WorkspaceEvent,
};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Picker {
    pub runtimes: Vec<RuntimeSummary>,
    pub workers: Vec<WorkerSummary>,
    /// Whether the workspace socket is up (`false` until its first snapshot).
    pub live: bool,
    selected: Option<WorkerRef>,
}

/// One line of the picker list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Row<'a> {
    Runtime(&'a RuntimeSummary),
    /// Workers whose runtime the workspace did not list (yet).
    OtherRuntime(&'a str),
    Worker(&'a WorkerSummary),
}

impl Picker {
    pub fn apply(&mut self, event: WorkspaceEvent) {
        match event {
            WorkspaceEvent::WorkspaceSnapshot { runtimes, workers } => {
                self.runtimes = runtimes;
                self.workers = workers;
                self.live = true;
            }
            WorkspaceEvent::WorkerCreated { worker } => {
                let key = worker_ref(&worker);
                self.workers.retain(|w| worker_ref(w) != key);
                self.workers.push(worker);
            }
            WorkspaceEvent::WorkerUpdated { worker } => {
                let key = worker_ref(&worker);
                if let Some(w) = self.workers.iter_mut().find(|w| worker_ref(w) == key) {
                    *w = worker;
                }
            }
            WorkspaceEvent::WorkerStopped {
                runtime_id,
                worker_id,
            } => {
                self.workers
                    .retain(|w| !(w.runtime_id == runtime_id && w.worker_id == worker_id));
            }
            WorkspaceEvent::Status {
                runtime_id,
                worker_id,
                status,
            } => {
                if let Some(w) = self
                    .workers
                    .iter_mut()
                    .find(|w| w.runtime_id == runtime_id && w.worker_id == worker_id)
                {
                    w.status = status;
                }
                if status == WorkerStatus::Stopped {
                    self.workers
                        .retain(|w| !(w.runtime_id == runtime_id && w.worker_id == worker_id));
                }
            }
            WorkspaceEvent::RuntimeStatus { runtime } => {
                match self
                    .runtimes
                    .iter_mut()
                    .find(|r| r.runtime_id == runtime.runtime_id)
                {
                    Some(r) => *r = runtime,
                    None => self.runtimes.push(runtime),
                }
            }
        }
        self.keep_selection_valid();
    }

    pub fn disconnected(&mut self) {
        self.live = false;
    }

    /// The rows to show: each runtime, then its workers.
    pub fn rows(&self) -> Vec<Row<'_>> {
        let mut rows = Vec::new();
        for runtime in &self.runtimes {
            rows.push(Row::Runtime(runtime));
            rows.extend(
                self.workers
                    .iter()
                    .filter(|w| w.runtime_id == runtime.runtime_id)
                    .map(Row::Worker),
            );
        }
        let orphans: Vec<&WorkerSummary> = self
            .workers
            .iter()
            .filter(|w| !self.runtimes.iter().any(|r| r.runtime_id == w.runtime_id))
            .collect();
        let mut last_runtime: Option<&str> = None;
        for w in orphans {
            if last_runtime != Some(w.runtime_id.as_str()) {
                rows.push(Row::OtherRuntime(w.runtime_id.as_str()));
                last_runtime = Some(w.runtime_id.as_str());
            }
            rows.push(Row::Worker(w));
        }
        rows
    }

    /// The workers in display order, which is the order selection moves in.
    fn ordered_workers(&self) -> Vec<&WorkerSummary> {
        self.rows()
            .into_iter()
            .filter_map(|r| match r {
                Row::Worker(w) => Some(w),
                _ => None,
            })
            .collect()
    }

    pub fn selected(&self) -> Option<&WorkerRef> {
        self.selected.as_ref()
    }

    /// Opens on the worker the console shows, when it is listed.
    pub fn select(&mut self, target: Option<&WorkerRef>) {
        self.selected = target.cloned();
        self.keep_selection_valid();
    }

    pub fn move_selection(&mut self, delta: isize) {
        let workers = self.ordered_workers();
        if workers.is_empty() {
            self.selected = None;
            return;
        }
        let current = self
            .selected
            .as_ref()
            .and_then(|s| workers.iter().position(|w| worker_ref(w) == *s));
        let next = match current {
            None => 0,
            Some(i) => i
                .saturating_add_signed(delta)
                .min(workers.len().saturating_sub(1)),
        };
        self.selected = Some(worker_ref(workers[next]));
    }

    /// Whether the selected worker can be talked to: listed, not stopped, on
    /// an available runtime.
    pub fn selection_usable(&self) -> Result<WorkerRef, &'static str> {
        let sel = self.selected.as_ref().ok_or("no worker selected")?;
        let worker = self
            .workers
            .iter()
            .find(|w| worker_ref(w) == *sel)
            .ok_or("that worker is gone")?;
        if worker.status == WorkerStatus::Stopped {
            return Err("that worker is stopped");
        }
        let runtime_down = self
            .runtimes
            .iter()
            .any(|r| r.runtime_id == worker.runtime_id && r.status == RuntimeStatus::Unavailable);
        if runtime_down {
            return Err("that worker's runtime is unavailable right now");
        }
        Ok(sel.clone())
    }

    fn keep_selection_valid(&mut self) {
        let listed = self
            .selected
            .as_ref()
            .is_some_and(|s| self.workers.iter().any(|w| worker_ref(w) == *s));
        if !listed {
            self.selected = None;
            self.move_selection(0);
        }
    }
}

pub fn worker_ref(w: &WorkerSummary) -> WorkerRef {
    WorkerRef {
        runtime_id: w.runtime_id.clone(),
        worker_id: w.worker_id,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{runtime, worker};
    use yoi_protocol::RuntimeId;

    #[test]
    fn snapshot_then_live_changes_keep_the_selection_on_its_worker() {
        let mut p = Picker::default();
        let a = worker("backend-internal", "companion");
        let b = worker("gpu-box", "coder");
        p.apply(WorkspaceEvent::WorkspaceSnapshot {
            runtimes: vec![runtime("backend-internal"), runtime("gpu-box")],
            workers: vec![a.clone(), b.clone()],
        });
        assert!(p.live);
        assert_eq!(p.selected(), Some(&worker_ref(&a)));
        p.move_selection(1);
        assert_eq!(p.selected(), Some(&worker_ref(&b)));

        let c = worker("backend-internal", "helper");
        p.apply(WorkspaceEvent::WorkerCreated { worker: c.clone() });
        assert_eq!(
            p.selected(),
            Some(&worker_ref(&b)),
            "a new worker does not steal it"
        );
        assert_eq!(p.rows().len(), 5);

        p.apply(WorkspaceEvent::WorkerStopped {
            runtime_id: RuntimeId::parse("gpu-box").unwrap(),
            worker_id: b.worker_id,
        });
        assert_eq!(
            p.selected(),
            Some(&worker_ref(&a)),
            "falls back to the first"
        );
    }

    #[test]
    fn workers_on_an_unavailable_runtime_cannot_be_chosen() {
        let mut p = Picker::default();
        let w = worker("gpu-box", "coder");
        let mut r = runtime("gpu-box");
        p.apply(WorkspaceEvent::WorkspaceSnapshot {
            runtimes: vec![r.clone()],
            workers: vec![w.clone()],
        });
        assert_eq!(p.selection_usable(), Ok(worker_ref(&w)));
        r.status = RuntimeStatus::Unavailable;
        p.apply(WorkspaceEvent::RuntimeStatus { runtime: r });
        assert!(p.selection_usable().is_err());
    }

    #[test]
    fn status_frames_update_workers_in_place() {
        let mut p = Picker::default();
        let w = worker("backend-internal", "companion");
        p.apply(WorkspaceEvent::WorkspaceSnapshot {
            runtimes: vec![runtime("backend-internal")],
            workers: vec![w.clone()],
        });
        p.apply(WorkspaceEvent::Status {
            runtime_id: w.runtime_id.clone(),
            worker_id: w.worker_id,
            status: WorkerStatus::Running,
        });
        assert_eq!(p.workers[0].status, WorkerStatus::Running);
    }
}
