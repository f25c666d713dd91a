/**
 * The Usage view's model: which days a range covers, and the report of
 * `GET /api/usage?by=day,<key>` turned into what the chart stacks (tokens per
 * day, one series per model or profile) and what the table lists (one row per
 * model or profile). Pure functions, so they are tested without a browser.
 */
import type { UsageFigures } from '../protocol/UsageFigures';
import type { UsageGroup } from '../protocol/UsageGroup';
import type { UsageReport } from '../protocol/UsageReport';

/** What the chart stacks by. */
export type UsageKey = 'model' | 'profile';

/** The ranges a person can pick, in days (today included). */
export const RANGES = [7, 30, 90, 365] as const;

/** A UTC day as the API writes it. */
export function dayString(d: Date): string {
  return d.toISOString().slice(0, 10);
}

/** The `from` and `to` of the last `days` UTC days, today included. */
export function rangeFor(days: number, now: Date): { from: string; to: string } {
  const to = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()));
  const from = new Date(to.getTime() - (days - 1) * 86_400_000);
  return { from: dayString(from), to: dayString(to) };
}

/** Every UTC day from `from` to `to`, both included. */
export function daysOf(from: string, to: string): string[] {
  const out: string[] = [];
  const end = Date.parse(`${to}T00:00:00Z`);
  for (let t = Date.parse(`${from}T00:00:00Z`); t <= end && out.length < 4000; t += 86_400_000) {
    out.push(dayString(new Date(t)));
  }
  return out;
}

/** A group's model or profile; runs stored before models were kept have none. */
export function labelOf(group: UsageGroup, key: UsageKey): string {
  return (key === 'model' ? group.model : group.profile) ?? 'unknown';
}

export function tokensOf(u: UsageFigures): number {
  return u.prompt_tokens + u.completion_tokens;
}

/** An axis label: `1.5k`, `2M`. */
export function compactTokens(n: number): string {
  const trim = (x: number) => String(Number(x.toFixed(1)));
  if (Math.abs(n) >= 1e6) return `${trim(n / 1e6)}M`;
  if (Math.abs(n) >= 1e3) return `${trim(n / 1e3)}k`;
  return trim(n);
}

export interface Stacked {
  days: string[];
  labels: string[];
  /** `values[i][d]`: tokens of `labels[i]` on `days[d]` (not stacked). */
  values: number[][];
}

/** Tokens per day and label, labels by their total, the largest first. */
export function perDay(report: UsageReport, key: UsageKey): Stacked {
  const days = daysOf(report.from, report.to);
  const index = new Map(days.map((d, i) => [d, i]));
  const byLabel = new Map<string, number[]>();
  for (const g of report.groups) {
    const i = g.day === undefined ? undefined : index.get(g.day);
    if (i === undefined) continue;
    const label = labelOf(g, key);
    let row = byLabel.get(label);
    if (!row) byLabel.set(label, (row = days.map(() => 0)));
    row[i]! += tokensOf(g.usage);
  }
  const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
  const labels = [...byLabel.keys()].sort((a, b) => sum(byLabel.get(b)!) - sum(byLabel.get(a)!) || a.localeCompare(b));
  return { days, labels, values: labels.map((l) => byLabel.get(l)!) };
}

/** Running sums from the first series up: what a stacked chart draws. */
export function stack(values: number[][]): number[][] {
  const out: number[][] = [];
  values.forEach((row, i) => out.push(row.map((v, d) => v + (i > 0 ? out[i - 1]![d]! : 0))));
  return out;
}

export interface UsageRow {
  label: string;
  usage: UsageFigures;
}

const ZERO: UsageFigures = {
  runs: 0,
  completed: 0,
  failed: 0,
  cancelled: 0,
  prompt_tokens: 0,
  completion_tokens: 0,
  run_ms: 0,
  tool_calls: 0,
};

/** The table: one row per model or profile over the whole range, the most tokens first. */
export function rowsOf(report: UsageReport, key: UsageKey): UsageRow[] {
  const rows = new Map<string, UsageFigures>();
  for (const g of report.groups) {
    const label = labelOf(g, key);
    const u = rows.get(label) ?? { ...ZERO };
    for (const k of Object.keys(ZERO) as (keyof UsageFigures)[]) u[k] += g.usage[k];
    rows.set(label, u);
  }
  return [...rows.entries()]
    .map(([label, usage]) => ({ label, usage }))
    .sort((a, b) => tokensOf(b.usage) - tokensOf(a.usage) || a.label.localeCompare(b.label));
}
