import { describe, expect, it } from 'vitest';
import { esc, html } from '../../src/html.ts';

describe('html (the report and the dashboard)', () => {
  it('escapes the characters that can leave a text or attribute context', () => {
    expect(esc(`<a href="x" onclick='y'>&amp;</a>`)).toBe('&lt;a href=&quot;x&quot; onclick=&#39;y&#39;&gt;&amp;amp;&lt;/a&gt;');
    expect(esc(null)).toBe('');
    expect(esc(42)).toBe('42');
  });

  it('escapes every interpolated value by default, nested templates and arrays included', () => {
    const evil = '"><script>x</script>';
    const inner = html`<td title="${evil}">${evil}</td>`;
    const out = html`<tr>${[inner, evil]}</tr>`.toString();
    expect(out).not.toContain('<script>');
    expect(out).toBe(
      '<tr><td title="&quot;&gt;&lt;script&gt;x&lt;/script&gt;">&quot;&gt;&lt;script&gt;x&lt;/script&gt;</td>&quot;&gt;&lt;script&gt;x&lt;/script&gt;</tr>',
    );
  });

  it('escapes every interpolated value, in text and in attributes', () => {
    expect(esc(`<a href="x" onclick='y'>&\``)).toBe('&lt;a href=&quot;x&quot; onclick=&#39;y&#39;&gt;&amp;&#96;');
    const v = `"><script>x</script>`;
    expect(html`<td title="${v}">${v}</td>`.value).toBe('<td title="&quot;&gt;&lt;script&gt;x&lt;/script&gt;">&quot;&gt;&lt;script&gt;x&lt;/script&gt;</td>');
    // Nested markup built by html stays markup; arrays are joined; null and false render nothing.
    expect(html`<ul>${['<1>', '2'].map((x) => html`<li>${x}</li>`)}</ul>${null}${false}`.value).toBe('<ul><li>&lt;1&gt;</li><li>2</li></ul>');
  });
});
