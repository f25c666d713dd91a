import { describe, expect, it } from 'vitest';
import type { Message } from '../protocol/Message';
import { conversationMarkdown, exportFileName, retryText } from './conversation';

const msg = (role: Message['role'], run: string, text: string, state: Message['state'] = 'complete'): Message => ({
  id: `${role}-${run}`,
  role,
  text,
  at: '2026-11-23T10:00:00.000Z',
  run_id: run,
  state,
});

describe('retry', () => {
  it('offers the question of a failed or cancelled last run', () => {
    expect(retryText([msg('user', 'r1', 'why?'), msg('assistant', 'r1', '', 'failed')], null)).toBe('why?');
    expect(retryText([msg('user', 'r1', 'why?'), msg('assistant', 'r1', 'par', 'cancelled')], null)).toBe('why?');
  });

  it('offers nothing after a good answer or while a run streams', () => {
    expect(retryText([msg('user', 'r1', 'q'), msg('assistant', 'r1', 'a')], null)).toBeNull();
    const failed = [msg('user', 'r1', 'q'), msg('assistant', 'r1', '', 'failed')];
    expect(retryText(failed, { run_id: 'r2', text: '', reasoning: '', model: null })).toBeNull();
    expect(retryText([], null)).toBeNull();
  });
});

describe('export', () => {
  it('writes each message under its speaker, with how runs ended', () => {
    const md = conversationMarkdown(
      'Trip@backend-internal',
      [msg('user', 'r1', 'Plan a trip'), msg('assistant', 'r1', '**Day 1**: go\n'), msg('user', 'r2', 'more'), msg('assistant', 'r2', 'half', 'cancelled')],
      '2026-11-23T11:00:00.000Z',
    );
    expect(md.startsWith('# Trip@backend-internal\n')).toBe(true);
    expect(md).toContain('## You · 2026-11-23T10:00:00.000Z\n\nPlan a trip\n');
    expect(md).toContain('## Assistant · 2026-11-23T10:00:00.000Z\n\n**Day 1**: go\n');
    expect(md).toContain('half\n\n_(stopped)_');
  });

  it('names the file after the conversation', () => {
    expect(exportFileName('Trip planning@backend-internal')).toBe('Trip-planning-backend-internal.md');
    expect(exportFileName('///')).toBe('conversation.md');
  });
});
