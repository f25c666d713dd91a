//! A runtime process may call itself by another id than the one the backend
//! registered it under. Everything it answers is re-labelled with the
//! registered id, so clients see one name per runtime.

use yoi_protocol::{
    EventKind, RuntimeId, WorkerDetail, WorkerEvent, WorkerSummary, WorkspaceEvent,
};

pub fn summary(s: &mut WorkerSummary, id: &RuntimeId) {
    s.runtime_id = id.clone();
    s.display_ref = format!("{}@{id}", s.display_name);
}

pub fn detail(d: &mut WorkerDetail, id: &RuntimeId) {
    summary(&mut d.summary, id);
}

pub fn event(e: &mut WorkerEvent, id: &RuntimeId) {
    e.runtime_id = id.clone();
    if let EventKind::Snapshot { worker, .. } = &mut e.kind {
        detail(worker, id);
    }
}

pub fn workspace(e: &mut WorkspaceEvent, id: &RuntimeId) {
    match e {
        WorkspaceEvent::WorkspaceSnapshot { runtimes, workers } => {
            for r in runtimes {
                r.runtime_id = id.clone();
            }
            for w in workers {
                summary(w, id);
            }
        }
        WorkspaceEvent::WorkerCreated { worker } | WorkspaceEvent::WorkerUpdated { worker } => {
            summary(worker, id);
        }
        WorkspaceEvent::WorkerStopped { runtime_id, .. }
        | WorkspaceEvent::Status { runtime_id, .. } => *runtime_id = id.clone(),
        WorkspaceEvent::RuntimeStatus { runtime } => runtime.runtime_id = id.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use yoi_protocol::{ProfileInfo, WorkerId, WorkerStatus};

    #[test]
    fn summaries_take_the_registered_id_and_display_ref() {
        let mut s = WorkerSummary {
            runtime_id: RuntimeId::parse("runtime").unwrap(),
            worker_id: WorkerId::new(),
            display_name: "helper".into(),
            display_ref: "helper@runtime".into(),
            status: WorkerStatus::Idle,
            profile: ProfileInfo {
                name: "companion".into(),
                model: "m".into(),
            },
            last_activity: None,
            last_message: None,
        };
        let gpu = RuntimeId::parse("gpu").unwrap();
        summary(&mut s, &gpu);
        assert_eq!(s.runtime_id, gpu);
        assert_eq!(s.display_ref, "helper@gpu");
    }
}
