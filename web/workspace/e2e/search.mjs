// Search, end to end: a word said in one conversation among others, then the
// search box (opened with Ctrl-K): type, see the hit with its match
// highlighted, pick it, and land on the message in its conversation,
// highlighted, with earlier messages loading when the list scrolls up.
//
// Called by run.mjs with its page, server and helpers.

async function worker(base, name) {
  const res = await fetch(`${base}/api/runtimes/backend-internal/workers`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ display_name: name }),
  });
  if (res.status !== 201) throw new Error(`worker ${name} not created (HTTP ${res.status})`);
  const w = await res.json();
  return { id: w.worker_id, path: `/api/runtimes/backend-internal/workers/${w.worker_id}` };
}

async function run(base, path, text) {
  const res = await fetch(`${base}${path}/input?wait=true`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ text }),
  });
  if (!res.ok) throw new Error(`a run answered HTTP ${res.status}`);
  return res.json();
}

export async function searchScenarios({ scenario, page, base, assert, waitReady }) {
  await scenario('search: Ctrl-K, type a word, see the hit highlighted, open it in context and scroll to earlier messages', async () => {
    const w = await worker(base, 'searchable');
    // Enough messages before the hit that the page around it leaves some out.
    for (let i = 0; i < 20; i++) await run(base, w.path, `filler message number ${i}`);
    await run(base, w.path, 'we agreed on the <b>marmalade</b> plan 会議');
    for (let i = 0; i < 3; i++) await run(base, w.path, `later message ${i}`);
    const other = await worker(base, 'elsewhere');
    await run(base, other.path, 'nothing about jam here');

    await page.goto(`${base}/`);
    await waitReady(page);
    await page.keyboard.press('Control+k');
    await page.waitForSelector('[data-testid="search-input"]', { timeout: 5_000 });
    await page.keyboard.type('MARMALADE');
    await page.waitForSelector('[data-testid="search-hit"]', { timeout: 10_000 });
    const hits = await page.$$eval('[data-testid="search-hit"]', (els) =>
      els.map((e) => ({ text: e.textContent ?? '', marks: [...e.querySelectorAll('mark')].map((m) => m.textContent), bold: e.querySelectorAll('b').length })),
    );
    assert(hits.length === 2, `the user message and the answer (got ${hits.length})`);
    assert(hits.every((h) => h.marks.length === 1 && h.marks[0] === 'marmalade'), `the word is highlighted (got ${JSON.stringify(hits)})`);
    assert(hits.every((h) => h.bold === 0 && h.text.includes('<b>')), 'markup in a message stays text');
    const groups = await page.$$eval('[data-testid="search-results"] h3', (els) => els.map((e) => e.textContent));
    assert(groups.length === 1 && groups[0] === 'searchable@backend-internal', `grouped by conversation (got ${JSON.stringify(groups)})`);

    // The user's message is the first hit of the two (same rank: newest first would be the answer).
    const userHit = await page.$$('[data-testid="search-hit"]');
    const roles = await page.$$eval('[data-testid="search-hit"] .role', (els) => els.map((e) => e.textContent));
    await userHit[roles.indexOf('You')].click();
    await page.waitForSelector('[data-testid="search-context"] [data-hit="true"]', { timeout: 10_000 });
    const highlighted = await page.$eval('[data-hit="true"]', (e) => e.textContent ?? '');
    assert(highlighted.includes('marmalade'), `the message is highlighted in its conversation (got ${highlighted})`);
    const hash = await page.evaluate(() => location.hash);
    assert(hash.startsWith(`#/search/backend-internal/${w.id}/`), `the address names the message (got ${hash})`);
    const bar = await page.$eval('[data-testid="search-context"] .bar span', (e) => e.textContent ?? '');
    assert(bar.includes('searchable@backend-internal'), `the conversation is named (got ${bar})`);
    const before = await page.$$eval('[data-testid="context-message"]', (els) => els.length);
    assert(before === 30, `a page of 30 around the hit (got ${before})`);
    // Scrolling to the top loads the earlier messages.
    await page.$eval('[data-testid="search-context"] ol', (e) => (e.scrollTop = 0));
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="context-message"]').length === 48, null, { timeout: 10_000 });
    const first = await page.$eval('[data-testid="context-message"]', (e) => e.textContent ?? '');
    assert(first.includes('filler message number 0'), `the conversation's first message is there (got ${first})`);

    // Open the conversation itself.
    await page.click('[data-testid="search-open-conversation"]');
    await page.waitForFunction((id) => location.hash.includes(id), w.id, { timeout: 10_000 });
  });
}
