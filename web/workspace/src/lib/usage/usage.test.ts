import { describe, expect, it } from 'vitest';
import type { UsageReport } from '../protocol/UsageReport';
import { compactTokens, daysOf, perDay, rangeFor, rowsOf, stack } from './usage';

const figures = (prompt: number, completion: number, runs = 1) => ({
  runs,
  completed: runs,
  failed: 0,
  cancelled: 0,
  prompt_tokens: prompt,
  completion_tokens: completion,
  run_ms: 100,
  tool_calls: 0,
});

const report: UsageReport = {
  from: '2026-11-30',
  to: '2026-12-02',
  by: ['day', 'model'],
  groups: [
    { day: '2026-11-30', model: 'small', usage: figures(10, 5) },
    { day: '2026-12-02', model: 'small', usage: figures(20, 5) },
    { day: '2026-12-02', model: 'big', usage: figures(100, 50, 2) },
  ],
  total: figures(130, 60, 4),
  missing: [],
};

describe('usage', () => {
  it('covers the last days in UTC, today included', () => {
    expect(rangeFor(7, new Date('2026-12-03T23:30:00Z'))).toEqual({ from: '2026-11-27', to: '2026-12-03' });
    expect(daysOf('2026-02-27', '2026-03-01')).toEqual(['2026-02-27', '2026-02-28', '2026-03-01']);
    expect(daysOf('2026-03-02', '2026-03-01')).toEqual([]);
  });

  it('puts tokens per day in one series per model, the largest first, and stacks them', () => {
    const s = perDay(report, 'model');
    expect(s.days).toEqual(['2026-11-30', '2026-12-01', '2026-12-02']);
    expect(s.labels).toEqual(['big', 'small']);
    expect(s.values).toEqual([
      [0, 0, 150],
      [15, 0, 25],
    ]);
    expect(stack(s.values)).toEqual([
      [0, 0, 150],
      [15, 0, 175],
    ]);
  });

  it('sums the range per model for the table', () => {
    const rows = rowsOf(report, 'model');
    expect(rows.map((r) => [r.label, r.usage.runs, r.usage.prompt_tokens])).toEqual([
      ['big', 2, 100],
      ['small', 2, 30],
    ]);
  });

  it('labels the axis compactly', () => {
    expect([0, 950, 1500, 500_000, 2_000_000].map(compactTokens)).toEqual(['0', '950', '1.5k', '500k', '2M']);
  });

  it('names runs without a model unknown', () => {
    const old: UsageReport = { ...report, groups: [{ day: '2026-11-30', usage: figures(1, 1) }] };
    expect(perDay(old, 'model').labels).toEqual(['unknown']);
  });
});
