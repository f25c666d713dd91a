import { describe, expect, it } from 'vitest';
import { newClientMessageId, randomHex } from './ids';
import { parseWorkerHash, sameWorker, takeToken, workerHash } from './route';
import { paths, workerEventsUrl, workspaceEventsUrl } from './urls';

const ref = { runtime_id: 'backend-internal', worker_id: '01JABCDEF' };
const http = { protocol: 'http:', host: '192.168.1.20:7760' };

describe('socket addresses', () => {
  it('first subscription has no cursor', () => {
    expect(workerEventsUrl(http, ref, null, null)).toBe(
      'ws://192.168.1.20:7760/api/runtimes/backend-internal/workers/01JABCDEF/events',
    );
  });

  it('resumes from the last applied seq', () => {
    expect(workerEventsUrl(http, ref, 17, null)).toBe(
      'ws://192.168.1.20:7760/api/runtimes/backend-internal/workers/01JABCDEF/events?cursor=17',
    );
    expect(workerEventsUrl(http, ref, 0, null)).toMatch(/\?cursor=0$/);
  });

  it('carries the token and uses wss on https', () => {
    expect(workerEventsUrl({ protocol: 'https:', host: 'h' }, ref, 3, 'a b&c')).toBe(
      'wss://h/api/runtimes/backend-internal/workers/01JABCDEF/events?cursor=3&token=a%20b%26c',
    );
    expect(workspaceEventsUrl(http, 'tok')).toBe('ws://192.168.1.20:7760/api/events?token=tok');
    expect(workspaceEventsUrl(http, null)).toBe('ws://192.168.1.20:7760/api/events');
  });

  it('encodes ids in REST paths', () => {
    expect(paths.input({ runtime_id: 'a/b', worker_id: 'w' })).toBe('/api/runtimes/a%2Fb/workers/w/input');
    expect(paths.transcript(ref, 1)).toBe('/api/runtimes/backend-internal/workers/01JABCDEF/transcript?limit=1');
    expect(paths.cancel(ref)).toBe('/api/runtimes/backend-internal/workers/01JABCDEF/cancel');
  });
});

describe('address bar', () => {
  it('round-trips the selected worker through the hash', () => {
    expect(parseWorkerHash(workerHash(ref))).toEqual(ref);
    expect(workerHash(ref)).toBe('#/w/backend-internal/01JABCDEF');
    expect(parseWorkerHash('')).toBeNull();
    expect(parseWorkerHash('#/w/only')).toBeNull();
    expect(parseWorkerHash('#/w/%E0%A4%A/x')).toBeNull();
    expect(sameWorker(ref, { ...ref })).toBe(true);
    expect(sameWorker(ref, null)).toBe(false);
  });

  it('takes the token out of the address', () => {
    expect(takeToken('http://10.0.0.2:7760/?token=s3cret#/w/a/b')).toEqual({ token: 's3cret', cleaned: '/#/w/a/b' });
    expect(takeToken('http://h/?x=1&token=t')).toEqual({ token: 't', cleaned: '/?x=1' });
    expect(takeToken('http://h/')).toEqual({ token: null, cleaned: null });
  });
});

describe('client message ids', () => {
  it('are unique without crypto.randomUUID', () => {
    const ids = new Set(Array.from({ length: 1000 }, () => newClientMessageId()));
    expect(ids.size).toBe(1000);
    for (const id of ids) expect(id).toMatch(/^web-[0-9a-z]+-[0-9a-f]{20}$/);
  });

  it('fall back to Math.random without crypto', () => {
    expect(randomHex(8, undefined)).toMatch(/^[0-9a-f]{16}$/);
    expect(newClientMessageId(0, { getRandomValues: <T extends ArrayBufferView | null>(a: T) => a })).toBe(
      'web-0-00000000000000000000',
    );
  });
});
