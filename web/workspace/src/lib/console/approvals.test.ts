// @vitest-environment jsdom
import { describe, expect, it } from 'vitest';
import { ConsoleConnection, type SocketLike } from './connection.svelte';
import { RUNTIME, WORKER, ev, snapshot } from './testing/fixtures';

class FakeSocket implements SocketLike {
  onopen: ((ev: unknown) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onclose: ((ev: unknown) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;
  constructor(readonly url: string) {}
  send(frame: unknown) {
    this.onmessage?.({ data: JSON.stringify(frame) });
  }
  close() {}
}

const settle = () => new Promise((r) => setTimeout(r, 0));

/** A connection showing one worker that waits on call `c1`; `answer` is the approval route's. */
async function waiting(answer: { status: number; body: unknown }) {
  const posted: { path: string; body: unknown }[] = [];
  const sockets: FakeSocket[] = [];
  const conn = new ConsoleConnection({
    fetch: async (path, init) => {
      if (init?.method === 'POST') posted.push({ path, body: JSON.parse(init.body as string) });
      const r = path.includes('/approvals/') ? answer : { status: 404, body: { error: { code: 'not_found', message: '', retryable: false } } };
      return new Response(JSON.stringify(r.body), { status: r.status, headers: { 'content-type': 'application/json' } });
    },
    openSocket: (url) => {
      const s = new FakeSocket(url);
      sockets.push(s);
      return s;
    },
    origin: { protocol: 'http:', host: '127.0.0.1:7760' },
    token: null,
    setTimer: () => 0,
    clearTimer: () => {},
  });
  conn.open({ runtime_id: RUNTIME, worker_id: WORKER });
  const socket = sockets.find((s) => s.url.includes('/workers/'))!;
  socket.send(
    snapshot(3, [], {
      in_flight: { run_id: 'r1', text: '' },
      worker: {
        status: 'waiting_approval',
        pending_approvals: [{ run_id: 'r1', call_id: 'c1', name: 'yoi.list_workers', arguments: {}, requested_at: '2026-11-23T10:00:00.000Z' }],
      },
    }),
  );
  return { conn, posted, socket };
}

describe('approvals', () => {
  it('a decision is posted to the call’s route with its scope', async () => {
    const { conn, posted, socket } = await waiting({ status: 200, body: { call_id: 'c1', decision: 'allow', scope: 'worker' } });
    expect(conn.approvals.map((a) => a.call_id)).toEqual(['c1']);
    await conn.decide('c1', 'allow', 'worker');
    expect(posted).toEqual([
      { path: `/api/runtimes/${RUNTIME}/workers/${WORKER}/approvals/c1`, body: { decision: 'allow', scope: 'worker' } },
    ]);
    // The bar clears with the event that says it was decided.
    socket.send(ev(4, { type: 'tool_approval_decided', run_id: 'r1', call_id: 'c1', decision: 'allow', scope: 'worker' }));
    expect(conn.approvals).toEqual([]);
    expect(conn.approvalError).toBeNull();
  });

  it('not_pending (decided elsewhere) clears the bar quietly', async () => {
    const { conn } = await waiting({ status: 409, body: { error: { code: 'not_pending', message: 'no longer waits', retryable: false } } });
    await conn.decide('c1', 'deny');
    await settle();
    expect(conn.approvals).toEqual([]);
    expect(conn.approvalError).toBeNull();
  });

  it('another failure is shown and the call stays in the bar', async () => {
    const { conn } = await waiting({ status: 503, body: { error: { code: 'store_unavailable', message: 'disk full', retryable: true } } });
    await conn.decide('c1', 'allow', 'worker');
    expect(conn.approvals.map((a) => a.call_id)).toEqual(['c1']);
    expect(conn.approvalError?.code).toBe('store_unavailable');
  });
});
