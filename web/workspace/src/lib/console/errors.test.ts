import { describe, expect, it } from 'vitest';
import type { ErrorCode } from '../protocol/ErrorCode';
import { clientError, describeError, fromApiError } from './errors';

const ALL_CODES: ErrorCode[] = [
  'invalid_input',
  'unauthorized',
  'forbidden_origin',
  'runtime_not_found',
  'worker_not_found',
  'busy',
  'not_running',
  'payload_too_large',
  'unsupported',
  'provider_error',
  'runtime_unavailable',
  'provider_unconfigured',
  'timeout',
  'internal',
  'queue_full',
];

describe('errors in plain words', () => {
  it('queue_full says to wait or remove a queued message', () => {
    const w = describeError({ code: 'queue_full', message: 'the queue of worker companion@backend-internal is full' });
    expect(w.title).toMatch(/queue is full/);
    expect(w.detail).toMatch(/remove/i);
  });

  it('busy asks to wait or stop', () => {
    const w = describeError({ code: 'busy', message: 'worker companion@backend-internal is already running a turn' });
    expect(w.title).toMatch(/still answering/);
    expect(w.detail).toMatch(/stop/i);
  });

  it('provider error carries the provider’s message, as a sentence', () => {
    const w = describeError({ code: 'provider_error', message: 'the provider answered 500: mock error 500' });
    expect(w.title).toMatch(/provider/i);
    expect(w.detail).toBe('The provider answered 500: mock error 500');
  });

  it('timeout says the provider did not answer in time', () => {
    expect(describeError({ code: 'timeout', message: '' }).title).toMatch(/did not answer in time/);
  });

  it('provider not configured shows what to set (the server’s words)', () => {
    const w = describeError({ code: 'provider_unconfigured', message: 'set OPENAI_API_KEY for yoi serve' });
    expect(w.title).toMatch(/No model provider/);
    expect(w.detail).toBe('Set OPENAI_API_KEY for yoi serve');
    expect(describeError({ code: 'provider_unconfigured', message: '' }).detail).toMatch(/API key/);
  });

  it('runtime unavailable and connection lost', () => {
    expect(describeError({ code: 'runtime_unavailable', message: '' }).title).toMatch(/cannot be reached/);
    const lost = describeError(clientError('connection_lost'));
    expect(lost.title).toMatch(/Connection .* lost/);
    expect(lost.detail).toMatch(/Reconnecting/);
  });

  it('every contract code has its own words', () => {
    const titles = new Set(ALL_CODES.map((code) => describeError({ code, message: 'm' }).title));
    expect(titles.size).toBe(ALL_CODES.length);
    for (const t of titles) expect(t).not.toMatch(/Something went wrong/);
  });

  it('typed server errors are marked as decided', () => {
    expect(fromApiError({ code: 'busy', message: 'x', retryable: true, active_run_id: 'r1' })).toEqual({
      code: 'busy',
      message: 'x',
      retryable: true,
      typed: true,
    });
    expect(clientError('network_error').typed).toBe(false);
  });
});
