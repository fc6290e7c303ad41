// Keeps the README's inputs/outputs tables in step with action.yml.
//   node scripts/docs.mjs          rewrite the tables between the markers
//   node scripts/docs.mjs --check  exit 1 if the README differs from what action.yml says
//
// Every input and output in action.yml has a `# since X.Y.Z` comment line right above its name:
// the first release that has it (the table's "since" column). The runner refuses unknown keys in
// an input, so it is a comment, not a field. A missing or malformed one fails both modes.
import { readFileSync, writeFileSync } from 'node:fs';
import { isMap, parseDocument } from 'yaml';

const doc = parseDocument(readFileSync('action.yml', 'utf8'));
const action = doc.toJS();
const cell = (s) => String(s ?? '').replace(/\|/g, '\\|').replace(/\n/g, ' ').trim();

/** name -> X.Y.Z from the `# since` comments of a top-level mapping (inputs or outputs). */
export function sinceOf(section) {
  const map = doc.get(section, true);
  const out = new Map();
  const problems = [];
  if (!isMap(map)) return { out, problems: [`action.yml has no ${section} mapping`] };
  map.items.forEach((pair, i) => {
    const name = String(pair.key.value);
    // The first key's comment is the mapping's own (yaml puts it there).
    const comment = (i === 0 ? (pair.key.commentBefore ?? map.commentBefore) : pair.key.commentBefore) ?? '';
    const m = /(?:^|\n)\s*since (\d+\.\d+\.\d+)\s*$/.exec(comment);
    if (!m) problems.push(`action.yml ${section}.${name}: put a line '# since X.Y.Z' (the first release that has it) right above it`);
    else out.set(name, m[1]);
  });
  return { out, problems };
}

export function tables() {
  const ins = sinceOf('inputs');
  const outs = sinceOf('outputs');
  const problems = [...ins.problems, ...outs.problems];
  if (problems.length > 0) {
    console.error(problems.join('\n'));
    process.exit(1);
  }
  const inputs = Object.entries(action.inputs).map(
    ([name, i]) =>
      `| \`${name}\` | ${i.required ? 'yes' : ''} | ${i.default === undefined || i.default === '' ? '' : `\`${cell(i.default)}\``} | ${ins.out.get(name)} | ${i.deprecationMessage ? '**Deprecated.** ' : ''}${cell(i.description).replace(/^Deprecated: (.)/, (_, c) => c.toUpperCase())} |`,
  );
  const outputs = Object.entries(action.outputs).map(([name, o]) => `| \`${name}\` | ${outs.out.get(name)} | ${cell(o.description)} |`);
  return [
    '<!-- inputs:start (generated from action.yml by `node scripts/docs.mjs`) -->',
    '| input | required | default | since | description |',
    '|---|---|---|---|---|',
    ...inputs,
    '',
    '| output | since | description |',
    '|---|---|---|',
    ...outputs,
    '<!-- inputs:end -->',
  ].join('\n');
}

const readme = readFileSync('README.md', 'utf8');
const re = /<!-- inputs:start[^]*?<!-- inputs:end -->/;
if (!re.test(readme)) {
  console.error('README.md has no <!-- inputs:start --> ... <!-- inputs:end --> block');
  process.exit(1);
}
const next = readme.replace(re, tables());
if (process.argv.includes('--check')) {
  if (next !== readme) {
    console.error('README.md inputs/outputs tables are out of step with action.yml: run `node scripts/docs.mjs`');
    process.exit(1);
  }
  console.log('README tables match action.yml');
} else {
  writeFileSync('README.md', next);
}
