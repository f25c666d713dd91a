// @vitest-environment jsdom
import { flushSync, mount, unmount } from 'svelte';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { groupByRuntime } from '../console/workspace';
import type { RuntimeSummary } from '../protocol/RuntimeSummary';
import type { WorkerSummary } from '../protocol/WorkerSummary';
import WorkerList from './WorkerList.svelte';

beforeAll(() => {
  globalThis.ResizeObserver ??= class {
    observe() {}
    unobserve() {}
    disconnect() {}
  } as unknown as typeof ResizeObserver;
});

let cleanup: (() => void) | null = null;
afterEach(() => {
  cleanup?.();
  cleanup = null;
  document.body.innerHTML = '';
});

const runtime: RuntimeSummary = {
  runtime_id: 'backend-internal',
  display_name: 'Backend',
  kind: 'embedded',
  status: 'available',
  capabilities: { workers: true, create_worker: true, cancel: true, events: true },
  worker_count: 10_000,
};
const worker = (n: number): WorkerSummary => ({
  runtime_id: 'backend-internal',
  worker_id: `01W${String(n).padStart(6, '0')}`,
  display_name: `worker ${n}`,
  display_ref: `worker ${n}@backend-internal`,
  status: 'idle',
  profile: { name: 'companion', model: 'm' },
});

function render(props: Record<string, unknown>) {
  const target = document.createElement('div');
  document.body.appendChild(target);
  const app = mount(WorkerList, {
    target,
    props: {
      selected: null,
      companion: null,
      connection: 'live',
      onselect: () => {},
      onnew: () => {},
      onrename: async () => null,
      onstop: async () => null,
      ...props,
    } as never,
  });
  cleanup = () => unmount(app);
  flushSync();
  return target;
}

describe('the side panel with many workers', () => {
  it('renders only the rows in view, asks for the next page at the end, and sends the filter', () => {
    const workers = Array.from({ length: 10_000 }, (_, i) => worker(10_000 - i));
    const wanted: string[] = [];
    const queries: string[] = [];
    const groups = groupByRuntime({ runtimes: [runtime], workers });
    const target = render({
      groups,
      more: { 'backend-internal': true },
      onloadmore: (id: string) => wanted.push(id),
      onquery: (q: string) => queries.push(q),
    });
    const rows = target.querySelectorAll('[data-testid="worker-row"]').length;
    expect(rows).toBeGreaterThan(5);
    expect(rows).toBeLessThan(60);
    // Far from the end of the runtime's rows: no page is asked for yet.
    expect(wanted).toEqual([]);

    const filter = target.querySelector<HTMLInputElement>('[data-testid="worker-filter"]')!;
    filter.value = 'worker 42';
    filter.dispatchEvent(new Event('input', { bubbles: true }));
    flushSync();
    expect(queries).toEqual(['worker 42']);
  });

  it('a runtime whose end row is in view asks for its next page; one that failed offers a retry', () => {
    const wanted: string[] = [];
    const target = render({
      groups: groupByRuntime({ runtimes: [runtime], workers: [worker(2), worker(1)] }),
      more: { 'backend-internal': true },
      errors: {},
      onloadmore: (id: string) => wanted.push(id),
    });
    expect(wanted).toEqual(['backend-internal']);
    expect(target.querySelector('[data-testid="worker-more"]')?.textContent).toContain('Loading more');
    cleanup?.();
    document.body.innerHTML = '';
    const failed = render({
      groups: groupByRuntime({ runtimes: [runtime], workers: [worker(2)] }),
      more: { 'backend-internal': true },
      errors: { 'backend-internal': { code: 'runtime_unavailable', message: 'down', retryable: true, typed: true } },
      onloadmore: (id: string) => wanted.push(id),
    });
    expect(wanted).toEqual(['backend-internal']);
    failed.querySelector<HTMLButtonElement>('[data-testid="worker-more"] button')!.click();
    expect(wanted).toEqual(['backend-internal', 'backend-internal']);
  });
});
