// @vitest-environment jsdom
import { flushSync, mount, unmount, type Component } from 'svelte';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { applyEvent, initialState } from '../console/state';
import { ev, msg, snapshot } from '../console/testing/fixtures';
import { groupByRuntime } from '../console/workspace';
import type { RuntimeSummary } from '../protocol/RuntimeSummary';
import type { WorkerRef } from '../protocol/WorkerRef';
import type { WorkerSummary } from '../protocol/WorkerSummary';
import Composer from './Composer.svelte';
import Notices from './Notices.svelte';
import { providerNotice, sendErrorNotice } from './notices';
import StatusBar from './StatusBar.svelte';
import Transcript from './Transcript.svelte';
import NewConversation from './NewConversation.svelte';
import WorkerList from './WorkerList.svelte';

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
  it('above the oldest message: a way to load earlier ones, loading, or the start', () => {
    const base = { messages: [msg('u1', 'user', 'hi', 'r1')], live: null, reasoning: {}, runErrors: {}, tools: [], emptyHint: '' };
    const onloadolder = vi.fn();
    let target = render(Transcript, { ...base, history: 'unknown' as const, onloadolder });
    (target.querySelector('[data-testid="load-older"]') as HTMLButtonElement).click();
    expect(onloadolder).toHaveBeenCalledTimes(1);
    cleanup?.();
    target = render(Transcript, { ...base, history: 'more' as const, loadingOlder: true });
    expect(target.querySelector('[data-testid="history-marker"]')?.textContent).toContain('Loading earlier messages');
    cleanup?.();
    target = render(Transcript, { ...base, history: 'more' as const, olderError: 'the server is unreachable' });
    expect(target.querySelector('[data-testid="history-marker"]')?.textContent).toContain('could not be loaded: the server is unreachable');
    cleanup?.();
    target = render(Transcript, { ...base, history: 'complete' as const });
    expect(target.querySelector('[data-testid="history-marker"]')?.textContent).toContain('Beginning of the conversation');
    expect(target.querySelector('[data-testid="load-older"]')).toBeNull();
  });

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
      runErrors: { r3: { code: 'provider_error', message: 'the provider answered 500: mock error 500', retryable: true } },
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
    expect(items[5]!.querySelector('[data-testid="marker-failed"]')?.textContent).toContain('The provider answered 500: mock error 500');
    expect(items[6]!.querySelector('strong')?.textContent).toBe('now');
    expect((window as unknown as { __pwned?: number }).__pwned).toBeUndefined();
  });

  it('offers Retry on the last message only, and Copy on every message with text', () => {
    let retried = 0;
    const target = render(Transcript, {
      messages: [msg('u1', 'user', 'first', 'r1'), msg('a1', 'assistant', 'ok', 'r1'), msg('u2', 'user', 'again', 'r2'), msg('a2', 'assistant', '', 'r2', 'failed')],
      live: null,
      reasoning: {},
      runErrors: {},
      tools: [],
      emptyHint: '',
      onretry: () => retried++,
    });
    const items = [...target.querySelectorAll('[data-testid="message"]')];
    expect(items.map((e) => e.querySelector('[data-testid="retry"]') !== null)).toEqual([false, false, false, true]);
    expect(items.map((e) => e.querySelector('[data-testid="copy-message"]') !== null)).toEqual([true, true, true, false]);
    items[3]!.querySelector<HTMLButtonElement>('[data-testid="retry"]')!.click();
    expect(retried).toBe(1);
  });

  it('shows the reasoning a message carries from the transcript, folded', () => {
    const target = render(Transcript, {
      messages: [
        msg('u1', 'user', 'why?', 'r1'),
        { ...msg('a1', 'assistant', 'Because.', 'r1'), reasoning: 'Weighing <b>both</b> sides.' },
        msg('a2', 'assistant', 'No reasoning here.', 'r2'),
      ],
      live: null,
      reasoning: {}, // a reloaded page kept nothing itself
      runErrors: {},
      tools: [],
      emptyHint: '',
    });
    const items = [...target.querySelectorAll('[data-testid="message"]')];
    const folded = items[1]!.querySelector<HTMLDetailsElement>('details[data-testid="reasoning"]');
    expect(folded).not.toBeNull();
    expect(folded!.open).toBe(false);
    expect(folded!.querySelector('summary')?.textContent).toBe('Reasoning');
    // Plain text, never HTML.
    expect(folded!.textContent).toContain('Weighing <b>both</b> sides.');
    expect(folded!.querySelector('b')).toBeNull();
    expect(items[0]!.querySelector('[data-testid="reasoning"]')).toBeNull();
    expect(items[2]!.querySelector('[data-testid="reasoning"]')).toBeNull();
  });

  it('after a reload every failed run says why in plain words, and a run stopped before any text says so', () => {
    const upstream = { code: 'provider_error' as const, message: 'the provider answered 500: mock error 500', retryable: true };
    const timeout = { code: 'timeout' as const, message: 'no first token within 60 s', retryable: true };
    const state = applyEvent(
      initialState(),
      snapshot(12, [
        msg('u1', 'user', 'one', 'r1'),
        { ...msg('a1', 'assistant', '', 'r1', 'failed'), error: upstream },
        msg('u2', 'user', 'two', 'r2'),
        msg('a2', 'assistant', '', 'r2', 'cancelled'),
        msg('u3', 'user', 'three', 'r3'),
        msg('a3', 'assistant', 'half an', 'r3', 'cancelled'),
        msg('u4', 'user', 'four', 'r4'),
        { ...msg('a4', 'assistant', 'partial', 'r4', 'failed'), error: timeout },
      ], { worker: { last_run: { run_id: 'r4', state: 'failed', error: timeout } } }),
    ).state;
    const target = render(Transcript, {
      messages: state.messages,
      live: state.live,
      reasoning: state.reasoning,
      runErrors: state.runErrors,
      tools: state.tools,
      emptyHint: '',
    });
    const byId = (id: string) => target.querySelector(`[data-message-id="${id}"]`)!;
    // An older failed run, not only the last one, in the same words as a live run_failed.
    const first = byId('a1').querySelector('[data-testid="marker-failed"]')!;
    expect(first.textContent).toContain('Failed: The model provider answered with an error.');
    expect(first.textContent).toContain('The provider answered 500: mock error 500');
    expect(byId('a1').querySelector('.body')).toBeNull();
    const last = byId('a4').querySelector('[data-testid="marker-failed"]')!;
    expect(last.textContent).toContain('Failed: The model provider did not answer in time.');
    expect(last.textContent).toContain('No first token within 60 s');
    expect(byId('a4').querySelector('.body')?.textContent).toContain('partial');
    // Stopped before any text: a short marker, no empty body, no "partial" claim.
    const stopped = byId('a2');
    expect(stopped.querySelector('.body')).toBeNull();
    expect(stopped.querySelector('[data-testid="marker-cancelled"]')?.textContent?.trim()).toBe('Stopped before any answer.');
    expect(stopped.textContent).not.toContain('partial');
    expect(byId('a3').querySelector('[data-testid="marker-cancelled"]')?.textContent?.trim()).toBe(
      'Stopped — the answer above is partial.',
    );
  });

  it('a live run that failed shows its failure once (assistant_message with the error, then run_failed)', () => {
    const error = { code: 'provider_error' as const, message: 'the provider answered 500: mock error 500', retryable: true };
    let state = applyEvent(initialState(), snapshot(0, [])).state;
    for (const e of [
      ev(1, { type: 'input_accepted', run_id: 'r1', message: msg('u1', 'user', 'fail please', 'r1') }),
      ev(2, { type: 'run_started', run_id: 'r1', model: 'mock-model' }),
      ev(3, { type: 'assistant_message', run_id: 'r1', message: { ...msg('a1', 'assistant', '', 'r1', 'failed'), error } }),
      ev(4, { type: 'run_failed', run_id: 'r1', error }),
    ]) {
      state = applyEvent(state, e).state;
    }
    const target = render(Transcript, {
      messages: state.messages,
      live: state.live,
      reasoning: state.reasoning,
      runErrors: state.runErrors,
      tools: state.tools,
      emptyHint: '',
    });
    const answers = target.querySelectorAll('[data-testid="message"][data-role="assistant"]');
    expect(answers).toHaveLength(1);
    expect(target.querySelectorAll('[data-testid="marker-failed"]')).toHaveLength(1);
    const text = target.textContent ?? '';
    expect(text.split('The model provider answered with an error.').length - 1).toBe(1);
    expect(text.split('The provider answered 500: mock error 500').length - 1).toBe(1);
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

describe('queued input', () => {
  it('the composer says Queue while an answer streams', () => {
    const target = render(Composer, {
      canSend: true,
      canCancel: true,
      queues: true,
      stopping: false,
      hint: 'h',
      onsend: async () => true,
      oncancel: () => {},
    });
    const send = target.querySelector<HTMLButtonElement>('[data-testid="send"]')!;
    expect(send.textContent?.trim()).toBe('Queue');
    expect(target.querySelector('[data-testid="stop"]')).not.toBeNull();
  });

  it('the transcript shows queued messages under the answer, each with a remove button', () => {
    const removed: string[] = [];
    const target = render(Transcript, {
      messages: [msg('u1', 'user', 'first', 'r1')],
      live: { run_id: 'r1', text: 'answering', reasoning: '', model: 'm' },
      reasoning: {},
      runErrors: {},
      tools: [],
      emptyHint: 'empty',
      queue: [
        { message_id: 'q1', text: 'next one', at: 'x' },
        { message_id: 'q2', text: '<b>then</b>', at: 'x' },
      ],
      onremovequeued: (id: string) => removed.push(id),
    });
    const items = [...target.querySelectorAll('[data-testid="queued"]')];
    expect(items.map((i) => i.querySelector('.text')?.textContent)).toEqual(['next one', '<b>then</b>']);
    const log = target.querySelector('[role="log"]')!;
    const live = log.querySelector('[data-testid="queue"]')!;
    expect(live.previousElementSibling).not.toBeNull();
    items[1]!.querySelector<HTMLButtonElement>('[data-testid="remove-queued"]')!.click();
    expect(removed).toEqual(['q2']);
  });
});

describe('WorkerList', () => {
  const runtime = (id: string, kind: RuntimeSummary['kind'], status: RuntimeSummary['status'], extra: Partial<RuntimeSummary> = {}): RuntimeSummary => ({
    runtime_id: id,
    display_name: id,
    kind,
    status,
    capabilities: { workers: true, create_worker: true, cancel: true, events: true },
    worker_count: 0,
    ...extra,
  });
  const worker = (rid: string, wid: string, name: string): WorkerSummary => ({
    runtime_id: rid,
    worker_id: wid,
    display_name: name,
    display_ref: `${name}@${rid}`,
    status: 'idle',
    profile: { name: 'companion', model: 'mock-model' },
    ...(wid === 'c1' ? { last_activity: new Date(Date.now() - 5 * 60_000).toISOString(), last_message: 'Hello there' } : {}),
  });

  function list(selected: WorkerRef | null = null) {
    const picked: (WorkerRef | null)[] = [];
    const renamed: [WorkerRef, string][] = [];
    const stopped: WorkerRef[] = [];
    let news = 0;
    const groups = groupByRuntime({
      synced: true,
      runtimes: [
        runtime('backend-internal', 'embedded', 'available', { display_name: 'Backend' }),
        runtime('side', 'local', 'available'),
        runtime('gpu-box', 'remote', 'unavailable', { display_name: 'GPU box', diagnostics: { last_error: 'cannot connect' } }),
      ],
      workers: [
        worker('backend-internal', 'c1', 'companion'),
        worker('side', 's1', 'scribe'),
        worker('elsewhere', 'e1', 'ghost'),
      ],
    });
    const target = render(WorkerList, {
      groups,
      selected,
      companion: { runtime_id: 'backend-internal', worker_id: 'c1' },
      connection: 'live',
      onselect: (ref: WorkerRef | null) => picked.push(ref),
      onnew: () => news++,
      onrename: async (ref: WorkerRef, name: string) => {
        renamed.push([ref, name]);
        return name === 'bad' ? { code: 'invalid_input', message: 'no good', retryable: false, typed: true } : null;
      },
      onstop: async (ref: WorkerRef) => {
        stopped.push(ref);
        return null;
      },
    });
    const section = (id: string) => target.querySelector<HTMLElement>(`[data-testid="runtime"][data-runtime-id="${id}"]`)!;
    return { target, picked, section, renamed, stopped, news: () => news };
  }

  const settle = async () => {
    for (let i = 0; i < 5; i++) await Promise.resolve();
    flushSync();
  };

  it('renames in place: Enter saves, Escape leaves it, an error is shown', async () => {
    const { section, renamed } = list();
    const side = section('side');
    side.querySelector<HTMLButtonElement>('[data-testid="rename"]')!.click();
    flushSync();
    const input = side.querySelector<HTMLInputElement>('[data-testid="rename-input"]')!;
    expect(input.value).toBe('scribe');
    input.value = 'Notes';
    input.dispatchEvent(new Event('input'));
    input.dispatchEvent(new KeyboardEvent('keydown', { key: 'Enter', bubbles: true }));
    await settle();
    expect(renamed).toEqual([[{ runtime_id: 'side', worker_id: 's1' }, 'Notes']]);
    expect(side.querySelector('[data-testid="rename-input"]')).toBeNull();

    side.querySelector<HTMLButtonElement>('[data-testid="rename"]')!.click();
    flushSync();
    const again = side.querySelector<HTMLInputElement>('[data-testid="rename-input"]')!;
    again.value = 'bad';
    again.dispatchEvent(new Event('input'));
    again.dispatchEvent(new KeyboardEvent('keydown', { key: 'Enter', bubbles: true }));
    await settle();
    expect(side.querySelector('[data-testid="row-error"]')?.textContent).toContain('No good');
    again.dispatchEvent(new KeyboardEvent('keydown', { key: 'Escape', bubbles: true }));
    flushSync();
    expect(side.querySelector('[data-testid="rename-input"]')).toBeNull();
  });

  it('stops a worker only after the confirmation', async () => {
    const { section, stopped } = list();
    const side = section('side');
    side.querySelector<HTMLButtonElement>('[data-testid="stop-worker"]')!.click();
    flushSync();
    side.querySelector<HTMLButtonElement>('[data-testid="confirm-stop-no"]')!.click();
    flushSync();
    expect(stopped).toEqual([]);
    expect(side.querySelector('[data-testid="confirm-stop"]')).toBeNull();
    side.querySelector<HTMLButtonElement>('[data-testid="stop-worker"]')!.click();
    flushSync();
    side.querySelector<HTMLButtonElement>('[data-testid="confirm-stop-yes"]')!.click();
    await settle();
    expect(stopped).toEqual([{ runtime_id: 'side', worker_id: 's1' }]);
  });

  it('shows the start of the last message and how long ago; "New conversation" asks for the dialog', () => {
    const { target, section, news } = list();
    expect(section('side').querySelector('[data-testid="worker-preview"]')).toBeNull();
    const companion = section('backend-internal');
    expect(companion.querySelector('[data-testid="worker-preview"]')?.textContent).toBe('Hello there');
    expect(companion.querySelector('[data-testid="worker-when"]')?.textContent).toBe('5 min ago');
    target.querySelector<HTMLButtonElement>('[data-testid="new-conversation"]')!.click();
    expect(news()).toBe(1);
  });

  it('shows each runtime’s kind and status, and why one is unavailable', () => {
    const { section } = list();
    const side = section('side');
    expect(side.dataset.kind).toBe('local');
    expect(side.dataset.status).toBe('available');
    expect(side.querySelector('[data-testid="runtime-kind"]')?.textContent).toBe('local');
    expect(side.querySelector('[data-testid="runtime-status"]')?.textContent).toBe('available');
    expect(side.querySelector('[data-testid="worker"]')?.textContent).toContain('scribe');
    expect(side.querySelector('[data-testid="worker"]')?.getAttribute('title')).toBe('scribe@side');

    const backend = section('backend-internal');
    expect(backend.querySelector('h2')?.textContent).toContain('Backend');
    expect(backend.querySelector('[data-testid="runtime-kind"]')?.textContent).toBe('embedded');

    const far = section('gpu-box');
    expect(far.querySelector('[data-testid="runtime-kind"]')?.textContent).toBe('remote');
    const status = far.querySelector('[data-testid="runtime-status"]')!;
    expect(status.textContent).toBe('unavailable');
    expect(status.classList.contains('down')).toBe(true);
    expect(far.querySelector('.diag')?.textContent).toBe('cannot connect');
    expect(far.querySelector('.none')?.textContent).toBe('No workers');
  });

  it('claims no kind or status for a runtime the server did not list', () => {
    const { section } = list();
    const unlisted = section('elsewhere');
    expect(unlisted.dataset.kind).toBeUndefined();
    expect(unlisted.dataset.status).toBeUndefined();
    expect(unlisted.querySelector('[data-testid="runtime-kind"], [data-testid="runtime-status"]')).toBeNull();
    expect(unlisted.querySelector('[data-testid="worker"]')?.textContent).toContain('ghost');
  });

  it('a click on a worker selects it by runtime and worker id; the selected one is marked', () => {
    const { section, picked } = list({ runtime_id: 'side', worker_id: 's1' });
    const scribe = section('side').querySelector<HTMLButtonElement>('[data-testid="worker"]')!;
    expect(scribe.classList.contains('selected')).toBe(true);
    expect(section('backend-internal').querySelector('[data-testid="worker"]')!.classList.contains('selected')).toBe(false);
    scribe.click();
    expect(picked).toEqual([{ runtime_id: 'side', worker_id: 's1' }]);
  });
});

describe('StatusBar', () => {
  function bar(lastRun: ReturnType<typeof initialState>['lastRun']) {
    return render(StatusBar, { title: 'companion@backend-internal', connection: 'live', activity: 'idle', model: 'mock-model', lastRun });
  }

  it('shows the last run’s tokens and duration after a reset snapshot', () => {
    const state = applyEvent(
      initialState(),
      snapshot(9, [msg('u9', 'user', 'q', 'r9'), msg('a9', 'assistant', 'a', 'r9')], {
        reset: true,
        reason: 'cursor_expired',
        worker: {
          last_run: { run_id: 'r9', state: 'completed', usage: { prompt_tokens: 1200, completion_tokens: 340 }, duration_ms: 2500 },
        },
      }),
    ).state;
    const target = bar(state.lastRun);
    expect(target.querySelector('[data-testid="last-run"]')?.textContent?.trim()).toBe('1,200 in · 340 out · 2.5 s');
  });

  it('shows only what it knows, and nothing before any run', () => {
    expect(bar(null).querySelector('[data-testid="last-run"]')).toBeNull();
    cleanup?.();
    const failed = bar({ run_id: 'r1', model: 'm', outcome: 'failed', duration_ms: 40 });
    expect(failed.querySelector('[data-testid="last-run"]')?.textContent?.trim()).toBe('40 ms');
  });
});

describe('provider notice', () => {
  it('shows the server’s hint when the provider is not configured', () => {
    const notice = providerNotice({
      configured: false,
      model: 'gpt-4o-mini',
      hint: 'no API key for the provider: set OPENAI_API_KEY (or point OPENAI_BASE_URL at a local OpenAI-compatible server such as Ollama) and restart yoi',
    });
    expect(notice).not.toBeNull();
    const target = render(Notices, { notices: [notice!] });
    const shown = target.querySelector('[data-notice="provider"]')!;
    expect(shown.getAttribute('role')).toBe('status');
    expect(shown.textContent).toContain('No model provider is configured');
    expect(shown.textContent).toContain('No API key for the provider: set OPENAI_API_KEY');
    expect(shown.textContent).not.toContain('Sending now will say');
  });

  it('falls back to general words without a hint, and says nothing when configured', () => {
    expect(providerNotice({ configured: false, model: 'm' })?.detail).toMatch(/OPENAI_API_KEY/);
    expect(providerNotice({ configured: false, model: 'm', hint: '  ' })?.detail).toMatch(/Sending now will say/);
    expect(providerNotice({ configured: true, model: 'm' })).toBeNull();
  });

  it('a send refused for want of a provider does not repeat the hint shown above', () => {
    const error = { code: 'provider_unconfigured' as const, message: 'no API key for the provider: set OPENAI_API_KEY', retryable: false, typed: true };
    const dismiss = () => {};
    const beside = sendErrorNotice(error, true, dismiss);
    expect(beside.title).toMatch(/No model provider/);
    expect(beside.detail).toMatch(/still in the box/);
    expect(beside.dismiss).toBe(dismiss);
    // Without the provider notice (another worker), the server's words say what to set.
    expect(sendErrorNotice(error, false, dismiss).detail).toBe('No API key for the provider: set OPENAI_API_KEY');
    const busy = { code: 'busy' as const, message: 'x', retryable: true, typed: true };
    expect(sendErrorNotice(busy, true, dismiss).detail).toMatch(/stop it first/);
  });
});

describe('NewConversation', () => {
  const rt = (id: string, profiles?: RuntimeSummary['profiles'], status: RuntimeSummary['status'] = 'available'): RuntimeSummary => ({
    runtime_id: id,
    display_name: id,
    kind: id === 'backend-internal' ? 'embedded' : 'remote',
    status,
    capabilities: { workers: true, create_worker: true, cancel: true, events: true },
    worker_count: 0,
    ...(profiles ? { profiles } : {}),
  });

  it('defaults to the backend and the Companion profile, offers each runtime its own profiles, and creates', async () => {
    const created: [string, string, string][] = [];
    const target = render(NewConversation, {
      runtimes: [
        rt('gpu', [{ name: 'companion', model: 'm', configured: true }, { name: 'big', model: 'b', configured: false, hint: 'set BIG_KEY' }]),
        rt('backend-internal', [{ name: 'companion', model: 'mock', configured: true }, { name: 'terse', model: 't', configured: true, description: 'Short' }]),
        rt('down', undefined, 'unavailable'),
      ],
      defaultProfile: 'companion',
      oncreate: async (r: string, p: string, n: string) => {
        created.push([r, p, n]);
        return null;
      },
      onclose: () => {},
    });
    const runtimeSelect = target.ownerDocument.querySelector<HTMLSelectElement>('[data-testid="new-runtime"]')!;
    const profileSelect = target.ownerDocument.querySelector<HTMLSelectElement>('[data-testid="new-profile"]')!;
    expect(runtimeSelect.value).toBe('backend-internal');
    expect([...runtimeSelect.options].map((o) => o.value)).toEqual(['gpu', 'backend-internal']);
    expect(profileSelect.value).toBe('companion');
    expect([...profileSelect.options].map((o) => o.value)).toEqual(['companion', 'terse']);

    runtimeSelect.value = 'gpu';
    runtimeSelect.dispatchEvent(new Event('change'));
    flushSync();
    expect([...profileSelect.options].map((o) => o.value)).toEqual(['companion', 'big']);
    profileSelect.value = 'big';
    profileSelect.dispatchEvent(new Event('change'));
    flushSync();
    expect(target.ownerDocument.querySelector('[data-testid="new-profile-hint"]')?.textContent).toContain('set BIG_KEY');
    const name = target.ownerDocument.querySelector<HTMLInputElement>('[data-testid="new-name"]')!;
    name.value = 'Heavy';
    name.dispatchEvent(new Event('input'));
    target.ownerDocument.querySelector<HTMLButtonElement>('[data-testid="new-create"]')!.click();
    for (let i = 0; i < 5; i++) await Promise.resolve();
    expect(created).toEqual([['gpu', 'big', 'Heavy']]);
  });
});
