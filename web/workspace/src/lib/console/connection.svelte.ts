/**
 * The one module that talks to the backend: REST commands, the selected worker's
 * event socket and the workspace socket (`/api/events`). Components read the state
 * it exposes and call its few commands (`open`, `send`, `cancel`, `retry`, and
 * `create`, `rename`, `stop` for the worker list); they never fetch or open a
 * socket themselves.
 *
 * The worker socket's life:
 *
 *   connecting --snapshot--> live --socket closed--> reconnecting
 *        ^                                               | backoff with jitter
 *        |                                               v
 *        |                     GET transcript?limit=1 (is the server back? the
 *        |                     worker still there? `seq` = watermark W)
 *        |                                               |
 *        |                                               v
 *        |                     resyncing: socket with ?cursor=<last applied seq>
 *        |                     until caught up to W (or a reset snapshot came)
 *        |                                               |
 *        `----------------------------------------------> live
 *
 * Frames at or below the last applied seq are duplicates and are ignored
 * (`state.ts`); a gap (never expected) closes the socket to resubscribe.
 */
import type { ApprovalDecision } from '../protocol/ApprovalDecision';
import type { ApprovalScope } from '../protocol/ApprovalScope';
import type { CompanionInfo } from '../protocol/CompanionInfo';
import { inputBlocked } from './inputBlocked';
import { EXPORT_PAGE, wholeConversation } from './exportAll';
import type { Message } from '../protocol/Message';
import type { WorkerEvent } from '../protocol/WorkerEvent';
import type { WorkerRef } from '../protocol/WorkerRef';
import type { WorkspaceEvent } from '../protocol/WorkspaceEvent';
import type { SearchResults } from '../protocol/SearchResults';
import type { TranscriptWindow } from '../protocol/TranscriptWindow';
import type { UsageReport } from '../protocol/UsageReport';
import { ApiClient, toConsoleError, type FetchLike } from './api';
import { backoffDelay } from './backoff';
import { canLoadOlder, HISTORY_PAGE, oldestStored, prependPage } from './history';
import { retryText } from './conversation';
import { clientError, type ConsoleError } from './errors';
import { newClientMessageId } from './ids';
import { sameWorker } from './route';
import { applyEvent, initialState, workerActivity, type ConsoleState } from './state';
import { withoutApproval } from './tools';
import { workerEventsUrl, workspaceEventsUrl, type Origin } from './urls';
import { WorkerDirectory } from './directory.svelte';
import { applyWorkspaceEvent, initialWorkspace, type WorkspaceState } from './workspace';

export type ConnectionState = 'connecting' | 'live' | 'reconnecting' | 'resyncing' | 'closed';

/** The part of the browser's WebSocket the console uses. */
export interface SocketLike {
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: unknown) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  close(code?: number, reason?: string): void;
}

export interface ConnectionDeps {
  fetch: FetchLike;
  openSocket: (url: string) => SocketLike;
  origin: Origin;
  token: string | null;
  random?: () => number;
  setTimer?: (fn: () => void, ms: number) => unknown;
  clearTimer?: (handle: unknown) => void;
}

/** Server errors after which retrying by itself cannot help. */
const FATAL = new Set(['unauthorized', 'forbidden_origin']);
const GONE = new Set(['worker_not_found', 'runtime_not_found']);

export class ConsoleConnection {
  // ---- state for components (read-only for them) ----
  #state = $state.raw<ConsoleState>(initialState());
  readonly messages = $derived(this.#state.messages);
  readonly live = $derived(this.#state.live);
  readonly reasoning = $derived(this.#state.reasoning);
  readonly runErrors = $derived(this.#state.runErrors);
  readonly tools = $derived(this.#state.tools);
  readonly queue = $derived(this.#state.queue);
  /** Tool calls waiting for a person, oldest first. */
  readonly approvals = $derived(this.#state.approvals);
  /** Why the last decision on a tool call could not be sent. */
  approvalError = $state.raw<ConsoleError | null>(null);
  /** Calls a decision was sent for, until the server answers (the bar waits). */
  deciding = $state.raw<ReadonlySet<string>>(new Set());
  readonly worker = $derived(this.#state.worker);
  readonly status = $derived(this.#state.status);
  readonly lastRun = $derived(this.#state.lastRun);
  readonly lastReset = $derived(this.#state.lastReset);
  readonly seq = $derived(this.#state.seq);
  readonly history = $derived(this.#state.history);
  /** A page of earlier messages is on its way. */
  loadingOlder = $state(false);
  /** Why the last page of earlier messages could not be fetched. */
  olderError = $state.raw<ConsoleError | null>(null);

  /** The worker shown; null while the Companion is being resolved. */
  target = $state.raw<WorkerRef | null>(null);
  companion = $state.raw<CompanionInfo | null>(null);
  connection = $state<ConnectionState>('connecting');
  /** Why the last (re)connect attempt failed, if the server said. */
  connectionError = $state.raw<ConsoleError | null>(null);
  /** Something that stops the console until the person acts (start failure, bad token, worker gone). */
  fatalError = $state.raw<ConsoleError | null>(null);
  sending = $state(false);
  sendError = $state.raw<ConsoleError | null>(null);
  cancelError = $state.raw<ConsoleError | null>(null);
  /**
   * The Companion came back with a new identity. Rare: workers survive a server
   * restart (same id, transcript and seq), so this is the fallback for a
   * workspace whose saved workers were lost.
   */
  companionReplaced = $state(false);
  /** The run a stop was asked for, until it ends. */
  cancelRequested = $state<string | null>(null);

  workspace = $state.raw<WorkspaceState>(initialWorkspace());
  workspaceConnection = $state<ConnectionState>('connecting');
  /** Pages the worker list in as the panel scrolls, and searches it by name. */
  readonly directory: WorkerDirectory;

  readonly activity = $derived(workerActivity(this.#state, this.sending));
  readonly model = $derived(
    this.#state.live?.model ?? this.#state.lastRun?.model ?? this.#state.worker?.profile.model ?? null,
  );
  /** Whether a run is in flight, so that what is sent now waits in the queue. */
  readonly willQueue = $derived(this.#state.status === 'running' || this.#state.status === 'waiting_approval' || this.#state.live !== null);
  /** Why this worker takes no input (its profile is gone), or null. */
  readonly inputBlocked = $derived(inputBlocked(this.#state.worker));
  readonly canSend = $derived(
    this.inputBlocked === null &&
      this.connection === 'live' &&
      this.target !== null &&
      (this.#state.status === 'idle' || this.willQueue) &&
      !this.#state.stopped &&
      !this.sending,
  );
  /** What "Retry" sends: the question of a failed or cancelled last run. */
  readonly retryable = $derived(retryText(this.#state.messages, this.#state.live));
  readonly canCancel = $derived(
    this.target !== null &&
      !this.#state.stopped &&
      (this.#state.status === 'running' || this.#state.status === 'waiting_approval' || this.#state.live !== null),
  );

  // ---- machinery ----
  readonly #deps: ConnectionDeps;
  readonly #api: ApiClient;
  readonly #random: () => number;
  readonly #setTimer: (fn: () => void, ms: number) => unknown;
  readonly #clearTimer: (handle: unknown) => void;

  /** Bumped on every `open`: callbacks of an older socket or request do nothing. */
  #generation = 0;
  #socket: SocketLike | null = null;
  #timer: unknown = null;
  #attempt = 0;
  /** Whether the shown worker is "the Companion" (re-resolved if it disappears). */
  #followsCompanion = false;
  #watermark = 0;
  #resumeFrom: number | null = null;
  #sawSnapshot = false;
  #pending: { ref: WorkerRef; text: string; id: string } | null = null;

  #wsSocket: SocketLike | null = null;
  #wsTimer: unknown = null;
  #wsAttempt = 0;
  #disposed = false;

  constructor(deps: ConnectionDeps) {
    this.#deps = deps;
    this.#api = new ApiClient(deps.fetch, () => deps.token);
    this.#random = deps.random ?? Math.random;
    this.#setTimer = deps.setTimer ?? ((fn, ms) => setTimeout(fn, ms));
    this.#clearTimer = deps.clearTimer ?? ((h) => clearTimeout(h as ReturnType<typeof setTimeout>));
    this.directory = new WorkerDirectory({
      api: this.#api,
      workspace: () => this.workspace,
      setWorkspace: (state) => (this.workspace = state),
      setTimer: this.#setTimer,
      clearTimer: this.#clearTimer,
    });
  }

  /** Starts the workspace socket and opens `ref`, or the Companion when null. */
  start(ref: WorkerRef | null): void {
    this.#connectWorkspace();
    if (ref) {
      this.open(ref);
      void this.#api.companion().then(
        (info) => {
          this.companion = info;
        },
        () => {},
      );
    } else {
      this.openCompanion();
    }
  }

  /** Shows the workspace's Companion (resolved through `GET /api/companion`). */
  openCompanion(): void {
    const gen = this.#reset();
    this.#followsCompanion = true;
    void this.#resolveCompanion(gen);
  }

  /** Shows any worker. */
  open(ref: WorkerRef): void {
    if (sameWorker(ref, this.target) && this.connection !== 'closed') return;
    const gen = this.#reset();
    this.companionReplaced = false;
    this.#followsCompanion = sameWorker(ref, this.companion);
    this.target = ref;
    this.#connect(gen, null);
  }

  /**
   * Sends `text` to the shown worker. Resolves true when the server accepted it (the
   * composer then clears its draft), false otherwise (the draft stays). A retry of
   * the same text after an unknown outcome reuses the same `client_message_id`, so
   * the server starts nothing twice. While a run is in flight the input waits in
   * the worker's queue (`on_busy: queue`) and runs after it.
   */
  async send(text: string): Promise<boolean> {
    const ref = this.target;
    if (!ref || !this.canSend || text.trim() === '') return false;
    const pending =
      this.#pending && sameWorker(this.#pending.ref, ref) && this.#pending.text === text
        ? this.#pending
        : { ref, text, id: newClientMessageId() };
    this.#pending = pending;
    this.sending = true;
    this.sendError = null;
    try {
      await this.#api.input(ref, { text, client_message_id: pending.id, on_busy: 'queue' });
      this.#pending = null;
      return true;
    } catch (e) {
      const err = toConsoleError(e);
      // A typed answer means the server decided; only an unknown outcome is retried
      // under the same id.
      if (err.typed) this.#pending = null;
      if (sameWorker(this.target, ref)) this.sendError = err;
      return false;
    } finally {
      this.sending = false;
    }
  }

  /** Stops the run in flight of the shown worker. */
  async cancel(): Promise<void> {
    const ref = this.target;
    if (!ref || !this.canCancel) return;
    const runId = this.#state.live?.run_id ?? this.#state.lastRun?.run_id ?? null;
    if (runId !== null && this.cancelRequested === runId) return;
    this.cancelRequested = runId;
    this.cancelError = null;
    try {
      await this.#api.cancel(ref);
    } catch (e) {
      const err = toConsoleError(e);
      this.cancelRequested = null;
      if (err.code !== 'not_running' && sameWorker(this.target, ref)) this.cancelError = err;
    }
  }

  /** Sends the question of the failed or cancelled last run again, as new input. */
  async retry(): Promise<boolean> {
    const text = this.retryable;
    if (text === null) return false;
    return this.send(text);
  }

  /**
   * Starts a conversation: a new worker of `profile` in `runtimeId`. Answers its
   * reference (the caller opens it), or the error to show.
   */
  async create(runtimeId: string, profile: string, name: string): Promise<WorkerRef | ConsoleError> {
    try {
      const request = name.trim() === '' ? { profile } : { profile, display_name: name.trim() };
      const detail = await this.#api.createWorker(runtimeId, request);
      // Listed at once, before its `worker_created` arrives (which then replaces it).
      this.workspace = applyWorkspaceEvent(this.workspace, { type: 'worker_created', worker: detail });
      return { runtime_id: detail.runtime_id, worker_id: detail.worker_id };
    } catch (e) {
      return toConsoleError(e);
    }
  }

  /** Renames a worker; answers null, or the error to show. */
  async rename(ref: WorkerRef, name: string): Promise<ConsoleError | null> {
    try {
      const summary = await this.#api.renameWorker(ref, name);
      this.workspace = applyWorkspaceEvent(this.workspace, { type: 'worker_updated', worker: summary });
      return null;
    } catch (e) {
      return toConsoleError(e);
    }
  }

  /** Stops a worker (its run is cancelled first); answers null, or the error to show. */
  async stop(ref: WorkerRef): Promise<ConsoleError | null> {
    try {
      await this.#api.stopWorker(ref);
      return null;
    } catch (e) {
      return toConsoleError(e);
    }
  }

  /** The Usage view's report, or why there is none. */
  async usage(from: string, to: string, by: string): Promise<UsageReport | ConsoleError> {
    try {
      return await this.#api.usage(from, to, by);
    } catch (e) {
      return toConsoleError(e);
    }
  }

  /** The search box's hits, or why there are none. */
  async search(q: string, after?: string): Promise<SearchResults | ConsoleError> {
    try {
      return await this.#api.search(q, after);
    } catch (e) {
      return toConsoleError(e);
    }
  }

  /** A page of a worker's stored history at one message (a hit opened in context). */
  async transcriptAt(
    ref: WorkerRef,
    at: 'around' | 'after' | 'before',
    messageId: string,
    limit: number,
  ): Promise<TranscriptWindow | ConsoleError> {
    try {
      return await this.#api.transcriptAt(ref, at, messageId, limit);
    } catch (e) {
      return toConsoleError(e);
    }
  }

  /** Takes a queued input out of the shown worker's queue before it runs. */
  async removeQueued(messageId: string): Promise<void> {
    const ref = this.target;
    if (!ref) return;
    try {
      await this.#api.removeQueued(ref, messageId);
    } catch (e) {
      const err = toConsoleError(e);
      // `not_found`: its run started meanwhile; the events show it.
      if (err.code !== 'not_found' && sameWorker(this.target, ref)) this.sendError = err;
    }
  }

  /**
   * Decides a tool call that waits for a person. A call that no longer waits
   * (`not_pending`: decided in another console, cancelled, timed out) or that
   * this worker never made (`not_found`) leaves the bar quietly: that race
   * already ended, and the events tell how.
   */
  async decide(callId: string, decision: ApprovalDecision, scope: ApprovalScope = 'once'): Promise<void> {
    const ref = this.target;
    if (!ref || this.deciding.has(callId)) return;
    this.deciding = new Set([...this.deciding, callId]);
    this.approvalError = null;
    try {
      await this.#api.approve(ref, callId, { decision, scope });
    } catch (e) {
      const err = toConsoleError(e);
      if (!sameWorker(this.target, ref)) return;
      if (err.code === 'not_pending' || err.code === 'not_found') {
        this.#state = { ...this.#state, approvals: withoutApproval(this.#state.approvals, callId) };
      } else {
        this.approvalError = err;
      }
    } finally {
      const left = new Set(this.deciding);
      left.delete(callId);
      this.deciding = left;
    }
  }

  clearApprovalError(): void {
    this.approvalError = null;
  }

  /**
   * Fetches the page before the oldest message shown and puts it in front. Does
   * nothing while a page is on its way or the conversation's start is shown. A
   * page that arrives after the view changed (another worker, a reset) is dropped.
   */
  async loadOlder(): Promise<void> {
    const ref = this.target;
    const oldest = oldestStored(this.#state.messages);
    if (!ref || this.loadingOlder || !canLoadOlder(this.#state.history, this.#state.messages) || !oldest) return;
    const gen = this.#generation;
    this.loadingOlder = true;
    this.olderError = null;
    try {
      const page = await this.#api.transcript(ref, HISTORY_PAGE, oldest.id);
      if (gen !== this.#generation) return;
      const paged = prependPage(this.#state.messages, oldest.id, page);
      if (paged) this.#state = { ...this.#state, ...paged };
    } catch (e) {
      if (gen === this.#generation) this.olderError = toConsoleError(e);
    } finally {
      if (gen === this.#generation) this.loadingOlder = false;
    }
  }

  /** Every message of the worker's history, for an export (all its pages). */
  async wholeConversation(): Promise<Message[]> {
    const ref = this.target;
    if (!ref) return [...this.#state.messages];
    return wholeConversation((before) => this.#api.transcript(ref, EXPORT_PAGE, before));
  }

  clearSendError(): void {
    this.sendError = null;
  }

  clearCancelError(): void {
    this.cancelError = null;
  }

  clearCompanionReplaced(): void {
    this.companionReplaced = false;
  }

  /** The browser says the network is back: retry now instead of waiting. */
  retryNow(): void {
    if (this.connection === 'reconnecting' && this.#timer !== null) {
      this.#clearTimer(this.#timer);
      this.#timer = null;
      this.#attempt = 0;
      const gen = this.#generation;
      if (this.target) void this.#resync(gen);
      else void this.#resolveCompanion(gen);
    }
    if (this.workspaceConnection === 'reconnecting' && this.#wsTimer !== null) {
      this.#clearTimer(this.#wsTimer);
      this.#wsTimer = null;
      this.#wsAttempt = 0;
      this.#connectWorkspace();
    }
  }

  dispose(): void {
    this.#disposed = true;
    this.directory.dispose();
    this.#generation++;
    this.#closeSocket();
    if (this.#wsTimer !== null) this.#clearTimer(this.#wsTimer);
    if (this.#wsSocket) {
      this.#wsSocket.onclose = null;
      this.#wsSocket.close();
    }
  }

  // ---- worker socket ----

  #reset(): number {
    this.#generation++;
    this.#closeSocket();
    this.#state = initialState();
    this.#attempt = 0;
    this.#pending = null;
    this.connection = 'connecting';
    this.connectionError = null;
    this.fatalError = null;
    this.sendError = null;
    this.cancelError = null;
    this.cancelRequested = null;
    this.approvalError = null;
    this.deciding = new Set();
    this.loadingOlder = false;
    this.olderError = null;
    return this.#generation;
  }

  #closeSocket(): void {
    if (this.#timer !== null) {
      this.#clearTimer(this.#timer);
      this.#timer = null;
    }
    const s = this.#socket;
    this.#socket = null;
    if (s) {
      s.onopen = s.onmessage = s.onclose = s.onerror = null;
      s.close();
    }
  }

  async #resolveCompanion(gen: number): Promise<void> {
    try {
      const info = await this.#api.companion();
      if (gen !== this.#generation) return;
      if (this.companion && this.companion.worker_id !== info.worker_id) this.companionReplaced = true;
      this.companion = info;
      this.fatalError = null;
      this.connectionError = null;
      this.target = { runtime_id: info.runtime_id, worker_id: info.worker_id };
      this.connection = 'connecting';
      this.#connect(gen, null);
    } catch (e) {
      if (gen !== this.#generation) return;
      const err = toConsoleError(e);
      if (FATAL.has(err.code)) {
        this.fatalError = err;
        this.connection = 'closed';
        return;
      }
      // Not reachable (yet): say so, and keep trying.
      this.connectionError = err;
      this.#retryLater(gen, () => void this.#resolveCompanion(gen));
    }
  }

  #retryLater(gen: number, fn: () => void): void {
    this.connection = 'reconnecting';
    const delay = backoffDelay(this.#attempt++, this.#random);
    this.#timer = this.#setTimer(() => {
      this.#timer = null;
      if (gen === this.#generation && !this.#disposed) fn();
    }, delay);
  }

  #connect(gen: number, cursor: number | null): void {
    const ref = this.target;
    if (!ref) return;
    this.#resumeFrom = cursor;
    this.#sawSnapshot = false;
    let socket: SocketLike;
    try {
      socket = this.#deps.openSocket(workerEventsUrl(this.#deps.origin, ref, cursor, this.#deps.token));
    } catch (e) {
      this.connectionError = clientError('network_error', e instanceof Error ? e.message : '');
      this.#afterClose(gen);
      return;
    }
    this.#socket = socket;
    socket.onopen = () => {
      if (gen === this.#generation) this.#checkCaughtUp();
    };
    socket.onmessage = (m) => {
      if (gen === this.#generation) this.#onFrame(m.data);
    };
    socket.onclose = () => {
      if (gen !== this.#generation || this.#socket !== socket) return;
      this.#socket = null;
      this.#afterClose(gen);
    };
    socket.onerror = () => {};
  }

  #onFrame(data: unknown): void {
    if (typeof data !== 'string') return;
    let event: WorkerEvent;
    try {
      event = JSON.parse(data) as WorkerEvent;
    } catch {
      return;
    }
    if (typeof event !== 'object' || event === null || typeof event.type !== 'string') return;
    const ref = this.target;
    if (ref && (event.runtime_id !== ref.runtime_id || event.worker_id !== ref.worker_id)) return;
    const result = applyEvent(this.#state, event);
    if (result.outcome === 'gap') {
      // Never expected: resubscribe from what we have instead of guessing.
      this.#socket?.close();
      return;
    }
    if (result.outcome === 'duplicate') return;
    this.#state = result.state;
    if (event.type === 'snapshot') this.#sawSnapshot = true;
    if (this.cancelRequested !== null && this.#state.live?.run_id !== this.cancelRequested) {
      this.cancelRequested = null;
    }
    this.#checkCaughtUp();
  }

  #checkCaughtUp(): void {
    let live = false;
    if (this.connection === 'connecting') {
      live = this.#state.synced && this.#sawSnapshot;
    } else if (this.connection === 'resyncing') {
      if (this.#sawSnapshot) live = true;
      else if (this.#resumeFrom !== null && this.#resumeFrom <= this.#watermark) {
        live = this.#state.seq >= this.#watermark;
      }
      // resumeFrom > watermark: the server has less than we saw (it restarted);
      // it owes us a reset snapshot.
    }
    if (live) {
      this.connection = 'live';
      this.#attempt = 0;
      this.connectionError = null;
    }
  }

  #afterClose(gen: number): void {
    if (this.#state.stopped) {
      this.connection = 'closed';
      return;
    }
    if (!this.connectionError) this.connectionError = clientError('connection_lost');
    this.connection = 'reconnecting';
    this.#retryLater(gen, () => void this.#resync(gen));
  }

  /** Checks that the server is back and the worker still there, then resubscribes. */
  async #resync(gen: number): Promise<void> {
    const ref = this.target;
    if (!ref) return;
    let watermark: number;
    try {
      watermark = (await this.#api.transcript(ref, 1)).seq;
    } catch (e) {
      if (gen !== this.#generation) return;
      const err = toConsoleError(e);
      if (GONE.has(err.code) && this.#followsCompanion) {
        // The Companion may have a new identity (its saved state was lost): find it again.
        this.openCompanion();
        return;
      }
      if (GONE.has(err.code) || FATAL.has(err.code)) {
        this.fatalError = err;
        this.connection = 'closed';
        return;
      }
      this.connectionError = err.code === 'network_error' ? clientError('connection_lost') : err;
      this.#retryLater(gen, () => void this.#resync(gen));
      return;
    }
    if (gen !== this.#generation) return;
    if (this.#followsCompanion) {
      // The provider may have been configured while the server was away.
      void this.#api.companion().then(
        (info) => {
          if (gen === this.#generation) this.companion = info;
        },
        () => {},
      );
    }
    this.#watermark = watermark;
    this.connection = 'resyncing';
    this.#connect(gen, this.#state.synced ? this.#state.seq : null);
  }

  // ---- workspace socket ----

  #connectWorkspace(): void {
    if (this.#disposed) return;
    let socket: SocketLike;
    try {
      socket = this.#deps.openSocket(workspaceEventsUrl(this.#deps.origin, this.#deps.token));
    } catch {
      this.#workspaceClosed();
      return;
    }
    this.#wsSocket = socket;
    socket.onmessage = (m) => {
      if (typeof m.data !== 'string') return;
      let event: WorkspaceEvent;
      try {
        event = JSON.parse(m.data) as WorkspaceEvent;
      } catch {
        return;
      }
      if (typeof event !== 'object' || event === null || typeof event.type !== 'string') return;
      this.workspace = applyWorkspaceEvent(this.workspace, event);
      this.directory.apply(event);
      if (event.type === 'workspace_snapshot') {
        this.workspaceConnection = 'live';
        this.#wsAttempt = 0;
      }
    };
    socket.onclose = () => {
      if (this.#wsSocket !== socket) return;
      this.#wsSocket = null;
      this.#workspaceClosed();
    };
    socket.onopen = null;
    socket.onerror = () => {};
  }

  #workspaceClosed(): void {
    if (this.#disposed) return;
    this.workspaceConnection = 'reconnecting';
    const delay = backoffDelay(this.#wsAttempt++, this.#random);
    this.#wsTimer = this.#setTimer(() => {
      this.#wsTimer = null;
      this.#connectWorkspace();
    }, delay);
  }
}

/** Wires the connection to the real browser. */
export function browserConnection(token: string | null): ConsoleConnection {
  return new ConsoleConnection({
    fetch: (input, init) => fetch(input, init),
    openSocket: (url) => new WebSocket(url) as unknown as SocketLike,
    origin: { protocol: location.protocol, host: location.host },
    token,
  });
}
