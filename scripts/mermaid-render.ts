// Renders the job summary as GitHub would show it: its Mermaid blocks with the mermaid package in
// a headless Chromium (Debian's `chromium`, installed by scripts/setup.sh), driven by
// playwright-core (no browser download: it uses /usr/bin/chromium).
//
//   node scripts/mermaid-render.ts SUMMARY.md OUT.png
//       a picture of the whole summary (headings, text, tables and the rendered diagrams)
//
// test/unit/diagrams.test.ts uses renderMermaid: a diagram that does not parse or render fails it.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';

const ROOT = path.resolve(import.meta.dirname, '..');
const MERMAID = path.join(ROOT, 'node_modules/mermaid/dist/mermaid.min.js');

/** The Chromium to drive: CHROMIUM, else Debian's, else a Google Chrome (GitHub's Ubuntu images have one). */
export function chromiumPath(): string {
  const p = process.env.CHROMIUM || ['/usr/bin/chromium', '/usr/bin/google-chrome', '/usr/bin/google-chrome-stable'].find((c) => existsSync(c));
  if (!p || !existsSync(p)) throw new Error('no Chromium or Chrome at /usr/bin/chromium or /usr/bin/google-chrome: install it with `sh scripts/setup.sh` (Debian package chromium), or set CHROMIUM to one');
  return p;
}

/** The ```mermaid blocks of a markdown text, in order. */
export function mermaidBlocks(md: string): string[] {
  return [...md.matchAll(/^```mermaid\n([^]*?)\n```$/gm)].map((m) => m[1]);
}

async function withPage<T>(fn: (page: Page) => Promise<T>): Promise<T> {
  let browser: Browser | undefined;
  try {
    // --no-sandbox: the tests run as root, where Chromium's sandbox refuses to start.
    browser = await chromium.launch({ executablePath: chromiumPath(), args: ['--no-sandbox'] });
    const page = await browser.newPage({ viewport: { width: 1012, height: 800 }, deviceScaleFactor: 1 });
    // Nothing outside this machine is ever asked for: the page is local and mermaid is inlined.
    await page.route(/^(?!data:|about:)/, (r) => r.abort());
    await page.setContent('<!doctype html><html><body></body></html>');
    await page.addScriptTag({ content: readFileSync(MERMAID, 'utf8') });
    await page.evaluate(() => (globalThis as unknown as { mermaid: { initialize(o: object): void } }).mermaid.initialize({ startOnLoad: false, securityLevel: 'strict' }));
    return await fn(page);
  } finally {
    await browser?.close();
  }
}

export interface Rendered {
  ok: boolean;
  /** the SVG, or the error mermaid gave */
  svg?: string;
  error?: string;
}

/** Parses and renders each diagram as GitHub's Mermaid would; a syntax error is the block's error. */
export function renderMermaid(blocks: string[]): Promise<Rendered[]> {
  return withPage((page) =>
    page.evaluate(async (list) => {
      const m = (globalThis as unknown as { mermaid: { render(id: string, text: string): Promise<{ svg: string }> } }).mermaid;
      const out: { ok: boolean; svg?: string; error?: string }[] = [];
      for (const [i, text] of list.entries()) {
        try {
          const { svg } = await m.render(`d${i}`, text);
          // mermaid draws a bomb picture instead of throwing for some errors
          if (/Syntax error in text|aria-roledescription="error"/.test(svg)) out.push({ ok: false, error: 'mermaid drew its error picture' });
          else out.push({ ok: true, svg });
        } catch (e) {
          out.push({ ok: false, error: String((e as Error)?.message ?? e) });
        }
      }
      return out;
    }, blocks),
  );
}

const escHtml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const inline = (s: string) =>
  escHtml(s)
    .replace(/`([^`]+)`/g, '<code>$1</code>')
    .replace(/\*\*([^*]+)\*\*/g, '<strong>$1</strong>')
    .replace(/\\\|/g, '|');

/** The summary's markdown as HTML: the subset it uses (headings, paragraphs, lists, tables, mermaid). */
export function summaryHtml(md: string): string {
  const out: string[] = [];
  const lines = md.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i];
    if (l.startsWith('```mermaid')) {
      const body: string[] = [];
      while (++i < lines.length && lines[i] !== '```') body.push(lines[i]);
      // A job summary shows each diagram in a frame as wide as the page; the small charts side by side here.
      out.push(`<pre class="mermaid${/xychart/.test(body.join('\n')) ? ' chart' : ''}">${escHtml(body.join('\n'))}</pre>`);
    } else if (/^#{1,6} /.test(l)) {
      const n = /^#+/.exec(l)![0].length;
      out.push(`<h${n}>${inline(l.slice(n + 1))}</h${n}>`);
    } else if (l.startsWith('|') && lines[i + 1]?.startsWith('|---')) {
      const cells = (r: string) => r.slice(1, -1).split(/(?<!\\)\|/).map((c) => inline(c.trim()));
      const rows = [`<tr>${cells(l).map((c) => `<th>${c}</th>`).join('')}</tr>`];
      i++;
      while (lines[i + 1]?.startsWith('|')) rows.push(`<tr>${cells(lines[++i]).map((c) => `<td>${c}</td>`).join('')}</tr>`);
      out.push(`<table>${rows.join('')}</table>`);
    } else if (l.startsWith('- ')) {
      out.push(`<ul><li>${inline(l.slice(2))}</li></ul>`);
    } else if (l.trim() !== '') {
      out.push(`<p>${inline(l.replace(/ {2}$/, ''))}</p>`);
    }
  }
  const style = `body{font:14px/1.5 -apple-system,"Segoe UI","Noto Sans",Helvetica,Arial,sans-serif;color:#1f2328;margin:16px 24px;max-width:960px}
h3{font-size:1.25em;margin:16px 0 8px}p{margin:0 0 10px}table{border-collapse:collapse;margin:0 0 16px;display:block;overflow:auto}
th,td{border:1px solid #d1d9e0;padding:4px 10px;text-align:left}th{font-weight:600;background:#f6f8fa}tr:nth-child(2n) td{background:#f6f8fa}
code{font:12px ui-monospace,SFMono-Regular,Menlo,monospace;background:#eff1f3;padding:.1em .3em;border-radius:4px}
pre.mermaid{margin:0 0 12px;background:none}pre.chart{display:inline-block;vertical-align:top;margin-right:8px}ul{margin:0;padding-left:2em}`;
  return `<!doctype html><html><head><meta charset="utf-8"><style>${style}</style></head><body>${out.join('\n')}</body></html>`;
}

/** A PNG of the summary as a job summary page shows it. */
export function summaryPng(md: string, png: string): Promise<void> {
  return withPage(async (page) => {
    await page.setContent(summaryHtml(md));
    await page.addScriptTag({ content: readFileSync(MERMAID, 'utf8') });
    const bad = await page.evaluate(async () => {
      const m = (globalThis as unknown as { mermaid: { initialize(o: object): void; run(o: object): Promise<void> } }).mermaid;
      m.initialize({ startOnLoad: false, securityLevel: 'strict' });
      try {
        await m.run({ querySelector: 'pre.mermaid' });
        return '';
      } catch (e) {
        return String(e);
      }
    });
    if (bad) throw new Error(`a diagram did not render: ${bad}`);
    await page.screenshot({ path: png, fullPage: true });
  });
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [src, png] = process.argv.slice(2);
  if (!src || !png) {
    console.error('usage: node scripts/mermaid-render.ts SUMMARY.md OUT.png');
    process.exit(2);
  }
  await summaryPng(readFileSync(src, 'utf8'), png);
  console.log(`wrote ${png}`);
}
