// What the browser end-to-end suites share: the processes they start (all
// killed when the suite exits, however it exits), a free port, log files in
// the artifacts folder and the mock OpenAI server.

import { spawn } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
/** Where logs and screenshots go (`ARTIFACTS_DIR`, relative to the web app). */
export const ARTIFACTS = resolve(HERE, '..', process.env.ARTIFACTS_DIR ?? '../../test-artifacts');
const MOCK_BIN = process.env.MOCK_BIN;

/** Every child process a suite started; `killAll` ends those still running. */
export const children = new Set();

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function killAll() {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) {
      try {
        child.kill('SIGKILL');
      } catch {
        // already gone
      }
    }
  }
  children.clear();
}

process.on('exit', killAll);
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    killAll();
    process.exit(130);
  });
}

/** A port on 127.0.0.1 that was free a moment ago. */
export function freePort() {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', rej);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => res(port));
    });
  });
}

/** A log file `name` in the artifacts folder, appended to. */
export function logFile(name) {
  mkdirSync(ARTIFACTS, { recursive: true });
  return createWriteStream(join(ARTIFACTS, name), { flags: 'a' });
}

/** Starts `yoi-mock-openai` (MOCK_BIN), logging to `logName`; resolves to `{child, url}`. */
export function startMock(logName) {
  return new Promise((res, rej) => {
    const log = logFile(logName);
    const child = spawn(MOCK_BIN, [], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    let buffer = '';
    const timer = setTimeout(() => rej(new Error('mock server did not say where it listens within 20 s')), 20_000);
    child.stdout.on('data', (chunk) => {
      log.write(chunk);
      buffer += chunk.toString();
      const m = /^listening (http:\/\/127\.0\.0\.1:\d+\/v1)\s*$/m.exec(buffer);
      if (m) {
        clearTimeout(timer);
        res({ child, url: m[1] });
      }
    });
    child.stderr.on('data', (chunk) => log.write(chunk));
    child.on('exit', (code) => {
      clearTimeout(timer);
      rej(new Error(`mock server exited early (${code})`));
    });
  });
}
