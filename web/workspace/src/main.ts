/**
 * Entry point: takes the token (if any) out of the address bar, builds the one
 * connection, mounts the console and starts it. Anything that fails here is shown
 * on the page rather than leaving it blank.
 */
import { mount } from 'svelte';
import App from './App.svelte';
import './app.css';
import { browserConnection } from './lib/console/connection.svelte';
import { parseWorkerHash, takeToken } from './lib/console/route';

const TOKEN_KEY = 'yoi.token';

function readToken(): string | null {
  const { token, cleaned } = takeToken(location.href);
  if (cleaned !== null) history.replaceState(history.state, '', cleaned);
  try {
    // Kept for this tab only, so a reload still works once the address is clean.
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    return token ?? sessionStorage.getItem(TOKEN_KEY);
  } catch {
    return token;
  }
}

function showStartFailure(target: HTMLElement, error: unknown) {
  const box = document.createElement('div');
  box.className = 'start-failure';
  box.setAttribute('role', 'alert');
  box.setAttribute('data-testid', 'start-failure');
  const title = document.createElement('strong');
  title.textContent = 'The yoi console could not start.';
  const detail = document.createElement('p');
  detail.textContent = error instanceof Error ? error.message : String(error);
  box.append(title, detail);
  target.replaceChildren(box);
}

const target = document.getElementById('app')!;
try {
  const conn = browserConnection(readToken());
  mount(App, { target, props: { conn } });
  conn.start(parseWorkerHash(location.hash));
} catch (e) {
  showStartFailure(target, e);
}
