import { describe, expect, it } from 'vitest';
import type { Message } from '../protocol/Message';
import { EXPORT_PAGE, wholeConversation } from './exportAll';
import { msg } from './testing/fixtures';

/** A server's history of `n` messages, paged as `transcript?limit&before`. */
function history(n: number) {
  const all: Message[] = Array.from({ length: n }, (_, i) => msg(`m${String(i).padStart(5, '0')}`, i % 2 ? 'assistant' : 'user', `text ${i}`, `r${i >> 1}`));
  const asked: (string | undefined)[] = [];
  const page = async (before: string | undefined) => {
    asked.push(before);
    const end = before === undefined ? all.length : all.findIndex((m) => m.id === before);
    const start = Math.max(0, end - EXPORT_PAGE);
    return { messages: all.slice(start, end), seq: n, truncated: start > 0 };
  };
  return { all, asked, page };
}

describe('the export holds the whole conversation', () => {
  it('reads every page, oldest first, beyond what the console loaded', async () => {
    const h = history(2 * EXPORT_PAGE + 345);
    const got = await wholeConversation(h.page);
    expect(got.map((m) => m.id)).toEqual(h.all.map((m) => m.id));
    expect(h.asked).toEqual([undefined, h.all[EXPORT_PAGE + 345]?.id, h.all[345]?.id]);
  });

  it('one page, and an empty conversation', async () => {
    expect((await wholeConversation(history(3).page)).length).toBe(3);
    expect(await wholeConversation(history(0).page)).toEqual([]);
  });
});
