/**
 * Tool calls and approvals as the console shows them: how the tool events of
 * api.md move the calls of the run in flight and the queue of calls waiting for
 * a person, where each call sits between the model's text, and how calls read in
 * words (card labels, folded arguments, the Markdown export).
 *
 * Why a module of its own: the calls of a finished run come with its
 * `assistant_message` (`Message.tool_calls`, the server's record, which survives
 * a reload); while the run is in flight only the events tell. This module joins
 * the two, so components only render.
 */
import type { Message } from '../protocol/Message';
import type { PendingApproval } from '../protocol/PendingApproval';
import type { ToolCall as WireToolCall } from '../protocol/ToolCall';
import type { ToolCallState } from '../protocol/ToolCallState';
import type { WorkerEvent } from '../protocol/WorkerEvent';

/** A call of a run as this page saw it happen. */
export interface ToolCall {
  run_id: string;
  call_id: string;
  name: string;
  arguments: unknown;
  state: ToolCallState;
  summary?: string;
  output?: string;
  duration_ms?: number;
  /** When it started running (or was allowed), for the elapsed time; absent when unknown. */
  started_at?: string;
  /** How much of the run's streamed text came before it: where it sits in the answer. */
  text_offset: number;
}

/** What a card shows: a call of the server's record or one seen live. */
export type CardCall = Pick<ToolCall, 'call_id' | 'name' | 'arguments' | 'state' | 'summary' | 'output' | 'duration_ms' | 'started_at'>;

type ToolEvent = Extract<
  WorkerEvent,
  { type: 'tool_call_started' | 'tool_approval_requested' | 'tool_approval_decided' | 'tool_call_finished' }
>;

export interface ToolsState {
  tools: readonly ToolCall[];
  approvals: readonly PendingApproval[];
}

export function isToolEvent(event: WorkerEvent): event is ToolEvent {
  return (
    event.type === 'tool_call_started' ||
    event.type === 'tool_approval_requested' ||
    event.type === 'tool_approval_decided' ||
    event.type === 'tool_call_finished'
  );
}

/**
 * Applies one tool event. `liveText` is the text streamed so far by the run in
 * flight (its length places a new call after it).
 */
export function applyToolEvent(s: ToolsState, event: ToolEvent, liveText: string): ToolsState {
  switch (event.type) {
    case 'tool_call_started':
      return {
        ...s,
        tools: upsertCall(s.tools, event.run_id, event.call_id, (old) => ({
          run_id: event.run_id,
          call_id: event.call_id,
          name: event.name,
          arguments: event.arguments,
          // A snapshot may have shown it waiting already; the events that follow say more.
          state: old?.state ?? 'running',
          started_at: old?.started_at ?? event.at,
          text_offset: old?.text_offset ?? liveText.length,
        })),
      };
    case 'tool_approval_requested':
      return {
        tools: upsertCall(s.tools, event.run_id, event.call_id, (old) => ({
          run_id: event.run_id,
          call_id: event.call_id,
          name: event.name,
          arguments: event.arguments,
          text_offset: old?.text_offset ?? liveText.length,
          ...(old?.summary !== undefined ? { summary: old.summary } : {}),
          state: 'waiting_approval',
        })),
        approvals: s.approvals.some((a) => a.call_id === event.call_id)
          ? s.approvals
          : [
              ...s.approvals,
              {
                run_id: event.run_id,
                call_id: event.call_id,
                name: event.name,
                arguments: event.arguments,
                requested_at: event.at,
              },
            ],
      };
    case 'tool_approval_decided':
      return {
        approvals: withoutApproval(s.approvals, event.call_id),
        tools: s.tools.map((t) =>
          t.call_id !== event.call_id || t.state !== 'waiting_approval'
            ? t
            : event.decision === 'allow'
              ? // Its time runs from the decision: the wait was the person's.
                { ...t, state: 'running', started_at: event.at }
              : { ...t, state: 'denied' },
        ),
      };
    case 'tool_call_finished':
      return {
        ...s,
        approvals: withoutApproval(s.approvals, event.call_id),
        tools: upsertCall(s.tools, event.run_id, event.call_id, (old) => {
          const call: ToolCall = {
            run_id: event.run_id,
            call_id: event.call_id,
            name: old?.name ?? '',
            arguments: old?.arguments ?? null,
            // `state` is an addition to the first tool events: an older runtime sends only `ok`.
            state: event.state ?? (event.ok ? 'ok' : 'error'),
            summary: event.summary,
            text_offset: old?.text_offset ?? liveText.length,
          };
          if (old?.started_at) {
            call.started_at = old.started_at;
            const ms = Date.parse(event.at) - Date.parse(old.started_at);
            if (Number.isFinite(ms) && ms >= 0) call.duration_ms = ms;
          }
          if (event.output !== undefined) call.output = event.output;
          return call;
        }),
      };
  }
}

function upsertCall(
  tools: readonly ToolCall[],
  runId: string,
  callId: string,
  make: (old: ToolCall | undefined) => ToolCall,
): readonly ToolCall[] {
  const i = tools.findIndex((t) => t.call_id === callId && t.run_id === runId);
  if (i < 0) return [...tools, make(undefined)];
  const next = tools.slice();
  next[i] = make(tools[i]);
  return next;
}

export function withoutApproval(approvals: readonly PendingApproval[], callId: string): readonly PendingApproval[] {
  return approvals.some((a) => a.call_id === callId) ? approvals.filter((a) => a.call_id !== callId) : approvals;
}

/**
 * After a snapshot: the calls waiting for a person come from the worker's
 * `pending_approvals`; calls of the run in flight that this page did not see
 * start (a reload) are shown from them, waiting.
 */
export function toolsFromSnapshot(
  kept: readonly ToolCall[],
  pending: readonly PendingApproval[],
  liveRunId: string | null,
  liveText: string,
): ToolsState {
  let tools = kept;
  for (const p of pending) {
    if (p.run_id !== liveRunId) continue;
    tools = upsertCall(tools, p.run_id, p.call_id, (old) => ({
      run_id: p.run_id,
      call_id: p.call_id,
      name: p.name,
      arguments: p.arguments,
      state: 'waiting_approval',
      text_offset: old?.text_offset ?? liveText.length,
    }));
  }
  return { tools, approvals: pending };
}

/**
 * The run in flight as a snapshot records it: its streaming message carries the
 * calls so far (`tool_calls`, with each turn's `text_before`), while `in_flight`
 * holds only the current turn's text. Answers the earlier turns' text (to put
 * before the current turn's) and the calls placed in it.
 */
export function seedFromRecord(record: readonly WireToolCall[] | undefined, runId: string): { prefix: string; tools: ToolCall[] } {
  let prefix = '';
  const tools: ToolCall[] = [];
  for (const c of [...(record ?? [])].sort((a, b) => a.round - b.round)) {
    if (c.text_before) prefix += c.text_before;
    const call: ToolCall = { run_id: runId, call_id: c.call_id, name: c.name, arguments: c.arguments, state: c.state, text_offset: prefix.length };
    if (c.summary !== undefined) call.summary = c.summary;
    if (c.output !== undefined) call.output = c.output;
    if (c.duration_ms !== undefined) call.duration_ms = c.duration_ms;
    tools.push(call);
  }
  return { prefix, tools };
}

/**
 * The record's calls (placed in the text the snapshot gives) replace what this
 * page kept of them, keeping only their start time; calls the record does not
 * have yet stay.
 */
export function mergeCalls(kept: readonly ToolCall[], seeded: readonly ToolCall[]): readonly ToolCall[] {
  if (seeded.length === 0) return kept;
  const next = kept.slice();
  for (const c of seeded) {
    const i = next.findIndex((k) => k.call_id === c.call_id && k.run_id === c.run_id);
    if (i < 0) next.push(c);
    else next[i] = { ...c, ...(next[i]!.started_at ? { started_at: next[i]!.started_at } : {}) };
  }
  return next;
}

/** The run's calls for an assistant message: the server's record when it has one. */
export function callsOfMessage(message: Message, seen: readonly ToolCall[]): readonly CardCall[] {
  if (message.tool_calls && message.tool_calls.length > 0) return message.tool_calls;
  return seen.filter((t) => t.run_id === message.run_id);
}

/** A piece of an answer: model text, or the calls one turn made. */
export type Segment = { kind: 'text'; key: string; text: string } | { kind: 'calls'; key: string; calls: readonly CardCall[] };

/**
 * A finished answer in the order it happened: each turn's text, then its calls
 * (`text_before` on the turn's first call), then the last turn's answer.
 */
export function messageSegments(message: Message, seen: readonly ToolCall[]): Segment[] {
  const calls = callsOfMessage(message, seen);
  if (calls.length === 0) return [{ kind: 'text', key: 'answer', text: message.text }];
  const out: Segment[] = [];
  const wire = message.tool_calls && message.tool_calls.length > 0;
  if (wire) {
    const rounds = new Map<number, WireToolCall[]>();
    for (const c of message.tool_calls!) {
      const list = rounds.get(c.round) ?? [];
      list.push(c);
      rounds.set(c.round, list);
    }
    for (const [round, list] of [...rounds.entries()].sort((a, b) => a[0] - b[0])) {
      const before = list.find((c) => c.text_before)?.text_before;
      if (before && before.trim() !== '') out.push({ kind: 'text', key: `before-${round}`, text: before });
      out.push({ kind: 'calls', key: `calls-${round}`, calls: list });
    }
  } else {
    out.push({ kind: 'calls', key: 'calls', calls });
  }
  out.push({ kind: 'text', key: 'answer', text: message.text });
  return out;
}

/** The run in flight in the order it happens: text up to each call, the calls, the rest. */
export function liveSegments(text: string, calls: readonly ToolCall[]): Segment[] {
  const out: Segment[] = [];
  let at = 0;
  let i = 0;
  while (i < calls.length) {
    const offset = Math.min(Math.max(calls[i]!.text_offset, at), text.length);
    const group: ToolCall[] = [];
    while (i < calls.length && Math.min(Math.max(calls[i]!.text_offset, at), text.length) === offset) group.push(calls[i++]!);
    if (offset > at) out.push({ kind: 'text', key: `text-${at}`, text: text.slice(at, offset) });
    out.push({ kind: 'calls', key: `calls-${group[0]!.call_id}`, calls: group });
    at = offset;
  }
  out.push({ kind: 'text', key: `text-${at}`, text: text.slice(at) });
  return out;
}

// ---- words ----

export const STATE_LABELS: Record<ToolCallState, string> = {
  waiting_approval: 'waiting for approval',
  running: 'running',
  ok: 'ok',
  error: 'error',
  denied: 'denied',
  cancelled: 'cancelled',
  interrupted: 'interrupted',
};

/** Milliseconds as a person reads a call's time: `12 ms`, `3.4 s`, `2 min 5 s`. */
export function callDuration(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`;
  const s = Math.floor(ms / 1000);
  return `${Math.floor(s / 60)} min ${s % 60} s`;
}

/** A card's state line: the state, and the time (elapsed while running). */
export function stateLine(call: CardCall, now: number): string {
  const label = STATE_LABELS[call.state] ?? call.state;
  if (call.state === 'running' && call.started_at) {
    const since = now - Date.parse(call.started_at);
    return Number.isFinite(since) ? `${label} ${callDuration(Math.max(0, since))}` : label;
  }
  if (call.duration_ms !== undefined && call.state !== 'waiting_approval') return `${label} · ${callDuration(call.duration_ms)}`;
  return label;
}

/** Longest string value shown whole in folded arguments. */
export const FOLD_STRING = 160;

/**
 * Arguments as pretty JSON. With `fold`, string values past `FOLD_STRING`
 * characters are cut with a note of how much was left out. Arguments that are
 * not JSON arrive as their text and are shown as such.
 */
export function prettyArguments(args: unknown, fold: boolean): string {
  if (typeof args === 'string') return fold ? foldString(args) : args;
  const folded = fold ? foldValue(args) : args;
  try {
    return JSON.stringify(folded, null, 2) ?? String(args);
  } catch {
    return String(args);
  }
}

/** Whether folding leaves something out (so the card offers "show all"). */
export function argumentsFold(args: unknown): boolean {
  return prettyArguments(args, true) !== prettyArguments(args, false);
}

function foldString(s: string): string {
  return s.length > FOLD_STRING ? `${s.slice(0, FOLD_STRING)}… (${s.length - FOLD_STRING} more characters)` : s;
}

function foldValue(v: unknown): unknown {
  if (typeof v === 'string') return foldString(v);
  if (Array.isArray(v)) return v.map(foldValue);
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = foldValue(x);
    return out;
  }
  return v;
}

/** One line of arguments for a header or a bar: compact JSON, cut. */
export function argumentsInline(args: unknown, max = 120): string {
  let s: string;
  try {
    s = typeof args === 'string' ? args : (JSON.stringify(args) ?? '');
  } catch {
    s = String(args);
  }
  s = s.replace(/\s+/g, ' ');
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

/** Lines of a result shown before it is folded. */
export const RESULT_LINES = 8;
/** Characters of a result shown before it is folded. */
export const RESULT_CHARS = 600;

/** Whether a result is long enough to fold. */
export function resultFolds(output: string): boolean {
  return output.length > RESULT_CHARS || output.split('\n').length > RESULT_LINES;
}

/** The start of a long result, shown while it is folded. */
export function resultPreview(output: string): string {
  const lines = output.split('\n').slice(0, RESULT_LINES).join('\n');
  return lines.length > RESULT_CHARS ? `${lines.slice(0, RESULT_CHARS)}…` : lines;
}

/** Most characters of one call's arguments or result in the Markdown export. */
export const EXPORT_LIMIT = 2000;

function bounded(text: string): string {
  return text.length > EXPORT_LIMIT ? `${text.slice(0, EXPORT_LIMIT)}\n… (${text.length - EXPORT_LIMIT} more characters)` : text;
}

/** A fence that the text itself cannot close. */
function fence(text: string): string {
  let f = '```';
  while (text.includes(f)) f += '`';
  return f;
}

/** One call in the Markdown export: name and state, arguments and result, each bounded. */
export function callMarkdown(call: CardCall): string {
  const time = call.duration_ms !== undefined ? ` · ${callDuration(call.duration_ms)}` : '';
  const parts = [`**Tool call** \`${call.name}\` — ${STATE_LABELS[call.state] ?? call.state}${time}`, ''];
  const args = bounded(prettyArguments(call.arguments, false));
  const fa = fence(args);
  parts.push(`${fa}json`, args, fa, '');
  if (call.output !== undefined && call.output !== '') {
    const out = bounded(call.output);
    const fo = fence(out);
    parts.push('Result:', '', fo, out, fo, '');
  } else if (call.summary) {
    parts.push(`Result: ${call.summary}`, '');
  }
  return parts.join('\n');
}

/**
 * A run's calls in the Markdown export, turn by turn: what the model wrote
 * before them, then each call (bounded, see `callMarkdown`).
 */
export function toolCallsMarkdown(calls: readonly WireToolCall[]): string {
  const parts: string[] = [];
  for (const c of calls) {
    if (c.text_before && c.text_before.trim() !== '') parts.push(c.text_before.trimEnd(), '');
    parts.push(callMarkdown(c));
  }
  return parts.join('\n');
}

/** The page title: how many workers wait for a person, then the usual title. */
export function pageTitle(base: string, waiting: number): string {
  return waiting > 0 ? `(${waiting} waiting for approval) ${base}` : base;
}
