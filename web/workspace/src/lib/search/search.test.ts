import { describe, expect, it } from 'vitest';
import type { SearchHit } from '../protocol/SearchHit';
import { paths } from '../console/urls';
import { contextHash, groupByConversation, opensSearch, parseContextHash, segments } from './search';

const hit = (worker: string, id: string): SearchHit => ({
  runtime_id: 'near',
  worker_id: worker,
  display_name: `w-${worker}`,
  message_id: id,
  role: 'user',
  at: '2026-12-03T10:00:00Z',
  snippet: { text: 't', matches: [] },
  rank: 0,
});

describe('search', () => {
  it('cuts a snippet at its UTF-16 offsets, astral characters included', () => {
    // 🎉 is two UTF-16 units: the match after it starts at 3.
    expect(segments('a🎉会議b', [{ start: 3, end: 5 }])).toEqual([
      { text: 'a🎉', match: false },
      { text: '会議', match: true },
      { text: 'b', match: false },
    ]);
  });

  it('keeps markup in a snippet as text and ignores ranges out of bounds', () => {
    const s = segments('<img src=x onerror=alert(1)>', [
      { start: 1, end: 4 },
      { start: 2, end: 3 },
      { start: 20, end: 99 },
    ]);
    expect(s.map((x) => x.text).join('')).toBe('<img src=x onerror=alert(1)>');
    expect(s.filter((x) => x.match).map((x) => x.text)).toEqual(['img']);
  });

  it('groups hits by conversation in the order of their best hit', () => {
    const groups = groupByConversation([hit('A', '1'), hit('B', '2'), hit('A', '3')]);
    expect(groups.map((g) => [g.worker_id, g.hits.map((h) => h.message_id)])).toEqual([
      ['A', ['1', '3']],
      ['B', ['2']],
    ]);
  });

  it('opens on Ctrl-K anywhere and on / outside a text field', () => {
    const key = (k: string, ctrl = false) => ({ key: k, ctrlKey: ctrl, metaKey: false, altKey: false });
    expect(opensSearch(key('k', true), true)).toBe(true);
    expect(opensSearch(key('/'), false)).toBe(true);
    expect(opensSearch(key('/'), true)).toBe(false);
    expect(opensSearch(key('k'), false)).toBe(false);
  });

  it('sends the words and the cursor as query parameters, and asks for a page at one message', () => {
    expect(paths.search('a&b "NEAR(" 会議', 'o20')).toBe('/api/search?q=a%26b%20%22NEAR(%22%20%E4%BC%9A%E8%AD%B0&after=o20');
    expect(paths.transcriptAt({ runtime_id: 'near', worker_id: 'W' }, 'around', 'M', 30)).toBe(
      '/api/runtimes/near/workers/W/transcript?limit=30&around=M',
    );
  });

  it('names a message in context by a hash it reads back', () => {
    const h = hit('01J0000000000000000000000W', '01J0000000000000000000000M');
    expect(parseContextHash(contextHash(h))).toEqual({
      runtime_id: 'near',
      worker_id: h.worker_id,
      message_id: h.message_id,
    });
    expect(parseContextHash('#/search/a/b')).toBeNull();
  });
});
