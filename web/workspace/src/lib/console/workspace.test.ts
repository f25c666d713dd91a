import { describe, expect, it } from 'vitest';
import type { RuntimeSummary } from '../protocol/RuntimeSummary';
import type { WorkerSummary } from '../protocol/WorkerSummary';
import { applyWorkspaceEvent, groupByRuntime, initialWorkspace } from './workspace';

const runtime = (id: string, status: RuntimeSummary['status'] = 'available'): RuntimeSummary => ({
  runtime_id: id,
  display_name: id,
  kind: 'embedded',
  status,
  capabilities: { workers: true, create_worker: true, cancel: true, events: true },
  worker_count: 1,
});
const worker = (rid: string, wid: string): WorkerSummary => ({
  runtime_id: rid,
  worker_id: wid,
  display_name: wid,
  display_ref: `${wid}@${rid}`,
  status: 'idle',
  profile: { name: 'p', model: 'm' },
});

describe('workspace events', () => {
  it('snapshot, creation, status, stop and runtime status', () => {
    let s = applyWorkspaceEvent(initialWorkspace(), {
      type: 'workspace_snapshot',
      runtimes: [runtime('backend-internal')],
      workers: [worker('backend-internal', 'w1')],
    });
    expect(s.synced).toBe(true);
    s = applyWorkspaceEvent(s, { type: 'worker_created', worker: worker('backend-internal', 'w2') });
    s = applyWorkspaceEvent(s, { type: 'status', runtime_id: 'backend-internal', worker_id: 'w1', status: 'running' });
    s = applyWorkspaceEvent(s, { type: 'worker_stopped', runtime_id: 'backend-internal', worker_id: 'w2' });
    s = applyWorkspaceEvent(s, { type: 'runtime_status', runtime: runtime('backend-internal', 'unavailable') });
    s = applyWorkspaceEvent(s, { type: 'runtime_status', runtime: runtime('far') });
    // Held in the order shown: the newer of two silent workers first.
    expect(s.workers.map((w) => [w.worker_id, w.status])).toEqual([
      ['w2', 'stopped'],
      ['w1', 'running'],
    ]);
    expect(s.runtimes.map((r) => [r.runtime_id, r.status])).toEqual([
      ['backend-internal', 'unavailable'],
      ['far', 'available'],
    ]);
    // A reconnect's fresh snapshot replaces everything.
    s = applyWorkspaceEvent(s, { type: 'workspace_snapshot', runtimes: [], workers: [] });
    expect(s.workers).toEqual([]);
  });

  it('groups workers under their runtime, even an unlisted one', () => {
    const groups = groupByRuntime({
      synced: true,
      runtimes: [runtime('a'), runtime('b')],
      workers: [worker('b', 'w1'), worker('c', 'w2'), worker('a', 'w3')],
    });
    expect(groups.map((g) => [g.runtime.runtime_id, g.workers.map((w) => w.worker_id)])).toEqual([
      ['a', ['w3']],
      ['b', ['w1']],
      ['c', ['w2']],
    ]);
    expect(groups.map((g) => g.listed)).toEqual([true, true, false]);
  });
});

describe('the worker list order and updates', () => {
  it('worker_updated replaces a worker; groups sort by last activity, new ones first', () => {
    const w = (wid: string, at?: string): WorkerSummary => ({ ...worker('rt', wid), last_activity: at });
    let s = applyWorkspaceEvent(initialWorkspace(), {
      type: 'workspace_snapshot',
      runtimes: [runtime('rt')],
      workers: [w('01A', '2026-11-23T10:00:00.000Z'), w('01B', '2026-11-23T11:00:00.000Z'), w('01C')],
    });
    expect(groupByRuntime(s)[0]!.workers.map((x) => x.worker_id)).toEqual(['01C', '01B', '01A']);
    s = applyWorkspaceEvent(s, {
      type: 'worker_updated',
      worker: { ...w('01A', '2026-11-23T12:00:00.000Z'), display_name: 'renamed', last_message: 'hi' },
    });
    const order = groupByRuntime(s)[0]!.workers;
    expect(order.map((x) => x.worker_id)).toEqual(['01C', '01A', '01B']);
    expect(order[1]!.display_name).toBe('renamed');
    expect(order[1]!.last_message).toBe('hi');
  });
});
