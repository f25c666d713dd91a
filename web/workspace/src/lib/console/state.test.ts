import { describe, expect, it } from 'vitest';
import type { ApiError } from '../protocol/ApiError';
import type { Message } from '../protocol/Message';
import type { WorkerEvent } from '../protocol/WorkerEvent';
import { applyEvent, errorOf, initialState, reasoningOf, workerActivity, type ConsoleState } from './state';
import { ev, msg, runEvents, snapshot } from './testing/fixtures';

function applyAll(state: ConsoleState, events: WorkerEvent[]): ConsoleState {
  for (const e of events) state = applyEvent(state, e).state;
  return state;
}

function synced(seq = 0): ConsoleState {
  return applyEvent(initialState(), snapshot(seq, [])).state;
}

describe('event application', () => {
  it('first snapshot without cursor gives the transcript, worker and seq', () => {
    const s = applyEvent(initialState(), snapshot(4, [msg('u1', 'user', 'hi', 'r1'), msg('a1', 'assistant', 'hello', 'r1')])).state;
    expect(s.synced).toBe(true);
    expect(s.seq).toBe(4);
    expect(s.status).toBe('idle');
    expect(s.messages.map((m) => m.id)).toEqual(['u1', 'a1']);
    expect(s.live).toBeNull();
    expect(s.lastReset).toBeNull();
  });

  it('a whole run: user message, streaming text keyed by run, final message, usage', () => {
    let s = synced(0);
    const events = runEvents(1, 'r1', 'hello', ['Hel', 'lo ', 'there']);
    // input_accepted
    s = applyEvent(s, events[0]!).state;
    expect(s.messages).toHaveLength(1);
    expect(s.messages[0]!.role).toBe('user');
    // status running
    s = applyEvent(s, events[1]!).state;
    expect(s.status).toBe('running');
    expect(workerActivity(s, false)).toBe('generating');
    // run_started
    s = applyEvent(s, events[2]!).state;
    expect(s.live).toEqual({ run_id: 'r1', text: '', reasoning: '', model: 'mock-model' });
    expect(s.lastRun).toMatchObject({ run_id: 'r1', outcome: 'running', model: 'mock-model' });
    // deltas
    s = applyAll(s, events.slice(3, 6));
    expect(s.live?.text).toBe('Hello there');
    expect(s.messages).toHaveLength(1);
    // assistant_message
    s = applyEvent(s, events[6]!).state;
    expect(s.live).toBeNull();
    expect(s.messages.map((m) => [m.id, m.text, m.state])).toEqual([
      ['u-r1', 'hello', 'complete'],
      ['a-r1', 'Hello there', 'complete'],
    ]);
    // run_completed + status idle
    s = applyAll(s, events.slice(7));
    expect(s.lastRun).toEqual({
      run_id: 'r1',
      model: 'mock-model',
      outcome: 'completed',
      usage: { prompt_tokens: 10, completion_tokens: 5 },
      duration_ms: 1234,
    });
    expect(s.status).toBe('idle');
    expect(s.seq).toBe(events.length);
    expect(workerActivity(s, false)).toBe('idle');
  });

  it('a delta leaves the history array untouched (no re-render of old messages)', () => {
    let s = applyAll(synced(0), runEvents(1, 'r1', 'one', ['a']));
    s = applyAll(s, runEvents(s.seq + 1, 'r2', 'two', []).slice(0, 3));
    const before = s.messages;
    s = applyEvent(s, ev(s.seq + 1, { type: 'assistant_delta', run_id: 'r2', text: 'x' })).state;
    expect(s.messages).toBe(before);
    expect(s.live?.text).toBe('x');
  });

  it('reasoning deltas accumulate and stay with the finished message', () => {
    let s = applyAll(synced(0), runEvents(1, 'r1', 'q', []).slice(0, 3));
    s = applyAll(s, [
      ev(4, { type: 'reasoning_delta', run_id: 'r1', text: 'think ' }),
      ev(5, { type: 'reasoning_delta', run_id: 'r1', text: 'hard' }),
      ev(6, { type: 'assistant_delta', run_id: 'r1', text: 'A' }),
    ]);
    expect(s.live?.reasoning).toBe('think hard');
    s = applyEvent(s, ev(7, { type: 'assistant_message', run_id: 'r1', message: msg('a1', 'assistant', 'A', 'r1') })).state;
    expect(s.reasoning).toEqual({ r1: 'think hard' });
  });

  it('a failed run keeps its partial text marked failed and records the error', () => {
    let s = applyAll(synced(0), runEvents(1, 'r1', 'q', []).slice(0, 3));
    s = applyAll(s, [
      ev(4, { type: 'assistant_delta', run_id: 'r1', text: 'partial' }),
      ev(5, { type: 'assistant_message', run_id: 'r1', message: msg('a1', 'assistant', 'partial', 'r1', 'failed') }),
      ev(6, { type: 'run_failed', run_id: 'r1', error: { code: 'provider_error', message: 'mock error 500', retryable: true } }),
      ev(7, { type: 'status', status: 'idle' }),
    ]);
    expect(s.messages.at(-1)).toMatchObject({ id: 'a1', state: 'failed', text: 'partial' });
    expect(s.runErrors.r1?.code).toBe('provider_error');
    expect(s.lastRun).toMatchObject({ outcome: 'failed', error: { message: 'mock error 500' } });
    expect(workerActivity(s, false)).toBe('error');
  });

  it('a run that fails before any text gets a local failed placeholder', () => {
    let s = applyAll(synced(0), runEvents(1, 'r1', 'q', []).slice(0, 3));
    s = applyEvent(s, ev(4, { type: 'run_failed', run_id: 'r1', error: { code: 'timeout', message: 't', retryable: true } })).state;
    expect(s.live).toBeNull();
    expect(s.messages.at(-1)).toMatchObject({ id: 'local:r1', role: 'assistant', state: 'failed', text: '' });
    // A late assistant_message for that run replaces the placeholder.
    s = applyEvent(s, ev(5, { type: 'assistant_message', run_id: 'r1', message: msg('a1', 'assistant', '', 'r1', 'failed') })).state;
    expect(s.messages.map((m) => m.id)).toEqual(['u-r1', 'a1']);
  });

  it('a cancelled run without assistant_message keeps the streamed text as cancelled', () => {
    let s = applyAll(synced(0), runEvents(1, 'r1', 'q', []).slice(0, 3));
    s = applyAll(s, [
      ev(4, { type: 'assistant_delta', run_id: 'r1', text: 'half an ans' }),
      ev(5, { type: 'run_cancelled', run_id: 'r1' }),
    ]);
    expect(s.live).toBeNull();
    expect(s.messages.at(-1)).toMatchObject({ state: 'cancelled', text: 'half an ans' });
    expect(s.lastRun?.outcome).toBe('cancelled');
  });

  it('a cancelled run with its final message shows it once', () => {
    let s = applyAll(synced(0), runEvents(1, 'r1', 'q', []).slice(0, 3));
    s = applyAll(s, [
      ev(4, { type: 'assistant_delta', run_id: 'r1', text: 'half' }),
      ev(5, { type: 'assistant_message', run_id: 'r1', message: msg('a1', 'assistant', 'half', 'r1', 'cancelled') }),
      ev(6, { type: 'run_cancelled', run_id: 'r1' }),
    ]);
    expect(s.messages.filter((m) => m.role === 'assistant')).toEqual([msg('a1', 'assistant', 'half', 'r1', 'cancelled')]);
  });

  it('status, worker_stopped and tool calls', () => {
    let s = synced(0);
    s = applyEvent(s, ev(1, { type: 'status', status: 'running' })).state;
    expect(s.worker?.status).toBe('running');
    s = applyAll(s, [
      ev(2, { type: 'tool_call_started', run_id: 'r1', call_id: 'c1', name: 'search', arguments: { q: 1 } }),
      ev(3, { type: 'tool_call_finished', run_id: 'r1', call_id: 'c1', ok: true, summary: '3 hits', state: 'ok' }),
    ]);
    expect(s.tools).toEqual([
      {
        run_id: 'r1',
        call_id: 'c1',
        name: 'search',
        arguments: { q: 1 },
        state: 'ok',
        summary: '3 hits',
        started_at: '2026-11-23T10:00:00.000Z',
        duration_ms: 0,
        text_offset: 0,
      },
    ]);
    s = applyEvent(s, ev(4, { type: 'worker_stopped' })).state;
    expect(s.stopped).toBe(true);
    expect(s.status).toBe('stopped');
    expect(workerActivity(s, false)).toBe('stopped');
  });

  it('an unknown event type still advances seq', () => {
    const s = applyEvent(synced(0), { ...ev(1, { type: 'status', status: 'idle' }), type: 'from_the_future' } as unknown as WorkerEvent);
    expect(s.outcome).toBe('applied');
    expect(s.state.seq).toBe(1);
  });

  it('queued inputs: a snapshot lists them, input_queued adds, input_dequeued and input_accepted remove, a stop clears', () => {
    let s = applyEvent(
      initialState(),
      snapshot(3, [], { worker: { status: 'running', queue: [{ message_id: 'q1', text: 'one', at: 'x' }] } }),
    ).state;
    expect(s.queue.map((q) => q.text)).toEqual(['one']);
    s = applyAll(s, [
      ev(4, { type: 'input_queued', message_id: 'q2', text: 'two', position: 2 }),
      ev(5, { type: 'input_queued', message_id: 'q3', text: 'three', position: 3 }),
    ]);
    expect(s.queue.map((q) => q.message_id)).toEqual(['q1', 'q2', 'q3']);
    s = applyAll(s, [
      ev(6, { type: 'input_dequeued', message_id: 'q2', reason: 'removed' }),
      ev(7, { type: 'input_dequeued', message_id: 'q1', reason: 'started' }),
      ev(8, { type: 'input_accepted', run_id: 'r2', message: msg('q1', 'user', 'one', 'r2') }),
    ]);
    expect(s.queue.map((q) => q.message_id)).toEqual(['q3']);
    expect(s.messages.map((m) => m.id)).toEqual(['q1']);
    s = applyAll(s, [ev(9, { type: 'worker_stopped' })]);
    expect(s.queue).toEqual([]);
  });

  it('sending shows as sending until the run is reported', () => {
    const s = synced(0);
    expect(workerActivity(s, true)).toBe('sending');
    expect(workerActivity(initialState(), false)).toBe('unknown');
  });
});

describe('dedupe by seq', () => {
  it('ignores frames at or below the last applied seq', () => {
    let s = applyAll(synced(0), runEvents(1, 'r1', 'hi', ['a', 'b']));
    const seq = s.seq;
    const replay = runEvents(1, 'r1', 'hi', ['a', 'b']);
    for (const e of replay) {
      const r = applyEvent(s, e);
      expect(r.outcome).toBe('duplicate');
      expect(r.state).toBe(s);
    }
    expect(s.seq).toBe(seq);
    expect(s.messages).toHaveLength(2);
    // The next seq applies.
    s = applyEvent(s, ev(seq + 1, { type: 'status', status: 'running' })).state;
    expect(s.seq).toBe(seq + 1);
  });

  it('a repeated delta is not appended twice', () => {
    let s = applyAll(synced(0), runEvents(1, 'r1', 'q', []).slice(0, 3));
    const d = ev(4, { type: 'assistant_delta', run_id: 'r1', text: 'once' });
    s = applyEvent(s, d).state;
    s = applyEvent(s, d).state;
    expect(s.live?.text).toBe('once');
  });

  it('reports a gap instead of applying it', () => {
    const s = synced(3);
    const r = applyEvent(s, ev(5, { type: 'status', status: 'running' }));
    expect(r.outcome).toBe('gap');
    expect(r.state).toBe(s);
  });
});

describe('snapshots', () => {
  it('in_flight becomes the live run and its streaming transcript message is not shown twice', () => {
    const s = applyEvent(
      initialState(),
      snapshot(
        7,
        [msg('u1', 'user', 'q', 'r1'), msg('a1', 'assistant', 'Hel', 'r1', 'streaming')],
        { in_flight: { run_id: 'r1', text: 'Hel', reasoning: 'hmm' }, worker: { status: 'running' } },
      ),
    ).state;
    expect(s.messages.map((m) => m.id)).toEqual(['u1']);
    expect(s.live).toEqual({ run_id: 'r1', text: 'Hel', reasoning: 'hmm', model: 'mock-model' });
    // Deltas continue the in-flight text; the final message replaces it.
    const next = applyAll(s, [
      ev(8, { type: 'assistant_delta', run_id: 'r1', text: 'lo' }),
      ev(9, { type: 'assistant_message', run_id: 'r1', message: msg('a1', 'assistant', 'Hello', 'r1') }),
    ]);
    expect(next.messages.map((m) => [m.id, m.text])).toEqual([
      ['u1', 'q'],
      ['a1', 'Hello'],
    ]);
    expect(next.live).toBeNull();
  });

  it('a streaming message without in_flight is taken over by the next delta of its run', () => {
    let s = applyEvent(
      initialState(),
      snapshot(3, [msg('u1', 'user', 'q', 'r1'), msg('a1', 'assistant', 'Hel', 'r1', 'streaming')], { worker: { status: 'running' } }),
    ).state;
    expect(s.messages).toHaveLength(2);
    s = applyEvent(s, ev(4, { type: 'assistant_delta', run_id: 'r1', text: 'lo' })).state;
    expect(s.messages.map((m) => m.id)).toEqual(['u1']);
    expect(s.live?.text).toBe('Hello');
  });

  it('a reset snapshot replaces the whole transcript, live run and seq', () => {
    let s = applyAll(synced(0), runEvents(1, 'r1', 'old', ['x']));
    s = applyAll(s, runEvents(s.seq + 1, 'r2', 'older', []).slice(0, 3));
    expect(s.live).not.toBeNull();
    s = applyEvent(
      s,
      snapshot(42, [msg('u9', 'user', 'fresh', 'r9'), msg('a9', 'assistant', 'answer', 'r9')], {
        reset: true,
        reason: 'cursor_expired',
        worker: { last_run: { run_id: 'r9', state: 'completed' } },
      }),
    ).state;
    expect(s.seq).toBe(42);
    expect(s.messages.map((m) => m.id)).toEqual(['u9', 'a9']);
    expect(s.live).toBeNull();
    expect(s.lastReset).toBe('cursor_expired');
    expect(s.lastRun).toMatchObject({ run_id: 'r9', outcome: 'completed' });
    // Events after the snapshot apply; those at or before it are duplicates.
    expect(applyEvent(s, ev(42, { type: 'status', status: 'running' })).outcome).toBe('duplicate');
    expect(applyEvent(s, ev(43, { type: 'status', status: 'running' })).outcome).toBe('applied');
  });

  it('a reset snapshot with a lower seq (server restarted) is applied', () => {
    let s = applyAll(synced(0), runEvents(1, 'r1', 'q', ['a']));
    expect(s.seq).toBeGreaterThan(2);
    s = applyEvent(s, snapshot(2, [msg('u1', 'user', 'q', 'r1'), msg('a1', 'assistant', 'a', 'r1')], { reset: true, reason: 'cursor_ahead' })).state;
    expect(s.seq).toBe(2);
    expect(s.messages).toHaveLength(2);
    expect(applyEvent(s, ev(3, { type: 'status', status: 'running' })).outcome).toBe('applied');
  });

  it('keeps the usage of the last run across a snapshot of the same run', () => {
    let s = applyAll(synced(0), runEvents(1, 'r1', 'q', ['a']));
    s = applyEvent(s, snapshot(s.seq, s.messages as never, { reset: true, reason: 'lagged', worker: { last_run: { run_id: 'r1', state: 'completed' } } })).state;
    expect(s.lastRun?.usage).toEqual({ prompt_tokens: 10, completion_tokens: 5 });
  });

  it('a failed last run in the snapshot shows its error', () => {
    const s = applyEvent(
      initialState(),
      snapshot(5, [msg('u1', 'user', 'q', 'r1'), msg('a1', 'assistant', '', 'r1', 'failed')], {
        worker: { last_run: { run_id: 'r1', state: 'failed', error: { code: 'timeout', message: 'slow', retryable: true } } },
      }),
    ).state;
    expect(s.runErrors.r1?.code).toBe('timeout');
    expect(workerActivity(s, false)).toBe('error');
  });

  it('a last run that failed before any text gets its failed placeholder back after a reload', () => {
    const error = { code: 'provider_error' as const, message: 'the provider answered 500: mock error 500', retryable: true };
    const s = applyEvent(
      initialState(),
      snapshot(9, [msg('u1', 'user', 'q', 'r1'), msg('a1', 'assistant', 'a', 'r1'), msg('u2', 'user', 'fail', 'r2')], {
        worker: { last_run: { run_id: 'r2', state: 'failed', error } },
      }),
    ).state;
    expect(s.messages.map((m) => [m.id, m.state])).toEqual([
      ['u1', 'complete'],
      ['a1', 'complete'],
      ['u2', 'complete'],
      ['local:r2', 'failed'],
    ]);
    expect(s.runErrors.r2).toEqual(error);
    // Not when the transcript has the run's answer, nor for a completed run.
    const kept = applyEvent(
      initialState(),
      snapshot(9, [msg('u2', 'user', 'fail', 'r2'), msg('a2', 'assistant', 'part', 'r2', 'failed')], {
        worker: { last_run: { run_id: 'r2', state: 'failed', error } },
      }),
    ).state;
    expect(kept.messages.map((m) => m.id)).toEqual(['u2', 'a2']);
    const done = applyEvent(
      initialState(),
      snapshot(9, [msg('u2', 'user', 'q', 'r2')], { worker: { last_run: { run_id: 'r2', state: 'completed' } } }),
    ).state;
    expect(done.messages.map((m) => m.id)).toEqual(['u2']);
  });

  it('a stopped worker in a snapshot is stopped', () => {
    const s = applyEvent(initialState(), snapshot(1, [], { worker: { status: 'stopped' } })).state;
    expect(s.stopped).toBe(true);
  });

  it('a quarantined worker in a snapshot reads as an error, not idle', () => {
    const s = applyEvent(initialState(), snapshot(1, [], { worker: { status: 'quarantined' } })).state;
    expect(workerActivity(s, false)).toBe('error');
  });

  it('a worker waiting for a tool approval is still in its run, not idle', () => {
    let s = applyEvent(initialState(), snapshot(1, [])).state;
    s = applyEvent(s, ev(2, { type: 'status', status: 'waiting_approval' })).state;
    expect(s.status).toBe('waiting_approval');
    expect(workerActivity(s, false)).toBe('generating');
  });
});

describe('from the server after a reload', () => {
  it('a snapshot keeps the reasoning of its messages, so it survives a reload', () => {
    const answer = { ...msg('a1', 'assistant', 'It is 4.', 'r1'), reasoning: 'Two and two make four.' };
    const s = applyEvent(initialState(), snapshot(6, [msg('u1', 'user', '2+2?', 'r1'), answer, msg('u2', 'user', 'thanks', 'r2'), msg('a2', 'assistant', 'ok', 'r2')])).state;
    expect(s.messages[1]!.reasoning).toBe('Two and two make four.');
    expect(s.reasoning).toEqual({}); // nothing kept client-side: it came from the transcript
    expect(reasoningOf(s.messages[1]!, s.reasoning)).toBe('Two and two make four.');
    expect(reasoningOf(s.messages[3]!, s.reasoning)).toBe('');
    expect(reasoningOf(s.messages[0]!, { r1: 'not for users' })).toBe('');
    // A message without its own reasoning falls back to what this page kept of its run.
    expect(reasoningOf(msg('a3', 'assistant', 'x', 'r3'), { r3: 'kept' })).toBe('kept');
    // The message's own reasoning wins.
    expect(reasoningOf(answer, { r1: 'stale' })).toBe('Two and two make four.');
  });

  it('the reasoning of a streaming message carries into the live run', () => {
    const partial = { ...msg('a1', 'assistant', 'Hel', 'r1', 'streaming'), reasoning: 'hmm' };
    // Without in_flight: the next delta takes the message over, reasoning and all.
    let s = applyEvent(initialState(), snapshot(3, [msg('u1', 'user', 'q', 'r1'), partial], { worker: { status: 'running' } })).state;
    s = applyEvent(s, ev(4, { type: 'assistant_delta', run_id: 'r1', text: 'lo' })).state;
    expect(s.live).toMatchObject({ text: 'Hello', reasoning: 'hmm' });
    // With in_flight that carries no reasoning of its own.
    s = applyEvent(
      initialState(),
      snapshot(3, [msg('u1', 'user', 'q', 'r1'), partial], { in_flight: { run_id: 'r1', text: 'Hel' }, worker: { status: 'running' } }),
    ).state;
    expect(s.live).toMatchObject({ text: 'Hel', reasoning: 'hmm' });
  });

  it('a reset snapshot gives the last run’s tokens and duration from the server', () => {
    const lastRun = {
      run_id: 'r9',
      state: 'completed' as const,
      usage: { prompt_tokens: 1200, completion_tokens: 340 },
      duration_ms: 2500,
    };
    // A fresh page (a reload): nothing seen, everything from the snapshot.
    let s = applyEvent(initialState(), snapshot(9, [msg('u9', 'user', 'q', 'r9'), msg('a9', 'assistant', 'a', 'r9')], { worker: { last_run: lastRun } })).state;
    expect(s.lastRun).toEqual({
      run_id: 'r9',
      model: 'mock-model',
      outcome: 'completed',
      usage: { prompt_tokens: 1200, completion_tokens: 340 },
      duration_ms: 2500,
    });
    // A page that saw the run itself: the server's numbers win after a reset.
    s = applyAll(synced(0), runEvents(1, 'r9', 'q', ['a']));
    expect(s.lastRun?.usage).toEqual({ prompt_tokens: 10, completion_tokens: 5 });
    s = applyEvent(s, snapshot(20, s.messages as never, { reset: true, reason: 'cursor_expired', worker: { last_run: lastRun } })).state;
    expect(s.lastRun).toMatchObject({ usage: { prompt_tokens: 1200, completion_tokens: 340 }, duration_ms: 2500 });
    expect(s.lastReset).toBe('cursor_expired');
    // A failed last run has no usage; its error still shows.
    s = applyEvent(
      initialState(),
      snapshot(3, [], { worker: { last_run: { run_id: 'r1', state: 'failed', error: { code: 'provider_error', message: 'the provider answered 500: mock error 500', retryable: true }, duration_ms: 40 } } }),
    ).state;
    expect(s.lastRun).toMatchObject({ outcome: 'failed', duration_ms: 40 });
    expect(s.lastRun?.usage).toBeUndefined();
  });
});

describe('how each run ended, from the transcript', () => {
  const timeout: ApiError = { code: 'timeout', message: 'no first token within 60 s', retryable: true };
  const upstream: ApiError = { code: 'provider_error', message: 'the provider answered 500: mock error 500', retryable: true };
  const failed = (id: string, run: string, text: string, error: ApiError): Message => ({ ...msg(id, 'assistant', text, run, 'failed'), error });

  it('after a reload every failed run keeps its own error, not only the last one', () => {
    const s = applyEvent(
      initialState(),
      snapshot(20, [
        msg('u1', 'user', 'one', 'r1'),
        failed('a1', 'r1', '', timeout),
        msg('u2', 'user', 'two', 'r2'),
        failed('a2', 'r2', 'half an', upstream),
        msg('u3', 'user', 'three', 'r3'),
        msg('a3', 'assistant', '', 'r3', 'cancelled'),
        msg('u4', 'user', 'four', 'r4'),
        msg('a4', 'assistant', 'fine', 'r4'),
      ], { worker: { last_run: { run_id: 'r4', state: 'completed' } } }),
    ).state;
    // Nothing made up client-side: the transcript already says how each run ended.
    expect(s.messages.map((m) => m.id)).toEqual(['u1', 'a1', 'u2', 'a2', 'u3', 'a3', 'u4', 'a4']);
    expect(s.runErrors).toEqual({});
    expect(errorOf(s.messages[1]!, s.runErrors)).toEqual(timeout);
    expect(errorOf(s.messages[3]!, s.runErrors)).toEqual(upstream);
    expect(errorOf(s.messages[5]!, s.runErrors)).toBeNull();
    expect(errorOf(s.messages[7]!, s.runErrors)).toBeNull();
    expect(workerActivity(s, false)).toBe('idle');
  });

  it('a failed last run with its message in the transcript gets no placeholder, and one error', () => {
    const s = applyEvent(
      initialState(),
      snapshot(9, [msg('u1', 'user', 'q', 'r1'), failed('a1', 'r1', '', upstream)], {
        worker: { last_run: { run_id: 'r1', state: 'failed', error: upstream } },
      }),
    ).state;
    expect(s.messages.map((m) => m.id)).toEqual(['u1', 'a1']);
    expect(errorOf(s.messages[1]!, s.runErrors)).toEqual(upstream);
    expect(workerActivity(s, false)).toBe('error');
  });

  it('a live run that fails: the message with its error, then run_failed, shows one answer with one error', () => {
    let s = applyAll(synced(0), runEvents(1, 'r1', 'q', []).slice(0, 3));
    s = applyAll(s, [
      ev(4, { type: 'assistant_message', run_id: 'r1', message: failed('a1', 'r1', '', upstream) }),
      ev(5, { type: 'run_failed', run_id: 'r1', error: upstream }),
      ev(6, { type: 'status', status: 'idle' }),
    ]);
    const answers = s.messages.filter((m) => m.role === 'assistant');
    expect(answers.map((m) => m.id)).toEqual(['a1']);
    expect(s.live).toBeNull();
    expect(errorOf(answers[0]!, s.runErrors)).toEqual(upstream);
    expect(s.lastRun).toMatchObject({ outcome: 'failed', error: upstream });
  });

  it('a live run cancelled before any text ends with its empty cancelled message, no placeholder', () => {
    let s = applyAll(synced(0), runEvents(1, 'r1', 'q', []).slice(0, 3));
    s = applyAll(s, [
      ev(4, { type: 'assistant_message', run_id: 'r1', message: msg('a1', 'assistant', '', 'r1', 'cancelled') }),
      ev(5, { type: 'run_cancelled', run_id: 'r1' }),
    ]);
    expect(s.messages.map((m) => [m.id, m.state])).toEqual([
      ['u-r1', 'complete'],
      ['a1', 'cancelled'],
    ]);
  });

  it('errorOf: the message’s own error wins, the run’s error is the fallback, and only failed answers have one', () => {
    const kept = { r1: timeout };
    expect(errorOf(failed('a1', 'r1', '', upstream), kept)).toEqual(upstream);
    expect(errorOf(msg('local:r1', 'assistant', '', 'r1', 'failed'), kept)).toEqual(timeout);
    expect(errorOf(msg('a1', 'assistant', '', 'r1', 'failed'), {})).toBeNull();
    expect(errorOf(msg('a1', 'assistant', 'x', 'r1', 'cancelled'), kept)).toBeNull();
    expect(errorOf(msg('u1', 'user', 'q', 'r1'), kept)).toBeNull();
  });
});
