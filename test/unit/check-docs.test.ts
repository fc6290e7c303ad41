import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parse } from 'yaml';
import { actionRef, anchors, checkLinks, checkStep, checkTopCommands, checkUses, links, slug, yamlBlocks, type ActionInputs } from '../../scripts/check-docs.ts';

test('slug: GitHub heading anchors', () => {
  assert.equal(slug('Which file is the include: `service_url.inc` or `service-url.inc`'), 'which-file-is-the-include-service_urlinc-or-service-urlinc');
  assert.equal(slug('Rolling deploys (`strategy: rolling`)'), 'rolling-deploys-strategy-rolling');
  assert.equal(slug('Stage, then promote'), 'stage-then-promote');
  assert.equal(slug('**Bold** and [a link](x.md)'), 'bold-and-a-link');
  assert.equal(slug('  Spaces  twice '), 'spaces--twice');
  assert.equal(slug('Canary `log_format`'), 'canary-log_format');
  assert.equal(slug('Ünïcode 日本'), 'ünïcode-日本');
});

test('anchors: headings outside code, repeats numbered, explicit ids', () => {
  const md = '# Title\n## Setup\n```sh\n# not a heading\n```\n## Setup\n### Setup ##\n<a id="custom"></a>\n';
  assert.deepEqual([...anchors(md)].sort(), ['custom', 'setup', 'setup-1', 'setup-2', 'title']);
});

test('links: inline, images, references and hrefs; not in code', () => {
  const md = 'See [a](docs/a.md#x) and ![i](img.png "title") and `[no](code.md)`.\n```\n[no](fence.md)\n```\n[ref]: <b.md>\n<a href="c.md">c</a> [ext](https://example.com)';
  assert.deepEqual(
    links(md).map((l) => `${l.line}:${l.target}`).sort(),
    ['1:docs/a.md#x', '1:img.png', '5:b.md', '6:c.md', '6:https://example.com'],
  );
});

test('checkLinks: missing files and anchors, relative to the file', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'check-docs-'));
  try {
    mkdirSync(path.join(dir, 'docs'));
    writeFileSync(path.join(dir, 'docs/a.md'), '# A\n## Part two\n');
    writeFileSync(path.join(dir, 'x.yml'), 'a: 1\n');
    const md = '[ok](a.md#part-two) [up](../x.yml) [dir](../docs/) [self](#index) [bad](a.md#part-three) [gone](b.md) [anchor on yml](../x.yml#a) [out](../../etc) [web](https://x.y/#z)';
    const problems = checkLinks(dir, 'docs/index.md', '# Index\n' + md);
    assert.equal(problems.length, 4, problems.join('\n'));
    assert.match(problems[0], /docs\/a.md has no heading with the anchor #part-three/);
    assert.match(problems[1], /docs\/b.md does not exist/);
    assert.match(problems[2], /needs a markdown file/);
    assert.match(problems[3], /outside the repository/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

const INPUTS: ActionInputs = {
  'nginx-host': { required: true },
  'app-hosts': { required: true },
  'ssh-user': { required: true },
  'ssh-key': { required: true },
  'known-hosts': {},
  'insecure-skip-host-key-check': { default: 'false' },
  artifact: {},
  mode: { default: 'deploy' },
  strategy: { default: 'blue-green' },
  'canary-log': {},
  sudo: {},
};
const BASE = { 'nginx-host': 'n', 'app-hosts': 'a', 'ssh-user': 'deploy', 'ssh-key': '${{ secrets.K }}', 'known-hosts': '${{ vars.KH }}' };

test('actionRef: this action by name, REPO placeholder or ./', () => {
  assert.equal(actionRef('OWNER/jar-bluegreen-deploy@v1'), 'v1');
  assert.equal(actionRef('acme/REPO@v2'), 'v2');
  assert.equal(actionRef('./'), '');
  assert.equal(actionRef('actions/checkout@v4'), undefined);
  assert.equal(actionRef('OWNER/jar-bluegreen-deploy-fork@v1'), undefined);
});

test('checkStep: inputs of action.yml, required ones, and the conditions readConfig enforces', () => {
  const step = (w: Record<string, unknown>, uses = 'OWNER/jar-bluegreen-deploy@v1') => checkStep({ uses, with: w }, INPUTS, 'v1', 'x');
  assert.deepEqual(step({ ...BASE, artifact: 'app.jar', sudo: true }), []);
  assert.deepEqual(step({ ...BASE, mode: 'rollback' }), []);
  assert.deepEqual(step({ ...BASE, mode: '${{ inputs.mode }}' }), [], 'an expression is not judged');
  assert.deepEqual(step({ ...BASE, artifact: 'a.jar' }, 'OWNER/jar-bluegreen-deploy@v0'), ["x: 'OWNER/jar-bluegreen-deploy@v0' should use @v1"]);
  assert.deepEqual(step({ ...BASE, artifact: 'a.jar' }, './'), []);
  assert.deepEqual(step({ ...BASE, artifact: 'a.jar', 'ssh-users': 'x' }), ["x: 'ssh-users' is not an input of action.yml"]);
  const without = (k: string) => Object.fromEntries(Object.entries(BASE).filter(([n]) => n !== k));
  assert.deepEqual(step({ ...without('ssh-key'), artifact: 'a.jar' }), ["x: the required input 'ssh-key' is not given"]);
  assert.deepEqual(step({ ...BASE }), ["x: mode deploy needs 'artifact'"]);
  assert.deepEqual(step({ ...BASE, mode: 'promote', strategy: 'rolling' }), ['x: mode promote works with strategy blue-green only']);
  assert.deepEqual(step({ ...BASE, mode: 'redeploy' }), ['x: mode \'redeploy\' is not one of deploy, stage, promote, rollback']);
  assert.deepEqual(step({ ...BASE, artifact: 'a.jar', strategy: 'canary' }), ["x: strategy canary needs 'access-log'"]);
  assert.deepEqual(step({ ...without('known-hosts'), artifact: 'a.jar' }), ["x: 'known-hosts' is not given"]);
  assert.deepEqual(step({ ...without('known-hosts'), artifact: 'a.jar', 'insecure-skip-host-key-check': true }), []);
  assert.deepEqual(checkStep({ uses: './', with: 'x' }, INPUTS, 'v1', 'x'), ["x: 'with:' of './' is not a mapping"]);
});

test('checkUses: finds the action in a workflow, also in flow mappings', () => {
  const wf = parse(`
on: push
jobs:
  a:
    steps:
      - uses: actions/checkout@v4
      - uses: OWNER/jar-bluegreen-deploy@v1
        with: { nginx-host: n, app-hosts: a, ssh-user: u, ssh-key: k, known-hosts: h, mode: rollback }
      - name: bad
        uses: OWNER/jar-bluegreen-deploy@v1
        with:
          nginx-hosts: n
`);
  const r = checkUses(wf, INPUTS, 'v1', 'wf.yml');
  assert.equal(r.steps, 2);
  assert.ok(r.problems.every((p) => p.startsWith('wf.yml jobs.a.steps[2] (bad): ')), r.problems.join('\n'));
  assert.ok(r.problems.some((p) => /'nginx-hosts' is not an input/.test(p)));
});

test('yamlBlocks: fenced yaml blocks with their first line', () => {
  const md = 'x\n```yaml\na: 1\n```\n```sh\nno\n```\n  ```yml\n  b: 2\n  ```\n';
  assert.deepEqual(yamlBlocks(md), [
    { text: 'a: 1', line: 3 },
    { text: 'b: 2', line: 9 },
  ]);
});

test('checkTopCommands: the two commands open the README', () => {
  const scripts = { demo: 'x', test: 'y' };
  assert.deepEqual(checkTopCommands('# T\n\n```sh\nnpm ci && npm run demo   # demo\nnpm ci && npm test\n```\n## Next\n', scripts), []);
  assert.equal(checkTopCommands('# T\n\n## Next\n```sh\nnpm ci && npm run demo\nnpm ci && npm test\n```\n', scripts).length, 2);
  assert.deepEqual(checkTopCommands('```sh\nnpm ci && npm run demo\nnpm ci && npm test\n```\n', { demo: 'x' }), ["package.json has no 'test' script, which README.md's first commands run"]);
});

