// Rolling deploys and several nginx hosts, under load through every nginx host, with long
// requests in flight: real sshd, nginx and JVMs on network-namespace hosts.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createTestbed, cleanupStale, type Testbed } from '../testbed/testbed.ts';
import { baseInputs, runAction, startAction, explain, type ActionRun } from './harness.ts';
import { decodeState } from '../../src/strategies/state.ts';
import { startLoad, longRequests } from './load.ts';

const beds: Testbed[] = [];
after(async () => {
  for (const b of beds) await b.teardown();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs the action under wrk load through every nginx host plus long requests; checks 0 non-2xx. */
async function underLoad(tb: Testbed, attempt: () => Promise<ActionRun>): Promise<ActionRun> {
  const loads = tb.nginxes.map((n) => startLoad(tb, 150, '/version', n));
  const long = longRequests(tb);
  await sleep(300);
  const run = await attempt();
  await sleep(300);
  const statuses = await long.stop();
  for (const l of loads) {
    const r = await l.stop();
    assert.ok(r.requests > 50, `load ran: ${r.raw}`);
    assert.equal(r.non2xx, 0, `no 5xx during the deploy: ${r.raw}\n${explain(run)}`);
    assert.equal(r.socketErrors, 0, `no connection errors: ${r.raw}`);
  }
  assert.ok(statuses.length >= 3, 'long requests ran');
  assert.deepEqual(statuses.filter((s) => s !== 200), [], `every long request completed: ${statuses.join(',')}`);
  return run;
}

/** What each nginx host serves, over enough requests to hit every instance. */
async function served(tb: Testbed): Promise<Set<string>> {
  const seen = new Set<string>();
  for (const nginx of tb.nginxes) {
    for (let i = 0; i < 8; i++) {
      const r = await tb.get('/version', { nginx });
      assert.equal(r.status, 200, r.body);
      seen.add(r.body.replace(/ pid=.*/, '').trim());
    }
  }
  return seen;
}

async function includes(tb: Testbed): Promise<(string | null)[]> {
  return Promise.all(tb.nginxes.map((n) => tb.readInclude(n)));
}

test('rolling, one host with two instances (seed 000) behind two nginx hosts; a release bad on the second batch is rolled back', async () => {
  await cleanupStale('zddroll1');
  const tb = await createTestbed({ prefix: 'zddroll1', subnet: 51, appHosts: 1, nginxHosts: 2, form: 'upstream', instances: [{ app: 0, port: 8080 }, { app: 0, port: 8081 }] });
  beds.push(tb);
  const app = tb.apps[0];
  await tb.startSeedApp(app, 8080, 'v0');
  await tb.startSeedApp(app, 8081, 'v0');
  const before = await includes(tb);

  const r = await underLoad(tb, async () =>
    runAction(tb, baseInputs(tb, await tb.makeJar('v1'), { strategy: 'rolling', 'smoke-test': 'for u in $CANDIDATE_URLS; do curl -fsS "$u/version" | grep -q "version=v1 "; done' })),
  );
  assert.equal(r.code, 0, explain(r));
  assert.match(r.stdout, /::group::Batch 1\/2[^]*smoke-test passed[^]*put back into nginx[^]*::group::Batch 2\/2/, 'the first batch is smoke-tested before it takes traffic, the second is not');
  assert.equal(r.stdout.match(/smoke-test passed/g)?.length, 1);
  assert.equal(r.outputs['active-port'], '8080,8081');
  assert.deepEqual(await includes(tb), before, 'the includes end byte-identical');
  assert.deepEqual([...(await served(tb))].sort(), ['version=v1 port=8080', 'version=v1 port=8081']);
  assert.match(r.summary, /\| 10\.213\.51\.31:22 \| 10\.213\.51\.31:8080 \| 1 \|/);
  assert.match(r.summary, /\| 10\.213\.51\.31:22 \| 10\.213\.51\.31:8081 \| 2 \|/);

  // v2 is unhealthy on 8081 only: batch 1 (8080) succeeds, batch 2 fails, batch 1 goes back to v1.
  const pids = [await tb.pidOnPort(app, 8080), await tb.pidOnPort(app, 8081)];
  const bad = await underLoad(tb, async () =>
    runAction(tb, baseInputs(tb, await tb.makeJar('v2'), { strategy: 'rolling', 'java-opts': '-Dhealth.down.ports=8081', 'health-timeout': '4' })),
  );
  assert.equal(bad.code, 1, explain(bad));
  assert.match(bad.error, /\[health check\] 10\.213\.51\.31:22: not healthy after 4s/);
  assert.match(bad.stdout, /the previous version runs again on port 8081/);
  assert.match(bad.stdout, /the previous version runs again on port 8080/);
  assert.deepEqual(await includes(tb), before, 'the includes end byte-identical');
  assert.deepEqual([...(await served(tb))].sort(), ['version=v1 port=8080', 'version=v1 port=8081'], 'the fleet serves the old version everywhere');
  assert.notDeepEqual([await tb.pidOnPort(app, 8080), await tb.pidOnPort(app, 8081)], pids);
  const java = await tb.exec(app, ['sh', '-c', 'pgrep -c java || true']);
  assert.equal(java.stdout.trim(), '2', 'no v2 process left');
  assert.ok(!bad.post || bad.post.code === 0, `post step quiet: ${bad.post?.stdout}`);
});

test('two app hosts behind two nginx hosts: rolling, then blue/green switching both nginx together; nginx -t failing on one leaves both as they were', async () => {
  await cleanupStale('zddroll2');
  const tb = await createTestbed({ prefix: 'zddroll2', subnet: 52, appHosts: 2, nginxHosts: 2, form: 'upstream' });
  beds.push(tb);
  for (const a of tb.apps) await tb.startSeedApp(a, 8080, 'v0');
  const before = await includes(tb);

  const r = await underLoad(tb, async () => runAction(tb, baseInputs(tb, await tb.makeJar('v1'), { strategy: 'rolling', 'batch-size': '50%' })));
  assert.equal(r.code, 0, explain(r));
  assert.deepEqual(await includes(tb), before);
  assert.deepEqual([...(await served(tb))], ['version=v1 port=8080']);

  const bg = await underLoad(tb, async () => runAction(tb, baseInputs(tb, await tb.makeJar('v2'))));
  assert.equal(bg.code, 0, explain(bg));
  assert.equal(bg.outputs['active-port'], '8081');
  const now = await includes(tb);
  assert.deepEqual(now, before.map((t) => t!.replaceAll(':8080;', ':8081;')), 'both nginx hosts switched');
  assert.deepEqual([...(await served(tb))], ['version=v2 port=8081']);
  for (const a of tb.apps) assert.equal(await tb.pidOnPort(a, 8080), null, 'old version stopped');

  // nginx -t fails on the second nginx host only: nothing changes anywhere.
  await tb.exec(tb.nginxes[1], ['touch', '/etc/nginx/BROKEN']);
  const failed = await underLoad(tb, async () =>
    runAction(tb, baseInputs(tb, await tb.makeJar('v3'), { 'nginx-test-command': 'sh -c "nginx -t && ! test -e /etc/nginx/BROKEN"' })),
  );
  assert.equal(failed.code, 1, explain(failed));
  assert.match(failed.error, /\[switch\] nginx host 10\.213\.52\.21:22: nginx-test-command .* did not pass/);
  assert.deepEqual(await includes(tb), now, 'both includes byte-identical');
  assert.deepEqual([...(await served(tb))], ['version=v2 port=8081'], 'both still serve the old version');
  for (const a of tb.apps) assert.equal(await tb.pidOnPort(a, 8080), null, 'the new processes are gone');

  // The reload fails on the second nginx host only, after the first one already reloaded: the
  // first is restored and its old workers (which proxy to the new version) are drained before the
  // new processes stop, so the long requests they carry complete (underLoad checks every one).
  const reloadFailed = await underLoad(tb, async () =>
    runAction(tb, baseInputs(tb, await tb.makeJar('v4'), { 'nginx-reload-command': 'sh -c "test ! -e /etc/nginx/BROKEN && nginx -s reload"' })),
  );
  assert.equal(reloadFailed.code, 1, explain(reloadFailed));
  assert.match(reloadFailed.error, /\[switch\] nginx host 10\.213\.52\.21:22: nginx-reload-command .* failed/);
  assert.match(reloadFailed.stdout, /restored \/etc\/nginx\/conf\.d\/service_url\.inc and reloaded nginx on 10\.213\.52\.20:22/);
  assert.deepEqual(await includes(tb), now, 'both includes byte-identical');
  assert.deepEqual([...(await served(tb))], ['version=v2 port=8081']);
  for (const a of tb.apps) assert.equal(await tb.pidOnPort(a, 8080), null, 'the new processes are gone');
});

test('rolling killed mid-way (SIGKILL in batch 2): the post step puts every instance back on the old release, with its secrets, which never reach the job state', async () => {
  await cleanupStale('zddroll3');
  const tb = await createTestbed({ prefix: 'zddroll3', subnet: 56, appHosts: 1, form: 'upstream', instances: [{ app: 0, port: 8080 }, { app: 0, port: 8081 }] });
  beds.push(tb);
  const app = tb.apps[0];
  const SECRET = 'db-pw-5f2a9c71';
  await tb.startSeedApp(app, 8080, 'v0', [], { env: { DB_PASSWORD: SECRET } });
  await tb.startSeedApp(app, 8081, 'v0', [], { env: { DB_PASSWORD: SECRET } });
  const before = await includes(tb);
  const run = await underLoad(tb, async () => {
    const a = startAction(tb, baseInputs(tb, await tb.makeJar('v1'), { strategy: 'rolling', 'java-opts': '-Dstart.delay.ms=3000' }));
    let out = '';
    a.child.stdout?.on('data', (c) => (out += c));
    for (let i = 0; i < 1200 && !/::group::Batch 2\/2[\s\S]*started pid/.test(out); i++) await sleep(25);
    assert.match(out, /::group::Batch 2\/2[\s\S]*started pid/, 'batch 2 started');
    a.child.kill('SIGKILL');
    return a.done;
  });
  assert.notEqual(run.code, 0);
  // The job state (GITHUB_STATE, printed by the runner in debug logs) holds no secret, read raw or decoded.
  assert.ok(run.state.recovery, 'a recovery state was saved');
  assert.doesNotMatch(run.state.recovery, new RegExp(SECRET));
  assert.doesNotMatch(JSON.stringify(decodeState(run.state.recovery)), new RegExp(SECRET));
  assert.match(JSON.stringify(decodeState(run.state.recovery).journal), /"saved":"\/opt\/app\/run\/8080\.previous"/);
  assert.equal(run.post?.code, 0, run.post?.stdout);
  assert.match(run.post!.stdout, /finishing its rollback/);
  for (const port of [8080, 8081]) {
    const pid = await tb.pidOnPort(app, port);
    const env = (await tb.exec(app, ['sh', '-c', `tr '\\0' '\\n' < /proc/${pid}/environ`])).stdout;
    assert.match(env, new RegExp(`^DB_PASSWORD=${SECRET}$`, 'm'), `the old process on ${port} was started again with its environment`);
  }
  assert.equal((await tb.exec(app, ['sh', '-c', 'ls /opt/app/run/*.previous 2>/dev/null || true'])).stdout.trim(), '', 'the kept start records are removed once used');
  assert.deepEqual(await includes(tb), before, 'the include ends byte-identical');
  assert.deepEqual([...(await served(tb))].sort(), ['version=v0 port=8080', 'version=v0 port=8081'], 'the old release everywhere');
  const java = await tb.exec(app, ['sh', '-c', 'pgrep -c java || true']);
  assert.equal(java.stdout.trim(), '2', 'no new process left');
});

test('rolling cancelled the way the runner cancels (SIGINT, SIGTERM 7.5 s later, SIGKILL at 10 s) while its rollback starts the old JVM again: the post step resumes, no guard is left to stop it', async () => {
  await cleanupStale('zddroll4');
  const tb = await createTestbed({ prefix: 'zddroll4', subnet: 63, appHosts: 1, form: 'upstream', instances: [{ app: 0, port: 8080 }, { app: 0, port: 8081 }] });
  beds.push(tb);
  const app = tb.apps[0];
  // The old release takes 12 s to start: the rollback's restart of it spans the SIGKILL.
  const slow = ['-Dstart.delay.ms=12000'];
  await Promise.all([tb.startSeedApp(app, 8080, 'v0', slow, { waitMs: 30_000 }), tb.startSeedApp(app, 8081, 'v0', slow, { waitMs: 30_000 })]);
  const before = await includes(tb);
  const run = await underLoad(tb, async () => {
    const a = startAction(tb, baseInputs(tb, await tb.makeJar('v1'), { strategy: 'rolling', 'java-opts': '-Dstart.delay.ms=3000' }), { timeoutMs: 240_000 });
    let out = '';
    a.child.stdout?.on('data', (c) => (out += c));
    for (let i = 0; i < 2400 && !/::group::Batch 2\/2[\s\S]*started pid/.test(out); i++) await sleep(25);
    assert.match(out, /::group::Batch 2\/2[\s\S]*started pid/, 'batch 2 started');
    a.child.kill('SIGINT');
    await sleep(7500);
    a.child.kill('SIGTERM');
    await sleep(2500);
    a.child.kill('SIGKILL');
    return a.done;
  });
  assert.notEqual(run.code, 0);
  assert.match(run.stdout, /received SIGINT/);
  assert.doesNotMatch(run.stdout, /the previous version runs again on port 8080/, 'the SIGKILL came before the rollback was done');
  assert.equal(run.post?.code, 0, run.post?.stdout);
  assert.match(run.post!.stdout, /finishing its rollback/);
  assert.match(run.post!.stdout, /the previous version runs again on port 8080/);
  assert.deepEqual(await includes(tb), before, 'the include ends byte-identical');
  const pids = [await tb.pidOnPort(app, 8080), await tb.pidOnPort(app, 8081)];
  assert.deepEqual([...(await served(tb))].sort(), ['version=v0 port=8080', 'version=v0 port=8081'], 'the old release everywhere');
  assert.equal((await tb.exec(app, ['sh', '-c', 'pgrep -c java || true'])).stdout.trim(), '2', 'no new process left');
  // No start guard outlives the run: none runs, and the restored processes are still there after
  // the longest a guard armed during the run would have waited.
  assert.equal((await tb.exec(app, ['sh', '-c', 'pgrep -fc "[g]uard [0-9]" || true'])).stdout.trim(), '0', 'no start guard left running');
  assert.equal((await tb.exec(app, ['sh', '-c', 'ls /opt/app/run/*.guard 2>/dev/null || true'])).stdout.trim(), '');
  assert.deepEqual([await tb.pidOnPort(app, 8080), await tb.pidOnPort(app, 8081)], pids);
});
