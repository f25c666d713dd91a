import { describe, expect, it } from 'vitest';
import type { RuntimeSummary } from '../protocol/RuntimeSummary';
import type { WorkerSummary } from '../protocol/WorkerSummary';
import { ApiClient } from './api';
import { SEARCH_DELAY_MS, WORKER_PAGE, WorkerDirectory } from './directory.svelte';
import { applyWorkspaceEvent, byLastActivity, initialWorkspace, mergePage, placeWorker, type WorkspaceState } from './workspace';

const runtime = (id: string, count: number): RuntimeSummary => ({
  runtime_id: id,
  display_name: id,
  kind: 'embedded',
  status: 'available',
  capabilities: { workers: true, create_worker: true, cancel: true, events: true },
  worker_count: count,
});

/** Worker `n` of runtime `rt`: ids grow with n; `at` is a minute of the day, or silent. */
const worker = (rt: string, n: number, at?: number, name = `w${n}`): WorkerSummary => ({
  runtime_id: rt,
  worker_id: `01W${String(n).padStart(5, '0')}`,
  display_name: name,
  display_ref: `${name}@${rt}`,
  status: 'idle',
  profile: { name: 'p', model: 'm' },
  last_activity: at === undefined ? undefined : `2026-11-23T${String(Math.floor(at / 60)).padStart(2, '0')}:${String(at % 60).padStart(2, '0')}:00.000Z`,
});

/** The server's side: `all` in the activity order, paged as `GET .../workers?order=activity` is. */
function fakeServer(all: () => WorkerSummary[]) {
  const asked: string[] = [];
  const fetch = async (input: string) => {
    asked.push(input);
    const url = new URL(input, 'http://x');
    const rt = decodeURIComponent(url.pathname.split('/')[3]!);
    const limit = Number(url.searchParams.get('limit'));
    const after = url.searchParams.get('after');
    const q = (url.searchParams.get('q') ?? '').toLowerCase();
    const mine = all()
      .filter((w) => w.runtime_id === rt && w.display_name.toLowerCase().includes(q))
      .sort(byLastActivity);
    let from = 0;
    if (after) {
      const cursor = all().find((w) => w.worker_id === after);
      if (!cursor) {
        return new Response(JSON.stringify({ error: { code: 'not_found', message: 'gone', retryable: false } }), { status: 404 });
      }
      from = mine.filter((w) => byLastActivity(w, cursor) <= 0).length;
    }
    const page = mine.slice(from, from + limit);
    const body = { workers: page, ...(from + limit < mine.length ? { next_after: page.at(-1)!.worker_id } : {}) };
    return new Response(JSON.stringify(body), { status: 200 });
  };
  return { fetch, asked };
}

function setup(all: () => WorkerSummary[], state: WorkspaceState) {
  const server = fakeServer(all);
  let workspace = state;
  const timers: (() => void)[] = [];
  const dir = new WorkerDirectory({
    api: new ApiClient(server.fetch, () => null),
    workspace: () => workspace,
    setWorkspace: (s) => (workspace = s),
    setTimer: (fn) => timers.push(fn),
    clearTimer: () => {},
  });
  return { dir, server, timers, workspace: () => workspace };
}

const ids = (list: readonly WorkerSummary[]) => list.map((w) => w.worker_id);

describe('a bounded snapshot and the pages after it', () => {
  it('a runtime with more workers than the snapshot lists is paged in from its last row, each worker once', async () => {
    // 450 workers: 400 silent, then 50 that spoke; the snapshot lists 120 of them.
    const all = [...Array.from({ length: 400 }, (_, i) => worker('rt', i)), ...Array.from({ length: 50 }, (_, i) => worker('rt', 400 + i, i))];
    const sorted = [...all].sort(byLastActivity);
    expect(WORKER_PAGE).toBeLessThan(all.length - 120);
    const s = applyWorkspaceEvent(initialWorkspace(), {
      type: 'workspace_snapshot',
      runtimes: [runtime('rt', 450)],
      workers: sorted.slice(0, 120),
    });
    expect(s.more).toEqual({ rt: true });
    const { dir, server, workspace } = setup(() => all, s);
    await dir.loadMore('rt');
    expect(server.asked[0]).toBe(`/api/runtimes/rt/workers?order=activity&limit=${WORKER_PAGE}&after=${sorted[119]!.worker_id}`);
    expect(workspace().more.rt).toBe(true);
    await dir.loadMore('rt');
    expect(workspace().more.rt).toBe(false);
    expect(ids(workspace().workers)).toEqual(ids(sorted));
  });

  it('live frames place a worker among the rows held, or leave it for a later page', () => {
    const held = [worker('rt', 9), worker('rt', 8), worker('rt', 3, 50), worker('rt', 2, 40)];
    // Speaking again moves a held worker up; one not held that speaks now is placed too.
    let list = placeWorker(held, { rt: true }, worker('rt', 2, 60));
    expect(ids(list)).toEqual(ids([worker('rt', 9), worker('rt', 8), worker('rt', 2), worker('rt', 3)]));
    list = placeWorker(list, { rt: true }, worker('rt', 1, 70));
    expect(ids(list).indexOf(worker('rt', 1).worker_id)).toBe(2);
    // A frame of a worker whose key falls past the last row held: a page brings it.
    expect(ids(placeWorker(list, { rt: true }, worker('rt', 0, 10)))).toEqual(ids(list));
    // ... unless everything is held.
    expect(ids(placeWorker(list, { rt: false }, worker('rt', 0, 10))).at(-1)).toBe(worker('rt', 0).worker_id);
    // A new worker is the head of its runtime.
    expect(ids(placeWorker(list, { rt: true }, worker('rt', 10), true))[0]).toBe(worker('rt', 10).worker_id);
  });

  it('a page repeats nothing already held', () => {
    const s: WorkspaceState = { synced: true, runtimes: [runtime('rt', 3)], workers: [worker('rt', 2), worker('rt', 1)], more: { rt: true } };
    const merged = mergePage(s, 'rt', { workers: [worker('rt', 1), worker('rt', 0)] });
    expect(ids(merged.workers)).toEqual(ids([worker('rt', 2), worker('rt', 1), worker('rt', 0)]));
    expect(merged.more.rt).toBe(false);
  });

  it('a stopped cursor row is skipped, and a row gone from the server is dropped and paged past', async () => {
    const stopped = { ...worker('rt', 4), status: 'stopped' as const };
    const gone = worker('rt', 3);
    const { dir, server, workspace } = setup(
      () => [worker('rt', 5), worker('rt', 2), worker('rt', 1)],
      { synced: true, runtimes: [runtime('rt', 5)], workers: [worker('rt', 5), stopped, gone], more: { rt: true } },
    );
    await dir.loadMore('rt');
    expect(server.asked).toHaveLength(2);
    expect(server.asked[0]).toContain(`after=${gone.worker_id}`);
    expect(server.asked[1]).toContain(`after=${worker('rt', 5).worker_id}`);
    expect(ids(workspace().workers)).toEqual(ids([worker('rt', 5), stopped, worker('rt', 2), worker('rt', 1)]));
    expect(workspace().more.rt).toBe(false);
  });
});

describe('the filter box', () => {
  it('asks the server once typing pauses, pages the matches, and follows live frames', async () => {
    const all = Array.from({ length: 300 }, (_, i) => worker('rt', i, undefined, i % 50 === 0 ? `Needle ${i}` : `hay ${i}`));
    const s = applyWorkspaceEvent(initialWorkspace(), {
      type: 'workspace_snapshot',
      runtimes: [runtime('rt', 300)],
      workers: [...all].sort(byLastActivity).slice(0, 200),
    });
    const { dir, server, timers } = setup(() => all, s);
    dir.setQuery(' need');
    dir.setQuery('needle ');
    expect(server.asked).toHaveLength(0);
    expect(timers).toHaveLength(2);
    timers.at(-1)!();
    await new Promise((r) => setTimeout(r, 0));
    expect(server.asked).toEqual([`/api/runtimes/rt/workers?order=activity&limit=${WORKER_PAGE}&q=needle`]);
    expect(dir.search!.workers.map((w) => w.display_name)).toEqual([250, 200, 150, 100, 50, 0].map((n) => `Needle ${n}`));
    expect(dir.search!.more.rt).toBe(false);
    expect(SEARCH_DELAY_MS).toBeGreaterThan(0);

    // A rename into the filter adds the worker, one out of it removes it.
    dir.apply({ type: 'worker_updated', worker: { ...worker('rt', 7, 30), display_name: 'needle seven' } });
    dir.apply({ type: 'worker_updated', worker: { ...worker('rt', 50), display_name: 'plain' } });
    expect(dir.search!.workers.map((w) => w.display_name)).toEqual(['Needle 250', 'Needle 200', 'Needle 150', 'Needle 100', 'Needle 0', 'needle seven']);
    dir.apply({ type: 'status', runtime_id: 'rt', worker_id: worker('rt', 0).worker_id, status: 'running' });
    expect(dir.search!.workers.find((w) => w.display_name === 'Needle 0')!.status).toBe('running');

    // An empty box shows the whole list again.
    dir.setQuery('  ');
    expect(dir.search).toBeNull();
  });
});
