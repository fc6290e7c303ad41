// Releases a team can act on, under load (0 non-2xx for every run): rollback from a warm standby
// and from a kept jar, releases marked bad, release: LABEL, stage -> promote, and the audit log.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createTestbed, cleanupStale, type Testbed } from '../testbed/testbed.ts';
import { explain } from './harness.ts';
import { actUnderLoad } from './load.ts';

let tb: Testbed;
let app: Testbed['apps'][number];
before(async () => {
  await cleanupStale('zddrel');
  tb = await createTestbed({ prefix: 'zddrel', subnet: 57, appHosts: 1, form: 'set' });
  app = tb.apps[0];
  await tb.startSeedApp(app, 8080, 'v0');
});
after(async () => {
  await tb?.teardown();
});

const act = (inputs: Record<string, string>, version?: string) => actUnderLoad(tb, inputs, version);

const served = async () => (await tb.get('/version')).body.replace(/ pid=.*/, '').trim();
const audit = async () =>
  (await tb.exec(tb.nginx, ['cat', '/opt/app/deploys.log'])).stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, string>);

/** What a dry run must leave exactly as it was: the include, what serves, both ports' pids, the audit log. */
const snapshot = async () => ({
  include: await tb.readInclude(),
  served: await served(),
  pids: [await tb.pidOnPort(app, 8080), await tb.pidOnPort(app, 8081)],
  audit: (await tb.exec(tb.nginx, ['cat', '/opt/app/deploys.log'])).stdout,
});

/** A dry run of mode (rollback, promote): it must succeed or fail as expected and change nothing. */
async function dryRun(mode: string, expect: RegExp, code = 0): Promise<void> {
  const before = await snapshot();
  const r = await act({ mode, 'dry-run': 'true' });
  assert.equal(r.code, code, explain(r));
  assert.match(code === 0 ? r.stdout : r.error, expect);
  assert.deepEqual(await snapshot(), before, `dry-run ${mode} changed nothing`);
}

test('rollback: from the warm standby, from the kept jar, never to a release marked bad; release: LABEL; audit lines', async () => {
  const r1 = await act({ release: 'r1' }, 'r1');
  assert.equal(r1.code, 0, explain(r1));
  assert.equal(await served(), 'version=r1 port=8081');

  const r2 = await act({ release: 'r2', 'keep-previous': 'true' }, 'r2');
  assert.equal(r2.code, 0, explain(r2));
  assert.equal(r2.outputs['previous-release'], 'r1');
  assert.equal(await served(), 'version=r2 port=8080');
  const warm = await tb.pidOnPort(app, 8081);
  assert.ok(warm, 'r1 kept running on 8081 as a warm standby');

  await dryRun('rollback', new RegExp(`Dry run: rollback \\(blue-green\\) of r1[^]*would roll back from r2 to r1 \\(and mark r2 bad\\)[^]*r1 still runs on port 8081 on \\S+ \\(pid ${warm}\\)`));
  // As a rollback minutes after a deploy: what its app host reads while the lock is taken holds
  // only when the lock says no deploy ended in the ~2 s before (the dry run just did).
  await new Promise((r) => setTimeout(r, 2500));
  const back1 = await act({ mode: 'rollback' });
  assert.equal(back1.code, 0, explain(back1));
  assert.equal(await served(), 'version=r1 port=8081');
  assert.equal(await tb.pidOnPort(app, 8081), warm, 'served from the warm standby, not a new process');
  assert.match(back1.stdout, /still runs on port 8081/);
  // Its first health check was the host's, made while the lock was taken; the last one after it.
  assert.match(back1.stdout, /::debug::\S+: port 8081: the first health check is the host's GET made \d+ ms ago, while the lock was taken \(200 /);
  assert.equal(await tb.pidOnPort(app, 8080), null, 'r2 drained and stopped');
  assert.equal(back1.outputs.release, 'r1');
  assert.equal(back1.outputs['previous-release'], 'r2');

  const r3 = await act({ release: 'r3' }, 'r3');
  assert.equal(r3.code, 0, explain(r3));
  assert.equal(await served(), 'version=r3 port=8080');
  assert.equal(await tb.pidOnPort(app, 8081), null, 'no standby without keep-previous');

  await dryRun('rollback', /would roll back from r3 to r1[^]*r1 would be started on port 8081 from its kept jar with its recorded command: java .*-jar app\.jar/);
  const back2 = await act({ mode: 'rollback', env: 'APP_FROM_STEP=should-not-be-used' });
  assert.equal(back2.code, 0, explain(back2));
  assert.equal(await served(), 'version=r1 port=8081', 'the release live before r3, started from its kept jar');
  assert.match(back2.stdout, /kept on the host \(0 bytes\)/);
  assert.doesNotMatch((await tb.get('/info')).body, /APP_FROM_STEP/, 'started with the command recorded with r1');

  const before = { include: await tb.readInclude(), served: await served(), pid: await tb.pidOnPort(app, 8081) };
  await dryRun('rollback', /\[rollback\] no release to roll back to/, 1);
  const none = await act({ mode: 'rollback' });
  assert.equal(none.code, 1, explain(none));
  assert.match(none.error, /\[rollback\] no release to roll back to: .*deploys\.log names none that served before r1 and was not rolled back from/);
  assert.deepEqual({ include: await tb.readInclude(), served: await served(), pid: await tb.pidOnPort(app, 8081) }, before, 'nothing changed');

  const missing = await act({ mode: 'rollback', release: 'nope' });
  assert.equal(missing.code, 1, explain(missing));
  assert.match(missing.error, /release nope is not kept there/);
  assert.deepEqual({ include: await tb.readInclude(), served: await served(), pid: await tb.pidOnPort(app, 8081) }, before, 'nothing changed');

  const label = await act({ mode: 'rollback', release: 'r2' });
  assert.equal(label.code, 0, explain(label));
  assert.equal(await served(), 'version=r2 port=8080');

  const lines = await audit();
  assert.deepEqual(
    lines.map((l) => [l.mode, l.release, l.result, l.bad ?? '']),
    [
      ['deploy', 'r1', 'ok', ''],
      ['deploy', 'r2', 'ok', ''],
      ['rollback', 'r1', 'ok', 'r2'],
      ['deploy', 'r3', 'ok', ''],
      ['rollback', 'r1', 'ok', 'r3'],
      ['rollback', '-', 'failed', ''],
      ['rollback', 'nope', 'failed', ''],
      ['rollback', 'r2', 'ok', 'r1'],
    ],
  );
  for (const l of lines) {
    assert.match(l.time, /^\d{4}-\d\d-\d\dT/);
    for (const k of ['actor', 'repository', 'run', 'strategy', 'from', 'to', 'duration_s']) assert.ok(k in l, `${k} in ${JSON.stringify(l)}`);
  }
  assert.match(label.summary, /Recent deploys/);
});

test('stage, try the staged version on the idle port, promote; promote after the staged process died changes nothing', async () => {
  const live = Number(/:(\d+);/.exec((await tb.readInclude())!)![1]);
  const idle = live === 8080 ? 8081 : 8080;
  const s = await act({ mode: 'stage', release: 's1' }, 's1');
  assert.equal(s.code, 0, explain(s));
  assert.equal(s.outputs['staged-port'], String(idle));
  assert.match(await served(), new RegExp(`port=${live}$`), 'nginx still serves the old version');
  const direct = await tb.exec(app, ['curl', '-s', `http://127.0.0.1:${idle}/version`]);
  assert.match(direct.stdout, new RegExp(`version=s1 port=${idle}`), 'the staged version answers on the idle port');
  await new Promise((r) => setTimeout(r, 1000));
  assert.ok(await tb.pidOnPort(app, idle), 'its guard was disarmed: it stays');

  const stagedPid = await tb.pidOnPort(app, idle);
  await dryRun('promote', new RegExp(`would promote the staged s1 on port ${idle} \\(\\S+ pid ${stagedPid}\\)[^]*then switch nginx on \\S+ to port ${idle}, and drain and stop the version on port ${live}`));
  const p = await act({ mode: 'promote' });
  assert.equal(p.code, 0, explain(p));
  assert.equal(await served(), `version=s1 port=${idle}`);
  assert.equal(await tb.pidOnPort(app, live), null, 'the old version stopped');

  const s2 = await act({ mode: 'stage', release: 's2' }, 's2');
  assert.equal(s2.code, 0, explain(s2));
  const staged = (await tb.pidOnPort(app, live))!;
  await tb.exec(app, ['kill', '-9', String(staged)]);
  for (let i = 0; i < 50 && (await tb.pidOnPort(app, live)); i++) await new Promise((r) => setTimeout(r, 100));
  const include = await tb.readInclude();
  const dead = await act({ mode: 'promote' });
  assert.equal(dead.code, 1, explain(dead));
  assert.match(dead.error, new RegExp(`\\[promote\\] .*: the staged process \\(pid ${staged}\\) of s2 on port ${live} is gone.*stage again \\(nothing was changed\\)`));
  assert.equal(await tb.readInclude(), include);
  assert.equal(await served(), `version=s1 port=${idle}`);
});

test('a reused release label keeps both jars: the second becomes LABEL-<sha8>, and rollback returns to the first', async () => {
  const m1 = await act({ release: 'main' }, 'm1');
  assert.equal(m1.code, 0, explain(m1));
  assert.equal(m1.outputs.release, 'main');
  assert.match(await served(), /^version=m1 /);
  const firstSum = (await tb.exec(app, ['cat', '/opt/app/releases/main/app.jar.sha256'])).stdout.trim();

  const m2 = await act({ release: 'main' }, 'm2');
  assert.equal(m2.code, 0, explain(m2));
  assert.match(m2.outputs.release, /^main-[0-9a-f]{8}$/);
  assert.match(m2.stdout, /release main already names another jar on \S+ \(sha256 [0-9a-f]{64}\); this jar is kept as release main-[0-9a-f]{8}/);
  assert.match(await served(), /^version=m2 /);
  assert.equal((await tb.exec(app, ['cat', '/opt/app/releases/main/app.jar.sha256'])).stdout.trim(), firstSum, 'the first jar under main is untouched');
  assert.notEqual((await tb.exec(app, ['cat', `/opt/app/releases/${m2.outputs.release}/app.jar.sha256`])).stdout.trim(), firstSum);

  const back = await act({ mode: 'rollback' });
  assert.equal(back.code, 0, explain(back));
  assert.equal(back.outputs.release, 'main');
  assert.match(await served(), /^version=m1 /, 'rollback went back to the first jar labelled main');
});
