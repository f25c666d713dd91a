/** Builders of wire values for the unit tests (typed by the generated protocol). */
import type { Message } from '../../protocol/Message';
import type { WorkerDetail } from '../../protocol/WorkerDetail';
import type { WorkerEvent } from '../../protocol/WorkerEvent';

export const RUNTIME = 'backend-internal';
export const WORKER = '01JCOMPANION0000000000000';
export const AT = '2026-11-23T10:00:00.000Z';

type Body = WorkerEvent extends infer E ? (E extends unknown ? Omit<E, 'seq' | 'at' | 'runtime_id' | 'worker_id'> : never) : never;

export function ev(seq: number, body: Body): WorkerEvent {
  return { seq, at: AT, runtime_id: RUNTIME, worker_id: WORKER, ...body } as WorkerEvent;
}

export function detail(overrides: Partial<WorkerDetail> = {}): WorkerDetail {
  return {
    runtime_id: RUNTIME,
    worker_id: WORKER,
    display_name: 'companion',
    display_ref: `companion@${RUNTIME}`,
    status: 'idle',
    profile: { name: 'companion', model: 'mock-model' },
    created_at: AT,
    tools: [],
    usage: { runs: 0, prompt_tokens: 0, completion_tokens: 0 },
    queue: [],
    ...overrides,
  };
}

export function msg(id: string, role: Message['role'], text: string, run_id: string, state: Message['state'] = 'complete'): Message {
  return { id, role, text, at: AT, run_id, state };
}

export function snapshot(
  seq: number,
  transcript: Message[],
  extra: { reset?: boolean; reason?: 'cursor_expired' | 'cursor_ahead' | 'lagged'; in_flight?: { run_id: string; text: string; reasoning?: string }; worker?: Partial<WorkerDetail> } = {},
): WorkerEvent {
  const body: Record<string, unknown> = {
    type: 'snapshot',
    worker: detail(extra.worker),
    transcript,
    reset: extra.reset ?? false,
  };
  if (extra.reason) body.reason = extra.reason;
  if (extra.in_flight) body.in_flight = extra.in_flight;
  return ev(seq, body as Body);
}

/** The events of one whole run, as api.md orders them, from `seq` on. */
export function runEvents(seq: number, run: string, userText: string, deltas: string[]): WorkerEvent[] {
  const out: WorkerEvent[] = [];
  let s = seq;
  out.push(ev(s++, { type: 'input_accepted', run_id: run, message: msg(`u-${run}`, 'user', userText, run) }));
  out.push(ev(s++, { type: 'status', status: 'running' }));
  out.push(ev(s++, { type: 'run_started', run_id: run, model: 'mock-model' }));
  for (const d of deltas) out.push(ev(s++, { type: 'assistant_delta', run_id: run, text: d }));
  out.push(
    ev(s++, { type: 'assistant_message', run_id: run, message: msg(`a-${run}`, 'assistant', deltas.join(''), run) }),
  );
  out.push(ev(s++, { type: 'run_completed', run_id: run, usage: { prompt_tokens: 10, completion_tokens: 5 }, duration_ms: 1234 }));
  out.push(ev(s++, { type: 'status', status: 'idle' }));
  return out;
}
