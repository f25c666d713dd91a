/**
 * Paging and searching the worker list, for the side panel. The workspace
 * socket's snapshot holds only the most recently active workers; this asks the
 * server for the next page of a runtime when the panel scrolls to its end, and
 * for the workers whose names hold the filter box's text (server-side, paged
 * the same way). The connection owns the workspace state and hands it in; the
 * search results live here and follow the same live frames.
 */
import type { WorkerList } from '../protocol/WorkerList';
import type { WorkerSummary } from '../protocol/WorkerSummary';
import type { WorkspaceEvent } from '../protocol/WorkspaceEvent';
import { toConsoleError, type ApiClient } from './api';
import type { ConsoleError } from './errors';
import { lastRowOf, mergePage, placeWorker, type WorkspaceState } from './workspace';

/** Workers asked for per page. */
export const WORKER_PAGE = 200;
/** How long the filter box waits for more typing before it asks the server. */
export const SEARCH_DELAY_MS = 200;

/** The workers whose names hold `query`, as far as they were paged in. */
export interface SearchState {
  query: string;
  workers: readonly WorkerSummary[];
  more: Readonly<Record<string, boolean>>;
}

/** What the directory needs from the connection. */
export interface DirectoryHost {
  api: ApiClient;
  workspace(): WorkspaceState;
  setWorkspace(state: WorkspaceState): void;
  setTimer: (fn: () => void, ms: number) => unknown;
  clearTimer: (handle: unknown) => void;
}

const matches = (w: WorkerSummary, query: string) => w.display_name.toLowerCase().includes(query.toLowerCase());

export class WorkerDirectory {
  /** The filter box's text, trimmed; empty: the whole list. */
  query = $state('');
  /** Results of `query`, null while none is set (or its first pages are on the way). */
  search = $state.raw<SearchState | null>(null);
  /** Runtimes whose next page is on the way. */
  loading = $state.raw<Readonly<Record<string, boolean>>>({});
  /** Runtimes whose last page failed, with why; loading again clears it. */
  errors = $state.raw<Readonly<Record<string, ConsoleError>>>({});

  readonly #host: DirectoryHost;
  /** Bumped by every snapshot and every new query: older answers are dropped. */
  #epoch = 0;
  #searchTimer: unknown = null;

  constructor(host: DirectoryHost) {
    this.#host = host;
  }

  /** Follows a workspace frame (after the connection applied it to its state). */
  apply(event: WorkspaceEvent): void {
    if (event.type === 'workspace_snapshot') {
      // Pages asked for before it would continue from rows it replaced.
      this.#epoch++;
      this.loading = {};
      this.errors = {};
      if (this.query) this.#startSearch(this.query);
      return;
    }
    const search = this.search;
    if (!search) return;
    switch (event.type) {
      case 'worker_created':
      case 'worker_updated': {
        const w = event.worker;
        const workers = matches(w, search.query)
          ? placeWorker(search.workers, search.more, w, event.type === 'worker_created')
          : search.workers.filter((x) => !(x.runtime_id === w.runtime_id && x.worker_id === w.worker_id));
        this.search = { ...search, workers };
        return;
      }
      case 'status':
      case 'worker_stopped': {
        const status = event.type === 'status' ? event.status : 'stopped';
        this.search = {
          ...search,
          workers: search.workers.map((x) =>
            x.runtime_id === event.runtime_id && x.worker_id === event.worker_id ? { ...x, status } : x,
          ),
        };
        return;
      }
      default:
        return;
    }
  }

  /** Sets the filter; the server is asked once typing pauses. */
  setQuery(text: string): void {
    const query = text.trim();
    if (query === this.query) return;
    this.query = query;
    this.#epoch++;
    this.loading = {};
    this.errors = {};
    if (this.#searchTimer !== null) this.#host.clearTimer(this.#searchTimer);
    this.#searchTimer = null;
    if (!query) {
      this.search = null;
      return;
    }
    this.#searchTimer = this.#host.setTimer(() => {
      this.#searchTimer = null;
      this.#startSearch(query);
    }, SEARCH_DELAY_MS);
  }

  /** The first page of every runtime for `query`; the rest as the panel scrolls. */
  #startSearch(query: string): void {
    const runtimes = this.#host.workspace().runtimes.filter((r) => r.status === 'available');
    const more: Record<string, boolean> = {};
    for (const r of runtimes) more[r.runtime_id] = true;
    this.search = { query, workers: [], more };
    for (const r of runtimes) void this.loadMore(r.runtime_id);
  }

  /**
   * The next page of a runtime, after the last row held (of the search while a
   * filter is set). Does nothing while one is on the way.
   */
  async loadMore(runtimeId: string): Promise<void> {
    if (this.loading[runtimeId]) return;
    const epoch = this.#epoch;
    const searching = this.search;
    const held = searching ? searching.workers : this.#host.workspace().workers;
    const after = lastRowOf(held, runtimeId)?.worker_id;
    this.loading = { ...this.loading, [runtimeId]: true };
    const { [runtimeId]: _cleared, ...errors } = this.errors;
    this.errors = errors;
    let page: WorkerList | null = null;
    let failure: ConsoleError | null = null;
    try {
      page = await this.#host.api.workerPage(runtimeId, WORKER_PAGE, after, searching?.query);
    } catch (e) {
      failure = toConsoleError(e);
    }
    if (epoch !== this.#epoch) return;
    const { [runtimeId]: _done, ...loading } = this.loading;
    this.loading = loading;
    if (failure) {
      if (failure.code === 'not_found' && after !== undefined) {
        // The row it would page after was stopped meanwhile: page on from the one before.
        this.#forget(runtimeId, after);
        return this.loadMore(runtimeId);
      }
      this.errors = { ...this.errors, [runtimeId]: failure };
      return;
    }
    if (!page) return;
    if (searching && this.search) this.search = mergePage(this.search, runtimeId, page);
    else if (!searching) this.#host.setWorkspace(mergePage(this.#host.workspace(), runtimeId, page));
  }

  #forget(runtimeId: string, workerId: string): void {
    const drop = (list: readonly WorkerSummary[]) =>
      list.filter((x) => !(x.runtime_id === runtimeId && x.worker_id === workerId));
    if (this.search) this.search = { ...this.search, workers: drop(this.search.workers) };
    else {
      const ws = this.#host.workspace();
      this.#host.setWorkspace({ ...ws, workers: drop(ws.workers) });
    }
  }

  dispose(): void {
    if (this.#searchTimer !== null) this.#host.clearTimer(this.#searchTimer);
    this.#searchTimer = null;
    this.#epoch++;
  }
}
