// @vitest-environment jsdom
import { describe, expect, it } from 'vitest';
import type { WorkerEvent } from '../protocol/WorkerEvent';
import { ConsoleConnection, type SocketLike } from './connection.svelte';
import { RUNTIME, WORKER, ev, msg, runEvents, snapshot } from './testing/fixtures';

class FakeSocket implements SocketLike {
  onopen: ((ev: unknown) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onclose: ((ev: unknown) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;
  closed = false;
  constructor(readonly url: string) {}
  open() {
    this.onopen?.({});
  }
  send(frame: unknown) {
    this.onmessage?.({ data: JSON.stringify(frame) });
  }
  drop() {
    this.closed = true;
    this.onclose?.({});
  }
  close() {
    if (!this.closed) this.drop();
  }
}

interface Call {
  method: string;
  path: string;
  body: unknown;
  headers: Record<string, string>;
}

type Responder = (call: Call) => { status: number; body?: unknown } | 'network';

function json(status: number, body?: unknown): Response {
  return new Response(body === undefined ? null : JSON.stringify(body), {
    status,
    headers: { 'content-type': 'application/json' },
  });
}

const companion = {
  runtime_id: RUNTIME,
  worker_id: WORKER,
  display_name: 'companion',
  display_ref: `companion@${RUNTIME}`,
  status: 'idle',
  profile: { name: 'companion', model: 'mock-model' },
  provider: { configured: true, model: 'mock-model' },
};

function harness(respond: Responder, token: string | null = null) {
  const sockets: FakeSocket[] = [];
  const calls: Call[] = [];
  const timers: { fn: () => void; ms: number }[] = [];
  const conn = new ConsoleConnection({
    fetch: async (input, init) => {
      const call: Call = {
        method: init?.method ?? 'GET',
        path: input,
        body: init?.body ? JSON.parse(init.body as string) : undefined,
        headers: (init?.headers ?? {}) as Record<string, string>,
      };
      calls.push(call);
      const r = respond(call);
      if (r === 'network') throw new TypeError('Failed to fetch');
      return json(r.status, r.body);
    },
    openSocket: (url) => {
      const s = new FakeSocket(url);
      sockets.push(s);
      return s;
    },
    origin: { protocol: 'http:', host: '127.0.0.1:7760' },
    token,
    random: () => 0.5,
    setTimer: (fn, ms) => {
      const t = { fn, ms };
      timers.push(t);
      return t;
    },
    clearTimer: (h) => {
      const i = timers.indexOf(h as { fn: () => void; ms: number });
      if (i >= 0) timers.splice(i, 1);
    },
  });
  const workerSockets = () => sockets.filter((s) => s.url.includes('/workers/'));
  const lastWorkerSocket = () => workerSockets().at(-1)!;
  const fireTimers = async () => {
    const due = timers.splice(0);
    for (const t of due) t.fn();
    await settle();
  };
  return { conn, sockets, calls, timers, workerSockets, lastWorkerSocket, fireTimers };
}

const settle = () => new Promise((r) => setTimeout(r, 0));

type Override = (call: Call) => ReturnType<Responder> | undefined;

function serverWith(transcriptSeq: () => number, extra?: Override): Responder {
  return (call) => {
    const more = extra?.(call);
    if (more) return more;
    if (call.path === '/api/companion') return { status: 200, body: companion };
    if (call.path.includes('/transcript')) return { status: 200, body: { messages: [], seq: transcriptSeq(), truncated: false } };
    return { status: 404, body: { error: { code: 'worker_not_found', message: 'no', retryable: false } } };
  };
}

async function started(respond: Responder, token: string | null = null) {
  const h = harness(respond, token);
  h.conn.start(null);
  await settle();
  return h;
}

describe('connection', () => {
  it('resolves the Companion, subscribes without cursor, goes live on the snapshot', async () => {
    const h = await started(serverWith(() => 0));
    expect(h.conn.target).toEqual({ runtime_id: RUNTIME, worker_id: WORKER });
    expect(h.conn.connection).toBe('connecting');
    const s = h.lastWorkerSocket();
    expect(s.url).toBe(`ws://127.0.0.1:7760/api/runtimes/${RUNTIME}/workers/${WORKER}/events`);
    s.open();
    s.send(snapshot(2, [msg('u1', 'user', 'hi', 'r1'), msg('a1', 'assistant', 'yo', 'r1')]));
    expect(h.conn.connection).toBe('live');
    expect(h.conn.messages).toHaveLength(2);
    expect(h.conn.canSend).toBe(true);
    // The workspace socket is there too.
    expect(h.sockets.some((x) => x.url === 'ws://127.0.0.1:7760/api/events')).toBe(true);
  });

  it('reconnects with backoff, resumes from the last seq and ignores replayed frames', async () => {
    let serverSeq = 0;
    const h = await started(serverWith(() => serverSeq));
    const first = h.lastWorkerSocket();
    first.open();
    first.send(snapshot(0, []));
    const run = runEvents(1, 'r1', 'hello', ['Hi', ' there']);
    for (const e of run.slice(0, 5)) first.send(e); // up to the second delta
    expect(h.conn.live?.text).toBe('Hi there');
    first.drop();
    expect(h.conn.connection).toBe('reconnecting');
    expect(h.conn.connectionError?.code).toBe('connection_lost');
    expect(h.timers).toHaveLength(1);
    expect(h.timers[0]!.ms).toBeGreaterThanOrEqual(125);
    serverSeq = run.length;
    await h.fireTimers();
    const second = h.lastWorkerSocket();
    expect(second).not.toBe(first);
    expect(second.url).toMatch(/\/events\?cursor=5$/);
    expect(h.conn.connection).toBe('resyncing');
    second.open();
    // A frame the page already has comes again: ignored.
    second.send(run[4]!);
    for (const e of run.slice(5)) second.send(e);
    expect(h.conn.connection).toBe('live');
    expect(h.conn.messages.map((m) => [m.role, m.text])).toEqual([
      ['user', 'hello'],
      ['assistant', 'Hi there'],
    ]);
    expect(h.conn.seq).toBe(run.length);
  });

  it('backs off further while the server stays away, then comes back', async () => {
    let down = false;
    const h = await started(serverWith(() => 0, () => (down ? 'network' : undefined)));
    const s = h.lastWorkerSocket();
    s.open();
    s.send(snapshot(0, []));
    down = true;
    s.drop();
    const delays: number[] = [];
    for (let i = 0; i < 4; i++) {
      delays.push(h.timers[0]!.ms);
      await h.fireTimers();
      expect(h.conn.connection).toBe('reconnecting');
    }
    expect(delays).toEqual([188, 375, 750, 1500]);
    down = false;
    await h.fireTimers();
    expect(h.conn.connection).toBe('resyncing');
    h.lastWorkerSocket().open();
    expect(h.conn.connection).toBe('live');
  });

  it('a server that restarted and kept the worker: resumes at the cursor, nothing replayed, same Companion', async () => {
    let serverSeq = 0;
    const h = await started(serverWith(() => serverSeq));
    const s = h.lastWorkerSocket();
    s.open();
    s.send(snapshot(0, []));
    const run = runEvents(1, 'r1', 'q', ['a']);
    for (const e of run) s.send(e);
    const before = h.conn.messages;
    const lastRun = h.conn.lastRun;
    s.drop();
    serverSeq = run.length; // the worker's seq survived the restart
    await h.fireTimers();
    const again = h.lastWorkerSocket();
    expect(again.url).toMatch(new RegExp(`/workers/${WORKER}/events\\?cursor=${run.length}$`));
    again.open();
    // Already caught up: live at once, without a snapshot.
    expect(h.conn.connection).toBe('live');
    expect(h.conn.messages).toBe(before);
    expect(h.conn.lastRun).toBe(lastRun);
    expect(h.conn.lastReset).toBeNull();
    expect(h.conn.companionReplaced).toBe(false);
    expect(h.conn.target).toEqual({ runtime_id: RUNTIME, worker_id: WORKER });
    // And the next run continues the numbering.
    for (const e of runEvents(run.length + 1, 'r2', 'again', ['b'])) again.send(e);
    expect(h.conn.messages.map((m) => m.text)).toEqual(['q', 'a', 'again', 'b']);
  });

  it('a server that restarted (cursor ahead) sends a reset snapshot that replaces the transcript', async () => {
    let serverSeq = 0;
    const h = await started(serverWith(() => serverSeq));
    const s = h.lastWorkerSocket();
    s.open();
    s.send(snapshot(0, []));
    for (const e of runEvents(1, 'r1', 'q', ['a'])) s.send(e);
    s.drop();
    serverSeq = 2; // the restarted server numbers afresh
    await h.fireTimers();
    const again = h.lastWorkerSocket();
    again.open();
    expect(h.conn.connection).toBe('resyncing'); // owed a snapshot
    again.send(
      snapshot(2, [msg('u-r1', 'user', 'q', 'r1'), msg('a-r1', 'assistant', 'a', 'r1')], { reset: true, reason: 'cursor_ahead' }),
    );
    expect(h.conn.connection).toBe('live');
    expect(h.conn.messages).toHaveLength(2);
    expect(h.conn.lastReset).toBe('cursor_ahead');
    again.send(ev(3, { type: 'status', status: 'running' }));
    expect(h.conn.status).toBe('running');
  });

  it('a gap makes it resubscribe rather than guess', async () => {
    const h = await started(serverWith(() => 3));
    const s = h.lastWorkerSocket();
    s.open();
    s.send(snapshot(1, []));
    s.send(ev(3, { type: 'status', status: 'running' }));
    expect(s.closed).toBe(true);
    expect(h.conn.seq).toBe(1);
    await h.fireTimers();
    expect(h.lastWorkerSocket().url).toMatch(/cursor=1$/);
  });

  it('sends with a client_message_id, reuses it after an unknown outcome, keeps the draft on failure', async () => {
    let inputAnswer: 'network' | { status: number; body?: unknown } = 'network';
    const h = await started(serverWith(() => 0, (c) => (c.path.endsWith('/input') ? inputAnswer : undefined)), 'tkn');
    const s = h.lastWorkerSocket();
    s.open();
    s.send(snapshot(0, []));
    expect(await h.conn.send('hello')).toBe(false);
    expect(h.conn.sendError?.code).toBe('network_error');
    inputAnswer = { status: 202, body: { run_id: 'r1', message_id: 'm1', seq: 1 } };
    expect(await h.conn.send('hello')).toBe(true);
    const inputs = h.calls.filter((c) => c.path.endsWith('/input'));
    expect(inputs).toHaveLength(2);
    const [a, b] = inputs as [Call, Call];
    expect(a.body).toMatchObject({ text: 'hello' });
    expect((a.body as { client_message_id: string }).client_message_id).toBe(
      (b.body as { client_message_id: string }).client_message_id,
    );
    expect(a.headers.Authorization).toBe('Bearer tkn');
    expect(h.lastWorkerSocket().url).toMatch(/token=tkn/);
    // A new send gets a new id.
    await h.conn.send('again');
    const third = h.calls.filter((c) => c.path.endsWith('/input'))[2]!;
    expect((third.body as { client_message_id: string }).client_message_id).not.toBe(
      (a.body as { client_message_id: string }).client_message_id,
    );
  });

  it('typed send errors are shown (busy, provider_unconfigured)', async () => {
    const h = await started(
      serverWith(() => 0, (c) =>
        c.path.endsWith('/input')
          ? { status: 503, body: { error: { code: 'provider_unconfigured', message: 'set OPENAI_API_KEY', retryable: false } } }
          : undefined,
      ),
    );
    const s = h.lastWorkerSocket();
    s.open();
    s.send(snapshot(0, []));
    expect(await h.conn.send('hi')).toBe(false);
    expect(h.conn.sendError).toMatchObject({ code: 'provider_unconfigured', message: 'set OPENAI_API_KEY' });
  });

  it('queues while a run is in flight, cannot send while the connection is not live; cancel posts', async () => {
    const h = await started(
      serverWith(() => 0, (c) => (c.path.endsWith('/cancel') ? { status: 202, body: { run_id: 'r1' } } : undefined)),
    );
    const s = h.lastWorkerSocket();
    expect(h.conn.canSend).toBe(false); // not live yet
    s.open();
    s.send(snapshot(0, []));
    for (const e of runEvents(1, 'r1', 'q', ['a']).slice(0, 3)) s.send(e);
    expect(h.conn.canSend).toBe(true);
    expect(h.conn.willQueue).toBe(true);
    expect(h.conn.canCancel).toBe(true);
    await h.conn.cancel();
    expect(h.calls.some((c) => c.method === 'POST' && c.path.endsWith('/cancel'))).toBe(true);
    expect(h.conn.cancelRequested).toBe('r1');
    s.send(ev(4, { type: 'run_cancelled', run_id: 'r1' }));
    s.send(ev(5, { type: 'status', status: 'idle' }));
    expect(h.conn.cancelRequested).toBeNull();
    expect(h.conn.canSend).toBe(true);
  });

  it('shows a start failure and keeps trying', async () => {
    let up = false;
    const h = await started(serverWith(() => 0, () => (up ? undefined : 'network')));
    expect(h.conn.connectionError?.code).toBe('network_error');
    expect(h.conn.connection).toBe('reconnecting');
    up = true;
    await h.fireTimers();
    expect(h.conn.target?.worker_id).toBe(WORKER);
    h.lastWorkerSocket().open();
    h.lastWorkerSocket().send(snapshot(0, []));
    expect(h.conn.connection).toBe('live');
    expect(h.conn.connectionError).toBeNull();
  });

  it('a wrong token stops with a plain error', async () => {
    const h = await started(() => ({ status: 401, body: { error: { code: 'unauthorized', message: 'token', retryable: false } } }));
    expect(h.conn.fatalError?.code).toBe('unauthorized');
    expect(h.conn.connection).toBe('closed');
  });

  it('a Companion that vanished is resolved again', async () => {
    let gone = false;
    const h = await started(
      serverWith(() => 0, (c) =>
        gone && c.path.includes('/transcript')
          ? { status: 404, body: { error: { code: 'worker_not_found', message: 'x', retryable: false } } }
          : gone && c.path === '/api/companion'
            ? { status: 200, body: { ...companion, worker_id: '01JNEWCOMPANION' } }
            : undefined,
      ),
    );
    h.lastWorkerSocket().open();
    h.lastWorkerSocket().send(snapshot(0, []));
    gone = true;
    h.lastWorkerSocket().drop();
    await h.fireTimers();
    await settle();
    expect(h.calls.filter((c) => c.path === '/api/companion').length).toBe(2);
    expect(h.conn.connection).toBe('connecting');
    expect(h.lastWorkerSocket().url).toMatch(/01JNEWCOMPANION\/events$/);
    expect(h.conn.companionReplaced).toBe(true);
  });

  it('a stopped worker closes without reconnecting', async () => {
    const h = await started(serverWith(() => 0));
    const s = h.lastWorkerSocket();
    s.open();
    s.send(snapshot(0, []));
    s.send(ev(1, { type: 'worker_stopped' }));
    s.drop();
    expect(h.conn.connection).toBe('closed');
    expect(h.timers).toHaveLength(0);
    expect(h.conn.activity).toBe('stopped');
  });

  it('ignores frames for another worker and non-JSON frames', async () => {
    const h = await started(serverWith(() => 0));
    const s = h.lastWorkerSocket();
    s.open();
    s.send(snapshot(0, []));
    s.send({ ...ev(1, { type: 'status', status: 'running' }), worker_id: 'other' } as WorkerEvent);
    s.onmessage?.({ data: 'not json' });
    expect(h.conn.seq).toBe(0);
    expect(h.conn.status).toBe('idle');
    // Neither frame reached the transcript.
    expect(h.conn.messages).toHaveLength(0);
  });

  it('keeps the workspace list live and reconnects its socket', async () => {
    const h = await started(serverWith(() => 0));
    const ws = h.sockets.find((x) => x.url.endsWith('/api/events'))!;
    ws.send({ type: 'workspace_snapshot', runtimes: [], workers: [companion] });
    expect(h.conn.workspaceConnection).toBe('live');
    expect(h.conn.workspace.workers).toHaveLength(1);
    ws.drop();
    expect(h.conn.workspaceConnection).toBe('reconnecting');
    await h.fireTimers();
    expect(h.sockets.filter((x) => x.url.endsWith('/api/events'))).toHaveLength(2);
  });
});

describe('earlier history', () => {
  it('fetches the page before the oldest message and puts it in front, once', async () => {
    const pages: string[] = [];
    const h = await started(
      serverWith(
        () => 3,
        (call) => {
          if (!call.path.includes('before=')) return undefined;
          pages.push(call.path);
          if (call.path.includes('before=u2')) {
            return { status: 200, body: { messages: [msg('u1', 'user', 'one', 'r1'), msg('a1', 'assistant', 'uno', 'r1')], seq: 3, truncated: true } };
          }
          return { status: 200, body: { messages: [], seq: 3, truncated: false } };
        },
      ),
    );
    const s = h.lastWorkerSocket();
    s.open();
    s.send(snapshot(3, [msg('u2', 'user', 'two', 'r2'), msg('a2', 'assistant', 'dos', 'r2')]));
    expect(h.conn.history).toBe('unknown');
    const first = h.conn.loadOlder();
    void h.conn.loadOlder(); // a second scroll while the page is on its way asks nothing
    expect(h.conn.loadingOlder).toBe(true);
    await first;
    expect(h.conn.loadingOlder).toBe(false);
    expect(h.conn.messages.map((x) => x.id)).toEqual(['u1', 'a1', 'u2', 'a2']);
    expect(h.conn.history).toBe('more');
    await h.conn.loadOlder();
    expect(h.conn.history).toBe('complete');
    await h.conn.loadOlder();
    expect(pages).toEqual([
      `/api/runtimes/${RUNTIME}/workers/${WORKER}/transcript?limit=100&before=u2`,
      `/api/runtimes/${RUNTIME}/workers/${WORKER}/transcript?limit=100&before=u1`,
    ]);
  });

  it('drops a page that arrives after another worker was opened', async () => {
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => (release = r));
    const sockets: FakeSocket[] = [];
    const conn = new ConsoleConnection({
      fetch: async () => {
        await gate;
        return json(200, { messages: [msg('u1', 'user', 'one', 'r1')], seq: 1, truncated: false });
      },
      openSocket: (url) => {
        const s = new FakeSocket(url);
        sockets.push(s);
        return s;
      },
      origin: { protocol: 'http:', host: '127.0.0.1:7760' },
      token: null,
    });
    conn.open({ runtime_id: RUNTIME, worker_id: WORKER });
    sockets[0]!.open();
    sockets[0]!.send(snapshot(1, [msg('u2', 'user', 'two', 'r2')]));
    const pending = conn.loadOlder();
    expect(conn.loadingOlder).toBe(true);
    conn.open({ runtime_id: RUNTIME, worker_id: 'OTHER' });
    release();
    await pending;
    expect(conn.messages).toEqual([]);
    expect(conn.loadingOlder).toBe(false);
    conn.dispose();
  });
});
