/**
 * Pure helpers about one conversation: what "Retry" sends, and the Markdown a
 * conversation is exported as.
 */
import type { Message } from '../protocol/Message';
import type { LiveRun } from './state';
import { toolCallsMarkdown } from './tools';

/**
 * The text to send again when the latest run failed or was cancelled: the user
 * message of that run. Null while a run is in flight or when the latest run ended
 * well.
 */
export function retryText(messages: readonly Message[], live: LiveRun | null): string | null {
  if (live) return null;
  const last = messages.at(-1);
  if (!last || last.role !== 'assistant' || (last.state !== 'failed' && last.state !== 'cancelled')) return null;
  for (let i = messages.length - 2; i >= 0; i--) {
    const m = messages[i]!;
    if (m.role === 'user' && m.run_id === last.run_id) return m.text.trim() !== '' ? m.text : null;
  }
  return null;
}

/** A conversation as a Markdown document: a title, then each message under its speaker. */
export function conversationMarkdown(title: string, messages: readonly Message[], exportedAt: string): string {
  const parts = [`# ${title}`, '', `_Exported ${exportedAt}_`, ''];
  for (const m of messages) {
    const who = m.role === 'user' ? 'You' : 'Assistant';
    parts.push(`## ${who} · ${m.at}`, '');
    if (m.role === 'assistant' && m.tool_calls?.length) parts.push(toolCallsMarkdown(m.tool_calls));
    if (m.text.trim() !== '') parts.push(m.text.trimEnd(), '');
    if (m.state === 'cancelled') parts.push('_(stopped)_', '');
    if (m.state === 'failed') parts.push(`_(failed${m.error ? `: ${m.error.message}` : ''})_`, '');
  }
  return parts.join('\n');
}

/** A file name for the export: the conversation's name, safe for any file system. */
export function exportFileName(name: string): string {
  const base = name
    .normalize('NFKD')
    .replace(/[^\w.-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 60);
  return `${base || 'conversation'}.md`;
}
