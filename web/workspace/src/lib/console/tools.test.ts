import { describe, expect, it } from 'vitest';
import type { Message } from '../protocol/Message';
import type { ToolCall as WireToolCall } from '../protocol/ToolCall';
import { conversationMarkdown } from './conversation';
import { applyEvent, initialState, type ConsoleState } from './state';
import { ev, msg, snapshot } from './testing/fixtures';
import {
  argumentsFold,
  callDuration,
  EXPORT_LIMIT,
  liveSegments,
  messageSegments,
  pageTitle,
  prettyArguments,
  resultFolds,
  stateLine,
  type ToolCall,
} from './tools';

function apply(state: ConsoleState, ...events: Parameters<typeof applyEvent>[1][]): ConsoleState {
  for (const e of events) state = applyEvent(state, e).state;
  return state;
}

const at = (ms: number) => new Date(Date.parse('2026-11-23T10:00:00.000Z') + ms).toISOString();

describe('tool events', () => {
  it('a call that asks waits in the queue, runs once allowed, and ends with its result and time', () => {
    let s = apply(initialState(), snapshot(0, []));
    s = apply(
      s,
      ev(1, { type: 'run_started', run_id: 'r1', model: 'm' }),
      ev(2, { type: 'assistant_delta', run_id: 'r1', text: 'Let me look. ' }),
      ev(3, { type: 'tool_call_started', run_id: 'r1', call_id: 'c1', name: 'yoi.ask_worker', arguments: { worker: 'notes' } }),
      ev(4, { type: 'tool_approval_requested', run_id: 'r1', call_id: 'c1', name: 'yoi.ask_worker', arguments: { worker: 'notes' } }),
    );
    expect(s.approvals.map((a) => a.call_id)).toEqual(['c1']);
    expect(s.tools[0]).toMatchObject({ state: 'waiting_approval', text_offset: 'Let me look. '.length });
    s = apply(s, { ...ev(5, { type: 'tool_approval_decided', run_id: 'r1', call_id: 'c1', decision: 'allow', scope: 'once' }), at: at(1000) });
    expect(s.approvals).toEqual([]);
    expect(s.tools[0]).toMatchObject({ state: 'running', started_at: at(1000) });
    s = apply(s, {
      ...ev(6, { type: 'tool_call_finished', run_id: 'r1', call_id: 'c1', ok: true, summary: 'answered', state: 'ok', output: 'hi' }),
      at: at(1012),
    });
    expect(s.tools[0]).toMatchObject({ state: 'ok', output: 'hi', duration_ms: 12 });
  });

  it('a denied call is denied, and a run that ends takes its waiting calls out of the queue', () => {
    let s = apply(
      initialState(),
      snapshot(0, []),
      ev(1, { type: 'tool_call_started', run_id: 'r1', call_id: 'c1', name: 'yoi.list_workers', arguments: {} }),
      ev(2, { type: 'tool_approval_requested', run_id: 'r1', call_id: 'c1', name: 'yoi.list_workers', arguments: {} }),
      ev(3, { type: 'tool_approval_decided', run_id: 'r1', call_id: 'c1', decision: 'deny', scope: 'once' }),
    );
    expect(s.tools[0]!.state).toBe('denied');
    s = apply(
      s,
      ev(4, { type: 'tool_call_started', run_id: 'r1', call_id: 'c2', name: 'yoi.list_workers', arguments: {} }),
      ev(5, { type: 'tool_approval_requested', run_id: 'r1', call_id: 'c2', name: 'yoi.list_workers', arguments: {} }),
      ev(6, { type: 'run_cancelled', run_id: 'r1' }),
    );
    expect(s.approvals).toEqual([]);
  });

  it('a snapshot brings the waiting calls back (a reload), as the bar and as a card of the run in flight', () => {
    const s = apply(
      initialState(),
      snapshot(9, [msg('u1', 'user', 'go', 'r1')], {
        in_flight: { run_id: 'r1', text: 'Looking.' },
        worker: {
          status: 'waiting_approval',
          pending_approvals: [{ run_id: 'r1', call_id: 'c1', name: 'yoi.ask_worker', arguments: { worker: 'notes' }, requested_at: at(0) }],
        },
      }),
    );
    expect(s.approvals.map((a) => a.call_id)).toEqual(['c1']);
    expect(s.tools).toEqual([
      { run_id: 'r1', call_id: 'c1', name: 'yoi.ask_worker', arguments: { worker: 'notes' }, state: 'waiting_approval', text_offset: 8 },
    ]);
  });
});

function wire(call: Partial<WireToolCall> & { call_id: string; round: number }): WireToolCall {
  return { name: 'yoi.list_workers', arguments: {}, state: 'ok', ...call };
}

describe('where calls sit in the answer', () => {
  it('a finished answer: each turn’s text, its calls, then the last answer', () => {
    const m: Message = {
      ...msg('a1', 'assistant', 'All done.', 'r1'),
      tool_calls: [
        wire({ call_id: 'c1', round: 1, text_before: 'First I list.' }),
        wire({ call_id: 'c2', round: 1 }),
        wire({ call_id: 'c3', round: 2 }),
      ],
    };
    const segs = messageSegments(m, []);
    expect(segs.map((s) => (s.kind === 'text' ? `t:${s.text}` : `c:${s.calls.map((c) => c.call_id).join(',')}`))).toEqual([
      't:First I list.',
      'c:c1,c2',
      'c:c3',
      't:All done.',
    ]);
  });

  it('the run in flight: text up to each call, the calls, the rest', () => {
    const call = (id: string, off: number): ToolCall => ({ run_id: 'r', call_id: id, name: 'x.y', arguments: {}, state: 'running', text_offset: off });
    const segs = liveSegments('Look. Found it.', [call('c1', 6), call('c2', 6)]);
    expect(segs.map((s) => (s.kind === 'text' ? `t:${s.text}` : `c:${s.calls.length}`))).toEqual(['t:Look. ', 'c:2', 't:Found it.']);
  });
});

describe('words', () => {
  it('each state reads as a person says it; running shows the elapsed time', () => {
    const base = { call_id: 'c', name: 'yoi.list_workers', arguments: {} };
    expect(stateLine({ ...base, state: 'running', started_at: at(0) }, Date.parse(at(3400)))).toBe('running 3.4 s');
    expect(stateLine({ ...base, state: 'ok', duration_ms: 12 }, 0)).toBe('ok · 12 ms');
    expect(stateLine({ ...base, state: 'waiting_approval' }, 0)).toBe('waiting for approval');
    expect(stateLine({ ...base, state: 'denied' }, 0)).toBe('denied');
    expect(stateLine({ ...base, state: 'interrupted' }, 0)).toBe('interrupted');
    expect(callDuration(125_000)).toBe('2 min 5 s');
  });

  it('long argument values fold; long results fold', () => {
    const args = { worker: 'notes', text: 'x'.repeat(500) };
    expect(argumentsFold(args)).toBe(true);
    expect(prettyArguments(args, true)).toContain('(340 more characters)');
    expect(prettyArguments(args, false)).toContain('x'.repeat(500));
    expect(prettyArguments({ worker: 'notes' }, true)).toBe('{\n  "worker": "notes"\n}');
    expect(resultFolds('a\n'.repeat(20))).toBe(true);
    expect(resultFolds('short')).toBe(false);
  });

  it('the export holds each call with its arguments and result, bounded', () => {
    const m: Message = {
      ...msg('a1', 'assistant', 'Two workers.', 'r1'),
      tool_calls: [wire({ call_id: 'c1', round: 1, arguments: { limit: 5 }, output: 'y'.repeat(EXPORT_LIMIT + 50), duration_ms: 7 })],
    };
    const md = conversationMarkdown('t', [m], 'now');
    expect(md).toContain('**Tool call** `yoi.list_workers` — ok · 7 ms');
    expect(md).toContain('"limit": 5');
    expect(md).toContain('(50 more characters)');
    expect(md).not.toContain('y'.repeat(EXPORT_LIMIT + 1));
    expect(md.indexOf('Tool call')).toBeLessThan(md.indexOf('Two workers.'));
  });

  it('the title counts the workers that wait', () => {
    expect(pageTitle('yoi', 0)).toBe('yoi');
    expect(pageTitle('yoi', 2)).toBe('(2 waiting for approval) yoi');
  });
});

describe('a reload while a run with calls is in flight', () => {
  it('the streaming message’s calls come back in place, with the earlier turns’ text', () => {
    const streaming: Message = {
      ...msg('a1', 'assistant', 'Now ', 'r1', 'streaming'),
      tool_calls: [
        wire({ call_id: 'c1', round: 1, text_before: 'First I look. ', state: 'ok', output: 'two' }),
        wire({ call_id: 'c2', round: 2, state: 'running' }),
      ],
    };
    const s = apply(
      initialState(),
      snapshot(12, [msg('u1', 'user', 'go', 'r1'), streaming], { in_flight: { run_id: 'r1', text: 'Now ' } }),
    );
    expect(s.messages.map((m) => m.id)).toEqual(['u1']);
    expect(s.live?.text).toBe('First I look. Now ');
    expect(s.tools.map((t) => [t.call_id, t.state, t.text_offset])).toEqual([
      ['c1', 'ok', 14],
      ['c2', 'running', 14],
    ]);
    const segs = liveSegments(s.live!.text, s.tools);
    expect(segs.map((x) => (x.kind === 'text' ? `t:${x.text}` : `c:${x.calls.length}`))).toEqual(['t:First I look. ', 'c:2', 't:Now ']);
  });
});
