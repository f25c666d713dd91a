//! The worker picker: runtimes and their workers, kept live from the
//! workspace socket (`/api/events`).
//!
//! The socket's first frame is a `workspace_snapshot`; later frames add,
//! remove or update one worker or runtime. A reconnect brings a fresh
//! snapshot, so nothing here needs sequence numbers. The selection follows a
//! worker by its `runtime_id + worker_id`, not by row, so live changes do not
//! move it to another worker.
//!
//! With many workers the snapshot lists only the most recently active (see
//! api.md, "Many workers"): the rows held of each runtime are the head of its
//! activity order, and the next page is asked for ([`Picker::next_pages`])
//! when the selection comes near a runtime's last row. A filter (`/`) asks
//! the server for the workers whose names hold its text, paged the same way.
//! Live frames place a worker among the rows held, or leave it for a page.

use std::collections::{BTreeMap, BTreeSet};

use yoi_protocol::{
    by_activity, RuntimeId, RuntimeStatus, RuntimeSummary, WorkerId, WorkerList, WorkerRef,
    WorkerStatus, WorkerSummary, WorkspaceEvent,
};

/// Workers asked for per page.
pub const WORKER_PAGE: usize = 100;
/// How close to a runtime's last row the selection comes before its next page is asked for.
const LOOKAHEAD: usize = 10;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Picker {
    pub runtimes: Vec<RuntimeSummary>,
    /// In the activity order: each runtime's rows are the head of its own.
    pub workers: Vec<WorkerSummary>,
    /// Whether the workspace socket is up (`false` until its first snapshot).
    pub live: bool,
    selected: Option<WorkerRef>,
    /// Runtimes with workers beyond the rows held.
    more: BTreeMap<RuntimeId, bool>,
    /// Runtimes whose next page is on the way.
    loading: BTreeSet<RuntimeId>,
    /// Runtimes whose last page failed: asked again when the picker reopens.
    failed: BTreeSet<RuntimeId>,
    /// The filter's text; empty: every worker.
    pub query: String,
    /// The filter line as typed (the query is its trimmed text).
    pub filter_text: String,
    /// Bumped by every snapshot and filter: older pages are dropped.
    epoch: u64,
}

/// A page of one runtime's workers to ask the server for
/// (`GET .../workers?order=activity&limit&after&q`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    pub epoch: u64,
    pub runtime_id: RuntimeId,
    pub after: Option<WorkerId>,
    pub query: Option<String>,
}

/// One line of the picker list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Row<'a> {
    Runtime(&'a RuntimeSummary),
    /// Workers whose runtime the workspace did not list (yet).
    OtherRuntime(&'a str),
    Worker(&'a WorkerSummary),
    /// The end of a runtime's rows while it has more workers.
    More(&'a RuntimeId, MoreState),
}

/// Where the rest of a runtime's workers are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MoreState {
    /// Asked for once the selection comes near.
    Waiting,
    Loading,
    /// The last page failed; reopening the picker asks again.
    Failed,
}

impl Picker {
    pub fn apply(&mut self, event: WorkspaceEvent) {
        match event {
            WorkspaceEvent::WorkspaceSnapshot {
                runtimes,
                mut workers,
            } => {
                self.epoch += 1;
                self.loading.clear();
                self.failed.clear();
                if self.query.is_empty() {
                    workers.sort_by(by_activity);
                    self.more = runtimes
                        .iter()
                        .map(|r| {
                            let held = workers
                                .iter()
                                .filter(|w| w.runtime_id == r.runtime_id)
                                .count();
                            (r.runtime_id.clone(), (held as u64) < r.worker_count)
                        })
                        .collect();
                    self.workers = workers;
                } else {
                    // The filter's results are asked for again.
                    self.workers.clear();
                    self.more = runtimes
                        .iter()
                        .map(|r| (r.runtime_id.clone(), true))
                        .collect();
                }
                self.runtimes = runtimes;
                self.live = true;
            }
            WorkspaceEvent::WorkerCreated { worker } => {
                if self.matches(&worker) {
                    self.place(worker, true);
                }
            }
            WorkspaceEvent::WorkerUpdated { worker } => {
                if self.matches(&worker) {
                    self.place(worker, false);
                } else {
                    let key = worker_ref(&worker);
                    self.workers.retain(|w| worker_ref(w) != key);
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

    fn matches(&self, worker: &WorkerSummary) -> bool {
        self.query.is_empty()
            || worker
                .display_name
                .to_lowercase()
                .contains(&self.query.to_lowercase())
    }

    /// Puts `worker` in its place, or leaves it out when it falls past the
    /// last row held of a runtime with more (a page brings it); a new worker
    /// (`head`) is always the head of its runtime.
    fn place(&mut self, worker: WorkerSummary, head: bool) {
        let key = worker_ref(&worker);
        self.workers.retain(|w| worker_ref(w) != key);
        if !head && self.more.get(&worker.runtime_id).copied().unwrap_or(false) {
            let last = self
                .workers
                .iter()
                .rev()
                .find(|w| w.runtime_id == worker.runtime_id);
            match last {
                Some(last) if by_activity(&worker, last).is_lt() => {}
                _ => return,
            }
        }
        let at = self
            .workers
            .partition_point(|w| by_activity(w, &worker).is_lt());
        self.workers.insert(at, worker);
    }

    /// Sets the filter (trimmed): the rows start over with the server's
    /// answers for it; [`Picker::next_pages`] asks for them.
    pub fn set_query(&mut self, text: &str) {
        let query = text.trim().to_owned();
        if query == self.query {
            return;
        }
        self.query = query;
        self.epoch += 1;
        self.loading.clear();
        self.failed.clear();
        self.workers.clear();
        self.more = self
            .runtimes
            .iter()
            .map(|r| (r.runtime_id.clone(), true))
            .collect();
        self.keep_selection_valid();
    }

    /// The pages to ask for now: a runtime with more workers whose rows are
    /// all held yet (none, or the selection is near its last row); each is
    /// marked as on its way.
    pub fn next_pages(&mut self) -> Vec<PageRequest> {
        let selected = self.selected.clone();
        let mut out = Vec::new();
        for runtime in &self.runtimes {
            let id = &runtime.runtime_id;
            let wanted = self.more.get(id).copied().unwrap_or(false)
                && runtime.status == RuntimeStatus::Available
                && !self.loading.contains(id)
                && !self.failed.contains(id);
            if !wanted {
                continue;
            }
            let rows: Vec<&WorkerSummary> = self
                .workers
                .iter()
                .filter(|w| w.runtime_id == *id)
                .collect();
            let near_end = match selected.as_ref().filter(|s| s.runtime_id == *id) {
                Some(sel) => rows
                    .iter()
                    .position(|w| w.worker_id == sel.worker_id)
                    .is_some_and(|i| rows.len() - i <= LOOKAHEAD),
                None => false,
            };
            if rows.is_empty() || near_end {
                out.push(PageRequest {
                    epoch: self.epoch,
                    runtime_id: id.clone(),
                    after: rows
                        .iter()
                        .rev()
                        .find(|w| w.status != WorkerStatus::Stopped)
                        .map(|w| w.worker_id),
                    query: (!self.query.is_empty()).then(|| self.query.clone()),
                });
            }
        }
        for request in &out {
            self.loading.insert(request.runtime_id.clone());
        }
        out
    }

    /// A page asked for by [`Picker::next_pages`] came back (or failed:
    /// `None`); one of an older snapshot or filter is dropped.
    pub fn page_answered(&mut self, request: &PageRequest, page: Option<WorkerList>) {
        if request.epoch != self.epoch {
            return;
        }
        self.loading.remove(&request.runtime_id);
        let Some(page) = page else {
            self.failed.insert(request.runtime_id.clone());
            return;
        };
        self.more
            .insert(request.runtime_id.clone(), page.next_after.is_some());
        let fresh: std::collections::HashSet<WorkerRef> =
            page.workers.iter().map(worker_ref).collect();
        self.workers.retain(|w| !fresh.contains(&worker_ref(w)));
        self.workers.extend(page.workers);
        self.workers.sort_by(by_activity);
        self.keep_selection_valid();
    }

    /// Whether a runtime has workers beyond its rows, and whether they are
    /// on their way.
    pub fn more_of(&self, runtime_id: &RuntimeId) -> Option<MoreState> {
        if !self.more.get(runtime_id).copied().unwrap_or(false) {
            return None;
        }
        Some(if self.failed.contains(runtime_id) {
            MoreState::Failed
        } else if self.loading.contains(runtime_id) {
            MoreState::Loading
        } else {
            MoreState::Waiting
        })
    }

    /// The picker opens: pages that failed may be asked for again.
    pub fn reopened(&mut self) {
        self.failed.clear();
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
            if let Some(state) = self.more_of(&runtime.runtime_id) {
                rows.push(Row::More(&runtime.runtime_id, state));
            }
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
        // Both left are silent: the newer comes first.
        let first = if c.worker_id > a.worker_id { &c } else { &a };
        assert_eq!(
            p.selected(),
            Some(&worker_ref(first)),
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

#[cfg(test)]
#[path = "picker_pages_tests.rs"]
mod pages_tests;
