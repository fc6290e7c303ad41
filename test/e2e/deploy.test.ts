// End to end: real sshd, nginx and JVMs on network-namespace hosts; the bundled action runs as
// the GitHub runner runs it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createTestbed, cleanupStale, type Testbed } from '../testbed/testbed.ts';
import { baseInputs, runAction, explain } from './harness.ts';

let tb: Testbed;
before(async () => {
  await cleanupStale('zdde2e1');
  tb = await createTestbed({ prefix: 'zdde2e1', subnet: 41, appHosts: 1, form: 'set' });
  await tb.startSeedApp(tb.apps[0], 8080, 'v0');
});
after(async () => {
  await tb?.teardown();
});

test('single host: two deploys in a row alternate ports, stop the old process, serve the new version', async () => {
  assert.match((await tb.get('/version')).body, /version=v0 port=8080/);
  const seedPid = await tb.pidOnPort(tb.apps[0], 8080);
  assert.ok(seedPid);

  const r1 = await runAction(tb, baseInputs(tb, await tb.makeJar('v1')));
  assert.equal(r1.code, 0, explain(r1));
  assert.equal(r1.outputs['active-port'], '8081');
  assert.equal(r1.outputs['previous-port'], '8080');
  assert.match(r1.outputs.release, /^c0ffee1-[0-9a-f]{8}$/);
  assert.match((await tb.get('/version')).body, /version=v1 port=8081/);
  assert.equal(await tb.pidOnPort(tb.apps[0], 8080), null, 'the seed-started old process is gone');
  assert.equal(await tb.readInclude(), 'set $service_url http://' + tb.apps[0].ip + ':8081;\n');
  assert.match(r1.summary, /Deployed .* to port 8081/);
  assert.deepEqual([r1.outputs.outcome, r1.outputs['failed-step'], r1.outputs['failed-host'], r1.outputs.hosts], ['deployed', '', '', `${tb.nginx.ip}:22,${tb.apps[0].ip}:22`]);
  // The timeline: each host's phases in the order they ran on it.
  const gantt = /```mermaid\ngantt\n([^]*?)```/.exec(r1.summary)?.[1] ?? '';
  const phases = (host: string) => [...(new RegExp(`section ${host.replaceAll('.', '\\.')}\n((?: {4}.*\n)+)`).exec(gantt)?.[1] ?? '').matchAll(/^ {4}(.+?) :/gm)].map((m) => m[1]);
  assert.deepEqual(phases(tb.nginx.ip), ['connect', 'switch', 'drain'], gantt);
  assert.deepEqual(phases(tb.apps[0].ip), ['connect', 'upload', 'start', 'health', 'drain', 'stop'], gantt);

  // The second deploy runs its privileged commands under sudo -n (the user here is root, so
  // sudo needs no sudoers entry): the command lines must work the same way.
  const r2 = await runAction(tb, baseInputs(tb, await tb.makeJar('v2'), { sudo: 'true' }));
  assert.equal(r2.code, 0, explain(r2));
  assert.equal(r2.outputs['active-port'], '8080');
  assert.equal(r2.outputs['previous-port'], '8081');
  assert.match((await tb.get('/version')).body, /version=v2 port=8080/);
  assert.equal(await tb.pidOnPort(tb.apps[0], 8081), null);
  // The key reaches the runner only as ::add-mask:: commands (which the runner consumes).
  const shown = (r1.stdout + r2.stdout + r1.summary + r2.summary).split('\n').filter((l) => !l.startsWith('::add-mask::')).join('\n');
  for (const line of tb.privateKey.split('\n').filter((l) => l.length > 20)) assert.ok(!shown.includes(line), 'key material in the log');
});

test('an app that listens before it is ready: the host says when it answers, and the check goes out then, not a health-interval later', async () => {
  // 503 for 1.5 s after it listens; one check every 30 s. Without the host's word the one pass
  // comes 30 s after the first failed check; with it, about 1.5 s after the port opened.
  const t0 = Date.now();
  const r = await runAction(tb, baseInputs(tb, await tb.makeJar('late-ready'), { 'java-opts': '-Dhealth.ready.after.ms=1500', 'health-interval': '30', 'health-passes': '1', 'health-timeout': '60' }));
  const took = Date.now() - t0;
  assert.equal(r.code, 0, explain(r));
  assert.match(r.stdout, /wait for port \d+ to answer its health check: exit 0/);
  assert.ok(took < 25_000, `the deploy took ${took} ms: the check waited for the interval`);
  assert.match((await tb.get('/version')).body, /version=late-ready/);
});
