// @vitest-environment jsdom
import { flushSync, mount, unmount, type Component } from 'svelte';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { PendingApproval } from '../protocol/PendingApproval';
import type { CardCall } from '../console/tools';
import { liveProps } from '../console/testing/props.svelte';
import ApprovalBar from './ApprovalBar.svelte';
import NewConversation from './NewConversation.svelte';
import ToolCallCard from './ToolCallCard.svelte';

let cleanup: (() => void) | null = null;
afterEach(() => {
  cleanup?.();
  cleanup = null;
  document.body.innerHTML = '';
  vi.useRealTimers();
});

function render<P extends Record<string, unknown>>(component: Component<P>, props: P) {
  const target = document.createElement('div');
  document.body.appendChild(target);
  const app = mount(component, { target, props });
  cleanup = () => unmount(app);
  flushSync();
  return target;
}

const base: CardCall = { call_id: 'c1', name: 'yoi.ask_worker', arguments: { worker: 'notes' }, state: 'ok' };

describe('ToolCallCard', () => {
  it.each([
    ['waiting_approval', 'waiting for approval'],
    ['ok', 'ok · 12 ms'],
    ['error', 'error · 12 ms'],
    ['denied', 'denied · 12 ms'],
    ['cancelled', 'cancelled · 12 ms'],
    ['interrupted', 'interrupted · 12 ms'],
  ] as const)('shows the state %s', (state, words) => {
    const t = render(ToolCallCard, { call: { ...base, state, duration_ms: 12 } });
    const card = t.querySelector('[data-testid="tool-call"]')!;
    expect(card.getAttribute('data-state')).toBe(state);
    expect(card.querySelector('[data-testid="tool-state"]')!.textContent).toBe(words);
    expect(card.textContent).toContain('yoi.ask_worker');
    expect(card.textContent).toContain('{"worker":"notes"}');
  });

  it('a running call counts its elapsed time', () => {
    vi.useFakeTimers();
    vi.setSystemTime(new Date('2026-11-23T10:00:05.000Z'));
    const t = render(ToolCallCard, { call: { ...base, state: 'running', started_at: '2026-11-23T10:00:00.000Z' } });
    const state = () => t.querySelector('[data-testid="tool-state"]')!.textContent;
    expect(state()).toBe('running 5.0 s');
    vi.advanceTimersByTime(2000);
    flushSync();
    expect(state()).toBe('running 7.0 s');
  });

  it('arguments open as pretty JSON with long values folded until asked for', () => {
    const t = render(ToolCallCard, { call: { ...base, arguments: { worker: 'notes', text: 'z'.repeat(400) } } });
    expect(t.querySelector('[data-testid="tool-args"]')).toBeNull();
    (t.querySelector('[data-testid="tool-args-toggle"]') as HTMLButtonElement).click();
    flushSync();
    const args = () => t.querySelector('[data-testid="tool-args"]')!.textContent!;
    expect(args()).toContain('"worker": "notes"');
    expect(args()).toContain('more characters');
    (t.querySelector('[data-testid="tool-args-full"]') as HTMLButtonElement).click();
    flushSync();
    expect(args()).toContain('z'.repeat(400));
  });

  it('a long result is folded, opens on request, and has a copy button', () => {
    const output = Array.from({ length: 30 }, (_, i) => `line ${i}`).join('\n');
    const t = render(ToolCallCard, { call: { ...base, output } });
    const result = () => t.querySelector('[data-testid="tool-result"] pre')!.textContent!;
    expect(result()).not.toContain('line 29');
    (t.querySelector('[data-testid="tool-result-toggle"]') as HTMLButtonElement).click();
    flushSync();
    expect(result()).toContain('line 29');
    expect(t.querySelector('[data-testid="tool-result-copy"]')).not.toBeNull();
  });

  it('a denied call without output says why', () => {
    const t = render(ToolCallCard, { call: { ...base, state: 'denied', summary: 'a person declined it' } });
    expect(t.querySelector('[data-testid="tool-summary"]')!.textContent).toBe('a person declined it');
  });
});

const pending = (id: string): PendingApproval => ({
  run_id: 'r1',
  call_id: id,
  name: 'yoi.ask_worker',
  arguments: { worker: 'notes' },
  requested_at: '2026-11-23T10:00:00.000Z',
});

describe('ApprovalBar', () => {
  it('takes the focus and answers from the keyboard: a, A, d, Enter, Escape', () => {
    const ondecide = vi.fn();
    const t = render(ApprovalBar, { approvals: [pending('c1'), pending('c2')], ondecide });
    const bar = t.querySelector('[data-testid="approval-bar"]') as HTMLElement;
    expect(document.activeElement).toBe(bar);
    expect(bar.textContent).toContain('yoi.ask_worker');
    expect(bar.textContent).toContain('{"worker":"notes"}');
    expect(t.querySelector('[data-testid="approval-queue"]')!.textContent).toBe('1 of 2 waiting');
    for (const key of ['a', 'A', 'd', 'Enter', 'Escape']) bar.dispatchEvent(new KeyboardEvent('keydown', { key, bubbles: true }));
    expect(ondecide.mock.calls).toEqual([
      ['c1', 'allow', 'once'],
      ['c1', 'allow', 'worker'],
      ['c1', 'deny', 'once'],
      ['c1', 'allow', 'once'],
      ['c1', 'deny', 'once'],
    ]);
  });

  it('the buttons state their keys; a call being decided is not sent twice', () => {
    const ondecide = vi.fn();
    const t = render(ApprovalBar, { approvals: [pending('c1')], deciding: new Set(['c1']), ondecide });
    expect(t.querySelector('[data-testid="approval-allow"]')!.textContent).toContain('a');
    expect(t.querySelector('[data-testid="approval-always"]')!.textContent).toContain('A');
    expect(t.querySelector('[data-testid="approval-deny"]')!.textContent).toContain('Esc');
    (t.querySelector('[data-testid="approval-bar"]') as HTMLElement).dispatchEvent(new KeyboardEvent('keydown', { key: 'a', bubbles: true }));
    expect(ondecide).not.toHaveBeenCalled();
  });

  it('a new call at the head takes the focus again; the same call does not take it back', () => {
    const props = liveProps({ approvals: [pending('c1')] as PendingApproval[], ondecide: () => {} });
    const t = render(ApprovalBar, props);
    const composer = document.createElement('textarea');
    document.body.appendChild(composer);
    expect(document.activeElement?.getAttribute('data-testid')).toBe('approval-bar');
    composer.focus();
    props.approvals = [pending('c1'), pending('c2')];
    flushSync();
    expect(document.activeElement).toBe(composer);
    props.approvals = [pending('c2')];
    flushSync();
    expect(document.activeElement).toBe(t.querySelector('[data-testid="approval-bar"]'));
    props.approvals = [];
    flushSync();
    props.approvals = [pending('c3')];
    flushSync();
    expect(document.activeElement?.getAttribute('data-call-id')).toBe('c3');
  });

  it('shows nothing when no call waits', () => {
    const t = render(ApprovalBar, { approvals: [], ondecide: () => {} });
    expect(t.querySelector('[data-testid="approval-bar"]')).toBeNull();
  });
});

describe('NewConversation', () => {
  it('the profile picker shows the tools each profile grants and how', () => {
    const t = render(NewConversation, {
      runtimes: [
        {
          runtime_id: 'backend-internal',
          display_name: 'backend',
          kind: 'embedded',
          status: 'available',
          capabilities: { workers: true, create_worker: true, cancel: true, events: true },
          worker_count: 1,
          profiles: [
            {
              name: 'helper',
              model: 'm',
              configured: true,
              tools: [
                { name: 'yoi.list_workers', policy: 'allow' },
                { name: 'yoi.ask_worker', policy: 'ask' },
              ],
            },
          ],
        },
      ],
      defaultProfile: 'helper',
      oncreate: async () => null,
      onclose: () => {},
    });
    const tools = t.querySelector('[data-testid="new-profile-tools"]')!.textContent!.replace(/\s+/g, ' ');
    expect(tools).toContain('yoi.list_workers (allowed)');
    expect(tools).toContain('yoi.ask_worker (asks first)');
  });
});
