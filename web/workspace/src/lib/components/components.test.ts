// @vitest-environment jsdom
import { flushSync, mount, unmount, type Component } from 'svelte';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { msg } from '../console/testing/fixtures';
import Composer from './Composer.svelte';
import Transcript from './Transcript.svelte';

beforeAll(() => {
  // jsdom has no layout: give the transcript what it needs to run.
  globalThis.ResizeObserver ??= class {
    observe() {}
    unobserve() {}
    disconnect() {}
  } as unknown as typeof ResizeObserver;
  Element.prototype.scrollTo ??= function () {};
});

let cleanup: (() => void) | null = null;
afterEach(() => {
  cleanup?.();
  cleanup = null;
  document.body.innerHTML = '';
});

function render<P extends Record<string, unknown>>(component: Component<P>, props: P) {
  const target = document.createElement('div');
  document.body.appendChild(target);
  const app = mount(component, { target, props });
  cleanup = () => unmount(app);
  flushSync();
  return target;
}

describe('Transcript', () => {
  it('shows messages, markers and the live answer; model HTML never runs', () => {
    const payload = 'Here: <img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>\n\n```sh\necho hi\n```';
    const target = render(Transcript, {
      messages: [
        msg('u1', 'user', '<b>not bold</b>', 'r1'),
        msg('a1', 'assistant', payload, 'r1'),
        msg('u2', 'user', 'stop please', 'r2'),
        msg('a2', 'assistant', 'half', 'r2', 'cancelled'),
        msg('u3', 'user', 'fail please', 'r3'),
        msg('local:r3', 'assistant', '', 'r3', 'failed'),
      ],
      live: { run_id: 'r4', text: 'streaming **now**', reasoning: 'pondering', model: 'm' },
      reasoning: { r1: 'I thought' },
      runErrors: { r3: { code: 'provider_error', message: 'mock error 500', retryable: true } },
      tools: [],
      emptyHint: 'empty',
    });
    const items = [...target.querySelectorAll('[data-testid="message"]')];
    expect(items.map((e) => e.getAttribute('data-state'))).toEqual([
      'complete',
      'complete',
      'complete',
      'cancelled',
      'complete',
      'failed',
      'streaming',
    ]);
    // User text is plain text.
    expect(items[0]!.querySelector('b')).toBeNull();
    expect(items[0]!.textContent).toContain('<b>not bold</b>');
    // Assistant Markdown, sanitised, with a copy button on its code block.
    expect(target.querySelector('script, img')).toBeNull();
    expect(items[1]!.querySelector('.code-block button[data-copy-code]')).not.toBeNull();
    expect(items[1]!.querySelector('[data-testid="reasoning"]')?.textContent).toContain('I thought');
    expect(items[3]!.querySelector('[data-testid="marker-cancelled"]')).not.toBeNull();
    expect(items[5]!.querySelector('[data-testid="marker-failed"]')?.textContent).toContain('mock error 500');
    expect(items[6]!.querySelector('strong')?.textContent).toBe('now');
    expect((window as unknown as { __pwned?: number }).__pwned).toBeUndefined();
  });

  it('copy button falls back to execCommand without navigator.clipboard', async () => {
    const exec = vi.fn(() => true);
    (document as unknown as { execCommand: typeof exec }).execCommand = exec;
    const target = render(Transcript, {
      messages: [msg('a1', 'assistant', '```\nnpm ci\n```', 'r1')],
      live: null,
      reasoning: {},
      runErrors: {},
      tools: [],
      emptyHint: '',
    });
    const button = target.querySelector<HTMLButtonElement>('button[data-copy-code]')!;
    button.click();
    await new Promise((r) => setTimeout(r, 0));
    expect(exec).toHaveBeenCalledWith('copy');
    expect(button.textContent).toBe('Copied');
  });
});

describe('Composer', () => {
  function composer(onsend: (t: string) => Promise<boolean>, canSend = true) {
    const target = render(Composer, { canSend, canCancel: false, stopping: false, hint: 'h', onsend, oncancel: () => {} });
    const ta = target.querySelector<HTMLTextAreaElement>('textarea')!;
    const type = (text: string) => {
      ta.value = text;
      ta.dispatchEvent(new Event('input', { bubbles: true }));
      flushSync();
    };
    const key = (init: KeyboardEventInit) => {
      ta.dispatchEvent(new KeyboardEvent('keydown', { bubbles: true, cancelable: true, ...init }));
      flushSync();
    };
    return { target, ta, type, key };
  }

  it('Enter sends and clears; Shift+Enter does not send', async () => {
    const sent: string[] = [];
    const c = composer(async (t) => {
      sent.push(t);
      return true;
    });
    c.type('hello');
    c.key({ key: 'Enter', shiftKey: true });
    expect(sent).toEqual([]);
    c.key({ key: 'Enter' });
    await new Promise((r) => setTimeout(r, 0));
    flushSync();
    expect(sent).toEqual(['hello']);
    expect(c.ta.value).toBe('');
  });

  it('keeps the draft when the send fails, and is disabled when it cannot send', async () => {
    const c = composer(async () => false);
    c.type('keep me');
    c.key({ key: 'Enter' });
    await new Promise((r) => setTimeout(r, 0));
    flushSync();
    expect(c.ta.value).toBe('keep me');
    cleanup?.();
    const d = composer(async () => true, false);
    d.type('x');
    expect(d.target.querySelector<HTMLButtonElement>('[data-testid="send"]')!.disabled).toBe(true);
  });
});
