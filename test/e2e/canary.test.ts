// Canary on plain nginx, judged from nginx's own access log, under load through nginx.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createTestbed, cleanupStale, type Testbed } from '../testbed/testbed.ts';
import { baseInputs, runAction, startAction, explain } from './harness.ts';
import { underLoad } from './load.ts';

let tb: Testbed;
before(async () => {
  await cleanupStale('zddcanary');
  tb = await createTestbed({ prefix: 'zddcanary', subnet: 58, appHosts: 2, form: 'upstream' });
  for (const a of tb.apps) await tb.startSeedApp(a, 8080, 'v0');
  // Some traffic in the log before the first deploy (the format check reads its last lines).
  for (let i = 0; i < 5; i++) await tb.get('/version');
});
after(async () => {
  await tb?.teardown();
});

const CANARY = { strategy: 'canary', 'canary-log': '/var/log/nginx/access.log', 'canary-interval': '2', 'canary-min-requests': '20' };


const live = async () => Number(/:(\d+)[ ;]/.exec((await tb.readInclude())!)![1]);
const javaCount = async (i: number) => Number((await tb.exec(tb.apps[i], ['sh', '-c', 'pgrep -c java || true'])).stdout.trim());

test('a healthy release is promoted through every step and bakes at 100 %: 0 non-2xx, a table per step', async () => {
  const before = (await tb.readInclude())!;
  // A fresh JVM's first requests are slow (JIT): warmed up first, and judged with some slack on
  // this loaded 2-core machine (a cold JVM's p99 reached 42 ms against 7 ms in CI); the latency
  // gate itself is tested below with its defaults.
  const good = { ...CANARY, 'warmup-path': '/version', 'warmup-requests': '400', 'canary-max-p99-ratio': '4', 'p99-floor-ms': '150', 'bake-time': '2', 'smoke-test': 'curl -fsS "$CANDIDATE_URL/version" | grep -q "version=good "' };
  const { run, load } = await underLoad(tb, async () => runAction(tb, baseInputs(tb, await tb.makeJar('good'), good)));
  assert.equal(run.code, 0, explain(run));
  assert.equal(load.non2xx, 0, `no 5xx: ${load.raw}`);
  assert.equal(await tb.readInclude(), before.replaceAll(':8080;', ':8081;'), 'ends as a blue/green switch ends');
  assert.match(run.summary, /\| 10 % \| \d+ \| 0\.0 % \| \d+ ms \| \d+ ms \| \d+ \| 0\.0 % \| \d+ ms \| \d+ ms \| pass \| median [+−]\d+ ms; p99 \d+\.\d×[^|]* \|/);
  assert.match(run.summary, /\| 50 % \| \d+ \| 0\.0 % \| \d+ ms \| \d+ ms \| \d+ \| 0\.0 % \| \d+ ms \| \d+ ms \| pass \| median [+−]\d+ ms; p99 \d+\.\d×[^|]* \|/);
  assert.match(run.stdout, /smoke-test passed[^]*::group::Canary 10 %/, 'the smoke test ran before the first step');
  assert.match(run.summary, /\| bake 2s \| \d+ \| 0\.0 % \| \d+ ms \| \d+ ms \| \d+ \| 0\.0 % \| \d+ ms \| \d+ ms \| pass \| median [+−]\d+ ms; p99 \d+\.\d×[^|]* \|/);
  for (let i = 0; i < tb.apps.length; i++) assert.equal(await javaCount(i), 1, 'the old version stopped');
  assert.match((await tb.get('/version')).body, /version=good port=8081/);
});

test('a release answering 5 % 500 is aborted at the first step; what clients saw is bounded by its weight', async () => {
  const before = (await tb.readInclude())!;
  const port = await live();
  const { run, load } = await underLoad(tb, async () => runAction(tb, baseInputs(tb, await tb.makeJar('errors'), { ...CANARY, 'java-opts': '-Dfail.share=0.05' })));
  assert.equal(run.code, 1, explain(run));
  assert.match(run.error, /\[canary\] step 10 % failed: the new release answered \d+ of \d+ requests with 5xx \(\d+\.\d %, max-error-rate 1 %\)/);
  assert.match(run.summary, /\| 10 % \|.*\| fail \|/);
  // Clients saw the new release's 500s only while it had 10 % of the traffic.
  const bound = Math.ceil(0.1 * 0.05 * load.requests * 2) + 5;
  assert.ok(load.non2xx <= bound, `clients saw ${load.non2xx} 5xx of ${load.requests} requests; 10 % × 5 % × requests = ${(0.1 * 0.05 * load.requests).toFixed(1)} (bound ${bound})`);
  assert.equal(await tb.readInclude(), before, 'the include ends byte-identical');
  for (let i = 0; i < tb.apps.length; i++) {
    assert.equal(await tb.pidOnPort(tb.apps[i], port === 8080 ? 8081 : 8080), null, 'the new processes are gone');
  }
});

test('a slow release (120 ms more on every request) is aborted on latency: on the median, and on the p99 ratio with the median check off', async () => {
  const before = (await tb.readInclude())!;
  const { run, load } = await underLoad(tb, async () => runAction(tb, baseInputs(tb, await tb.makeJar('slow'), { ...CANARY, 'java-opts': '-Dlatency.ms=120' })));
  assert.equal(run.code, 1, explain(run));
  assert.equal(load.non2xx, 0, 'slow, but no errors');
  assert.match(run.error, /\[canary\] step 10 % failed: the new release is slower on most requests: its median is 1\d\d ms against \d+ ms for the old one \(\+\d+ ms, max-median-shift-ms 30\), and a rank test over all \d+ \+ \d+ requests finds it slower by more than 30 ms \(in \d+ % of pairs; Mann-Whitney U, p < 0\.001\) \(old: \d+ requests, 0\.0 % 5xx, p50 \d+ ms, p99 \d+ ms; new: /);
  assert.match(run.summary, /\| 10 % \|.*\| fail \| median \+\d+ ms > 30 ms \(rank test p < 0\.001\) \|/);
  assert.equal(await tb.readInclude(), before);
  const p99 = await underLoad(tb, async () => runAction(tb, baseInputs(tb, await tb.makeJar('slow'), { ...CANARY, 'java-opts': '-Dlatency.ms=120', 'max-median-shift-ms': 'off' })));
  assert.equal(p99.run.code, 1, explain(p99.run));
  assert.match(p99.run.error, /\[canary\] step 10 % failed: the new release's p99 is \d+ ms against \d+ ms for the old one \(\d+\.\d×, max-p99-ratio 2\)/);
  assert.equal(await tb.readInclude(), before);
});

test('a log with no line in the canary format is a configuration error before any traffic moves', async () => {
  const before = (await tb.readInclude())!;
  const port = await live();
  const run = await runAction(tb, baseInputs(tb, await tb.makeJar('nolog'), { ...CANARY, 'access-log': '/var/log/nginx/error.log' }));
  assert.equal(run.code, 1, explain(run));
  assert.match(run.error, /\[canary\] nginx host .*: access-log \/var\/log\/nginx\/error\.log has no line in the canary format .*log_format canary/);
  assert.doesNotMatch(run.stdout, /started pid/, 'nothing was started');
  assert.equal(await tb.readInclude(), before);
  for (const a of tb.apps) assert.equal(await tb.pidOnPort(a, port === 8080 ? 8081 : 8080), null);
});

test('a canary killed mid-step (SIGKILL): the post step puts the upstream back and stops the new processes', async () => {
  const before = (await tb.readInclude())!;
  const port = await live();
  const { run, load } = await underLoad(tb, async () => {
    const a = startAction(tb, baseInputs(tb, await tb.makeJar('killed'), { ...CANARY, 'canary-interval': '30' }));
    let out = '';
    a.child.stdout?.on('data', (c) => (out += c));
    for (let i = 0; i < 1200 && !/of requests now go to/.test(out); i++) await new Promise((r) => setTimeout(r, 25));
    assert.match(out, /of requests now go to/, 'the first step began');
    assert.notEqual(await tb.readInclude(), before, 'the weighted upstream is live');
    a.child.kill('SIGKILL');
    return a.done;
  });
  assert.notEqual(run.code, 0);
  assert.equal(load.non2xx, 0, `no 5xx: ${load.raw}`);
  assert.equal(run.post?.code, 0, run.post?.stdout);
  assert.match(run.post!.stdout, /finishing its rollback/);
  assert.equal(await tb.readInclude(), before, 'the upstream is back, byte-identical');
  for (const a of tb.apps) assert.equal(await tb.pidOnPort(a, port === 8080 ? 8081 : 8080), null, 'the new processes are gone');
});
