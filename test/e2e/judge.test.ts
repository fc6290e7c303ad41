// The latency judge of a canary step and a bake when the old release's tail is queueing (issue
// 30, item 6): real sshd, nginx and JVMs on network-namespace hosts. Every release of the test
// app here stops serving for 150 ms every 300 ms (pause.ms, as a stop-the-world GC does), so
// the requests that arrive meanwhile queue: under wrk load through nginx the old release's p99
// is that queue (about 150 ms: in every bake's window; in a 10 % step's, 8 to 150 ms from run to
// run) over a median of 1 ms. A release 100 ms slower on every request then stays under 2× such
// a tail, and the p99 ratio alone passed it (9cbf32d kept it through every bake, and promoted it
// at 10 % in 2 of 4 runs); its median, confirmed by the rank test, fails it. The same build passes.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createTestbed, cleanupStale, type Testbed } from '../testbed/testbed.ts';
import { baseInputs, runAction, explain } from './harness.ts';
import { underLoad, type LoadShape } from './load.ts';

const PAUSES = '-Dpause.ms=150 -Dpause.every.ms=300';
const SLOW = `${PAUSES} -Dlatency.ms=100`;
/** 16 connections, a new one per request; the diagnostics give each run's p50, p99 and p99 ratio. */
const BUSY: LoadShape = { threads: 2, connections: 16 };
/** ZDD_JUDGE_DIST: run another bundle (bench/baseline.ts writes one out), to see this test fail before the fix. */
const DIST = process.env.ZDD_JUDGE_DIST ? { dist: process.env.ZDD_JUDGE_DIST } : {};
/**
 * The p99 ratio, not what this test is about, is noisy here: wrk's connections pile up on whichever
 * instance pauses, so a 10 % canary's p99 is a pause (about 150 ms) more often than the old one's
 * (30 - 150 ms seen): 5× for the same build. Its floor is raised, as canary.test.ts does for its
 * healthy release; the median and the rank test are judged at their defaults.
 */
const P99_SLACK = { 'p99-floor-ms': '200' };
const LOG = { 'access-log': '/var/log/nginx/access.log', 'min-requests': '20', 'warmup-path': '/version', 'warmup-requests': '400' };

let tb: Testbed;
before(async () => {
  await cleanupStale('zddjudge');
  tb = await createTestbed({ prefix: 'zddjudge', subnet: 90, appHosts: 1, form: 'upstream' });
  await tb.startSeedApp(tb.apps[0], 8080, 'v0', PAUSES.split(' '));
  for (let i = 0; i < 5; i++) await tb.get('/version');
});
after(async () => {
  await tb?.teardown();
});

const live = async () => Number(/:(\d+)[ ;]/.exec((await tb.readInclude())!)![1]);
/** 'old: R requests, E % 5xx, p50 A ms, p99 B ms' in a message, as numbers */
const figs = (text: string, who: string) => {
  const m = new RegExp(`${who}[^;]*?(\\d+) requests, [\\d.]+ % 5xx, p50 (\\d+) ms, p99 (\\d+) ms`).exec(text);
  assert.ok(m, `${who} figures in: ${text}`);
  return { requests: Number(m[1]), p50: Number(m[2]), p99: Number(m[3]) };
};
/**
 * The test before may have left a slow release serving (as a bundle without the fix does): each
 * test starts from the good build, so the old release it is judged against is never the slow one.
 */
async function fromGoodBuild(): Promise<void> {
  if (/version=(v0|good|same) /.test((await tb.get('/version')).body)) return;
  const r = await runAction(tb, baseInputs(tb, await tb.makeJar('good'), { 'java-opts': PAUSES }));
  assert.equal(r.code, 0, explain(r));
}
/** What each step and bake said (also with another bundle), for the test's log. */
const said = (run: { stdout: string; error: string }) => [...run.stdout.split('\n').filter((l) => /^(step \d+ %:|bake: )/.test(l)), run.error].filter(Boolean).join('\n');

test('queueing tail: a canary 100 ms slower on every request is aborted at 10 % on its median (the p99 ratio of 9cbf32d promoted it)', async (t) => {
  await fromGoodBuild();
  const before = (await tb.readInclude())!;
  const port = await live();
  const { run, load } = await underLoad(
    tb,
    async () => runAction(tb, baseInputs(tb, await tb.makeJar('slow'), { ...LOG, strategy: 'canary', 'canary-steps': '10,100', 'canary-interval': '5', 'java-opts': SLOW }), DIST),
    BUSY,
  );
  t.diagnostic(said(run));
  assert.equal(run.code, 1, explain(run));
  assert.equal(load.non2xx, 0, `slow, but no errors: ${load.raw}`);
  assert.match(
    run.error,
    /\[canary\] step 10 % failed: the new release is slower on most requests: its median is \d+ ms against \d+ ms for the old one \(\+\d+ ms, max-median-shift-ms 30\), and a rank test over all \d+ \+ \d+ requests finds it slower by more than 30 ms \(in \d+ % of pairs; Mann-Whitney U, p < 0\.001\)/,
  );
  const o = figs(run.error, 'old: ');
  const n = figs(run.error, 'new: ');
  t.diagnostic(`old p50 ${o.p50} ms p99 ${o.p99} ms (${o.requests}); new p50 ${n.p50} ms p99 ${n.p99} ms (${n.requests}); p99 ratio ${(n.p99 / o.p99).toFixed(2)}`);
  // Whether the old p99 was queueing in this window (it was 71 - 150 ms in most runs, 14 ms in one)
  // is in the diagnostic above: the bake below, whose old window is all before the switch, always is.
  // 100 ms more on every request; its own pauses can add to that (a median of 213 ms was seen).
  assert.ok(n.p50 - o.p50 >= 90, `the median moved by the 100 ms: ${o.p50} → ${n.p50} ms`);
  assert.match(run.summary, /\| 10 % \| \d+ \| 0\.0 % \| \d+ ms \| \d+ ms \| \d+ \| 0\.0 % \| \d+ ms \| \d+ ms \| fail \| median \+\d+ ms > 30 ms \(rank test p < 0\.001\) \|/);
  assert.equal(await tb.readInclude(), before, 'the upstream is back, byte-identical');
  assert.equal(await tb.pidOnPort(tb.apps[0], port === 8080 ? 8081 : 8080), null, 'the new process is gone');
  assert.match((await tb.get('/version')).body, new RegExp(`version=v0 port=${port}`));
});

test('queueing tail: a bake of a release 100 ms slower is switched back on its median (the p99 ratio of 9cbf32d kept it)', async (t) => {
  await fromGoodBuild();
  const port = await live();
  const before = (await tb.readInclude())!;
  const pid = await tb.pidOnPort(tb.apps[0], port);
  const { run, load } = await underLoad(tb, async () => runAction(tb, baseInputs(tb, await tb.makeJar('slowbake'), { ...LOG, 'bake-time': '5', 'java-opts': SLOW }), DIST), BUSY);
  t.diagnostic(said(run));
  assert.equal(run.code, 1, explain(run));
  assert.equal(load.non2xx, 0, load.raw);
  assert.match(
    run.error,
    /\[bake\] the new release is slower on most requests: its median is \d+ ms against \d+ ms for the old one \(\+\d+ ms, max-median-shift-ms 30\), and a rank test .*Mann-Whitney U, p < 0\.001\) \(old, before the switch: .*; new, baking: .*\); nginx is switched back to port \d+, where the previous version still runs/,
  );
  assert.match(run.summary, /\| bake 5s \|.*\| fail \| median \+\d+ ms > 30 ms \(rank test p < 0\.001\) \|/);
  const o = figs(run.error, 'old, before the switch: ');
  const n = figs(run.error, 'new, baking: ');
  t.diagnostic(`old p50 ${o.p50} ms p99 ${o.p99} ms; new p50 ${n.p50} ms p99 ${n.p99} ms; p99 ratio ${(n.p99 / o.p99).toFixed(2)}`);
  assert.ok(n.p50 - o.p50 >= 90, `the median moved by the 100 ms: ${o.p50} → ${n.p50} ms`);
  assert.equal(await tb.readInclude(), before, 'switched back');
  assert.equal(await tb.pidOnPort(tb.apps[0], port), pid, 'the old process never stopped');
});

// At 10 % the same build can fail here: wrk's 16 connections pile up on whichever instance pauses,
// and a small canary that pauses collects most of them, so the majority of its few requests wait
// out a pause (median 129 ms against 1 ms, once in 5 runs). That is the closed loop of the load
// generator, not the judge; at 50 % both instances collect alike.
test('queueing tail: the same build passes a 50 % step and its bake on the median', async (t) => {
  await fromGoodBuild();
  const port = await live();
  const { run, load } = await underLoad(
    tb,
    async () => runAction(tb, baseInputs(tb, await tb.makeJar('same'), { ...LOG, ...P99_SLACK, strategy: 'canary', 'canary-steps': '50,100', 'canary-interval': '5', 'bake-time': '5', 'java-opts': PAUSES }), DIST),
    BUSY,
  );
  t.diagnostic(said(run));
  assert.equal(run.code, 0, explain(run));
  assert.equal(load.non2xx, 0, load.raw);
  for (const step of ['50 %', 'bake 5s']) {
    assert.match(run.summary, new RegExp(`\\| ${step} \\| \\d+ \\| 0\\.0 % \\| \\d+ ms \\| \\d+ ms \\| \\d+ \\| 0\\.0 % \\| \\d+ ms \\| \\d+ ms \\| pass \\| median [+−]\\d+ ms[^|]*; p99 \\d+\\.\\d×[^|]* \\|`));
  }
  assert.match((await tb.get('/version')).body, new RegExp(`version=same port=${port === 8080 ? 8081 : 8080}`));
});
