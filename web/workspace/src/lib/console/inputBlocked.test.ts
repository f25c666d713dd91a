import { describe, expect, it } from 'vitest';
import { inputBlocked } from './inputBlocked';
import { applyEvent, initialState } from './state';
import { snapshot } from './testing/fixtures';

describe('a worker whose profile is gone', () => {
  it('says why the composer is closed, from its snapshot', () => {
    const message = "this worker's profile `poet` is not configured any more; add [profiles.poet] back to yoi.toml";
    const s = applyEvent(
      initialState(),
      snapshot(3, [], { worker: { input_error: { code: 'profile_missing', message, retryable: false } } }),
    ).state;
    expect(inputBlocked(s.worker)).toBe(message);
  });

  it('is not blocked when it takes input', () => {
    const s = applyEvent(initialState(), snapshot(1, [])).state;
    expect(inputBlocked(s.worker)).toBeNull();
    expect(inputBlocked(null)).toBeNull();
  });
});

describe('profile_missing in plain words', () => {
  it('says the profile is gone and keeps the server’s advice', async () => {
    const { describeError } = await import('./errors');
    const w = describeError({ code: 'profile_missing', message: 'add [profiles.poet] back to yoi.toml' });
    expect(w.title).toMatch(/profile is gone/);
    expect(w.detail).toMatch(/yoi\.toml/);
  });
});
