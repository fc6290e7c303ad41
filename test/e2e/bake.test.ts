// smoke-test before the switch and bake-time after it, under load through nginx: real sshd, nginx
// and JVMs on network-namespace hosts.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { createTestbed, cleanupStale, type Testbed } from '../testbed/testbed.ts';
import { baseInputs, runAction, explain } from './harness.ts';
import { underLoad } from './load.ts';

let tb: Testbed;
let app: Testbed['apps'][number];
before(async () => {
  await cleanupStale('zddbake');
  tb = await createTestbed({ prefix: 'zddbake', subnet: 65, appHosts: 1, form: 'set' });
  app = tb.apps[0];
  await tb.startSeedApp(app, 8080, 'v0');
  for (let i = 0; i < 5; i++) await tb.get('/version');
});
after(async () => {
  await tb?.teardown();
});


const live = async () => Number(/:(\d+);/.exec((await tb.readInclude())!)![1]);
const served = async () => (await tb.get('/version')).body.replace(/ pid=.*/, '').trim();
const LOG = { 'access-log': '/var/log/nginx/access.log', 'min-requests': '20' };

test('a failing smoke test: nothing switches, the new process is stopped, the step names the command and its exit code', async () => {
  const before = { include: await tb.readInclude(), port: await live() };
  const pid = await tb.pidOnPort(app, before.port);
  const { run, load } = await underLoad(tb, async () => runAction(tb, baseInputs(tb, await tb.makeJar('s1'), { 'smoke-test': 'curl -fsS "$CANDIDATE_URL/version" | grep -q "version=something-else"' })));
  assert.equal(run.code, 1, explain(run));
  assert.equal(load.non2xx, 0, load.raw);
  assert.match(run.error, /\[smoke test\] smoke-test 'curl -fsS "\$CANDIDATE_URL\/version" \| grep -q "version=something-else"' exited with code 1: nothing was switched, and the new version is stopped/);
  assert.equal(await tb.readInclude(), before.include);
  assert.equal(await tb.pidOnPort(app, before.port), pid, 'the old version serves on');
  assert.equal(await tb.pidOnPort(app, before.port === 8080 ? 8081 : 8080), null, 'the new process is gone');

  const missing = await runAction(tb, baseInputs(tb, await tb.makeJar('s1'), { 'smoke-test': 'zdd-no-such-smoke-command --now' }));
  assert.equal(missing.code, 1, explain(missing));
  assert.match(missing.error, /smoke-test 'zdd-no-such-smoke-command --now' exited with code 127 \(a command not found\)/);
  assert.match(missing.stdout + missing.stderr, /zdd-no-such-smoke-command: command not found/);
  assert.equal(await tb.readInclude(), before.include);
});

test('stage runs the smoke test too: a failing one leaves nothing staged, so promote has nothing to promote', async () => {
  const before = await tb.readInclude();
  const r = await runAction(tb, baseInputs(tb, await tb.makeJar('st'), { mode: 'stage', 'smoke-test': 'exit 3' }));
  assert.equal(r.code, 1, explain(r));
  assert.match(r.error, /smoke-test 'exit 3' exited with code 3/);
  const p = await runAction(tb, baseInputs(tb, '', { mode: 'promote' }));
  assert.equal(p.code, 1, explain(p));
  assert.match(p.error, /nothing is staged there/);
  assert.equal(await tb.readInclude(), before);
});

test('a passing smoke test saw the new version (CANDIDATE_URL, CANDIDATE_URLS, RELEASE) before any client did', async () => {
  const out = path.join(tb.dir, 'smoke-saw.txt');
  const port = await live();
  const next = port === 8080 ? 8081 : 8080;
  const { run, load } = await underLoad(tb, async () =>
    runAction(tb, baseInputs(tb, await tb.makeJar('s2'), { release: 's2', 'smoke-test': `{ curl -fsS "$CANDIDATE_URL/version"; echo; echo "release=$RELEASE urls=$CANDIDATE_URLS"; } > '${out}'; echo smoke-ok` })),
  );
  assert.equal(run.code, 0, explain(run));
  assert.equal(load.non2xx, 0, load.raw);
  assert.ok(existsSync(out), 'the smoke test ran');
  const saw = readFileSync(out, 'utf8');
  assert.match(saw, new RegExp(`version=s2 port=${next}`), 'it reached the new version on the idle port');
  assert.match(saw, /release=s2 urls=http:\/\/127\.0\.0\.1:\d+/);
  assert.match(run.stdout, /smoke-ok/, 'its output is in the log');
  assert.match(run.stdout, /smoke-test passed/);
  assert.match(await served(), new RegExp(`version=s2 port=${next}`));
});

test('bake-time: a release answering 20 % 5xx once it takes traffic is switched back after the bake; the old process never stopped', async () => {
  const before = { include: await tb.readInclude(), port: await live() };
  const pid = await tb.pidOnPort(app, before.port);
  const { run, load } = await underLoad(tb, async () => runAction(tb, baseInputs(tb, await tb.makeJar('b1'), { ...LOG, 'bake-time': '3', 'java-opts': '-Dfail.share=0.2' })));
  assert.equal(run.code, 1, explain(run));
  assert.match(run.error, /\[bake\] the new release answered \d+ of \d+ requests with 5xx \(\d+\.\d %, max-error-rate 1 %\) \(old, before the switch: .*; new, baking: .*\); nginx is switched back to port \d+, where the previous version still runs/);
  assert.match(run.summary, /\| bake 3s \| \d+ \| 0\.0 % \| \d+ ms \| \d+ ms \| \d+ \| \d+\.\d % \| \d+ ms \| \d+ ms \| fail \| 5xx \d+\.\d % > 1 % \|/);
  assert.equal(await tb.readInclude(), before.include, 'switched back');
  assert.equal(await tb.pidOnPort(app, before.port), pid, 'the old process kept running throughout');
  assert.equal(await tb.pidOnPort(app, before.port === 8080 ? 8081 : 8080), null, 'the new one is drained and stopped');
  assert.ok(load.non2xx > 0, 'clients saw the bad release while it baked');
  assert.ok(load.non2xx < 0.2 * load.requests, `5xx only during the bake: ${load.non2xx} of ${load.requests}`);
  assert.match(await served(), new RegExp(`port=${before.port}`));
});

test('bake-time: a good release bakes, is judged against the old one, and stays', async () => {
  const port = await live();
  const next = port === 8080 ? 8081 : 8080;
  // A JVM that has just taken all the traffic of this 2-core testbed under wrk can show a p99 of
  // 50-60 ms for its first seconds (JIT warm-up), which the default 50 ms floor would judge; the
  // latency gate is still applied, above a floor this testbed's cold start stays under.
  const { run, load } = await underLoad(tb, async () => runAction(tb, baseInputs(tb, await tb.makeJar('b2'), { ...LOG, 'bake-time': '3', 'p99-floor-ms': '250' })));
  assert.equal(run.code, 0, explain(run));
  assert.equal(load.non2xx, 0, load.raw);
  assert.match(run.summary, /\| bake 3s \| \d+ \| 0\.0 % \| \d+ ms \| \d+ ms \| \d+ \| 0\.0 % \| \d+ ms \| \d+ ms \| pass \| median [+−]\d+ ms; p99 \d+\.\d×[^|]* \|/);
  assert.match(run.stdout, /bake: old, before the switch: \d+ requests, 0\.0 % 5xx, p50 \d+ ms, p99 \d+ ms; new, baking: \d+ requests.*: pass \(median [+−]\d+ ms; p99 \d+\.\d×[^)]*\)/);
  assert.equal(await tb.pidOnPort(app, port), null, 'the old version stopped after the bake');
  assert.match(await served(), new RegExp(`version=b2 port=${next}`));
});

test('bad inputs: bake-time without a judge, a smoke-test-timeout of 0, systemd-unit without systemd, are refused before anything changes', async () => {
  const before = await tb.readInclude();
  const a = await runAction(tb, baseInputs(tb, await tb.makeJar('x'), { 'bake-time': '5' }));
  assert.equal(a.code, 1);
  assert.match(a.error, /input 'bake-time': needs access-log .* or verify-url/);
  const b = await runAction(tb, baseInputs(tb, await tb.makeJar('x'), { 'smoke-test': 'true', 'smoke-test-timeout': '0' }));
  assert.equal(b.code, 1);
  assert.match(b.error, /input 'smoke-test-timeout': 0 is out of range/);
  // systemd-unit on a host whose PID 1 is not systemd: the preflight says so before anything starts.
  const c = await runAction(tb, baseInputs(tb, await tb.makeJar('x'), { 'systemd-unit': 'shop' }));
  assert.equal(c.code, 1);
  assert.match(c.error, /\[preflight\] \S+: systemd-unit is set, but systemd is not what runs this host .*; leave systemd-unit empty/);
  assert.equal(await tb.readInclude(), before);
});
