/**
 * The side panel's picture of the workspace: runtimes and their workers, kept live
 * from the `/api/events` socket. Its frames carry no seq: a reconnect brings a
 * fresh `workspace_snapshot` that replaces everything.
 *
 * With many workers the snapshot lists only the most recently active ones (see
 * api.md, "Many workers"): the rows held of each runtime are the head of its
 * activity order, and `more` says which runtimes hold more, to be paged in from
 * the last row held. Live frames keep that true: a worker is placed by its key
 * among the rows held, or left out when it falls past the last row of a
 * runtime with more (a later page brings it).
 */
import type { RuntimeSummary } from '../protocol/RuntimeSummary';
import type { WorkerList } from '../protocol/WorkerList';
import type { WorkerSummary } from '../protocol/WorkerSummary';
import type { WorkspaceEvent } from '../protocol/WorkspaceEvent';

export interface WorkspaceState {
  synced: boolean;
  runtimes: readonly RuntimeSummary[];
  /** In the activity order ({@link byLastActivity}). */
  workers: readonly WorkerSummary[];
  /** Runtimes whose workers are not all held: more follow their last row. */
  more: Readonly<Record<string, boolean>>;
}

export function initialWorkspace(): WorkspaceState {
  return { synced: false, runtimes: [], workers: [], more: {} };
}

const same = (a: { runtime_id: string; worker_id: string }, b: { runtime_id: string; worker_id: string }) =>
  a.runtime_id === b.runtime_id && a.worker_id === b.worker_id;

/**
 * The row a runtime's next page starts after: its last row the server still
 * holds (a stopped worker is forgotten there), or null for the first page.
 */
export function lastRowOf(workers: readonly WorkerSummary[], runtimeId: string): WorkerSummary | null {
  for (let i = workers.length - 1; i >= 0; i--) {
    const w = workers[i]!;
    if (w.runtime_id === runtimeId && w.status !== 'stopped') return w;
  }
  return null;
}

/** Where `w` goes in `workers` (sorted), by binary search. */
function insertAt(workers: readonly WorkerSummary[], w: WorkerSummary): number {
  let lo = 0;
  let hi = workers.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (byLastActivity(workers[mid]!, w) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * `workers` with `w` in its place, or without it when it falls past the last
 * row held of a runtime that has more (unless `head`: a new worker is always
 * the head of its runtime's order).
 */
export function placeWorker(
  workers: readonly WorkerSummary[],
  more: Readonly<Record<string, boolean>>,
  w: WorkerSummary,
  head = false,
): WorkerSummary[] {
  const rest = workers.filter((x) => !same(x, w));
  if (!head && more[w.runtime_id]) {
    const last = lastRowOf(rest, w.runtime_id);
    if (!last || byLastActivity(w, last) > 0) return rest;
  }
  const at = insertAt(rest, w);
  rest.splice(at, 0, w);
  return rest;
}

/**
 * A page of one runtime's workers (`order=activity`) added after the rows held:
 * those already held are refreshed, and `more` follows the page's `next_after`.
 */
export function mergePage<S extends { workers: readonly WorkerSummary[]; more: Readonly<Record<string, boolean>> }>(
  state: S,
  runtimeId: string,
  page: WorkerList,
): S {
  const first = page.workers[0];
  const last = state.workers.at(-1);
  let workers: WorkerSummary[];
  if (first && last && byLastActivity(last, first) < 0) {
    // The usual page: all of it after every row held (one runtime, or the last
    // one listed). Nothing to dedupe or sort: thousands of rows are copied once.
    workers = state.workers.concat(page.workers);
  } else {
    const fresh = new Set(page.workers.map((w) => w.worker_id));
    const kept = state.workers.filter((x) => !(x.runtime_id === runtimeId && fresh.has(x.worker_id)));
    // Both parts are sorted: the merge is close to linear.
    workers = kept.concat(page.workers).sort(byLastActivity);
  }
  return { ...state, workers, more: { ...state.more, [runtimeId]: page.next_after !== undefined } };
}

export function applyWorkspaceEvent(state: WorkspaceState, event: WorkspaceEvent): WorkspaceState {
  switch (event.type) {
    case 'workspace_snapshot': {
      const workers = [...event.workers].sort(byLastActivity);
      const held = new Map<string, number>();
      for (const w of workers) held.set(w.runtime_id, (held.get(w.runtime_id) ?? 0) + 1);
      const more: Record<string, boolean> = {};
      for (const r of event.runtimes) more[r.runtime_id] = (held.get(r.runtime_id) ?? 0) < r.worker_count;
      return { synced: true, runtimes: event.runtimes, workers, more };
    }
    case 'worker_created':
      return { ...state, workers: placeWorker(state.workers, state.more, event.worker, true) };
    case 'worker_updated':
      return { ...state, workers: placeWorker(state.workers, state.more, event.worker) };
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
export function groupByRuntime(state: Pick<WorkspaceState, 'runtimes' | 'workers'> & Partial<WorkspaceState>): RuntimeGroup[] {
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
