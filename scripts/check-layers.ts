// The layer check (npm test): src/ is layered as CONTRIBUTING.md's "How src/ is layered" says, in
// the fenced line there (the one place the layers are written). A module may import its own layer
// and the layers to its left, never one to its right, type imports included; and no set of modules
// may import each other in a circle. Prints each offending import with its file and line.
//
//   node scripts/check-layers.ts            check src/ against CONTRIBUTING.md
//   node scripts/check-layers.ts --root DIR  check DIR/src against DIR/CONTRIBUTING.md (the test's fixtures)
import { readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export interface Violation {
  file: string;
  line: number;
  text: string;
  why: string;
}

/** The layers, left to right: each a list of entries, a folder (`fleet/`) or a file (`main.ts`). */
export function parseLayers(contributing: string): string[][] {
  const at = contributing.indexOf('## How src/ is layered');
  if (at < 0) throw new Error("CONTRIBUTING.md has no '## How src/ is layered' section");
  const block = /```\n([^`]*?)\n```/.exec(contributing.slice(at));
  if (!block) throw new Error("CONTRIBUTING.md's '## How src/ is layered' has no fenced line of layers");
  return block[1]
    .replace(/\s+/g, ' ')
    .split('->')
    .map((l) => l.split(/[+,]/).map((e) => e.trim()).filter(Boolean));
}

/** Which layer (index) a path under src/ belongs to, or undefined. */
export function layerOf(layers: string[][], rel: string): number | undefined {
  for (let i = 0; i < layers.length; i++) {
    for (const e of layers[i]) {
      if (e.endsWith('/') ? rel.startsWith(e) : rel === e) return i;
    }
  }
  return undefined;
}

const IMPORT = /^\s*(?:import|export)\s+(?:type\s+)?(?:[^'";]*?\sfrom\s+)?['"](\.{1,2}\/[^'"]+)['"]/;

/** The relative imports of a file's text: [line number, import text, the target as written]. */
export function importsOf(text: string): { line: number; text: string; spec: string }[] {
  const out: { line: number; text: string; spec: string }[] = [];
  const lines = text.split('\n');
  // Joins an import spread over several lines ("import {\n a,\n} from './x.ts';").
  for (let i = 0; i < lines.length; i++) {
    if (!/^\s*(import|export)\b/.test(lines[i])) continue;
    let stmt = lines[i];
    let j = i;
    while (!/['"];?\s*$/.test(stmt) && j + 1 < lines.length && j - i < 40) stmt += ` ${lines[++j].trim()}`;
    const m = IMPORT.exec(stmt);
    if (m) out.push({ line: i + 1, text: lines[i].trim() + (j > i ? ' …' : ''), spec: m[1] });
  }
  return out;
}

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = path.join(dir, n);
    return statSync(p).isDirectory() ? walk(p) : p.endsWith('.ts') ? [p] : [];
  });
}

export function checkLayers(root: string): Violation[] {
  const layers = parseLayers(readFileSync(path.join(root, 'CONTRIBUTING.md'), 'utf8'));
  const src = path.join(root, 'src');
  const files = walk(src).map((f) => path.relative(src, f).split(path.sep).join('/'));
  const out: Violation[] = [];
  const edges = new Map<string, { to: string; line: number; text: string }[]>();
  for (const f of files) {
    const from = layerOf(layers, f);
    if (from === undefined) {
      out.push({ file: `src/${f}`, line: 1, text: '', why: 'is in no layer of CONTRIBUTING.md: add it to the layers line' });
      continue;
    }
    const list: { to: string; line: number; text: string }[] = [];
    for (const imp of importsOf(readFileSync(path.join(src, f), 'utf8'))) {
      const to = path.posix.normalize(path.posix.join(path.posix.dirname(f), imp.spec));
      if (to.startsWith('..')) continue;
      list.push({ to, line: imp.line, text: imp.text });
      const l = layerOf(layers, to);
      if (l !== undefined && l > from) {
        out.push({ file: `src/${f}`, line: imp.line, text: imp.text, why: `imports ${to} (layer ${layers[l].join(' + ')}) from a lower layer (${layers[from].join(' + ')})` });
      }
    }
    edges.set(f, list);
  }
  // Cycles: each strongly connected set of two or more modules (or one importing itself), once.
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const on = new Set<string>();
  const strong = (v: string) => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    on.add(v);
    for (const e of edges.get(v) ?? []) {
      if (!edges.has(e.to)) continue;
      if (!idx.has(e.to)) {
        strong(e.to);
        low.set(v, Math.min(low.get(v)!, low.get(e.to)!));
      } else if (on.has(e.to)) low.set(v, Math.min(low.get(v)!, idx.get(e.to)!));
    }
    if (low.get(v) === idx.get(v)) {
      const set: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        on.delete(w);
        set.push(w);
      } while (w !== v);
      if (set.length > 1 || (edges.get(v) ?? []).some((e) => e.to === v)) {
        const inSet = new Set(set);
        for (const m of [...set].sort()) {
          for (const e of edges.get(m) ?? []) {
            if (inSet.has(e.to)) out.push({ file: `src/${m}`, line: e.line, text: e.text, why: `imports ${e.to}, in a circle of ${set.length} modules (${[...set].sort().join(', ')})` });
          }
        }
      }
    }
  };
  for (const f of [...edges.keys()].sort()) if (!idx.has(f)) strong(f);
  return out;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const r = process.argv.indexOf('--root');
  const root = r >= 0 ? path.resolve(process.argv[r + 1]) : path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
  const v = checkLayers(root);
  for (const x of v) console.log(`${x.file}:${x.line}: ${x.text ? `${x.text}: ` : ''}${x.why}`);
  if (v.length > 0) {
    console.log(`check-layers: ${v.length} import(s) against the layers of CONTRIBUTING.md ("How src/ is layered")`);
    process.exit(1);
  }
  console.log('check-layers: ok');
}
