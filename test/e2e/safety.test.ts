// Failure paths that must never end worse than they began (issue 16): a rollback whose include
// could not be put back keeps running what that include still names.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, rmSync } from 'node:fs';
import { createTestbed, cleanupStale, type Testbed } from '../testbed/testbed.ts';
import { baseInputs, runAction, explain } from './harness.ts';
import { startLoad } from './load.ts';

let tb: Testbed;
before(async () => {
  await cleanupStale('zdde2e16');
  tb = await createTestbed({ prefix: 'zdde2e16', subnet: 62, appHosts: 1, form: 'set' });
  await tb.startSeedApp(tb.apps[0], 8080, 'v0');
});
after(async () => {
  await tb?.teardown();
});

test('a rollback whose include restore fails (nginx -t breaks meanwhile) keeps the new process nginx sends to, and says MANUAL ACTION NEEDED', async () => {
  const broken = tb.localPath(tb.nginx, '/etc/nginx/BROKEN');
  const seed = await tb.pidOnPort(tb.apps[0], 8080);
  // The reload takes (nginx now sends to the new port), then reports a failure; from then on
  // nginx -t fails: the rollback cannot put the old include back.
  const load = startLoad(tb, 60);
  const r = await runAction(
    tb,
    baseInputs(tb, await tb.makeJar('v1'), {
      'nginx-test-command': 'sh -c "nginx -t && ! test -e /etc/nginx/BROKEN"',
      'nginx-reload-command': 'sh -c "nginx -s reload && touch /etc/nginx/BROKEN && echo reload lost its answer >&2 && exit 1"',
    }),
  );
  const l = await load.stop();
  try {
    assert.equal(r.code, 1, explain(r));
    assert.match(r.error, /reload lost its answer/);
    assert.match(r.stdout + r.summary, /MANUAL ACTION NEEDED/);
    assert.match(r.stdout + r.summary, new RegExp(`nginx host ${tb.nginx.ip}:22 may still point at ${tb.apps[0].ip.replaceAll('.', '\\.')}:8081`));
    assert.match(r.stdout + r.summary, /the new process \(pid \d+\) on port 8081 was left running, because the include on nginx host .* may still send to/);
    assert.ok(await tb.pidOnPort(tb.apps[0], 8081), 'the process nginx sends to still runs');
    assert.match((await tb.get('/version')).body, /version=v1 port=8081/);
    assert.equal(await tb.pidOnPort(tb.apps[0], 8080), seed, 'the old one was not touched either');
    assert.equal(l.non2xx, 0, `no 5xx: ${l.raw}`);
    assert.equal(l.socketErrors, 0, `no connection errors: ${l.raw}`);
    assert.ok(!r.post || r.post.code === 0, `the post step does not redo the rollback: ${r.post?.stdout}`);
    assert.equal(r.outputs.outcome, 'manual-action-needed', explain(r));
    assert.match(r.outputs['failed-step'], /^Switch nginx to port 8081$/);
    assert.equal(r.outputs['failed-host'], `${tb.nginx.ip}:22`);
    assert.deepEqual(r.outputs.hosts.split(','), [`${tb.nginx.ip}:22`, `${tb.apps[0].ip}:22`]);
    assert.match(r.summary, /Outcome `manual-action-needed`: MANUAL ACTION NEEDED: look at the hosts below/);
  } finally {
    if (existsSync(broken)) rmSync(broken);
  }
});

test('verify-url judges the new version: a release answering 500 is switched back at once to the old one, which still runs', async () => {
  const before = await tb.readInclude();
  const livePort = Number(/:(\d+);/.exec(before ?? '')![1]);
  const idle = livePort === 8080 ? 8081 : 8080;
  // Whatever the previous case left on the idle port is not this case's concern.
  const stray = await tb.pidOnPort(tb.apps[0], idle);
  if (stray) await tb.exec(tb.apps[0], ['kill', '-9', String(stray)]);
  const livePid = await tb.pidOnPort(tb.apps[0], livePort);
  const served = (await tb.get('/version')).body;
  const r = await runAction(
    tb,
    baseInputs(tb, await tb.makeJar('bad'), { 'java-opts': '-Dfail.share=1', 'verify-url': `http://${tb.nginx.ip}/version`, 'health-timeout': '5' }),
  );
  assert.equal(r.code, 1, explain(r));
  assert.match(r.error, new RegExp(`\\[verify\\] http://${tb.nginx.ip.replaceAll('.', '\\.')}/version: verify-url did not answer 2xx/3xx after the switch: .*500.*; nginx is switched back to port ${livePort}, where the previous version still runs`));
  assert.match(r.summary, /Rolled back: the previous version keeps serving/);
  assert.equal(r.outputs.outcome, 'rolled-back', explain(r));
  assert.match(r.outputs['failed-step'], /^Verify$/);
  assert.equal(r.outputs['failed-host'], `http://${tb.nginx.ip}/version`, 'verify-url names the URL');
  assert.deepEqual(r.outputs.hosts.split(','), [`${tb.apps[0].ip}:22`, `${tb.nginx.ip}:22`]);
  assert.match(r.summary, /```mermaid\ngantt\n[^]*switch \(rollback\) :\d+, \d+/);
  assert.equal(await tb.readInclude(), before);
  assert.equal(await tb.pidOnPort(tb.apps[0], livePort), livePid, 'the old process was never stopped');
  assert.equal((await tb.get('/version')).body, served);
  assert.equal(await tb.pidOnPort(tb.apps[0], idle), null, 'the bad release was stopped');
});
