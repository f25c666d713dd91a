/**
 * The side panel's picture of the workspace: runtimes and their workers, kept live
 * from the `/api/events` socket. Its frames carry no seq: a reconnect brings a
 * fresh `workspace_snapshot` that replaces everything.
 */
import type { RuntimeSummary } from '../protocol/RuntimeSummary';
import type { WorkerSummary } from '../protocol/WorkerSummary';
import type { WorkspaceEvent } from '../protocol/WorkspaceEvent';

export interface WorkspaceState {
  synced: boolean;
  runtimes: readonly RuntimeSummary[];
  workers: readonly WorkerSummary[];
}

export function initialWorkspace(): WorkspaceState {
  return { synced: false, runtimes: [], workers: [] };
}

export function applyWorkspaceEvent(state: WorkspaceState, event: WorkspaceEvent): WorkspaceState {
  switch (event.type) {
    case 'workspace_snapshot':
      return { synced: true, runtimes: event.runtimes, workers: event.workers };
    case 'worker_created': {
      const w = event.worker;
      const rest = state.workers.filter((x) => !(x.runtime_id === w.runtime_id && x.worker_id === w.worker_id));
      return { ...state, workers: [...rest, w] };
    }
    case 'worker_updated': {
      const w = event.worker;
      return {
        ...state,
        workers: state.workers.map((x) => (x.runtime_id === w.runtime_id && x.worker_id === w.worker_id ? w : x)),
      };
    }
    case 'worker_stopped':
      return {
        ...state,
        workers: state.workers.map((x) =>
          x.runtime_id === event.runtime_id && x.worker_id === event.worker_id ? { ...x, status: 'stopped' } : x,
        ),
      };
    case 'status':
      return {
        ...state,
        workers: state.workers.map((x) =>
          x.runtime_id === event.runtime_id && x.worker_id === event.worker_id ? { ...x, status: event.status } : x,
        ),
      };
    case 'runtime_status': {
      const r = event.runtime;
      const found = state.runtimes.some((x) => x.runtime_id === r.runtime_id);
      return {
        ...state,
        runtimes: found ? state.runtimes.map((x) => (x.runtime_id === r.runtime_id ? r : x)) : [...state.runtimes, r],
      };
    }
    default:
      return state;
  }
}

export interface RuntimeGroup {
  runtime: RuntimeSummary;
  workers: WorkerSummary[];
  /**
   * Whether the server listed this runtime. A stand-in's kind and status are
   * not known, so the side panel does not show them.
   */
  listed: boolean;
}

/** Newest activity first; workers without any (nothing said yet) by creation, newest first. */
export function byLastActivity(a: WorkerSummary, b: WorkerSummary): number {
  const ta = a.last_activity ?? '';
  const tb = b.last_activity ?? '';
  if (ta !== tb) {
    if (!ta) return -1;
    if (!tb) return 1;
    return ta < tb ? 1 : -1;
  }
  // ULIDs sort by creation time.
  return a.worker_id < b.worker_id ? 1 : a.worker_id > b.worker_id ? -1 : 0;
}

/**
 * Runtimes in the order the server gave, each with its workers sorted by last
 * activity (a new, empty conversation first). A worker whose runtime is not
 * (yet) listed still shows, under a stand-in.
 */
export function groupByRuntime(state: WorkspaceState): RuntimeGroup[] {
  const groups = new Map<string, RuntimeGroup>();
  for (const runtime of state.runtimes) groups.set(runtime.runtime_id, { runtime, workers: [], listed: true });
  for (const w of state.workers) {
    let g = groups.get(w.runtime_id);
    if (!g) {
      g = {
        runtime: {
          runtime_id: w.runtime_id,
          display_name: w.runtime_id,
          kind: 'remote',
          status: 'available',
          capabilities: { workers: true, create_worker: false, cancel: true, events: true },
          worker_count: 0,
        },
        workers: [],
        listed: false,
      };
      groups.set(w.runtime_id, g);
    }
    g.workers.push(w);
  }
  for (const g of groups.values()) g.workers.sort(byLastActivity);
  return [...groups.values()];
}
