import { describe, expect, it } from 'vitest';
import { canLoadOlder, keepEarlier, oldestStored, prependPage } from './history';
import { applyEvent, initialState } from './state';
import { msg, snapshot } from './testing/fixtures';

const m = (id: string) => msg(id, 'user', id, `r-${id}`);
const ids = (xs: readonly { id: string }[]) => xs.map((x) => x.id);

describe('history', () => {
  it('the oldest stored message skips placeholders the client made', () => {
    expect(oldestStored([msg('local:1', 'assistant', '', 'r0'), m('b')])?.id).toBe('b');
    expect(oldestStored([])).toBeNull();
    expect(canLoadOlder('unknown', [m('a')])).toBe(true);
    expect(canLoadOlder('complete', [m('a')])).toBe(false);
    expect(canLoadOlder('more', [])).toBe(false);
  });

  it('puts a page in front and learns from truncated whether more exist', () => {
    const shown = [m('c'), m('d')];
    const more = prependPage(shown, 'c', { messages: [m('a'), m('b')], seq: 9, truncated: true });
    expect(ids(more!.messages)).toEqual(['a', 'b', 'c', 'd']);
    expect(more!.history).toBe('more');
    const last = prependPage(more!.messages, 'a', { messages: [], seq: 9, truncated: false });
    expect(ids(last!.messages)).toEqual(['a', 'b', 'c', 'd']);
    expect(last!.history).toBe('complete');
  });

  it('never shows a message twice', () => {
    const page = { messages: [m('a'), m('b'), m('b'), m('c')], seq: 9, truncated: false };
    expect(ids(prependPage([m('c'), m('d')], 'c', page)!.messages)).toEqual(['a', 'b', 'c', 'd']);
  });

  it('drops a page whose anchor is no longer the oldest message shown', () => {
    expect(prependPage([m('x'), m('y')], 'c', { messages: [m('a')], seq: 1, truncated: false })).toBeNull();
  });

  it('a snapshot that joins the pages shown keeps them', () => {
    const kept = keepEarlier([m('a'), m('b'), m('c'), m('d')], 'complete', [m('c'), m('d'), m('e')]);
    expect(ids(kept.messages)).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(kept.history).toBe('complete');
  });

  it('a snapshot with nothing in common replaces them and forgets what was known', () => {
    const kept = keepEarlier([m('a'), m('b')], 'complete', [m('x'), m('y')]);
    expect(ids(kept.messages)).toEqual(['x', 'y']);
    expect(kept.history).toBe('unknown');
    expect(keepEarlier([m('a')], 'more', []).history).toBe('complete');
  });

  it('the state keeps earlier pages across a reset snapshot of the same conversation', () => {
    let state = applyEvent(initialState(), snapshot(4, [m('c'), m('d')])).state;
    expect(state.history).toBe('unknown');
    const paged = prependPage(state.messages, 'c', { messages: [m('a'), m('b')], seq: 4, truncated: false })!;
    state = { ...state, ...paged };
    state = applyEvent(state, snapshot(6, [m('c'), m('d'), m('e')], { reset: true, reason: 'cursor_expired' })).state;
    expect(ids(state.messages)).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(state.history).toBe('complete');
  });
});
