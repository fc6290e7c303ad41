// Keeps the README's inputs/outputs tables in step with action.yml.
//   node scripts/docs.mjs          rewrite the tables between the markers
//   node scripts/docs.mjs --check  exit 1 if the README differs from what action.yml says
import { readFileSync, writeFileSync } from 'node:fs';
import { parse } from 'yaml';

const action = parse(readFileSync('action.yml', 'utf8'));
const cell = (s) => String(s ?? '').replace(/\|/g, '\\|').replace(/\n/g, ' ').trim();

export function tables() {
  const inputs = Object.entries(action.inputs).map(
    ([name, i]) => `| \`${name}\` | ${i.required ? 'yes' : ''} | ${i.default === undefined || i.default === '' ? '' : `\`${cell(i.default)}\``} | ${cell(i.description)} |`,
  );
  const outputs = Object.entries(action.outputs).map(([name, o]) => `| \`${name}\` | ${cell(o.description)} |`);
  return [
    '<!-- inputs:start (generated from action.yml by `node scripts/docs.mjs`) -->',
    '| input | required | default | description |',
    '|---|---|---|---|',
    ...inputs,
    '',
    '| output | description |',
    '|---|---|',
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
