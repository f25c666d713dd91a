#!/usr/bin/env node
// End-to-end tests of the web console in real headless Chromium, against a real
// `yoi serve` and the mock OpenAI-compatible server.
//
//   YOI_BIN=target/debug/yoi MOCK_BIN=target/debug/yoi-mock-openai deno task e2e
//
// Environment:
//   YOI_BIN        the built `yoi` binary (required)
//   MOCK_BIN       the built `yoi-mock-openai` binary (required)
//   CHROMIUM       the browser (default /usr/bin/chromium)
//   ARTIFACTS_DIR  where screenshots and server logs go (default <repo>/test-artifacts)
//
// Prints one line per scenario and `N passed, N failed` at the end; exits non-zero
// when anything failed. Child processes are always killed.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { children, freePort, killAll, logFile, sleep, startMock } from './harness.mjs';
import { usageScenarios } from './usage.mjs';
import { searchScenarios } from './search.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const WEB_DIR = resolve(HERE, '..');
const ARTIFACTS = resolve(WEB_DIR, process.env.ARTIFACTS_DIR ?? '../../test-artifacts');
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const YOI_BIN = process.env.YOI_BIN;
const MOCK_BIN = process.env.MOCK_BIN;
const API_KEY = 'test-key-e2e';

const cleanups = [];
let results = { passed: 0, failed: 0, skipped: 0 };

// ---------- processes ----------

async function startServer({ workspace, port, mockUrl, host = '127.0.0.1', token = null, provider = true }) {
  const log = logFile('e2e-yoi-serve.log');
  log.write(`\n--- yoi serve on ${host}:${port} at ${new Date().toISOString()}\n`);
  const env = { ...process.env, OPENAI_BASE_URL: mockUrl, OPENAI_API_KEY: API_KEY, RUST_LOG: process.env.RUST_LOG ?? 'info' };
  if (token) env.YOI_TOKEN = token;
  else delete env.YOI_TOKEN;
  if (!provider) {
    // The default base URL needs a key, and there is none.
    delete env.OPENAI_API_KEY;
    delete env.OPENAI_BASE_URL;
  }
  const child = spawn(YOI_BIN, ['serve', '--workspace', workspace, '--bind', `${host}:${port}`], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env,
  });
  children.add(child);
  child.stdout.on('data', (c) => log.write(c));
  child.stderr.on('data', (c) => log.write(c));
  let exited = null;
  child.on('exit', (code, signal) => {
    exited = { code, signal };
    children.delete(child);
  });
  // A server on every interface is reached here through loopback.
  const base = `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`;
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (exited) throw new Error(`yoi serve exited before it was healthy (${JSON.stringify(exited)})`);
    try {
      const res = await fetch(`${base}/api/health`, token ? { headers: { Authorization: `Bearer ${token}` } } : {});
      if (res.ok) return { child, base };
    } catch {
      // not up yet
    }
    await sleep(100);
  }
  throw new Error('yoi serve did not answer /api/health within 60 s');
}

function stopProcess(child) {
  return new Promise((res) => {
    if (child.exitCode !== null || child.signalCode !== null) return res();
    child.once('exit', () => res());
    child.kill('SIGKILL');
  });
}

/** SIGTERM, so that the process can clean up after itself; SIGKILL after `ms`. */
function stopGracefully(child, ms = 5_000) {
  return new Promise((res) => {
    if (child.exitCode !== null || child.signalCode !== null) return res();
    const timer = setTimeout(() => child.kill('SIGKILL'), ms);
    child.once('exit', () => {
      clearTimeout(timer);
      res();
    });
    child.kill('SIGTERM');
  });
}


// ---------- page helpers ----------

const MESSAGE = '[data-testid="message"]';

async function messages(page) {
  return page.$$eval(MESSAGE, (els) =>
    els.map((e) => ({
      id: e.getAttribute('data-message-id'),
      role: e.getAttribute('data-role'),
      state: e.getAttribute('data-state'),
      local: e.hasAttribute('data-local'),
      live: e.hasAttribute('data-live'),
      // Without the copy buttons, whose label changes for a moment after a click.
      text: (() => {
        const copy = e.cloneNode(true);
        for (const b of copy.querySelectorAll('button')) b.remove();
        return copy.textContent ?? '';
      })(),
    })),
  );
}

async function waitConnection(page, state, timeout = 20_000) {
  await page.waitForSelector(`[data-testid="connection-state"][data-state="${state}"]`, { timeout });
}

async function waitReady(page, timeout = 30_000) {
  await waitConnection(page, 'live', timeout);
  await page.waitForSelector('[data-testid="worker-state"]:is([data-state="idle"], [data-state="error"])', { timeout });
}

async function send(page, text) {
  await waitReady(page);
  await page.fill('[data-testid="composer"]', text);
  await page.waitForSelector('[data-testid="send"]:not([disabled])', { timeout: 10_000 });
  await page.press('[data-testid="composer"]', 'Enter');
  // The draft clears once the server accepted it.
  await page.waitForFunction(
    () => document.querySelector('[data-testid="composer"]')?.value === '',
    null,
    { timeout: 15_000 },
  );
}

/**
 * Waits until the last assistant message is no longer streaming and matches
 * `want` ({state?, includes?}); returns it. Declarative, so it works under a strict CSP.
 */
async function waitAnswer(page, want, timeout = 30_000) {
  const handle = await page.waitForFunction(
    ({ sel, want }) => {
      const els = [...document.querySelectorAll(sel)].filter((e) => e.getAttribute('data-role') === 'assistant');
      const last = els.at(-1);
      if (!last || last.hasAttribute('data-live')) return null;
      const m = { state: last.getAttribute('data-state'), text: last.textContent ?? '' };
      if (want.state && m.state !== want.state) return null;
      if (want.includes && !m.text.includes(want.includes)) return null;
      return m;
    },
    { sel: MESSAGE, want },
    { timeout },
  );
  return handle.jsonValue();
}

async function countState(page, state) {
  return (await messages(page)).filter((m) => m.role === 'assistant' && m.state === state).length;
}

async function waitStreamingText(page, timeout = 20_000) {
  await page.waitForFunction(
    (sel) => {
      const live = document.querySelector(`${sel}[data-live]`);
      return !!live && (live.querySelector('.markdown')?.textContent ?? '').trim().length > 0;
    },
    MESSAGE,
    { timeout },
  );
}

/** A non-loopback IPv4 address of this machine, as a LAN client would use. */
/** A name the browser resolves to this machine (see --host-resolver-rules): a
 * plain-http origin that is not localhost, as a LAN address is, on every machine. */
const LAN_NAME = 'yoi-lan.test';

/** Message ids of the Companion's transcript, straight from the server. */
async function serverTranscriptIds(base) {
  const companion = await (await fetch(`${base}/api/companion`)).json();
  const path = `/api/runtimes/${encodeURIComponent(companion.runtime_id)}/workers/${encodeURIComponent(companion.worker_id)}/transcript?limit=1000`;
  const transcript = await (await fetch(`${base}${path}`)).json();
  return transcript.messages.map((m) => m.id);
}

/** Waits until `GET /api/runtimes` lists `id` as available; returns its summary. */
async function waitRuntimeAvailable(base, id, timeout = 20_000) {
  const deadline = Date.now() + timeout;
  let last = null;
  while (Date.now() < deadline) {
    try {
      const { runtimes } = await (await fetch(`${base}/api/runtimes`)).json();
      last = runtimes.find((r) => r.runtime_id === id) ?? null;
      if (last && last.status === 'available') return last;
    } catch {
      // not answering yet
    }
    await sleep(100);
  }
  throw new Error(`runtime ${id} not available within ${timeout / 1000} s (last seen ${JSON.stringify(last)})`);
}

/** The processes whose parent is `pid`, each with its command line (Linux /proc). */
function childProcesses(pid) {
  const out = [];
  let tasks = [];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const task of tasks) {
    let children = '';
    try {
      children = readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8');
    } catch {
      continue;
    }
    for (const child of children.split(/\s+/).filter(Boolean).map(Number)) {
      try {
        out.push({ pid: child, args: readFileSync(`/proc/${child}/cmdline`, 'utf8').split('\0').filter(Boolean) });
      } catch {
        // gone meanwhile
      }
    }
  }
  return out;
}

function processAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function assert(cond, message) {
  if (!cond) throw new Error(message);
}

async function screenshot(page, name) {
  mkdirSync(ARTIFACTS, { recursive: true });
  const path = join(ARTIFACTS, `web-console-${name}.png`);
  await page.screenshot({ path, fullPage: false });
  return path;
}

// ---------- the run ----------

async function main() {
  if (!YOI_BIN || !MOCK_BIN) {
    console.error('e2e: set YOI_BIN (the yoi binary) and MOCK_BIN (yoi-mock-openai)');
    console.log('0 passed, 1 failed');
    return 1;
  }
  mkdirSync(ARTIFACTS, { recursive: true });
  // Screenshots of an earlier run would mislead: only this run's are kept.
  for (const name of readdirSync(ARTIFACTS)) {
    if (/^web-console-.*\.png$/.test(name)) rmSync(join(ARTIFACTS, name), { force: true });
  }
  const workspace = mkdtempSync(join(tmpdir(), 'yoi-e2e-ws-'));
  const profile = mkdtempSync(join(tmpdir(), 'yoi-e2e-chromium-'));
  cleanups.push(() => rmSync(workspace, { recursive: true, force: true }));
  cleanups.push(() => rmSync(profile, { recursive: true, force: true }));

  // A second profile, for "New conversation".
  writeFileSync(join(workspace, 'yoi.toml'), '[profiles.terse]\nmodel = "terse-model"\ndescription = "Short answers"\n');

  const mock = await startMock('e2e-mock-openai.log');
  const port = await freePort();
  let server = await startServer({ workspace, port, mockUrl: mock.url });
  const base = server.base;

  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      `--host-resolver-rules=MAP ${LAN_NAME} 127.0.0.1`,
    ],
    viewport: { width: 1280, height: 860 },
  });
  cleanups.unshift(() => context.close().catch(() => {}));
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: base }).catch(() => {});
  const page = context.pages()[0] ?? (await context.newPage());
  const pageErrors = [];
  const dialogs = [];
  // Every URL the page fetched, to tell when the highlighter was loaded.
  const requested = [];
  page.on('request', (r) => requested.push(r.url()));
  const HIGHLIGHTER = /\/assets\/core-[\w-]+\.js$/;
  let highlighterBeforeCode = null;
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  // Anything the console's Content-Security-Policy blocked (inline script or
  // style, a connection elsewhere) shows up as a console error.
  const cspViolations = [];
  page.on('console', (m) => {
    if (m.type() === 'error' && /Content Security Policy/i.test(m.text())) cspViolations.push(m.text());
  });
  page.on('dialog', (d) => {
    dialogs.push(d.message());
    void d.dismiss();
  });
  // Every worker socket the page opens, with the frames the server sent on it, so
  // the restart scenario can tell what the server replayed.
  const workerSockets = [];
  page.on('websocket', (ws) => {
    if (!ws.url().includes('/workers/')) return;
    const record = { url: ws.url(), frames: [] };
    workerSockets.push(record);
    ws.on('framereceived', (f) => {
      try {
        record.frames.push(JSON.parse(String(f.payload)));
      } catch {
        // not JSON: the page ignores it too
      }
    });
  });

  const leaks = [];
  // What no page may show; scenarios add their own (a runtime's socket path, ...).
  const secrets = [
    ['API key', API_KEY],
    ['workspace path', workspace],
  ];
  async function checkNoSecrets(where, p = page) {
    const html = await p.content();
    const text = await p.evaluate(() => document.body.innerText);
    for (const [what, needle] of secrets) {
      if (html.includes(needle) || text.includes(needle)) leaks.push(`${what} visible ${where}`);
    }
  }

  async function scenario(name, fn) {
    const started = Date.now();
    try {
      const outcome = await fn();
      if (outcome && outcome.skip) {
        results.skipped++;
        console.log(`skip ${name}: ${outcome.skip}`);
        return;
      }
      await checkNoSecrets(`after "${name}"`);
      results.passed++;
      console.log(`ok   ${name} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
    } catch (e) {
      results.failed++;
      const slug = name.replace(/[^a-z0-9]+/gi, '-').toLowerCase();
      await screenshot(page, `failed-${slug}`).catch(() => {});
      console.log(`FAIL ${name}: ${(e && e.message ? e.message : String(e)).split('\n')[0]}`);
    }
  }

  await scenario('console loads, resolves the Companion and goes live', async () => {
    await page.goto(`${base}/`);
    await waitReady(page);
    const title = await page.textContent('.status .title');
    assert(title && title.includes('@'), `status bar names the worker (got ${JSON.stringify(title)})`);
  });

  await scenario('send and see the streamed answer', async () => {
    await send(page, 'hello from the e2e test');
    const answer = await waitAnswer(page, { state: 'complete', includes: 'You said:' });
    assert(answer.text.includes('hello from the e2e test'), `answer echoes the input (got ${JSON.stringify(answer.text)})`);
    const all = await messages(page);
    assert(all.filter((m) => m.role === 'user' && m.text.includes('hello from the e2e test')).length === 1, 'the user message shows once');
    await page.waitForSelector('[data-testid="last-run"]', { timeout: 5_000 });
    await waitReady(page);
    await screenshot(page, 'answer');
  });

  await scenario('stream shows partial text, Stop button cancels it', async () => {
    const cancelled = await countState(page, 'cancelled');
    await send(page, '[[slow]] count slowly please');
    await waitStreamingText(page);
    await page.click('[data-testid="stop"]');
    const answer = await waitAnswer(page, { state: 'cancelled' });
    assert((await countState(page, 'cancelled')) === cancelled + 1, 'one more cancelled answer');
    assert(answer.text.includes('Stopped'), 'a cancelled marker is shown');
    await waitReady(page);
  });

  await scenario('Escape cancels a slow answer', async () => {
    const cancelled = await countState(page, 'cancelled');
    await send(page, '[[slow]] and again slowly');
    await waitStreamingText(page);
    await page.keyboard.press('Escape');
    await waitAnswer(page, { state: 'cancelled' });
    assert((await countState(page, 'cancelled')) === cancelled + 1, 'one more cancelled answer');
    await waitReady(page);
    await screenshot(page, 'cancelled');
  });

  await scenario('while an answer streams Enter queues; queued messages show dimmed, one is removed, Escape stops and the queue runs', async () => {
    await send(page, '[[slow]] [[tokens:200]] a long answer');
    await waitStreamingText(page);
    const label = (await page.textContent('[data-testid="send"]'))?.trim();
    assert(label === 'Queue', `the button says it queues (got ${JSON.stringify(label)})`);
    for (const text of ['queued one', 'queued two']) {
      await page.fill('[data-testid="composer"]', text);
      await page.press('[data-testid="composer"]', 'Enter');
      await page.waitForFunction(() => document.querySelector('[data-testid="composer"]')?.value === '', null, {
        timeout: 15_000,
      });
    }
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="queued"]').length === 2, null, {
      timeout: 10_000,
    });
    const opacity = await page.$eval('[data-testid="queued"]', (e) => Number(getComputedStyle(e).opacity));
    assert(opacity < 1, `queued messages are dimmed (opacity ${opacity})`);
    const afterLive = await page.$eval('[data-testid="queue"]', (q) => q.previousElementSibling?.hasAttribute('data-live'));
    assert(afterLive, 'the queue shows under the answer in flight');
    await screenshot(page, 'queued');
    await page.click('[data-testid="queued"]:nth-child(2) [data-testid="remove-queued"]');
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="queued"]').length === 1, null, {
      timeout: 10_000,
    });
    await page.keyboard.press('Escape');
    await waitAnswer(page, { state: 'complete', includes: 'queued one' });
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="queued"]').length === 0, null, {
      timeout: 10_000,
    });
    const all = await messages(page);
    assert(all.filter((m) => m.role === 'user' && m.text.includes('queued one')).length === 1, 'the queued message ran once');
    assert(!all.some((m) => m.text.includes('queued two')), 'the removed message never ran');
    assert(all.some((m) => m.role === 'assistant' && m.state === 'cancelled'), 'Escape stopped the long answer');
    await waitReady(page);
  });

  await scenario('a provider error is shown in plain words', async () => {
    await send(page, '[[error:500]] please fail');
    const answer = await waitAnswer(page, { state: 'failed' }, 45_000);
    assert(answer.text.includes('The model provider answered with an error'), `plain words (got ${JSON.stringify(answer.text)})`);
    assert(answer.text.includes('The provider answered 500: mock error 500'), `the provider’s own message is shown (got ${JSON.stringify(answer.text)})`);
    assert(!/[{}]/.test(answer.text), `no raw JSON in the error (got ${JSON.stringify(answer.text)})`);
    await page.waitForSelector('[data-testid="worker-state"][data-state="error"]', { timeout: 5_000 });
    await screenshot(page, 'error');
  });

  await scenario('model output with <script> never runs', async () => {
    await page.evaluate(() => {
      delete window.__yoiPwned;
    });
    await send(page, 'echo this: <script>window.__yoiPwned = 1</script><img src=x onerror="window.__yoiPwned = 2">');
    await waitAnswer(page, { state: 'complete', includes: 'echo this' });
    const blocks = await page.$$eval('.code-block', (e) => e.length);
    highlighterBeforeCode = requested.some((u) => HIGHLIGHTER.test(u));
    await send(page, '[[markdown]] show me some code');
    await waitAnswer(page, { state: 'complete' });
    await page.waitForFunction((n) => document.querySelectorAll('.code-block button[data-copy-code]').length > n, blocks, {
      timeout: 5_000,
    });
    const scripts = await page.$$eval('[data-testid="transcript"] script, [data-testid="transcript"] img', (e) => e.length);
    assert(scripts === 0, `no script or img element in the transcript (found ${scripts})`);
    const flag = await page.evaluate(() => window.__yoiPwned);
    assert(flag === undefined, `the payload ran (window.__yoiPwned = ${flag})`);
    assert(dialogs.length === 0, `a dialog opened: ${dialogs.join(', ')}`);
    // The copy button copies the code block.
    const button = page.locator('.code-block button[data-copy-code]').last();
    await button.click();
    await page.waitForFunction(
      () => [...document.querySelectorAll('.code-block button[data-copy-code]')].some((b) => b.textContent === 'Copied'),
      null,
      { timeout: 5_000 },
    );
    await screenshot(page, 'markdown');
  });

  await scenario('code blocks are highlighted by a highlighter loaded only once code appears; the sanitiser holds', async () => {
    assert(highlighterBeforeCode === false, 'the highlighter was fetched before any code block was shown');
    await page.waitForSelector('[data-testid="transcript"] code[data-highlighted="rust"] .hljs-keyword', { timeout: 10_000 });
    assert(requested.some((u) => HIGHLIGHTER.test(u)), 'the highlighter chunk was fetched');
    const attrs = await page.$$eval('[data-testid="transcript"] code[data-highlighted] *', (els) =>
      els.flatMap((e) => [...e.attributes].map((a) => `${e.tagName}.${a.name}`)),
    );
    assert(attrs.every((a) => a === 'SPAN.class'), `highlighted code holds only spans with classes (got ${[...new Set(attrs)].join(', ')})`);
    const scripts = await page.$$eval('[data-testid="transcript"] script, [data-testid="transcript"] img', (e) => e.length);
    assert(scripts === 0, `no script or img element in the transcript (found ${scripts})`);
    const text = await page.textContent('[data-testid="transcript"] code[data-highlighted="rust"]');
    assert(text.includes('println!("hello from the mock");'), `the code reads as before (got ${JSON.stringify(text)})`);
  });

  await scenario('copy a whole message', async () => {
    const last = page.locator('[data-testid="message"][data-role="assistant"]').last();
    await last.locator('[data-testid="copy-message"]').click();
    await page.waitForFunction(
      () => [...document.querySelectorAll('[data-testid="copy-message"]')].some((b) => b.textContent?.trim() === 'Copied'),
      null,
      { timeout: 5_000 },
    );
    const copied = await page.evaluate(() => navigator.clipboard.readText());
    assert(copied.startsWith('# Mock answer') && copied.includes('```rust'), `the message's Markdown was copied (got ${JSON.stringify(copied.slice(0, 60))})`);
  });

  await scenario('reasoning is shown folded, and it and the last run survive a reload', async () => {
    await send(page, '[[reasoning]] think before you answer');
    await waitAnswer(page, { state: 'complete', includes: 'think before you answer' });
    const lastAnswer = () =>
      page.evaluate((sel) => {
        const el = [...document.querySelectorAll(sel)].filter((e) => e.getAttribute('data-role') === 'assistant').at(-1);
        const folded = el?.querySelector('details[data-testid="reasoning"]');
        return folded ? { open: folded.open, text: folded.textContent ?? '' } : null;
      }, MESSAGE);
    const live = await lastAnswer();
    assert(live && live.text.includes('Thinking about the answer.'), `the reasoning is shown (got ${JSON.stringify(live)})`);
    assert(!live.open, 'the reasoning is folded');
    await waitReady(page);
    const lastRun = (await page.textContent('[data-testid="last-run"]'))?.trim();
    const before = await messages(page);
    await page.reload();
    await waitReady(page);
    const after = await messages(page);
    assert(
      JSON.stringify(after.map((m) => [m.id, m.text])) === JSON.stringify(before.filter((m) => !m.local).map((m) => [m.id, m.text])),
      `the same transcript after the reload (before ${before.length} with placeholders, after ${after.length})`,
    );
    const reloaded = await lastAnswer();
    assert(reloaded && reloaded.text.includes('Thinking about the answer.'), `the reasoning survives the reload (got ${JSON.stringify(reloaded)})`);
    assert(!reloaded.open, 'still folded after the reload');
    const lastRunAfter = (await page.textContent('[data-testid="last-run"]', { timeout: 5_000 }))?.trim();
    assert(lastRunAfter && /\d+ in · \d+ out · \d/.test(lastRunAfter), `tokens and duration after the reload (got ${JSON.stringify(lastRunAfter)})`);
    assert(lastRunAfter === lastRun, `the same last run after the reload (before ${JSON.stringify(lastRun)}, after ${JSON.stringify(lastRunAfter)})`);
    await page.locator('[data-testid="message"][data-role="assistant"] details[data-testid="reasoning"] summary').last().click();
    await screenshot(page, 'reasoning');
  });

  // The server is killed and started again on the same port and workspace. Workers
  // survive that (same Companion, transcript), so the page resumes with its cursor
  // and gets a reset snapshot: nothing lost, nothing repeated, no seq reused. Two
  // scenarios, so that a failure says which promise broke.
  let restarted = false;
  await scenario('server restarted mid-session: the page resumes the same Companion with no lost and no repeated messages', async () => {
    await waitReady(page);
    const view = (list) => list.map((m) => ({ id: m.id, role: m.role, state: m.state, text: m.text }));
    const before = view(await messages(page));
    assert(before.length >= 4, `there is a transcript to keep (${before.length} messages)`);
    const companionBefore = await (await fetch(`${base}/api/companion`)).json();
    const titleBefore = await page.textContent('.status .title');
    const lastRunBefore = await page.textContent('[data-testid="last-run"]');
    const socketsBefore = workerSockets.length;

    await stopProcess(server.child);
    await waitConnection(page, 'reconnecting', 15_000);
    await screenshot(page, 'reconnecting');
    server = await startServer({ workspace, port, mockUrl: mock.url });
    await waitConnection(page, 'live', 45_000);
    await waitReady(page);
    assert((await page.textContent('[data-testid="last-run"]')) === lastRunBefore, 'the last run is still shown');
    // A marker: a run whose events follow, on the resumed socket, anything
    // the server might (wrongly) replay. Frames are ordered, so once its
    // answer is shown every such frame has arrived.
    await send(page, 'marker once resumed');
    await waitAnswer(page, { state: 'complete', includes: 'marker once resumed' });

    const after = view(await messages(page)).slice(0, -2);
    assert(after.length === before.length, `the same number of messages (before ${before.length}, after ${after.length})`);
    const ids = after.map((m) => m.id);
    assert(new Set(ids).size === ids.length, `no message repeated (ids: ${ids.join(',')})`);
    const changed = after.filter((m, i) => JSON.stringify(m) !== JSON.stringify(before[i]));
    assert(changed.length === 0, `the same messages, texts and states (${changed.length} differ, first ${JSON.stringify(changed[0])})`);

    const companionAfter = await (await fetch(`${server.base}/api/companion`)).json();
    assert(companionAfter.worker_id === companionBefore.worker_id, 'the server kept the Companion');
    assert((await page.textContent('.status .title')) === titleBefore, 'the page shows the same Companion');
    assert((await page.$('[data-notice="companion-replaced"]')) === null, 'no “new Companion” notice');

    // What the server sent on the resumed socket. The server was killed, so it
    // cannot know which events it handed out last: it goes on above all of them
    // and the resumed socket starts with an explicit reset snapshot; never an
    // event with a seq the page already had.
    const resumed = workerSockets.slice(socketsBefore);
    assert(resumed.length >= 1, 'the page opened a new worker socket');
    for (const socket of resumed) {
      const cursor = Number(new URL(socket.url).searchParams.get('cursor'));
      assert(Number.isFinite(cursor) && cursor > 0, `resumed with a cursor (${socket.url.replace(/token=[^&]*/, 'token=…')})`);
      const snapshots = socket.frames.filter((f) => f.type === 'snapshot');
      assert(
        snapshots.every((f) => f.reset === true && f.reason === 'cursor_expired' && f.seq > cursor),
        `only a reset snapshot above the cursor (got ${snapshots.map((f) => `${f.reason}@${f.seq}`).join(',')}, cursor ${cursor})`,
      );
      const replayed = socket.frames.filter((f) => f.type !== 'snapshot' && typeof f.seq === 'number' && f.seq <= cursor);
      assert(replayed.length === 0, `no seq handed out twice (${replayed.length} events at or below cursor ${cursor})`);
    }

    // The page matches the server's own transcript (client placeholders aside).
    const serverIds = await serverTranscriptIds(server.base);
    const pageIds = (await messages(page)).filter((m) => !m.local).map((m) => m.id);
    assert(JSON.stringify(pageIds) === JSON.stringify(serverIds), `the page shows the server's transcript (page ${pageIds.length}, server ${serverIds.length})`);
    await screenshot(page, 'restarted');
    restarted = true;
  });

  await scenario('server restarted mid-session: the page sends again and sees the answer', async () => {
    assert(restarted, 'the restart scenario did not get that far');
    const count = (await messages(page)).length;
    await send(page, 'after the restart');
    const answer = await waitAnswer(page, { state: 'complete', includes: 'after the restart' });
    assert(answer.text.includes('You said:'), `the mock's answer (got ${JSON.stringify(answer.text)})`);
    const final = await messages(page);
    assert(final.length === count + 2, `one question and one answer more (was ${count}, now ${final.length})`);
    const finalIds = final.map((m) => m.id);
    assert(new Set(finalIds).size === finalIds.length, 'still no repeats');
    assert(
      JSON.stringify(final.filter((m) => !m.local).map((m) => m.id)) === JSON.stringify(await serverTranscriptIds(server.base)),
      'the page still matches the server',
    );
    assert(final.filter((m) => m.role === 'user' && m.text.includes('after the restart')).length === 1, 'the question shows once');
  });

  await scenario('plain http on a LAN address with a token: strips it, goes live, answers, copies', async () => {
    // Bound off loopback (a token is required, any Host is accepted) and opened
    // under a name that is not localhost: the page is not a secure context,
    // exactly as on a LAN address, and no machine skips this.
    const lanToken = 'e2e-lan-token-0123456789';
    const lanWorkspace = mkdtempSync(join(tmpdir(), 'yoi-e2e-lan-'));
    cleanups.push(() => rmSync(lanWorkspace, { recursive: true, force: true }));
    const lanPort = await freePort();
    const lanServer = await startServer({ workspace: lanWorkspace, port: lanPort, mockUrl: mock.url, host: '0.0.0.0', token: lanToken });
    const lan = await context.newPage();
    lan.on('pageerror', (e) => pageErrors.push(`lan: ${e}`));
    try {
      await lan.goto(`http://${LAN_NAME}:${lanPort}/?token=${lanToken}`);
      await waitReady(lan);
      assert((await lan.evaluate(() => window.isSecureContext)) === false, 'the LAN page is not a secure context');
      assert(!lan.url().includes('token'), `the token is gone from the address bar (${lan.url()})`);
      await send(lan, '[[markdown]] over the LAN');
      await waitAnswer(lan, { state: 'complete' });
      await lan.locator('.code-block button[data-copy-code]').last().click();
      await lan.waitForFunction(
        () => [...document.querySelectorAll('.code-block button[data-copy-code]')].some((b) => b.textContent === 'Copied'),
        null,
        { timeout: 5_000 },
      );
      // A reload keeps working without the token in the address.
      await lan.reload();
      await waitReady(lan);
      const html = await lan.content();
      assert(!html.includes(lanToken), 'the token is not shown on the page');
      assert(!html.includes(API_KEY) && !html.includes(lanWorkspace), 'no key or path on the page');
      await screenshot(lan, 'lan');
    } finally {
      await lan.close().catch(() => {});
      await stopProcess(lanServer.child);
    }
  });

  await scenario('no provider configured: a notice, and sending says what to set', async () => {
    const bare = mkdtempSync(join(tmpdir(), 'yoi-e2e-bare-'));
    cleanups.push(() => rmSync(bare, { recursive: true, force: true }));
    const bareServer = await startServer({ workspace: bare, port: await freePort(), mockUrl: mock.url, provider: false });
    const p = await context.newPage();
    p.on('pageerror', (e) => pageErrors.push(`unconfigured: ${e}`));
    try {
      await p.goto(`${bareServer.base}/`);
      await waitReady(p);
      const providerWords = await (await p.waitForSelector('[data-notice="provider"]', { timeout: 10_000 })).textContent();
      assert(providerWords.includes('No API key for the provider: set OPENAI_API_KEY'), `the server’s hint is shown (got ${JSON.stringify(providerWords)})`);
      await p.fill('[data-testid="composer"]', 'is anyone there?');
      await p.press('[data-testid="composer"]', 'Enter');
      const notice = await p.waitForSelector('[data-notice="send"]', { timeout: 10_000 });
      const words = await notice.textContent();
      assert(words.includes('No model provider is configured'), `plain words (got ${JSON.stringify(words)})`);
      assert(words.includes('Nothing was sent'), `says the message was not sent (got ${JSON.stringify(words)})`);
      const draft = await p.inputValue('[data-testid="composer"]');
      assert(draft === 'is anyone there?', 'the draft survives the failed send');
      await screenshot(p, 'unconfigured');
    } finally {
      await p.close().catch(() => {});
      await stopProcess(bareServer.child);
    }
  });

  // A `local` runtime: the backend starts `yoi runtime serve --unix` itself. The
  // console lists it with its kind and status and talks to its worker exactly as
  // to the backend's own.
  await scenario('a local runtime: listed with its kind and status; its worker answers and stops', async () => {
    const localWorkspace = mkdtempSync(join(tmpdir(), 'yoi-e2e-local-'));
    cleanups.push(() => rmSync(localWorkspace, { recursive: true, force: true }));
    writeFileSync(join(localWorkspace, 'yoi.toml'), '[[runtimes]]\nid = "side"\nkind = "local"\n');
    secrets.push(['local runtime workspace', localWorkspace]);
    const localServer = await startServer({ workspace: localWorkspace, port: await freePort(), mockUrl: mock.url });
    let runtimePid = null;
    let outlived = false;
    const p = await context.newPage();
    p.on('pageerror', (e) => pageErrors.push(`local runtime: ${e}`));
    try {
      const summary = await waitRuntimeAvailable(localServer.base, 'side');
      assert(summary.kind === 'local', `the runtime is local (got ${JSON.stringify(summary.kind)})`);
      // Where the backend put the runtime's socket: it must not reach the page.
      const runtime = childProcesses(localServer.child.pid).find((c) => c.args.includes('runtime') && c.args.includes('--unix'));
      assert(runtime, 'yoi serve started `yoi runtime serve --unix` as its child');
      runtimePid = runtime.pid;
      const socketPath = runtime.args[runtime.args.indexOf('--unix') + 1];
      assert(socketPath && socketPath.startsWith('/'), `the runtime listens on a socket path (${JSON.stringify(socketPath)})`);
      secrets.push(['local runtime socket path', socketPath], ['local runtime socket directory', dirname(socketPath)]);
      // The backend removes it when it stops; not when it is killed.
      if (/^yoi-/.test(basename(dirname(socketPath)))) cleanups.push(() => rmSync(dirname(socketPath), { recursive: true, force: true }));

      const created = await fetch(`${localServer.base}/api/runtimes/side/workers`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ display_name: 'scribe' }),
      });
      assert(created.status === 201, `the worker is created in the local runtime (HTTP ${created.status})`);
      const scribe = await created.json();
      assert(scribe.display_ref === 'scribe@side', `named scribe@side (got ${JSON.stringify(scribe.display_ref)})`);

      await p.goto(`${localServer.base}/`);
      await waitReady(p);
      const side = '[data-testid="runtime"][data-runtime-id="side"]';
      await p.waitForSelector(`${side}[data-kind="local"][data-status="available"]`, { timeout: 10_000 });
      const badges = await p.$eval(side, (el) => ({
        kind: el.querySelector('[data-testid="runtime-kind"]')?.textContent?.trim(),
        status: el.querySelector('[data-testid="runtime-status"]')?.textContent?.trim(),
      }));
      assert(badges.kind === 'local' && badges.status === 'available', `the side panel shows kind and status (got ${JSON.stringify(badges)})`);
      const button = `${side} [data-testid="worker"][data-worker-id="${scribe.worker_id}"]`;
      await p.waitForSelector(button, { timeout: 10_000 });
      assert((await p.textContent(button)).includes('scribe'), 'the worker is listed by name');

      await p.click(button);
      await p.waitForFunction(() => document.querySelector('.status .title')?.textContent === 'scribe@side', null, { timeout: 10_000 });
      assert(new URL(p.url()).hash === `#/w/side/${scribe.worker_id}`, `the address names the worker (${new URL(p.url()).hash})`);
      await waitReady(p);
      assert((await p.getAttribute(button, 'class')).includes('selected'), 'the worker is marked selected');

      await send(p, 'hello from the side runtime');
      const answer = await waitAnswer(p, { state: 'complete', includes: 'You said:' });
      assert(answer.text.includes('hello from the side runtime'), `the answer echoes the input (got ${JSON.stringify(answer.text)})`);
      assert((await messages(p)).filter((m) => m.role === 'user').length === 1, 'the question shows once');
      await waitReady(p);

      await send(p, '[[slow]] take your time, side runtime');
      await waitStreamingText(p);
      await p.click('[data-testid="stop"]');
      const stopped = await waitAnswer(p, { state: 'cancelled' });
      assert(stopped.text.includes('Stopped'), 'a cancelled marker is shown');
      await waitReady(p);
      const transcript = await (
        await fetch(`${localServer.base}/api/runtimes/side/workers/${scribe.worker_id}/transcript`)
      ).json();
      assert(
        JSON.stringify(transcript.messages.map((m) => [m.role, m.state])) ===
          JSON.stringify([['user', 'complete'], ['assistant', 'complete'], ['user', 'complete'], ['assistant', 'cancelled']]),
        `the runtime's transcript matches (got ${JSON.stringify(transcript.messages.map((m) => [m.role, m.state]))})`,
      );
      await screenshot(p, 'local-runtime');

      const before = leaks.length;
      await checkNoSecrets('on the local runtime page', p);
      assert(leaks.length === before, leaks.slice(before).join('; '));
    } finally {
      await p.close().catch(() => {});
      await stopGracefully(localServer.child);
      // The runtime ends with its backend; whatever happened, it does not outlive it.
      if (runtimePid !== null) {
        const deadline = Date.now() + 10_000;
        while (processAlive(runtimePid) && Date.now() < deadline) await sleep(100);
        if (processAlive(runtimePid)) {
          outlived = true;
          process.kill(runtimePid, 'SIGKILL');
        }
      }
    }
    assert(!outlived, 'the local runtime outlived its backend by 10 s');
  });

  await scenario('Retry after a failed and after a cancelled run sends the same text again', async () => {
    await page.goto(`${base}/`);
    await waitReady(page);
    const failText = '[[error:400]] retry me please';
    await send(page, failText);
    await waitAnswer(page, { state: 'failed' }, 45_000);
    await waitReady(page);
    await page.click('[data-testid="retry"]');
    await page.waitForFunction(
      (t) => [...document.querySelectorAll('[data-testid="message"][data-role="user"]')].filter((e) => e.textContent?.includes(t)).length === 2,
      failText,
      { timeout: 15_000 },
    );
    await waitAnswer(page, { state: 'failed' }, 45_000);
    const cancelText = '[[slow:100]] retry after a stop';
    await send(page, cancelText);
    await waitStreamingText(page);
    await page.click('[data-testid="stop"]');
    await waitAnswer(page, { state: 'cancelled' });
    await waitReady(page);
    await page.click('[data-testid="retry"]');
    const answer = await waitAnswer(page, { state: 'complete' }, 45_000);
    const users = (await messages(page)).filter((m) => m.role === 'user' && m.text.includes(cancelText));
    assert(users.length === 2, `the question was sent again (${users.length} times shown)`);
    assert(answer.text.length > 0, 'the retried run answered');
    assert((await page.$('[data-testid="retry"]')) === null, 'no Retry after a good answer');
  });

  await scenario('export downloads the conversation as Markdown', async () => {
    await waitReady(page);
    const [download] = await Promise.all([page.waitForEvent('download', { timeout: 10_000 }), page.click('[data-testid="export"]')]);
    assert(/\.md$/.test(download.suggestedFilename()), `a Markdown file (got ${download.suggestedFilename()})`);
    const file = await download.path();
    const text = readFileSync(file, 'utf8');
    assert(text.startsWith('# companion@backend-internal'), `titled by the worker (got ${JSON.stringify(text.slice(0, 40))})`);
    assert(text.includes('## You') && text.includes('## Assistant'), 'each message under its speaker');
    assert(text.includes('retry after a stop'), 'the messages are in it');
  });

  let chat = null;
  await scenario('New conversation (Alt+N): runtime and profile pickers with defaults, a name; it opens at once', async () => {
    await waitReady(page);
    await page.keyboard.press('Alt+KeyN');
    await page.waitForSelector('[data-testid="new-dialog"]', { timeout: 5_000 });
    assert((await page.inputValue('[data-testid="new-runtime"]')) === 'backend-internal', 'the backend runtime is preselected');
    assert((await page.inputValue('[data-testid="new-profile"]')) === 'companion', "the Companion's profile is preselected");
    const options = await page.$$eval('[data-testid="new-profile"] option', (o) => o.map((x) => x.value));
    assert(JSON.stringify(options) === JSON.stringify(['companion', 'terse']), `the runtime's profiles (got ${options})`);
    await page.selectOption('[data-testid="new-profile"]', 'terse');
    await page.waitForSelector('[data-testid="new-profile-description"]:text("Short answers")', { timeout: 5_000 });
    await page.fill('[data-testid="new-name"]', 'E2E chat');
    await page.click('[data-testid="new-create"]');
    await page.waitForFunction(() => document.querySelector('.status .title')?.textContent === 'E2E chat@backend-internal', null, { timeout: 10_000 });
    assert((await page.$('[data-testid="new-dialog"]')) === null, 'the dialog closed');
    const hash = new URL(page.url()).hash;
    assert(/^#\/w\/backend-internal\/[0-9A-Z]{26}$/.test(hash), `the address names the new worker (${hash})`);
    chat = { worker_id: hash.split('/').at(-1) };
    await waitReady(page);
    await send(page, 'hello new conversation');
    await waitAnswer(page, { state: 'complete', includes: 'hello new conversation' });
    const model = await page.textContent('.status [title="Model"]');
    assert(model === 'terse-model', `the profile's model is used (got ${JSON.stringify(model)})`);
    await screenshot(page, 'new-conversation');
    // Escape closes the dialog without creating anything.
    await page.click('[data-testid="new-conversation"]');
    await page.waitForSelector('[data-testid="new-dialog"]', { timeout: 5_000 });
    await page.keyboard.press('Escape');
    await page.waitForSelector('[data-testid="new-dialog"]', { state: 'detached', timeout: 5_000 });
  });

  await scenario('the side panel: latest activity first, the start of the last message and a relative time, live', async () => {
    assert(chat, 'needs the conversation made above');
    const rows = '[data-testid="runtime"][data-runtime-id="backend-internal"] [data-testid="worker-row"]';
    const order = () => page.$$eval(rows, (els) => els.map((e) => e.getAttribute('data-worker-id')));
    await page.waitForFunction(
      ({ rows, id }) => document.querySelector(rows)?.getAttribute('data-worker-id') === id,
      { rows, id: chat.worker_id },
      { timeout: 10_000 },
    );
    const row = `${rows}[data-worker-id="${chat.worker_id}"]`;
    await page.waitForFunction(
      (row) => (document.querySelector(`${row} [data-testid="worker-preview"]`)?.textContent ?? '').includes('hello new conversation'),
      row,
      { timeout: 10_000 },
    );
    assert((await page.textContent(`${row} [data-testid="worker-when"]`)) === 'just now', 'a relative time');
    // Talking to the Companion moves it to the top, live.
    await page.click('[data-testid="worker-list"] .companion');
    await waitReady(page);
    await send(page, 'back to the companion');
    await waitAnswer(page, { state: 'complete', includes: 'back to the companion' });
    const companionId = (await (await fetch(`${base}/api/companion`)).json()).worker_id;
    await page.waitForFunction(
      ({ rows, id }) => document.querySelector(rows)?.getAttribute('data-worker-id') === id,
      { rows, id: companionId },
      { timeout: 10_000 },
    );
    const now = await order();
    assert(now[0] === companionId && now[1] === chat.worker_id, `sorted by last activity (got ${now})`);
  });

  await scenario('rename in place: the list, the title and the server follow', async () => {
    assert(chat, 'needs the conversation made above');
    await page.goto(`${base}/#/w/backend-internal/${chat.worker_id}`);
    await waitReady(page);
    const row = `[data-testid="worker-row"][data-worker-id="${chat.worker_id}"]`;
    await page.hover(row);
    await page.click(`${row} [data-testid="rename"]`);
    await page.fill(`${row} [data-testid="rename-input"]`, '  Trip planning  ');
    await page.press(`${row} [data-testid="rename-input"]`, 'Enter');
    await page.waitForFunction((row) => document.querySelector(`${row} [data-testid="worker-name"]`)?.textContent === 'Trip planning', row, {
      timeout: 10_000,
    });
    await page.waitForFunction(() => document.querySelector('.status .title')?.textContent === 'Trip planning@backend-internal', null, { timeout: 10_000 });
    const detail = await (await fetch(`${base}/api/runtimes/backend-internal/workers/${chat.worker_id}`)).json();
    assert(detail.display_ref === 'Trip planning@backend-internal', `the server has the name (got ${detail.display_ref})`);
    // A bad name is refused with the server's words; Escape leaves it as it was.
    await page.hover(row);
    await page.click(`${row} [data-testid="rename"]`);
    await page.fill(`${row} [data-testid="rename-input"]`, 'a@b');
    await page.press(`${row} [data-testid="rename-input"]`, 'Enter');
    await page.waitForSelector(`${row} [data-testid="row-error"]`, { timeout: 5_000 });
    await page.press(`${row} [data-testid="rename-input"]`, 'Escape');
    await page.waitForFunction((row) => document.querySelector(`${row} [data-testid="worker-name"]`)?.textContent === 'Trip planning', row, {
      timeout: 5_000,
    });
    await page.reload();
    await waitReady(page);
    await page.waitForFunction((row) => document.querySelector(`${row} [data-testid="worker-name"]`)?.textContent === 'Trip planning', row, {
      timeout: 10_000,
    });
  });

  await scenario('stop a conversation, after a confirmation', async () => {
    assert(chat, 'needs the conversation made above');
    const row = `[data-testid="worker-row"][data-worker-id="${chat.worker_id}"]`;
    await page.hover(row);
    await page.click(`${row} [data-testid="stop-worker"]`);
    await page.waitForSelector(`${row} [data-testid="confirm-stop"]`, { timeout: 5_000 });
    await page.click(`${row} [data-testid="confirm-stop-no"]`);
    const still = await fetch(`${base}/api/runtimes/backend-internal/workers/${chat.worker_id}`);
    assert(still.status === 200, 'Keep keeps it');
    await page.hover(row);
    await page.click(`${row} [data-testid="stop-worker"]`);
    await page.click(`${row} [data-testid="confirm-stop-yes"]`);
    await page.waitForSelector('[data-testid="worker-state"][data-state="stopped"]', { timeout: 10_000 });
    const gone = await fetch(`${base}/api/runtimes/backend-internal/workers/${chat.worker_id}`);
    assert(gone.status === 404, `the worker is stopped on the server (HTTP ${gone.status})`);
    await page.goto(`${base}/`);
    await waitReady(page);
  });

  await scenario('light and dark themes follow prefers-color-scheme', async () => {
    const background = () => page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    await page.emulateMedia({ colorScheme: 'light' });
    const light = await background();
    await page.emulateMedia({ colorScheme: 'dark' });
    const dark = await background();
    await page.emulateMedia({ colorScheme: 'light' });
    assert(light !== dark, `the background differs (${light} vs ${dark})`);
    const lum = (c) => (c.match(/\d+/g) ?? []).slice(0, 3).reduce((a, b) => a + Number(b), 0);
    assert(lum(light) > lum(dark), `light is lighter than dark (${light} vs ${dark})`);
  });

  await scenario('a phone-sized window: nothing overflows, the view stays on the latest message', async () => {
    await waitReady(page);
    await page.setViewportSize({ width: 390, height: 780 });
    try {
      // Wait for the new size to be laid out and painted (two frames).
      await page.waitForFunction(() => window.innerWidth === 390, null, { timeout: 5_000 });
      await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert(overflow <= 0, `the page scrolls sideways by ${overflow}px`);
      assert((await page.$('[data-testid="jump-latest"]')) === null, 'resizing the window unpinned the view ("Jump to latest" shows)');
      const lastVisible = await page.evaluate((sel) => {
        const last = [...document.querySelectorAll(sel)].at(-1);
        const view = document.querySelector('[data-testid="transcript"]');
        if (!last || !view) return false;
        return last.getBoundingClientRect().bottom <= view.getBoundingClientRect().bottom + 2;
      }, MESSAGE);
      assert(lastVisible, 'the latest message is in view');
      await screenshot(page, 'narrow');
      await page.emulateMedia({ colorScheme: 'dark' });
      await screenshot(page, 'narrow-dark');
    } finally {
      await page.emulateMedia({ colorScheme: 'light' }).catch(() => {});
      await page.setViewportSize({ width: 1280, height: 860 }).catch(() => {});
    }
  });

  await scenario('a long conversation: scrolled to the top, earlier messages load above the one being read, each once', async () => {
    const b = server.base;
    const created = await fetch(`${b}/api/runtimes/backend-internal/workers`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ display_name: 'long-history' }),
    });
    assert(created.ok, `worker created (HTTP ${created.status})`);
    const worker = await created.json();
    const path = `/api/runtimes/backend-internal/workers/${worker.worker_id}`;
    // 260 runs: 520 messages, more than a snapshot's 500; the mock answers at once.
    const RUNS = 260;
    for (let i = 1; i <= RUNS; i++) {
      const res = await fetch(`${b}${path}/input?wait=true`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ text: `history ${i}` }),
      });
      assert(res.ok, `input ${i} answered (HTTP ${res.status})`);
    }
    await page.goto(`${b}/#/w/backend-internal/${worker.worker_id}`);
    await page.reload();
    await waitReady(page);
    await page.waitForFunction((sel) => document.querySelectorAll(sel).length >= 500, MESSAGE, { timeout: 20_000 });
    const before = await messages(page);
    assert(before.length === 500, `the snapshot shows the newest 500 (got ${before.length})`);
    const stored = await (await fetch(`${b}${path}/transcript?limit=1000`)).json();
    assert(stored.messages.length === 2 * RUNS, `the server keeps all ${2 * RUNS} (got ${stored.messages.length})`);
    assert(before[0].id === stored.messages[20].id, 'the 20 oldest are not shown yet');
    const anchor = before[0].id;
    // Scroll to the top: the page before the oldest message loads above it.
    await page.$eval('[data-testid="transcript"]', (el) => el.scrollTo({ top: 0 }));
    await page.waitForFunction(
      (sel) => document.querySelector('[data-testid="history-marker"]')?.textContent?.includes('Beginning') && document.querySelectorAll(sel).length > 500,
      MESSAGE,
      { timeout: 20_000 },
    );
    const after = await messages(page);
    const ids = after.map((m) => m.id);
    assert(new Set(ids).size === ids.length, 'no message is shown twice');
    assert(
      JSON.stringify(ids) === JSON.stringify(stored.messages.map((m) => m.id)),
      `the page shows the whole history in order (${ids.length} of ${stored.messages.length})`,
    );
    // The message that was the oldest shown is still in view.
    const inView = await page.$eval(
      `[data-message-id="${anchor}"]`,
      (el) => {
        const box = el.getBoundingClientRect();
        const view = document.querySelector('[data-testid="transcript"]').getBoundingClientRect();
        return box.bottom > view.top && box.top < view.bottom;
      },
    );
    assert(inView, 'the message being read stays in view');
    // Live messages still arrive after the earlier ones, once.
    await send(page, 'after the history');
    await waitAnswer(page, { state: 'complete', includes: 'after the history' });
    const last = await messages(page);
    assert(new Set(last.map((m) => m.id)).size === last.length && last.length === 522, `522 messages, each once (got ${last.length})`);
    await page.goto(`${b}/`);
  });

  await usageScenarios({ scenario, page, base: server.base, requested, assert, waitReady, screenshot });
  await searchScenarios({ scenario, page, base: server.base, assert, waitReady });

  await scenario('the page never shows the API key or the workspace path', async () => {
    await checkNoSecrets('at the end');
    assert(leaks.length === 0, leaks.join('; '));
  });

  await scenario('the console runs under its strict Content-Security-Policy', async () => {
    const res = await fetch(`${server.base}/`);
    const csp = res.headers.get('content-security-policy') ?? '';
    assert(/script-src 'self'/.test(csp) && !/unsafe-inline|unsafe-eval/.test(csp), `a strict policy (got ${csp})`);
    assert(/frame-ancestors 'none'/.test(csp), 'no framing');
    assert(cspViolations.length === 0, `nothing blocked: ${cspViolations.join(' | ')}`);
  });

  await scenario('no uncaught errors in the page', async () => {
    assert(pageErrors.length === 0, pageErrors.join(' | '));
  });

  await screenshot(page, 'final').catch(() => {});
  await page.emulateMedia({ colorScheme: 'dark' }).catch(() => {});
  await screenshot(page, 'final-dark').catch(() => {});

  return results.failed === 0 ? 0 : 1;
}

let code = 1;
try {
  code = await main();
} catch (e) {
  results.failed++;
  console.log(`FAIL e2e setup: ${e && e.message ? e.message : String(e)}`);
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
console.log(
  `${results.passed} passed, ${results.failed} failed` + (results.skipped ? `, ${results.skipped} skipped` : ''),
);
process.exit(code);
