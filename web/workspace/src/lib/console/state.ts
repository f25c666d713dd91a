/**
 * The console state of one Worker and the pure rules that move it: how each
 * `WorkerEvent` of api.md changes what the page shows, which frames are duplicates,
 * and how a `snapshot` replaces everything.
 *
 * Why it is shaped like this: the transcript (`messages`) and the run in flight
 * (`live`) are separate values, and every update returns a new state that shares
 * whatever did not change. A streaming delta therefore creates a new `live` and
 * leaves `messages` the very same array, so the page re-renders the one streaming
 * message and never the history.
 */
import type { ApiError } from '../protocol/ApiError';
import type { Message } from '../protocol/Message';
import type { QueuedInput } from '../protocol/QueuedInput';
import type { RunUsage } from '../protocol/RunUsage';
import type { SnapshotReason } from '../protocol/SnapshotReason';
import type { WorkerDetail } from '../protocol/WorkerDetail';
import type { WorkerEvent } from '../protocol/WorkerEvent';
import type { WorkerStatus } from '../protocol/WorkerStatus';
import type { PendingApproval } from '../protocol/PendingApproval';
import { keepEarlier, type History } from './history';
import { applyToolEvent, isToolEvent, mergeCalls, seedFromRecord, toolsFromSnapshot, type ToolCall } from './tools';

/** The run in flight: its text as streamed so far, keyed by `run_id`. */
export interface LiveRun {
  run_id: string;
  text: string;
  reasoning: string;
  model: string | null;
}

export type RunOutcome = 'running' | 'completed' | 'failed' | 'cancelled';

/** What the status bar tells about the latest run. */
export interface RunRecord {
  run_id: string;
  model: string | null;
  outcome: RunOutcome;
  usage?: RunUsage;
  duration_ms?: number;
  error?: ApiError;
}

export type { ToolCall } from './tools';

export interface ConsoleState {
  /** Highest `seq` applied; frames at or below it are duplicates. */
  seq: number;
  /** Whether a snapshot (or transcript) has given the full picture at least once. */
  synced: boolean;
  worker: WorkerDetail | null;
  status: WorkerStatus | null;
  /** User and assistant messages in order, without the run in flight. */
  messages: readonly Message[];
  /** Whether messages older than the first of `messages` exist (see `history.ts`). */
  history: History;
  live: LiveRun | null;
  lastRun: RunRecord | null;
  /**
   * Reasoning of runs that finished while this page watched, by `run_id`: the
   * fallback for a message that arrives without its own `reasoning` (see
   * `reasoningOf`).
   */
  reasoning: Readonly<Record<string, string>>;
  /**
   * Why each failed run failed, as this page saw it (`run_failed`, or the last
   * run of a snapshot): the fallback for a failed message that arrives without
   * its own `error` (see `errorOf`).
   */
  runErrors: Readonly<Record<string, ApiError>>;
  tools: readonly ToolCall[];
  /** Tool calls waiting for a person's decision, oldest first (see `tools.ts`). */
  approvals: readonly PendingApproval[];
  /** Inputs waiting for the run in flight, the next first (`on_busy: queue`). */
  queue: readonly QueuedInput[];
  stopped: boolean;
  /** Why the last reset snapshot replaced the state, for a short notice. */
  lastReset: SnapshotReason | null;
}

export function initialState(): ConsoleState {
  return {
    seq: 0,
    synced: false,
    worker: null,
    status: null,
    messages: [],
    history: 'unknown',
    live: null,
    lastRun: null,
    reasoning: {},
    runErrors: {},
    tools: [],
    approvals: [],
    queue: [],
    stopped: false,
    lastReset: null,
  };
}

/** Prefix of the ids of placeholder messages the client makes itself. */
export const LOCAL_ID_PREFIX = 'local:';

export function isLocalMessage(m: Message): boolean {
  return m.id.startsWith(LOCAL_ID_PREFIX);
}

/**
 * `applied`: the state moved. `duplicate`: the frame's seq was already applied.
 * `gap`: a frame skipped a seq (the contract promises none); the caller should
 * resubscribe from `state.seq` rather than apply it.
 */
export type ApplyOutcome = 'applied' | 'duplicate' | 'gap';

export interface ApplyResult {
  state: ConsoleState;
  outcome: ApplyOutcome;
}

/** Applies one frame of the worker socket. Never mutates `state`. */
export function applyEvent(state: ConsoleState, event: WorkerEvent): ApplyResult {
  if (event.type === 'snapshot') {
    return { state: applySnapshot(state, event), outcome: 'applied' };
  }
  if (event.seq <= state.seq) return { state, outcome: 'duplicate' };
  if (state.synced && event.seq > state.seq + 1) return { state, outcome: 'gap' };
  const next = applyNumbered(state, event);
  return { state: { ...next, seq: event.seq }, outcome: 'applied' };
}

type SnapshotEvent = Extract<WorkerEvent, { type: 'snapshot' }>;

/** A snapshot replaces the whole picture; with `reset: true` it says why. */
export function applySnapshot(state: ConsoleState, event: SnapshotEvent): ConsoleState {
  const inFlight = event.in_flight ?? null;
  const kept = keepEarlier(state.messages, state.history, event.transcript);
  let messages: readonly Message[] = kept.messages;
  let live: LiveRun | null = null;
  let seededTools: readonly ToolCall[] = [];
  if (inFlight) {
    // The transcript may already hold the run's assistant message (state
    // `streaming`, same partial text): it is shown once, as the live run.
    const shownLive = messages.find((m) => isStreamingAssistantOf(m, inFlight.run_id));
    messages = messages.filter((m) => m !== shownLive);
    // Its calls so far, and the text of the turns before this one (see `tools.ts`).
    const seed = seedFromRecord(shownLive?.tool_calls, inFlight.run_id);
    seededTools = seed.tools;
    live = {
      run_id: inFlight.run_id,
      text: seed.prefix + inFlight.text,
      reasoning: inFlight.reasoning ?? shownLive?.reasoning ?? '',
      model: state.live?.run_id === inFlight.run_id ? state.live.model : event.worker.profile.model,
    };
  }
  const lastRun = lastRunFromWorker(state.lastRun, event.worker);
  if (lastRun && live?.run_id !== lastRun.run_id) messages = withEndedRunShown(messages, lastRun, event.at);
  return {
    ...state,
    seq: event.seq,
    synced: true,
    worker: event.worker,
    status: event.worker.status,
    messages,
    history: kept.history,
    live,
    lastRun,
    runErrors: lastRun?.error ? { ...state.runErrors, [lastRun.run_id]: lastRun.error } : state.runErrors,
    ...toolsFromSnapshot(
      mergeCalls(
        state.tools.filter((t) => messages.some((m) => m.run_id === t.run_id) || live?.run_id === t.run_id),
        seededTools,
      ),
      event.worker.pending_approvals ?? [],
      live?.run_id ?? null,
      live?.text ?? '',
    ),
    // A runtime older than queued input sends no queue.
    queue: event.worker.queue ?? [],
    stopped: event.worker.status === 'stopped',
    lastReset: event.reset ? (event.reason ?? 'cursor_expired') : null,
  };
}

/**
 * The server ends every run with an assistant message (empty when no text was
 * streamed, with its `error` when it failed), so a transcript normally shows how
 * each run ended. Should the last run have none (a transcript written before
 * that), a local placeholder after its question carries the marker and the
 * reason, as when the page watched it end (`finishRun`).
 */
function withEndedRunShown(messages: readonly Message[], lastRun: RunRecord, at: string): readonly Message[] {
  if (lastRun.outcome !== 'failed' && lastRun.outcome !== 'cancelled') return messages;
  if (assistantIndexOf(messages, lastRun.run_id) >= 0) return messages;
  let question = -1;
  for (let i = messages.length - 1; i >= 0; i--) {
    const m = messages[i]!;
    if (m.role === 'user' && m.run_id === lastRun.run_id) {
      question = i;
      break;
    }
  }
  if (question < 0) return messages;
  const next = messages.slice();
  next.splice(question + 1, 0, localPlaceholder(lastRun.run_id, '', lastRun.outcome, at));
  return next;
}

function localPlaceholder(runId: string, text: string, outcome: RunOutcome, at: string): Message {
  return {
    id: LOCAL_ID_PREFIX + runId,
    role: 'assistant',
    text,
    at,
    run_id: runId,
    state: outcome === 'completed' ? 'complete' : outcome === 'failed' ? 'failed' : 'cancelled',
  };
}

function lastRunFromWorker(previous: RunRecord | null, worker: WorkerDetail): RunRecord | null {
  const last = worker.last_run;
  if (!last) return previous;
  const same = previous?.run_id === last.run_id ? previous : null;
  const record: RunRecord = {
    run_id: last.run_id,
    model: same?.model ?? worker.profile.model,
    outcome: last.state,
  };
  // The server's own numbers (kept across its restarts) win over what this page saw.
  const usage = last.usage ?? same?.usage;
  if (usage) record.usage = usage;
  const duration = last.duration_ms ?? same?.duration_ms;
  if (duration !== undefined) record.duration_ms = duration;
  const error = last.error ?? same?.error;
  if (error) record.error = error;
  return record;
}

function applyNumbered(state: ConsoleState, event: Exclude<WorkerEvent, SnapshotEvent>): ConsoleState {
  if (isToolEvent(event)) {
    const liveText = state.live?.run_id === event.run_id ? state.live.text : '';
    return { ...state, ...applyToolEvent(state, event, liveText) };
  }
  switch (event.type) {
    case 'input_accepted':
      return {
        ...state,
        messages: upsertMessage(state.messages, event.message),
        queue: withoutQueued(state.queue, event.message.id),
      };
    case 'input_queued':
      return {
        ...state,
        queue: [
          ...withoutQueued(state.queue, event.message_id),
          { message_id: event.message_id, text: event.text, at: event.at },
        ],
      };
    case 'input_dequeued':
      return { ...state, queue: withoutQueued(state.queue, event.message_id) };
    case 'run_started': {
      const withLive = ensureLive(state, event.run_id);
      const live = { ...withLive.live!, model: event.model };
      return {
        ...withLive,
        live,
        lastRun: { run_id: event.run_id, model: event.model, outcome: 'running' },
      };
    }
    case 'assistant_delta': {
      const withLive = ensureLive(state, event.run_id);
      const live = withLive.live!;
      return { ...withLive, live: { ...live, text: live.text + event.text } };
    }
    case 'reasoning_delta': {
      const withLive = ensureLive(state, event.run_id);
      const live = withLive.live!;
      return { ...withLive, live: { ...live, reasoning: live.reasoning + event.text } };
    }
    case 'assistant_message': {
      const settled = settleLive(state, event.run_id);
      const messages = upsertMessage(
        settled.messages.filter((m) => m.id !== LOCAL_ID_PREFIX + event.run_id),
        event.message,
      );
      return { ...settled, messages };
    }
    case 'run_completed':
      return {
        ...finishRun(state, event.run_id, 'completed', event.at),
        lastRun: {
          ...runRecord(state, event.run_id),
          outcome: 'completed',
          usage: event.usage,
          duration_ms: event.duration_ms,
        },
      };
    case 'run_failed':
      return {
        ...finishRun(state, event.run_id, 'failed', event.at),
        lastRun: { ...runRecord(state, event.run_id), outcome: 'failed', error: event.error },
        runErrors: { ...state.runErrors, [event.run_id]: event.error },
      };
    case 'run_cancelled':
      return {
        ...finishRun(state, event.run_id, 'cancelled', event.at),
        lastRun: { ...runRecord(state, event.run_id), outcome: 'cancelled' },
      };
    case 'status':
      return {
        ...state,
        status: event.status,
        worker: state.worker ? { ...state.worker, status: event.status } : state.worker,
        stopped: state.stopped || event.status === 'stopped',
      };
    case 'worker_stopped':
      return {
        ...state,
        queue: [],
        status: 'stopped',
        worker: state.worker ? { ...state.worker, status: 'stopped' } : state.worker,
        stopped: true,
      };
    default:
      // A frame type newer than this console: skip it, but keep its seq.
      return state;
  }
}

function withoutQueued(queue: readonly QueuedInput[], messageId: string): readonly QueuedInput[] {
  return queue.some((q) => q.message_id === messageId) ? queue.filter((q) => q.message_id !== messageId) : queue;
}

function runRecord(state: ConsoleState, runId: string): RunRecord {
  if (state.lastRun?.run_id === runId) return state.lastRun;
  const model = state.live?.run_id === runId ? state.live.model : null;
  return { run_id: runId, model: model ?? state.worker?.profile.model ?? null, outcome: 'running' };
}

function isStreamingAssistantOf(m: Message, runId: string): boolean {
  return m.role === 'assistant' && m.run_id === runId && m.state === 'streaming';
}

/** Index of the run's assistant message, searching from the end (runs are recent). */
function assistantIndexOf(messages: readonly Message[], runId: string): number {
  for (let i = messages.length - 1; i >= 0; i--) {
    const m = messages[i]!;
    if (m.role === 'assistant' && m.run_id === runId) return i;
  }
  return -1;
}

/**
 * The live run for `runId`, started if need be. When the transcript holds a
 * streaming message of that run (a snapshot without `in_flight`), it becomes the
 * live run, so its text is not shown twice.
 */
function ensureLive(state: ConsoleState, runId: string): ConsoleState {
  if (state.live?.run_id === runId) return state;
  const base = state.live ? settleLive(state, state.live.run_id) : state;
  const i = assistantIndexOf(base.messages, runId);
  const seeded = i >= 0 && base.messages[i]!.state === 'streaming' ? base.messages[i]! : null;
  return {
    ...base,
    messages: seeded ? base.messages.filter((_, j) => j !== i) : base.messages,
    live: {
      run_id: runId,
      text: seeded?.text ?? '',
      reasoning: seeded?.reasoning ?? '',
      model: base.lastRun?.run_id === runId ? base.lastRun.model : null,
    },
  };
}

/** Ends the live run of `runId` (if it is the live one), keeping its reasoning. */
function settleLive(state: ConsoleState, runId: string): ConsoleState {
  const live = state.live;
  if (!live || live.run_id !== runId) return state;
  return {
    ...state,
    live: null,
    reasoning: live.reasoning ? { ...state.reasoning, [runId]: live.reasoning } : state.reasoning,
  };
}

/**
 * A terminal event. Normally `assistant_message` already delivered the final
 * message; if it did not, the partial text (or an empty placeholder for a failed or
 * cancelled run) stays visible as a local message that a later
 * `assistant_message` or snapshot replaces.
 */
function finishRun(state: ConsoleState, runId: string, outcome: RunOutcome, at: string): ConsoleState {
  const live = state.live?.run_id === runId ? state.live : null;
  const ended = state.approvals.some((a) => a.run_id === runId)
    ? { ...state, approvals: state.approvals.filter((a) => a.run_id !== runId) }
    : state;
  const settled = settleLive(ended, runId);
  if (assistantIndexOf(settled.messages, runId) >= 0) return settled;
  const text = live?.text ?? '';
  if (outcome === 'completed' && text === '') return settled;
  return { ...settled, messages: [...settled.messages, localPlaceholder(runId, text, outcome, at)] };
}

/**
 * Why a failed answer failed, to show beside it, or null. The message's own
 * `error` (from the server's transcript, so it survives a reload) wins; else
 * what this page kept from the run's `run_failed` (or from the snapshot's last
 * run, for a transcript without it). One error per message: a live run that got
 * both `assistant_message` with its error and `run_failed` shows it once.
 */
export function errorOf(message: Message, kept: Readonly<Record<string, ApiError>>): ApiError | null {
  if (message.role !== 'assistant' || message.state !== 'failed') return null;
  return message.error ?? kept[message.run_id] ?? null;
}

/**
 * The reasoning to show folded above an assistant message: its own (from the
 * transcript, so it survives a reload), else what this page kept of its run.
 */
export function reasoningOf(message: Message, kept: Readonly<Record<string, string>>): string {
  if (message.role !== 'assistant') return '';
  return message.reasoning || kept[message.run_id] || '';
}

/** Replaces the message with the same id, or appends it. */
export function upsertMessage(messages: readonly Message[], message: Message): readonly Message[] {
  for (let i = messages.length - 1; i >= 0; i--) {
    if (messages[i]!.id === message.id) {
      const next = messages.slice();
      next[i] = message;
      return next;
    }
  }
  return [...messages, message];
}

/** What the worker is doing, in the words of the status bar. */
export type WorkerActivity = 'unknown' | 'idle' | 'sending' | 'generating' | 'error' | 'stopped';

export function workerActivity(state: ConsoleState, sending: boolean): WorkerActivity {
  if (state.stopped || state.status === 'stopped') return 'stopped';
  // Its stored data is damaged: it takes no input (store_unavailable).
  if (state.status === 'quarantined') return 'error';
  // A run waiting for a person's decision on a tool call is still in flight.
  if (state.status === 'running' || state.status === 'waiting_approval' || state.live) return 'generating';
  if (sending) return 'sending';
  if (state.status === null) return 'unknown';
  if (state.lastRun?.outcome === 'failed') return 'error';
  return 'idle';
}
