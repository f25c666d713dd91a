/**
 * Search across conversations: the pure parts of the search box and of a hit
 * opened in context. Snippets come with matched ranges as UTF-16 offsets (what a
 * JavaScript string indexes), so highlighting is cutting the text into
 * segments and rendering each as text: no HTML is ever built from a snippet.
 */
import type { MatchRange } from '../protocol/MatchRange';
import type { SearchHit } from '../protocol/SearchHit';

/** Milliseconds the box waits after the last key before it asks. */
export const SEARCH_DEBOUNCE_MS = 200;

export interface Segment {
  text: string;
  match: boolean;
}

/** `text` cut at `matches` (sorted, not overlapping; bad ranges are ignored). */
export function segments(text: string, matches: readonly MatchRange[]): Segment[] {
  const out: Segment[] = [];
  let at = 0;
  for (const m of matches) {
    if (m.start < at || m.end <= m.start || m.end > text.length) continue;
    if (m.start > at) out.push({ text: text.slice(at, m.start), match: false });
    out.push({ text: text.slice(m.start, m.end), match: true });
    at = m.end;
  }
  if (at < text.length) out.push({ text: text.slice(at), match: false });
  return out;
}

export interface HitGroup {
  key: string;
  runtime_id: string;
  worker_id: string;
  display_name: string;
  hits: SearchHit[];
}

/** Hits grouped by conversation, in the order of each conversation's best hit. */
export function groupByConversation(hits: readonly SearchHit[]): HitGroup[] {
  const groups = new Map<string, HitGroup>();
  for (const hit of hits) {
    const key = `${hit.runtime_id}/${hit.worker_id}`;
    let group = groups.get(key);
    if (!group) {
      group = { key, runtime_id: hit.runtime_id, worker_id: hit.worker_id, display_name: hit.display_name, hits: [] };
      groups.set(key, group);
    }
    group.hits.push(hit);
  }
  return [...groups.values()];
}

/** Whether a key press should open the search box: Ctrl-K (⌘K) anywhere, `/` outside a text field. */
export function opensSearch(event: Pick<KeyboardEvent, 'key' | 'ctrlKey' | 'metaKey' | 'altKey'>, inTextField: boolean): boolean {
  if ((event.ctrlKey || event.metaKey) && !event.altKey && event.key.toLowerCase() === 'k') return true;
  return event.key === '/' && !event.ctrlKey && !event.metaKey && !event.altKey && !inTextField;
}

/** The hash that opens a message in its conversation: `#/search/<runtime>/<worker>/<message>`. */
export function contextHash(hit: Pick<SearchHit, 'runtime_id' | 'worker_id' | 'message_id'>): string {
  const e = encodeURIComponent;
  return `#/search/${e(hit.runtime_id)}/${e(hit.worker_id)}/${e(hit.message_id)}`;
}

export interface ContextTarget {
  runtime_id: string;
  worker_id: string;
  message_id: string;
}

export function parseContextHash(hash: string): ContextTarget | null {
  const m = /^#\/search\/([^/]+)\/([^/]+)\/([^/]+)$/.exec(hash);
  const [, runtime, worker, message] = m ?? [];
  if (!runtime || !worker || !message) return null;
  try {
    return {
      runtime_id: decodeURIComponent(runtime),
      worker_id: decodeURIComponent(worker),
      message_id: decodeURIComponent(message),
    };
  } catch {
    return null;
  }
}
