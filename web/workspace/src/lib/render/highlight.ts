/**
 * Syntax highlighting of finished code blocks, with highlight.js (maintained,
 * no dependencies). It is loaded on first use, as a chunk of its own, so a
 * conversation without code never fetches it. Only blocks that name a known
 * language are highlighted (no guessing).
 *
 * The sanitiser is not weakened: highlight.js escapes the code and only adds
 * `<span class="hljs-…">`, and its output goes through the very same DOMPurify
 * configuration as every message before it reaches the page.
 */
import { sanitize } from './markdown';

type Hljs = (typeof import('highlight.js/lib/core'))['default'];

let loading: Promise<Hljs> | null = null;

async function load(): Promise<Hljs> {
  const [core, ...languages] = await Promise.all([
    import('highlight.js/lib/core'),
    import('highlight.js/lib/languages/bash'),
    import('highlight.js/lib/languages/c'),
    import('highlight.js/lib/languages/cpp'),
    import('highlight.js/lib/languages/css'),
    import('highlight.js/lib/languages/diff'),
    import('highlight.js/lib/languages/go'),
    import('highlight.js/lib/languages/java'),
    import('highlight.js/lib/languages/javascript'),
    import('highlight.js/lib/languages/json'),
    import('highlight.js/lib/languages/markdown'),
    import('highlight.js/lib/languages/python'),
    import('highlight.js/lib/languages/rust'),
    import('highlight.js/lib/languages/sql'),
    import('highlight.js/lib/languages/typescript'),
    import('highlight.js/lib/languages/xml'),
    import('highlight.js/lib/languages/yaml'),
    import('highlight.js/lib/languages/ini'),
  ]);
  const hljs = core.default;
  const names = ['bash', 'c', 'cpp', 'css', 'diff', 'go', 'java', 'javascript', 'json', 'markdown', 'python', 'rust', 'sql', 'typescript', 'xml', 'yaml', 'ini'];
  languages.forEach((lang, i) => hljs.registerLanguage(names[i]!, lang.default));
  hljs.registerAliases(['sh', 'shell', 'zsh', 'console'], { languageName: 'bash' });
  hljs.registerAliases(['toml'], { languageName: 'ini' });
  hljs.registerAliases(['html', 'svg'], { languageName: 'xml' });
  return hljs;
}

/** highlight.js, fetched once. */
export function highlighter(): Promise<Hljs> {
  loading ??= load().catch((e: unknown) => {
    loading = null;
    throw e;
  });
  return loading;
}

/** Highlights the code blocks under `root` that are not highlighted yet. */
export async function highlightWithin(root: HTMLElement): Promise<void> {
  const blocks = [...root.querySelectorAll<HTMLElement>('pre code[class*="language-"]:not([data-highlighted])')];
  if (blocks.length === 0) return;
  const hljs = await highlighter();
  for (const code of blocks) {
    const language = /(?:^|\s)language-([\w#+.-]+)/.exec(code.className)?.[1];
    if (!language || !hljs.getLanguage(language) || !code.isConnected) continue;
    const html = hljs.highlight(code.textContent ?? '', { language, ignoreIllegals: true }).value;
    code.innerHTML = sanitize(html);
    code.setAttribute('data-highlighted', language);
    code.classList.add('hljs');
  }
}
