import { describe, expect, it } from 'vitest';
import { backoffCeiling, backoffDelay, RECONNECT_POLICY } from './backoff';

describe('reconnect backoff', () => {
  it('grows exponentially from the base and stops at the cap', () => {
    const ceilings = Array.from({ length: 10 }, (_, i) => backoffCeiling(i));
    expect(ceilings.slice(0, 6)).toEqual([250, 500, 1000, 2000, 4000, 8000]);
    expect(ceilings.slice(6).every((c) => c === RECONNECT_POLICY.maxMs)).toBe(true);
    expect(backoffCeiling(1000)).toBe(RECONNECT_POLICY.maxMs);
  });

  it('jitters within [ceiling / 2, ceiling]', () => {
    for (let attempt = 0; attempt < 12; attempt++) {
      const ceiling = backoffCeiling(attempt);
      expect(backoffDelay(attempt, () => 0)).toBe(ceiling / 2);
      expect(backoffDelay(attempt, () => 1)).toBe(ceiling);
      for (let i = 0; i < 50; i++) {
        const d = backoffDelay(attempt);
        expect(d).toBeGreaterThanOrEqual(ceiling / 2);
        expect(d).toBeLessThanOrEqual(ceiling);
      }
    }
  });

  it('spreads retries of many clients apart', () => {
    const delays = new Set(Array.from({ length: 50 }, () => backoffDelay(4)));
    expect(delays.size).toBeGreaterThan(10);
  });

  it('tolerates odd random sources and policies', () => {
    expect(backoffDelay(0, () => 5, { baseMs: 100, maxMs: 1000 })).toBe(100);
    expect(backoffDelay(-3, () => -1, { baseMs: 100, maxMs: 1000 })).toBe(50);
  });
});
