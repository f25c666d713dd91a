#!/usr/bin/env node
// End-to-end tests of tool calls and approvals in the web console: real headless
// Chromium, a real `yoi serve` whose `yoi.toml` grants the Companion yoi's own
// tools, and the mock OpenAI-compatible server making the calls
// (`[[tool:NAME ARGS]]` in a message).
//
//   YOI_BIN=target/debug/yoi MOCK_BIN=target/debug/yoi-mock-openai deno task e2e:tools
//
// Same environment and output as run.mjs: one line per scenario, `N passed, N
// failed` at the end, non-zero exit when anything failed.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { children, freePort, killAll, logFile, sleep, startMock } from './harness.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const ARTIFACTS = resolve(HERE, '..', process.env.ARTIFACTS_DIR ?? '../../test-artifacts');
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const YOI_BIN = process.env.YOI_BIN;
const MOCK_BIN = process.env.MOCK_BIN;
const API_KEY = 'test-key-e2e-tools';

// The Companion may list workers and read a transcript after asking, and ask
// another worker without asking.
const CONFIG = `
[profiles.companion.tools]
"yoi.list_workers" = "ask"
"yoi.read_transcript" = "ask"
"yoi.ask_worker" = "allow"
`;

const cleanups = [];
const results = { passed: 0, failed: 0 };

async function startServer(workspace, port, mockUrl) {
  const log = logFile('e2e-tools-yoi-serve.log');
  const env = { ...process.env, OPENAI_BASE_URL: mockUrl, OPENAI_API_KEY: API_KEY, RUST_LOG: process.env.RUST_LOG ?? 'info' };
  delete env.YOI_TOKEN;
  const child = spawn(YOI_BIN, ['serve', '--workspace', workspace, '--bind', `127.0.0.1:${port}`], { stdio: ['ignore', 'pipe', 'pipe'], env });
  children.add(child);
  child.stdout.on('data', (c) => log.write(c));
  child.stderr.on('data', (c) => log.write(c));
  let exited = null;
  child.on('exit', (code, signal) => (exited = { code, signal }));
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (exited) throw new Error(`yoi serve exited before it was healthy (${JSON.stringify(exited)})`);
    try {
      if ((await fetch(`${base}/api/health`)).ok) return base;
    } catch {
      // not up yet
    }
    await sleep(100);
  }
  throw new Error('yoi serve did not answer /api/health within 60 s');
}

function assert(cond, message) {
  if (!cond) throw new Error(message);
}

// ---------- page helpers ----------

const BAR = '[data-testid="approval-bar"]';
const CARD = '[data-testid="tool-call"]';

async function waitReady(page, timeout = 30_000) {
  await page.waitForSelector('[data-testid="connection-state"][data-state="live"]', { timeout });
  await page.waitForSelector('[data-testid="worker-state"]:is([data-state="idle"], [data-state="error"])', { timeout });
}

async function send(page, text) {
  await waitReady(page);
  await page.fill('[data-testid="composer"]', text);
  await page.waitForSelector('[data-testid="send"]:not([disabled])', { timeout: 10_000 });
  await page.press('[data-testid="composer"]', 'Enter');
  await page.waitForFunction(() => document.querySelector('[data-testid="composer"]')?.value === '', null, { timeout: 15_000 });
}

/** The last card of the named tool: its state, once it is `state`. */
async function waitCard(page, name, state, timeout = 30_000) {
  await page.waitForFunction(
    ({ sel, name, state }) => {
      const cards = [...document.querySelectorAll(sel)].filter((c) => c.getAttribute('data-name') === name);
      return cards.at(-1)?.getAttribute('data-state') === state;
    },
    { sel: CARD, name, state },
    { timeout },
  );
}

/** Waits until the last answer is finished (not live) and complete; returns its text. */
async function waitAnswerDone(page, timeout = 30_000) {
  const h = await page.waitForFunction(
    () => {
      const els = [...document.querySelectorAll('[data-testid="message"]')].filter((e) => e.getAttribute('data-role') === 'assistant');
      const last = els.at(-1);
      if (!last || last.hasAttribute('data-live') || last.getAttribute('data-state') !== 'complete') return null;
      return last.textContent ?? '';
    },
    null,
    { timeout },
  );
  return h.jsonValue();
}

/** Whether the approval bar has the focus; it takes it once it shows. */
async function barHasFocus(page) {
  try {
    await page.waitForFunction(() => document.activeElement?.getAttribute('data-testid') === 'approval-bar', null, { timeout: 5_000 });
    return true;
  } catch {
    const where = await page.evaluate(() => document.activeElement?.outerHTML.slice(0, 120) ?? 'nothing');
    console.log(`     focus is on ${where}`);
    return false;
  }
}

// ---------- the run ----------

async function main() {
  if (!YOI_BIN || !MOCK_BIN) {
    console.error('e2e tools: set YOI_BIN (the yoi binary) and MOCK_BIN (yoi-mock-openai)');
    return 1;
  }
  const workspace = mkdtempSync(join(tmpdir(), 'yoi-e2e-tools-ws-'));
  const profile = mkdtempSync(join(tmpdir(), 'yoi-e2e-tools-chromium-'));
  cleanups.push(() => rmSync(workspace, { recursive: true, force: true }));
  cleanups.push(() => rmSync(profile, { recursive: true, force: true }));
  writeFileSync(join(workspace, 'yoi.toml'), CONFIG);

  const mock = await startMock('e2e-tools-mock-openai.log');
  const base = await startServer(workspace, await freePort(), mock.url);
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1280, height: 860 },
  });
  cleanups.unshift(() => context.close().catch(() => {}));
  const page = context.pages()[0] ?? (await context.newPage());
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(String(e)));

  async function scenario(name, fn) {
    const started = Date.now();
    try {
      await fn();
      const html = await page.content();
      assert(!html.includes(API_KEY) && !html.includes(workspace), 'the page shows no key and no workspace path');
      results.passed++;
      console.log(`ok   ${name} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
    } catch (e) {
      results.failed++;
      mkdirSync(ARTIFACTS, { recursive: true });
      const slug = name.replace(/[^a-z0-9]+/gi, '-').toLowerCase();
      await page.screenshot({ path: join(ARTIFACTS, `web-console-tools-failed-${slug}.png`) }).catch(() => {});
      console.log(`FAIL ${name}: ${(e && e.message ? e.message : String(e)).split('\n')[0]}`);
    }
  }

  // A second worker to ask and to read.
  const notes = await (
    await fetch(`${base}/api/runtimes/backend-internal/workers`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ display_name: 'notes' }),
    })
  ).json();

  await page.goto(`${base}/`);

  await scenario('a call that asks: the bar takes focus, the list and the title mark the worker, `a` allows it', async () => {
    await send(page, 'Who is here? [[tool:yoi.list_workers {"limit":5}]]');
    await page.waitForSelector(BAR, { timeout: 20_000 });
    assert(await barHasFocus(page), 'the bar has the focus');
    const bar = await page.textContent(BAR);
    assert(bar.includes('yoi.list_workers') && bar.includes('"limit":5'), `the bar names the call and its arguments (got ${bar})`);
    await waitCard(page, 'yoi.list_workers', 'waiting_approval');
    await page.waitForSelector('[data-testid="worker-waiting"]', { timeout: 10_000 });
    await page.waitForFunction(() => document.title.includes('waiting for approval'), null, { timeout: 10_000 });
    await page.keyboard.press('a');
    await waitCard(page, 'yoi.list_workers', 'ok');
    const answer = await waitAnswerDone(page);
    assert(answer.includes('[call_'), `the answer quotes the result (got ${answer.slice(0, 200)})`);
    await page.waitForSelector(BAR, { state: 'detached', timeout: 10_000 });
    await page.waitForSelector('[data-testid="worker-waiting"]', { state: 'detached', timeout: 10_000 });
    assert(!(await page.title()).includes('waiting'), 'the title no longer says waiting');
    // The card sits before the answer's text, and its result opens.
    const card = page.locator(CARD).last();
    const toggle = card.locator('[data-testid="tool-result-toggle"]');
    if ((await toggle.count()) > 0) await toggle.click();
    const resultText = await card.locator('[data-testid="tool-result"] pre').textContent();
    assert(resultText.includes('notes'), `the result lists the workers (got ${resultText.slice(0, 200)})`);
  });

  await scenario('a deny from the keyboard: the card says denied, the run goes on', async () => {
    await send(page, 'Read it. [[tool:yoi.read_transcript {"worker":"notes"}]]');
    await page.waitForSelector(BAR, { timeout: 20_000 });
    assert(await barHasFocus(page), 'the bar has the focus');
    await page.keyboard.press('d');
    await waitCard(page, 'yoi.read_transcript', 'denied');
    await waitAnswerDone(page);
    await page.waitForSelector(BAR, { state: 'detached', timeout: 10_000 });
  });

  await scenario('two pages: one answers with Enter, the other page’s bar clears', async () => {
    const other = await context.newPage();
    other.on('pageerror', (e) => pageErrors.push(String(e)));
    await other.goto(`${base}/`);
    await waitReady(other);
    await send(page, 'Again. [[tool:yoi.list_workers {}]]');
    await page.waitForSelector(BAR, { timeout: 20_000 });
    await other.waitForSelector(BAR, { timeout: 20_000 });
    await other.focus(BAR);
    await other.keyboard.press('Enter');
    await other.waitForSelector(BAR, { state: 'detached', timeout: 10_000 });
    // The page that did not answer learns it from the event and clears quietly.
    await page.waitForSelector(BAR, { state: 'detached', timeout: 10_000 });
    await waitCard(page, 'yoi.list_workers', 'ok');
    for (const p of [page, other]) {
      assert((await p.$('[data-notice="approval"]')) === null, 'no error shown');
    }
    await waitAnswerDone(page);
    await other.close();
  });

  await scenario('reload while waiting: the bar comes back from the snapshot; `A` allows the tool for the conversation', async () => {
    await send(page, 'List. [[tool:yoi.list_workers {}]]');
    await page.waitForSelector(BAR, { timeout: 20_000 });
    await page.reload();
    await page.waitForSelector(BAR, { timeout: 20_000 });
    await waitCard(page, 'yoi.list_workers', 'waiting_approval');
    assert(await barHasFocus(page), 'the bar has the focus after the reload');
    await page.keyboard.press('Shift+A');
    await waitCard(page, 'yoi.list_workers', 'ok');
    await waitAnswerDone(page);
    // Remembered for this worker: the next call runs without asking.
    await send(page, 'Once more. [[tool:yoi.list_workers {}]]');
    await waitAnswerDone(page);
    const cards = await page.$$eval(CARD, (cs) => cs.map((c) => c.getAttribute('data-state')));
    assert(cards.at(-1) === 'ok', `the last call ran (got ${cards.at(-1)})`);
    assert((await page.$(BAR)) === null, 'nothing asked');
  });

  await scenario('a call is shown while it runs, with its elapsed time, after a reload, and after it ended', async () => {
    // `notes` is busy with a slow answer, so asking it waits for that answer.
    const path = `/api/runtimes/backend-internal/workers/${notes.worker_id}/input`;
    const busy = await fetch(`${base}${path}`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ text: '[[slow:150]] [[tokens:30]] busy' }) });
    assert(busy.status === 202, `notes took the slow input (${busy.status})`);
    await send(page, 'Ask notes. [[tool:yoi.ask_worker {"worker":"notes","text":"hello notes"}]]');
    await waitCard(page, 'yoi.ask_worker', 'running');
    const live = await page.$(`[data-testid="message"][data-live] ${CARD}[data-state="running"]`);
    assert(live !== null, 'the running card is inside the answer being written');
    await page.waitForFunction(
      (sel) => /running \d+(\.\d)? s/.test(document.querySelector(`${sel}[data-state="running"] [data-testid="tool-state"]`)?.textContent ?? ''),
      CARD,
      { timeout: 10_000 },
    );
    // A reload meanwhile shows the call again, still running, from the snapshot.
    await page.reload();
    await waitCard(page, 'yoi.ask_worker', 'running');
    await waitCard(page, 'yoi.ask_worker', 'ok', 60_000);
    const text = await waitAnswerDone(page, 60_000);
    assert(text.includes('hello notes'), `the answer quotes notes' reply (got ${text.slice(0, 200)})`);
    const state = await page.locator(CARD).last().locator('[data-testid="tool-state"]').textContent();
    assert(/^ok · /.test(state), `the finished card shows its time (got ${state})`);
  });

  await scenario('export holds the tool calls', async () => {
    const [download] = await Promise.all([page.waitForEvent('download', { timeout: 10_000 }), page.click('[data-testid="export"]')]);
    const text = readFileSync(await download.path(), 'utf8');
    assert(text.includes('**Tool call** `yoi.list_workers`'), 'the list call is in it');
    assert(text.includes('**Tool call** `yoi.read_transcript` — denied'), 'the denied call is in it');
    assert(text.includes('"worker": "notes"'), 'with its arguments');
    assert(!text.includes(API_KEY) && !text.includes(workspace), 'no key, no path');
  });

  await scenario('no uncaught errors in the pages', async () => {
    assert(pageErrors.length === 0, pageErrors.join(' | '));
  });
  return results.failed === 0 ? 0 : 1;
}

let code = 1;
try {
  code = await main();
} catch (e) {
  results.failed++;
  console.log(`FAIL e2e tools setup: ${e && e.message ? e.message : String(e)}`);
  code = 1;
} finally {
  for (const fn of cleanups) {
    try {
      await fn();
    } catch {
      // best effort
    }
  }
  killAll();
}
console.log(`${results.passed} passed, ${results.failed} failed`);
process.exit(code);
