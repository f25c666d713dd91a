// @vitest-environment jsdom
import { describe, expect, it } from 'vitest';
import { renderMarkdown, renderMessage, sanitize } from './markdown';

function dom(html: string): HTMLElement {
  const div = document.createElement('div');
  div.innerHTML = html;
  return div;
}

describe('markdown rendering of untrusted model output', () => {
  it('renders GFM with code blocks that get a copy button', () => {
    const html = renderMarkdown('# Title\n\nSome **bold** text.\n\n```js\nconsole.log("<hi>");\n```\n\n| a | b |\n|---|---|\n| 1 | 2 |');
    const root = dom(html);
    expect(root.querySelector('h1')?.textContent).toBe('Title');
    expect(root.querySelector('strong')?.textContent).toBe('bold');
    const block = root.querySelector('.code-block');
    expect(block?.querySelector('button[data-copy-code]')?.textContent).toBe('Copy');
    expect(block?.querySelector('code.language-js')?.textContent).toBe('console.log("<hi>");');
    expect(root.querySelector('table td')?.textContent).toBe('1');
  });

  it('never lets a <script> or an event handler through', () => {
    const payloads = [
      '<script>window.__pwned = 1</script>',
      '<img src=x onerror="window.__pwned = 1">',
      '<svg onload="window.__pwned = 1"></svg>',
      '<a href="javascript:window.__pwned=1">click</a>',
      '[click](javascript:window.__pwned=1)',
      '![x](javascript:window.__pwned=1)',
      '<iframe src="javascript:window.__pwned=1"></iframe>',
      '<div style="background:url(javascript:1)" onclick="window.__pwned=1">x</div>',
      'text <details open ontoggle="window.__pwned=1">',
      '```\n</code></pre><script>window.__pwned=1</script>\n```',
    ];
    for (const p of payloads) {
      const html = renderMarkdown(p);
      const root = dom(html);
      expect(root.querySelector('script, iframe, img, svg, object, embed, style')).toBeNull();
      for (const el of root.querySelectorAll('*')) {
        for (const attr of el.attributes) {
          expect(attr.name.startsWith('on')).toBe(false);
          expect(attr.value.toLowerCase()).not.toContain('javascript:');
        }
      }
    }
    expect((window as unknown as { __pwned?: number }).__pwned).toBeUndefined();
  });

  it('shows raw HTML as the text the model wrote', () => {
    const root = dom(renderMarkdown('Wrap it in a <div> and add <script>alert(1)</script>.'));
    expect(root.textContent).toContain('Wrap it in a <div> and add <script>alert(1)</script>.');
    expect(root.querySelector('div, script')).toBeNull();
  });

  it('turns images into links instead of loading them', () => {
    const root = dom(renderMarkdown('![a cat](https://example.com/cat.png)'));
    expect(root.querySelector('img')).toBeNull();
    const a = root.querySelector('a');
    expect(a?.getAttribute('href')).toBe('https://example.com/cat.png');
    expect(a?.textContent).toBe('[image: a cat]');
  });

  it('opens links in a new tab without opener or referrer', () => {
    const a = dom(renderMarkdown('[docs](https://example.com)')).querySelector('a');
    expect(a?.getAttribute('target')).toBe('_blank');
    expect(a?.getAttribute('rel')).toBe('noopener noreferrer nofollow');
  });

  it('the sanitiser alone also strips dangerous markup', () => {
    const root = dom(sanitize('<p onclick="x()">a</p><script>x()</script><form><input></form><style>*{}</style>'));
    expect(root.innerHTML).toBe('<p>a</p>');
  });

  it('parses a finished message once', () => {
    const a = renderMessage('m1', 'hello *world*');
    expect(renderMessage('m1', 'hello *world*')).toBe(a);
    expect(renderMessage('m1', 'changed')).not.toBe(a);
  });
});
