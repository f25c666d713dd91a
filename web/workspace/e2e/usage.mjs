// The Usage view, end to end: runs on two models (the Companion's profile and
// `terse`, with token counts the mock is told to report), then the view:
// its chunk (uPlot with it) loads only when the view opens, the chart draws,
// and the table shows what `GET /api/usage` answers, by model and by profile.
//
// Called by run.mjs with its page, server and helpers.

const USAGE_CHUNK = /\/assets\/UsageView-[\w-]+\.js$/;

async function usage(base) {
  const res = await fetch(`${base}/api/usage?by=day,model`);
  if (!res.ok) throw new Error(`GET /api/usage answered HTTP ${res.status}`);
  return res.json();
}

function byModel(report) {
  const out = {};
  for (const g of report.groups) {
    const m = g.model ?? 'unknown';
    out[m] ??= { runs: 0, prompt_tokens: 0, completion_tokens: 0 };
    out[m].runs += g.usage.runs;
    out[m].prompt_tokens += g.usage.prompt_tokens;
    out[m].completion_tokens += g.usage.completion_tokens;
  }
  return out;
}

async function worker(base, profile, name) {
  const res = await fetch(`${base}/api/runtimes/backend-internal/workers`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ profile, display_name: name }),
  });
  if (res.status !== 201) throw new Error(`worker of ${profile} not created (HTTP ${res.status})`);
  const w = await res.json();
  return { path: `/api/runtimes/backend-internal/workers/${w.worker_id}`, model: w.profile.model };
}

async function run(base, path, text) {
  const res = await fetch(`${base}${path}/input?wait=true`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ text }),
  });
  if (!res.ok) throw new Error(`a run answered HTTP ${res.status}`);
}

export async function usageScenarios({ scenario, page, base, requested, assert, waitReady, screenshot }) {
  await scenario('the Usage view: tokens per day on two models, its chart library loaded only there, the table as the API sums it', async () => {
    await page.goto(`${base}/`);
    await waitReady(page);
    const before = byModel(await usage(base));
    const a = await worker(base, 'companion', 'usage-a');
    const b = await worker(base, 'terse', 'usage-b');
    assert(a.model !== b.model, `two models (${a.model}, ${b.model})`);
    await run(base, a.path, 'first [[usage:1000:100]]');
    await run(base, a.path, 'second [[usage:1000:100]]');
    await run(base, b.path, 'third [[usage:3000:300]]');
    const after = byModel(await usage(base));
    const grew = (m) => (after[m]?.prompt_tokens ?? 0) - (before[m]?.prompt_tokens ?? 0);
    assert(grew(a.model) === 2000, `${a.model}: 2000 more prompt tokens (got ${grew(a.model)})`);
    assert(grew(b.model) === 3000, `${b.model}: 3000 more prompt tokens (got ${grew(b.model)})`);

    assert(!requested.some((u) => USAGE_CHUNK.test(u)), 'the Usage view is not loaded before it is opened');
    await page.click('[data-testid="usage-link"]');
    await page.waitForSelector('[data-testid="usage-table"]', { timeout: 20_000 });
    assert(requested.some((u) => USAGE_CHUNK.test(u)), 'opening the view loads its chunk');
    await page.waitForSelector('[data-testid="usage-chart"] canvas', { timeout: 10_000 });
    const rows = await page.$$eval('[data-testid="usage-row"]', (trs) =>
      trs.map((tr) => ({
        label: tr.querySelector('th')?.textContent?.trim(),
        runs: Number(tr.querySelectorAll('td')[0]?.textContent),
        prompt: Number(tr.querySelectorAll('td')[3]?.getAttribute('title')),
      })),
    );
    for (const model of [a.model, b.model]) {
      const row = rows.find((r) => r.label === model);
      assert(row, `a row for ${model} (rows: ${JSON.stringify(rows)})`);
      assert(row.runs === after[model].runs, `${model}: ${after[model].runs} runs (shown ${row.runs})`);
      assert(row.prompt === after[model].prompt_tokens, `${model}: ${after[model].prompt_tokens} prompt tokens (shown ${row.prompt})`);
    }
    const legend = await page.$eval('[data-testid="usage-chart"]', (el) => el.textContent ?? '');
    assert(legend.includes(a.model) && legend.includes(b.model), `the chart's legend names both models (${legend})`);
    await screenshot(page, 'usage');

    await page.click('[data-testid="usage-by-profile"]');
    await page.waitForFunction(
      () => [...document.querySelectorAll('[data-testid="usage-row"] th')].some((th) => th.textContent?.trim() === 'terse'),
      null,
      { timeout: 10_000 },
    );
    // Back to a conversation: the view goes, the console is as it was.
    await page.goto(`${base}/`);
    await waitReady(page);
  });
}
