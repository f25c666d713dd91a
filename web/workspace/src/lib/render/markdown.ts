/**
 * Model output is untrusted text. It becomes HTML only through `marked` (GFM) and
 * then DOMPurify, and the renderer is stricter still:
 *
 * - raw HTML in the text is shown as text, never interpreted (a model that writes
 *   "use a <div>" keeps its words, and `<script>` is just characters);
 * - images become links: an image would be fetched as soon as it is shown, which
 *   would let a prompt-injected answer send data to any server;
 * - links open in a new tab without referrer or opener.
 *
 * Code blocks get a copy button (handled by the `Markdown` component by delegation:
 * no inline handlers, which the sanitiser would strip anyway).
 */
import DOMPurify from 'dompurify';
import { Marked, type Tokens } from 'marked';

const HTML_ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]!);
}

const marked = new Marked({
  gfm: true,
  breaks: false,
  async: false,
  renderer: {
    html({ text }: Tokens.HTML | Tokens.Tag): string {
      return escapeHtml(text);
    },
    code({ text, lang }: Tokens.Code): string {
      const language = /^[\w#+.-]+/.exec(lang ?? '')?.[0] ?? '';
      const cls = language ? ` class="language-${escapeHtml(language)}"` : '';
      const label = language ? `<span class="code-lang">${escapeHtml(language)}</span>` : '<span class="code-lang"></span>';
      return (
        `<div class="code-block"><div class="code-head">${label}` +
        `<button type="button" class="code-copy" data-copy-code="">Copy</button></div>` +
        `<pre><code${cls}>${escapeHtml(text)}</code></pre></div>\n`
      );
    },
    image({ href, text }: Tokens.Image): string {
      const alt = text || 'image';
      return `<a href="${escapeHtml(href)}" class="image-link">[image: ${escapeHtml(alt)}]</a>`;
    },
  },
});

type Purifier = ReturnType<typeof DOMPurify>;
let purifier: Purifier | null = null;

function getPurifier(): Purifier {
  if (purifier) return purifier;
  // Its own instance, so the hook below does not leak into anyone else's DOMPurify.
  const p = DOMPurify(window);
  p.addHook('afterSanitizeAttributes', (node) => {
    if (node.tagName === 'A' && node.hasAttribute('href')) {
      node.setAttribute('target', '_blank');
      node.setAttribute('rel', 'noopener noreferrer nofollow');
    }
  });
  purifier = p;
  return p;
}

const SANITIZE = {
  USE_PROFILES: { html: true },
  FORBID_TAGS: ['style', 'img', 'form', 'input', 'textarea', 'select', 'iframe', 'object', 'embed', 'video', 'audio', 'source', 'picture', 'svg', 'math'],
  FORBID_ATTR: ['style', 'srcset'],
  ALLOW_DATA_ATTR: false,
  ADD_ATTR: ['data-copy-code'],
};

/** Sanitises HTML for the transcript (exported for tests). */
export function sanitize(html: string): string {
  return getPurifier().sanitize(html, SANITIZE) as string;
}

/** Markdown text of a model (or anyone) to safe HTML. */
export function renderMarkdown(text: string): string {
  const html = marked.parse(text) as string;
  return sanitize(html);
}

/**
 * Finished messages never change, so each is parsed once: the cache is keyed by
 * message id and checked against the text. Bounded; the oldest entries go first.
 */
const cache = new Map<string, { text: string; html: string }>();
const CACHE_LIMIT = 2000;

export function renderMessage(id: string, text: string): string {
  const hit = cache.get(id);
  if (hit && hit.text === text) return hit.html;
  const html = renderMarkdown(text);
  cache.delete(id);
  cache.set(id, { text, html });
  if (cache.size > CACHE_LIMIT) {
    const oldest = cache.keys().next().value;
    if (oldest !== undefined) cache.delete(oldest);
  }
  return html;
}
