// A deploy user whose ~/.bashrc is slow, prints a banner on stdout and stderr, reads a line of
// stdin and changes directory (Debian's bash reads it for every command sshd runs): the deploy
// starts that login shell once per host, for a deploy, a rollback and the post step alike, under
// load with 0 non-2xx; one that exits gets a message that says so, and nothing changes.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { createTestbed, cleanupStale, type Testbed } from '../testbed/testbed.ts';
import { baseInputs, runAction, explain } from './harness.ts';
import { actUnderLoad } from './load.ts';
import type { Host } from '../testbed/types.ts';

let tb: Testbed;
const LOG = '/root/login-shells.log';

/** The .bashrc of root on every host (the testbed's /root is per host): ~0.3 s of CPU, a banner, a read, a cd. */
const slowBashrc = (extra = '') => `${extra}echo "Welcome to $(hostname): a banner printed by ~/.bashrc"
echo "a line on stderr from ~/.bashrc" >&2
echo "$$" >> ${LOG}
i=0; while [ $i -lt 100000 ]; do i=$((i+1)); done
cd /
read -r _line
`;

const bashrc = (h: Host, text: string) => writeFile(path.join(h.dir, 'home-root', '.bashrc'), text);
const hosts = () => [tb.nginx, ...tb.apps];

/** How many login shells each host started since the last call (its .bashrc counts them). */
async function shells(): Promise<number[]> {
  const n = [];
  for (const h of hosts()) {
    n.push(Number((await tb.exec(h, ['sh', '-c', `[ -f ${LOG} ] && wc -l < ${LOG} || echo 0; rm -f ${LOG}`])).stdout.trim()));
  }
  return n;
}

before(async () => {
  await cleanupStale('zddlogin');
  tb = await createTestbed({ prefix: 'zddlogin', subnet: 76, appHosts: 1, form: 'set' });
  await tb.startSeedApp(tb.apps[0], 8080, 'v0');
  for (const h of hosts()) await bashrc(h, slowBashrc());
  await shells();
});
after(async () => {
  await tb?.teardown();
});

const act = (inputs: Record<string, string>, version?: string) => actUnderLoad(tb, inputs, version);

test('a slow .bashrc that prints, reads stdin and changes directory: one login shell per host for a deploy and for a rollback', async () => {
  const r1 = await act({ release: 'r1' }, 'r1');
  assert.equal(r1.code, 0, explain(r1));
  assert.deepEqual(await shells(), [1, 1], 'one login shell on the nginx host and one on the app host');
  assert.doesNotMatch(r1.stdout + r1.stderr, /banner printed by|a line on stderr from/, 'the banner is no command output');
  const r2 = await act({ release: 'r2', 'keep-previous': 'true' }, 'r2');
  assert.equal(r2.code, 0, explain(r2));
  assert.deepEqual(await shells(), [1, 1]);
  assert.match((await tb.get('/version')).body, /version=r2 port=8080/);
  const back = await act({ mode: 'rollback' });
  assert.equal(back.code, 0, explain(back));
  assert.deepEqual(await shells(), [1, 1]);
  assert.match((await tb.get('/version')).body, /version=r1 port=8081/);
});

test('a failed deploy is undone by the post step: still one login shell per host for each step', async () => {
  const r = await act({ release: 'r3', 'java-opts': '-Dhealth.mode=down', 'health-timeout': '3' }, 'broken');
  assert.equal(r.code, 1, explain(r));
  assert.equal(r.post?.code, 0, explain(r));
  const n = await shells();
  assert.ok(n.every((x) => x >= 1 && x <= 2), `main and post: at most one each per host, ${n.join(',')}`);
  assert.match((await tb.get('/version')).body, /version=r1 port=8081/);
});

test('a .bashrc that exits before running anything: a message that names it, and nothing changes', async () => {
  await bashrc(tb.apps[0], slowBashrc('echo "pyenv: command not found" >&2; exit 3\n'));
  const include = await tb.readInclude();
  const r = await runAction(tb, baseInputs(tb, await tb.makeJar('r4')));
  await bashrc(tb.apps[0], slowBashrc());
  assert.equal(r.code, 1, explain(r));
  assert.match(r.error, /login shell ended before it ran anything \(exit code 3\).*bashrc.*pyenv: command not found/s);
  assert.equal(await tb.readInclude(), include);
  assert.equal(await tb.pidOnPort(tb.apps[0], 8080), null);
  assert.match((await tb.get('/version')).body, /version=r1 port=8081/);
});
