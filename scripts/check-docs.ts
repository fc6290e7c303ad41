// Checks the documentation against the repository (run by .ci/run and `npm run test:all`):
//   - every relative link in README.md, CONTRIBUTING.md, SECURITY.md, CHANGELOG.md and docs/
//     resolves: the file or directory exists, and a #anchor is a heading of the target (GitHub's
//     slugs: lower case, punctuation dropped, spaces to '-', -1, -2... for repeats);
//   - every workflow in examples/ and .github/ (and action.yml) parses as YAML, and so does every
//     ```yaml block of those markdown files;
//   - every step that uses this action (OWNER/jar-bluegreen-deploy@REF, OWNER/REPO@REF or ./)
//     refers to it as @vMAJOR (the major of package.json's version), gives only inputs that
//     action.yml has, gives every required one, and, where the values are written out, a valid
//     mode and strategy, the artifact mode deploy and stage need, known-hosts (unless
//     insecure-skip-host-key-check), access-log (or canary-log) with strategy canary, and stage/promote with
//     blue-green only;
//   - README.md opens with the two commands `npm ci && npm run demo` and `npm ci && npm test`.
//
//   node scripts/check-docs.ts
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parse, parseAllDocuments } from 'yaml';
import { MODES, STRATEGIES } from '../src/config/inputs.ts';

const REPO_NAME = 'jar-bluegreen-deploy';

/** Removes fenced code blocks (keeping line numbers: their lines become empty). */
export function withoutFences(md: string): string {
  let fence: string | undefined;
  return md
    .split('\n')
    .map((l) => {
      const m = /^\s{0,3}(`{3,}|~{3,})/.exec(l);
      if (fence) {
        if (m && m[1][0] === fence[0] && m[1].length >= fence.length && l.trim() === m[1]) fence = undefined;
        return '';
      }
      if (m) {
        fence = m[1];
        return '';
      }
      return l;
    })
    .join('\n');
}

/** Removes inline code spans (`...`, ``...``). */
export function withoutCodeSpans(line: string): string {
  return line.replace(/(`+)(?:(?!\1)[^])*?\1/g, '');
}

/** Heading text as GitHub renders it, as plain text. */
function headingText(raw: string): string {
  return raw
    .replace(/!\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/<[^>]+>/g, '')
    .replace(/`/g, '')
    .replace(/\*/g, '');
}

/** GitHub's anchor for a heading (github-slugger): lower case, punctuation dropped, spaces to '-'. */
export function slug(heading: string): string {
  return headingText(heading)
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc}\- ]/gu, '')
    .replace(/ /g, '-');
}

/** Every anchor a markdown file has: its headings' slugs (repeats get -1, -2, ...) and <a id/name>. */
export function anchors(md: string): Set<string> {
  const out = new Set<string>();
  const seen = new Map<string, number>();
  const text = withoutFences(md);
  for (const l of text.split('\n')) {
    const h = /^\s{0,3}#{1,6}\s+(.*?)(?:\s+#+)?\s*$/.exec(l);
    if (h) {
      const base = slug(h[1]);
      const n = seen.get(base) ?? 0;
      seen.set(base, n + 1);
      out.add(n === 0 ? base : `${base}-${n}`);
    }
    for (const a of l.matchAll(/<a\s[^>]*(?:id|name)="([^"]+)"/g)) out.add(a[1]);
  }
  return out;
}

export interface Link {
  target: string;
  line: number;
}

/** The link targets of a markdown file outside code: [text](target), ![alt](src), [ref]: target, href="...". */
export function links(md: string): Link[] {
  const out: Link[] = [];
  withoutFences(md)
    .split('\n')
    .forEach((raw, i) => {
      const l = withoutCodeSpans(raw);
      for (const m of l.matchAll(/\]\(\s*(<[^>]*>|[^)\s]+)(?:\s+(?:"[^"]*"|'[^']*'))?\s*\)/g)) out.push({ target: m[1].replace(/^<|>$/g, ''), line: i + 1 });
      const ref = /^\s{0,3}\[[^\]]+\]:\s*(<[^>]*>|\S+)/.exec(l);
      if (ref) out.push({ target: ref[1].replace(/^<|>$/g, ''), line: i + 1 });
      for (const m of l.matchAll(/\bhref="([^"]+)"/g)) out.push({ target: m[1], line: i + 1 });
    });
  return out;
}

const isExternal = (t: string) => /^[a-z][a-z0-9+.-]*:/i.test(t) || t.startsWith('//');

/**
 * The problems with the relative links of `file` (a path relative to root): missing files and
 * anchors that no heading of the target has.
 */
export function checkLinks(root: string, file: string, md: string, read: (p: string) => string = (p) => readFileSync(path.join(root, p), 'utf8')): string[] {
  const problems: string[] = [];
  for (const { target, line } of links(md)) {
    if (isExternal(target)) continue;
    const hash = target.indexOf('#');
    const rawPath = hash < 0 ? target : target.slice(0, hash);
    const anchor = hash < 0 ? undefined : decodeURIComponent(target.slice(hash + 1));
    let rel: string;
    try {
      rel = rawPath === '' ? file : path.posix.normalize(rawPath.startsWith('/') ? rawPath.slice(1) : path.posix.join(path.posix.dirname(file), decodeURIComponent(rawPath)));
    } catch {
      problems.push(`${file}:${line}: link '${target}' is not a valid path`);
      continue;
    }
    if (rel.startsWith('..')) {
      problems.push(`${file}:${line}: link '${target}' points outside the repository`);
      continue;
    }
    const abs = path.join(root, rel);
    const self = rel === file;
    if (!self && !existsSync(abs)) {
      problems.push(`${file}:${line}: link '${target}': ${rel} does not exist`);
      continue;
    }
    if (anchor === undefined || anchor === '') continue;
    if (!self && (statSync(abs).isDirectory() || !rel.endsWith('.md'))) {
      problems.push(`${file}:${line}: link '${target}': an #anchor needs a markdown file, ${rel} is not one`);
      continue;
    }
    const have = anchors(self ? md : read(rel));
    if (!have.has(anchor)) problems.push(`${file}:${line}: link '${target}': ${rel} has no heading with the anchor #${anchor}`);
  }
  return problems;
}

export interface ActionInputs {
  [name: string]: { required?: boolean; default?: unknown };
}

/** Whether a step's `uses:` is this action; its ref when it names one ('' for ./). */
export function actionRef(uses: string): string | undefined {
  const u = uses.trim();
  if (u === './' || u === '.') return '';
  const m = new RegExp(`^[A-Za-z0-9_.-]+/(?:${REPO_NAME}|REPO)@(.+)$`).exec(u);
  return m ? m[1] : undefined;
}

const isExpression = (v: unknown) => typeof v === 'string' && v.includes('${{');
const given = (v: unknown) => v !== undefined && v !== null && String(v).trim() !== '';

/** The problems with one step that uses this action. `major`: the ref the docs must use (v1). */
export function checkStep(step: Record<string, unknown>, inputs: ActionInputs, major: string, where: string): string[] {
  const problems: string[] = [];
  const uses = String(step.uses);
  const ref = actionRef(uses);
  if (ref !== '' && ref !== major) problems.push(`${where}: '${uses}' should use @${major}`);
  const w = step.with;
  if (w !== undefined && (w === null || typeof w !== 'object' || Array.isArray(w))) {
    problems.push(`${where}: 'with:' of '${uses}' is not a mapping`);
    return problems;
  }
  const withs = (w ?? {}) as Record<string, unknown>;
  for (const k of Object.keys(withs)) if (!(k in inputs)) problems.push(`${where}: '${k}' is not an input of action.yml`);
  for (const [k, i] of Object.entries(inputs)) if (i.required && !given(withs[k])) problems.push(`${where}: the required input '${k}' is not given`);
  // The conditions readConfig (src/config/inputs.ts) enforces, where the values are written out.
  const literal = (k: string, dflt: string) => (isExpression(withs[k]) ? undefined : given(withs[k]) ? String(withs[k]).trim() : dflt);
  const mode = literal('mode', 'deploy');
  const strategy = literal('strategy', 'blue-green');
  if (mode !== undefined && !(MODES as string[]).includes(mode)) problems.push(`${where}: mode '${mode}' is not one of ${MODES.join(', ')}`);
  if (strategy !== undefined && !(STRATEGIES as string[]).includes(strategy)) problems.push(`${where}: strategy '${strategy}' is not one of ${STRATEGIES.join(', ')}`);
  if ((mode === 'stage' || mode === 'promote') && strategy !== undefined && strategy !== 'blue-green') problems.push(`${where}: mode ${mode} works with strategy blue-green only`);
  if ((mode === 'deploy' || mode === 'stage') && !given(withs.artifact)) problems.push(`${where}: mode ${mode} needs 'artifact'`);
  if (strategy === 'canary' && !given(withs['access-log']) && !given(withs['canary-log'])) problems.push(`${where}: strategy canary needs 'access-log'`);
  if (!given(withs['known-hosts']) && literal('insecure-skip-host-key-check', 'false') !== 'true') problems.push(`${where}: 'known-hosts' is not given`);
  return problems;
}

/** Every step of a parsed YAML document that uses this action, checked. */
export function checkUses(doc: unknown, inputs: ActionInputs, major: string, where: string): { problems: string[]; steps: number } {
  const problems: string[] = [];
  let steps = 0;
  const walk = (x: unknown, at: string) => {
    if (Array.isArray(x)) x.forEach((y, i) => walk(y, `${at}[${i}]`));
    else if (x && typeof x === 'object') {
      const o = x as Record<string, unknown>;
      if (typeof o.uses === 'string' && actionRef(o.uses) !== undefined) {
        steps++;
        problems.push(...checkStep(o, inputs, major, `${where} ${at}${o.name ? ` (${String(o.name)})` : ''}`));
      }
      for (const [k, v] of Object.entries(o)) walk(v, at ? `${at}.${k}` : k);
    }
  };
  walk(doc, '');
  return { problems, steps };
}

/** Parses every YAML document of a text; the errors, located. */
export function parseYaml(text: string, where: string): { docs: unknown[]; problems: string[] } {
  const all = [...parseAllDocuments(text)];
  const problems = all.flatMap((d) => [...d.errors, ...d.warnings].map((e) => `${where}: ${e.message.split('\n')[0]}`));
  return { docs: problems.length > 0 ? [] : all.map((d) => d.toJS() as unknown), problems };
}

/** The ```yaml blocks of a markdown file, with the line each starts on. */
export function yamlBlocks(md: string): { text: string; line: number }[] {
  const out: { text: string; line: number }[] = [];
  const lines = md.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const m = /^(\s{0,3})(`{3,}|~{3,})\s*(ya?ml)\b/.exec(lines[i]);
    if (!m) continue;
    const body: string[] = [];
    let j = i + 1;
    for (; j < lines.length && lines[j].trim() !== m[2]; j++) body.push(lines[j].startsWith(m[1]) ? lines[j].slice(m[1].length) : lines[j]);
    out.push({ text: body.join('\n'), line: i + 2 });
    i = j;
  }
  return out;
}

/** README.md must open with the two commands, before any other heading. */
export function checkTopCommands(readme: string, scripts: Record<string, string>): string[] {
  const problems: string[] = [];
  const firstHeading2 = readme.search(/^## /m);
  const top = firstHeading2 < 0 ? readme : readme.slice(0, firstHeading2);
  const block = /^```\w*\n([^]*?)^```/m.exec(top);
  const lines = block ? block[1].split('\n').map((l) => l.trim()) : [];
  for (const cmd of ['npm ci && npm run demo', 'npm ci && npm test']) {
    if (!lines.some((l) => l === cmd || l.startsWith(`${cmd} `))) problems.push(`README.md: the first code block, before the first '## ' heading, must hold \`${cmd}\``);
  }
  for (const s of ['demo', 'test']) if (!scripts[s]) problems.push(`package.json has no '${s}' script, which README.md's first commands run`);
  return problems;
}

function walkFiles(dir: string, keep: (f: string) => boolean): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.posix.join(dir, e.name);
    return e.isDirectory() ? walkFiles(p, keep) : keep(p) ? [p] : [];
  });
}

export function checkRepository(root: string): { problems: string[]; counts: string } {
  const read = (p: string) => readFileSync(path.join(root, p), 'utf8');
  const problems: string[] = [];
  const pkg = JSON.parse(read('package.json')) as { version: string; scripts: Record<string, string> };
  const major = `v${pkg.version.split('.')[0]}`;
  const action = parse(read('action.yml')) as { inputs: ActionInputs };
  const inRoot = (p: string) => existsSync(path.join(root, p));
  const markdown = [...['README.md', 'CONTRIBUTING.md', 'SECURITY.md', 'CHANGELOG.md'].filter(inRoot), ...walkFiles(path.join(root, 'docs'), (f) => f.endsWith('.md')).map((f) => path.posix.relative(root, f))];
  const workflows = [
    'action.yml',
    ...['examples', '.github'].flatMap((d) => walkFiles(path.join(root, d), (f) => /\.ya?ml$/.test(f)).map((f) => path.posix.relative(root, f))),
  ];
  let nLinks = 0;
  let nSteps = 0;
  let nBlocks = 0;
  for (const f of markdown) {
    const md = read(f);
    nLinks += links(md).filter((l) => !isExternal(l.target)).length;
    problems.push(...checkLinks(root, f, md, read));
    for (const b of yamlBlocks(md)) {
      nBlocks++;
      const y = parseYaml(b.text, `${f}:${b.line}`);
      problems.push(...y.problems);
      if (y.problems.length > 0) continue;
      for (const d of y.docs) {
        const u = checkUses(d, action.inputs, major, `${f}:${b.line}`);
        problems.push(...u.problems);
        nSteps += u.steps;
      }
    }
  }
  for (const f of workflows) {
    const y = parseYaml(read(f), f);
    problems.push(...y.problems);
    if (y.problems.length > 0) continue;
    for (const d of y.docs) {
      if (f.startsWith('examples/') && (!d || typeof d !== 'object' || !('jobs' in d) || !('on' in d))) problems.push(`${f}: not a workflow (no 'on:' and 'jobs:')`);
      const u = checkUses(d, action.inputs, major, f);
      problems.push(...u.problems);
      nSteps += u.steps;
    }
  }
  problems.push(...checkTopCommands(read('README.md'), pkg.scripts));
  return {
    problems,
    counts: `${nLinks} relative links in ${markdown.length} markdown files, ${workflows.length} YAML files and ${nBlocks} YAML blocks, ${nSteps} steps using the action`,
  };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { problems, counts } = checkRepository(process.cwd());
  if (problems.length > 0) {
    console.error(`check-docs: ${problems.length} problem(s):\n  ${problems.join('\n  ')}`);
    process.exit(1);
  }
  console.log(`check-docs: ok (${counts})`);
}
