/**
 * What the address bar says: the selected worker in the hash
 * (`#/w/<runtime_id>/<worker_id>`; none means the Companion) and an optional
 * `?token=` that the console takes once and then removes from sight.
 */
import type { WorkerRef } from '../protocol/WorkerRef';

export function parseWorkerHash(hash: string): WorkerRef | null {
  const m = /^#\/w\/([^/]+)\/([^/]+)\/?$/.exec(hash);
  if (!m) return null;
  try {
    const runtime_id = decodeURIComponent(m[1]!);
    const worker_id = decodeURIComponent(m[2]!);
    if (!runtime_id || !worker_id) return null;
    return { runtime_id, worker_id };
  } catch {
    return null;
  }
}

export function workerHash(ref: WorkerRef): string {
  return `#/w/${encodeURIComponent(ref.runtime_id)}/${encodeURIComponent(ref.worker_id)}`;
}

export function sameWorker(a: WorkerRef | null | undefined, b: WorkerRef | null | undefined): boolean {
  return !!a && !!b && a.runtime_id === b.runtime_id && a.worker_id === b.worker_id;
}

/**
 * Splits `?token=` off a page address. `cleaned` is the address without it (to put
 * back with `history.replaceState`), or null when there was no token.
 */
export function takeToken(href: string): { token: string | null; cleaned: string | null } {
  const url = new URL(href);
  const token = url.searchParams.get('token');
  if (token === null) return { token: null, cleaned: null };
  url.searchParams.delete('token');
  return { token: token || null, cleaned: url.pathname + url.search + url.hash };
}
