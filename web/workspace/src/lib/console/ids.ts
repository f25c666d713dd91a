/**
 * Client message ids. `crypto.randomUUID` exists only in secure contexts, and the
 * console must work over plain http on a LAN address, so ids come from
 * `crypto.getRandomValues` (available everywhere) or, lacking it, `Math.random`.
 */
export function randomHex(bytes: number, source: Pick<Crypto, 'getRandomValues'> | undefined = globalThis.crypto): string {
  const buf = new Uint8Array(bytes);
  if (source && typeof source.getRandomValues === 'function') {
    source.getRandomValues(buf);
  } else {
    for (let i = 0; i < bytes; i++) buf[i] = Math.floor(Math.random() * 256);
  }
  return Array.from(buf, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** A fresh id for one send; a retry of the same send reuses it. */
export function newClientMessageId(now: number = Date.now(), source?: Pick<Crypto, 'getRandomValues'>): string {
  return `web-${now.toString(36)}-${randomHex(10, source ?? globalThis.crypto)}`;
}
