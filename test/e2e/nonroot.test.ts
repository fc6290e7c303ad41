// A production-shaped host: a non-root deploy user with passwordless sudo, an app host whose sshd
// refuses TCP forwarding, an nginx host whose sshd refuses it too (the reachability probe runs
// curl there instead), and an old app first started by root (the seed scripts' way).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createTestbed, cleanupStale, type Testbed } from '../testbed/testbed.ts';
import { baseInputs, runAction, explain } from './harness.ts';
import { startLoad } from './load.ts';
import { validatorInstallCommand } from '../../src/commands/validator.ts';

let tb: Testbed;
before(async () => {
  await cleanupStale('zddnonroot');
  tb = await createTestbed({ prefix: 'zddnonroot', subnet: 55, appHosts: 1, form: 'set', deployUser: true, allowTcpForwarding: { app1: false, nginx: false } });
  await tb.startSeedApp(tb.apps[0], 8080, 'v0'); // as root, like the seed scripts
});
after(async () => {
  await tb?.teardown();
});

const owner = async (pid: number) => (await tb.exec(tb.apps[0], ['ps', '-o', 'user=', '-p', String(pid)])).stdout.trim();

test('without sudo, a user who cannot run nginx -T is told to set sudo before anything starts', async () => {
  const before = await tb.readInclude();
  const r = await runAction(tb, baseInputs(tb, await tb.makeJar('v1')));
  assert.equal(r.code, 1, explain(r));
  assert.match(r.error, /\[preflight\] nginx host 10\.213\.55\.20:22: user 'zdddeploy' could not run `nginx -T` .*not found.*set sudo: true/);
  assert.doesNotMatch(r.stdout, /started pid/);
  assert.equal(await tb.readInclude(), before);
  assert.equal(await tb.pidOnPort(tb.apps[0], 8081), null);
});

test('a non-root deploy user with sudo: the app runs as that user, the root-started old app is stopped through sudo, health checks fall back to curl', async () => {
  const seed = (await tb.pidOnPort(tb.apps[0], 8080))!;
  assert.equal(await owner(seed), 'root');
  for (const v of ['v1', 'v2']) {
    // NOPASSWD: ALL: without the include validator the include is written unchecked, with a
    // warning; once it is installed (v2, in a tmpfs over /usr/local of the host's own mount
    // namespace), through it.
    if (v === 'v2') {
      const i = await tb.exec(tb.nginx, ['sh', '-c', `mount -t tmpfs -o mode=0755 zdd-usr-local /usr/local && ${validatorInstallCommand()}`]);
      assert.equal(i.code, 0, i.stderr);
    }
    const load = startLoad(tb, 120);
    const r = await runAction(tb, baseInputs(tb, await tb.makeJar(v), { sudo: 'true' }));
    const l = await load.stop();
    assert.equal(r.code, 0, explain(r));
    assert.equal(l.non2xx, 0, `no 5xx: ${l.raw}`);
    assert.equal(l.socketErrors, 0, `no connection errors: ${l.raw}`);
    const port = Number(r.outputs['active-port']);
    const pid = (await tb.pidOnPort(tb.apps[0], port))!;
    assert.equal(await owner(pid), 'zdddeploy', 'the app never runs as root');
    assert.equal(await tb.pidOnPort(tb.apps[0], port === 8080 ? 8081 : 8080), null, 'the old version is stopped');
    assert.match((await tb.get('/version')).body, new RegExp(`version=${v} port=${port}`));
    if (v === 'v1') assert.match(r.stdout, /refuses TCP forwarding .*checking with curl\/wget on the host instead/);
    if (v === 'v1') assert.match(r.stdout, /::warning::[\d.:]+: include validator missing: .*The sudoers rule is broad \(NOPASSWD: ALL\), so the include is written without it/);
    else assert.doesNotMatch(r.stdout, /include validator/);
    assert.match(r.stdout, new RegExp(`reachable from nginx at ${tb.apps[0].ip.replaceAll('.', '\\.')}:${port}`));
  }
});
