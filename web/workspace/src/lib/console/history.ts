/**
 * Earlier history: the snapshot carries only the newest messages, older ones are
 * paged in on demand (`GET transcript?before=<oldest id>`). Pure rules for where a
 * page goes, what it may not repeat, and what survives a new snapshot.
 *
 * Messages are immutable once stored and their ids unique, so a page is placed in
 * front of the oldest message it was asked for, and anything older that the page
 * holds a copy of is dropped by id.
 */
import type { Message } from '../protocol/Message';
import type { Transcript } from '../protocol/Transcript';

/** How many messages one page of earlier history asks for. */
export const HISTORY_PAGE = 100;

/**
 * `unknown`: a snapshot gave the newest messages; whether older ones exist shows
 * on the first page fetched. `more`: the last page said older ones exist.
 * `complete`: the oldest message shown is the conversation's first.
 */
export type History = 'unknown' | 'more' | 'complete';

const LOCAL_PREFIX = 'local:';

/** The oldest message the server knows (placeholders the client made have no page). */
export function oldestStored(messages: readonly Message[]): Message | null {
  return messages.find((m) => !m.id.startsWith(LOCAL_PREFIX)) ?? null;
}

/** Whether a page before the oldest message should be fetched. */
export function canLoadOlder(history: History, messages: readonly Message[]): boolean {
  return history !== 'complete' && oldestStored(messages) !== null;
}

export interface Paged {
  messages: readonly Message[];
  history: History;
}

/**
 * Puts `page` (the messages before `beforeId`) in front of `messages`. Null when
 * the view moved on meanwhile (its oldest message is no longer `beforeId`, e.g. a
 * reset snapshot replaced it): the page no longer fits and is dropped.
 */
export function prependPage(messages: readonly Message[], beforeId: string, page: Transcript): Paged | null {
  if (oldestStored(messages)?.id !== beforeId) return null;
  const shown = new Set(messages.map((m) => m.id));
  const seen = new Set<string>();
  const older = page.messages.filter((m) => {
    if (shown.has(m.id) || seen.has(m.id)) return false;
    seen.add(m.id);
    return true;
  });
  return { messages: [...older, ...messages], history: page.truncated ? 'more' : 'complete' };
}

/**
 * A new snapshot's `transcript` keeps the earlier pages already shown when they
 * still join it: its oldest message is one this view holds, so everything before
 * that is unchanged history. Otherwise (a different conversation, nothing in
 * common) the snapshot alone is the picture and earlier history is unknown again.
 */
export function keepEarlier(previous: readonly Message[], history: History, transcript: readonly Message[]): Paged {
  const first = oldestStored(transcript);
  // A snapshot holds the newest messages, so an empty one is the whole conversation.
  if (!first) return { messages: transcript, history: 'complete' };
  const at = previous.findIndex((m) => m.id === first.id);
  if (at < 0) return { messages: transcript, history: 'unknown' };
  const ids = new Set(transcript.map((m) => m.id));
  const earlier = previous.slice(0, at).filter((m) => !m.id.startsWith(LOCAL_PREFIX) && !ids.has(m.id));
  return { messages: earlier.length ? [...earlier, ...transcript] : transcript, history };
}
