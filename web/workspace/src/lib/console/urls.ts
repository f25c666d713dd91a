/**
 * Where the console's requests go: every route of api.md the console uses, as a
 * path, and the WebSocket addresses with their cursor and token.
 */
import type { WorkerRef } from '../protocol/WorkerRef';

const enc = encodeURIComponent;

export function workerPath(ref: WorkerRef): string {
  return `/api/runtimes/${enc(ref.runtime_id)}/workers/${enc(ref.worker_id)}`;
}

export const paths = {
  health: () => '/api/health',
  companion: () => '/api/companion',
  runtimes: () => '/api/runtimes',
  workers: (runtimeId: string) => `/api/runtimes/${enc(runtimeId)}/workers`,
  /** A page of a runtime's workers in the activity order, after a worker, filtered by name. */
  workerPage: (runtimeId: string, limit: number, after?: string, q?: string) =>
    withQuery(`/api/runtimes/${enc(runtimeId)}/workers`, { order: 'activity', limit, after, q: q || undefined }),
  worker: workerPath,
  input: (ref: WorkerRef) => `${workerPath(ref)}/input`,
  cancel: (ref: WorkerRef) => `${workerPath(ref)}/cancel`,
  queued: (ref: WorkerRef, messageId: string) => `${workerPath(ref)}/queue/${enc(messageId)}`,
  approval: (ref: WorkerRef, callId: string) => `${workerPath(ref)}/approvals/${enc(callId)}`,
  transcript: (ref: WorkerRef, limit?: number, before?: string) =>
    withQuery(`${workerPath(ref)}/transcript`, { limit, before }),
  usage: (from: string, to: string, by: string) => withQuery('/api/usage', { from, to, by }),
  search: (q: string, after?: string) => withQuery('/api/search', { q, after }),
  transcriptAt: (ref: WorkerRef, at: 'around' | 'after' | 'before', messageId: string, limit: number) =>
    withQuery(`${workerPath(ref)}/transcript`, { limit, [at]: messageId }),
};

/** The page's own origin, which the API shares. */
export interface Origin {
  protocol: string; // "http:" | "https:"
  host: string; // host[:port]
}

function wsBase(origin: Origin): string {
  return `${origin.protocol === 'https:' ? 'wss' : 'ws'}://${origin.host}`;
}

function withQuery(path: string, query: Record<string, string | number | null | undefined>): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(query)) {
    if (v !== null && v !== undefined) parts.push(`${enc(k)}=${enc(String(v))}`);
  }
  return parts.length ? `${path}?${parts.join('&')}` : path;
}

/**
 * The worker event socket. No cursor: the server starts with a snapshot. With
 * `cursor`: every event after it, exactly once (or a reset snapshot).
 */
export function workerEventsUrl(origin: Origin, ref: WorkerRef, cursor: number | null, token: string | null): string {
  return wsBase(origin) + withQuery(`${workerPath(ref)}/events`, { cursor, token });
}

export function workspaceEventsUrl(origin: Origin, token: string | null): string {
  return wsBase(origin) + withQuery('/api/events', { token });
}
