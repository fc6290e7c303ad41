// Self-test of the e2e testbed (needs root): node --test test/testbed/testbed.selftest.ts
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { after, before, test } from 'node:test';
import { cleanupStale, createTestbed, nsPids } from './testbed.ts';
import type { Testbed } from './testbed.ts';

const PREFIX = 'zddtbself';
const SUBNET = 77;
let tb: Testbed | undefined;

function startTime(pid: number): string | null {
  try {
    // field 22 (starttime); the comm field may contain spaces, so split after the last ')'
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return null;
  }
}

before(async () => {
  await cleanupStale(PREFIX);
});

after(async () => {
  await tb?.teardown();
});

test('testbed: topology, isolation, ssh, nginx, teardown', { timeout: 90_000 }, async (t) => {
  const t0 = Date.now();
  tb = await createTestbed({ prefix: PREFIX, subnet: SUBNET, appHosts: 2, form: 'upstream', keyPassphrase: 'secret pass' });
  const setupMs = Date.now() - t0;
  t.diagnostic(`setup ${setupMs} ms`);
  assert.ok(setupMs < 15_000, `setup took ${setupMs} ms`);
  const [app1, app2] = tb.apps;
  assert.equal(app1.ip, `10.213.${SUBNET}.31`);
  assert.equal(tb.nginx.ip, `10.213.${SUBNET}.20`);
  assert.equal(tb.runner.ip, `10.213.${SUBNET}.10`);
  assert.match((await tb.readInclude()) ?? '', new RegExp(`upstream app \\{\\n    server ${app1.ip.replace(/\./g, '\\.')}:8080;\\n    server ${app2.ip.replace(/\./g, '\\.')}:8080;\\n\\}\\n`));

  // no route out of any namespace
  for (const h of [tb.runner, tb.nginx, ...tb.apps]) {
    const r = await tb.exec(h, ['ip', 'route']);
    assert.equal(r.code, 0);
    assert.doesNotMatch(r.stdout, /default/, `${h.name} has a default route`);
  }

  const t1 = Date.now();
  const pid1 = await tb.startSeedApp(app1, 8080, '1.0.0-a');
  const pid2 = await tb.startSeedApp(app2, 8080, '1.0.0-b');
  t.diagnostic(`seed apps listening after ${Date.now() - t1} ms`);
  assert.equal(await tb.pidOnPort(app1, 8080), pid1);
  assert.equal(await tb.pidOnPort(app2, 8080), pid2);
  assert.equal(await tb.pidOnPort(app1, 8081), null);

  // through nginx from the runner (round robin across both app hosts)
  const seen = new Set<string>();
  for (let i = 0; i < 8; i++) {
    const r = await tb.get('/');
    assert.equal(r.status, 200, r.body);
    assert.match(r.body, /^version=1\.0\.0-[ab] port=8080 pid=\d+$/);
    seen.add(r.body.split(' ')[0]);
  }
  t.diagnostic(`versions seen through nginx: ${[...seen].join(', ')}`);
  assert.ok(seen.size >= 1);

  // the runner cannot reach app ports directly; nginx and the app host itself can
  const tDirect = Date.now();
  const direct = await tb.runInRunner(['curl', '-sS', '--connect-timeout', '1.5', '--max-time', '2', `http://${app1.ip}:8080/`], { env: {}, timeoutMs: 5000 });
  assert.notEqual(direct.code, 0, `runner reached app1:8080 directly: ${direct.stdout}`);
  assert.ok(Date.now() - tDirect < 4000);
  const viaNginxHost = await tb.exec(tb.nginx, ['curl', '-sS', '--max-time', '3', `http://${app1.ip}:8080/version`]);
  assert.equal(viaNginxHost.code, 0, viaNginxHost.stderr);
  assert.match(viaNginxHost.stdout, /^version=1\.0\.0-a /);
  const local = await tb.exec(app1, ['curl', '-sS', '--max-time', '3', 'http://127.0.0.1:8080/actuator/health']);
  assert.equal(local.stdout, '{"status":"UP"}');
  // ...and app hosts cannot reach each other's app ports either
  const sideways = await tb.exec(app2, ['curl', '-sS', '--connect-timeout', '1', '--max-time', '1.5', `http://${app1.ip}:8080/`], { timeoutMs: 5000 });
  assert.notEqual(sideways.code, 0);

  // ssh from the runner, strict host key checking, plain and hashed known_hosts
  const ssh = (knownHostsFile: string, host: string, cmd: string, key = tb!.privateKeyPath) =>
    tb!.runInRunner(
      ['ssh', '-F', '/dev/null', '-i', key, '-o', 'IdentitiesOnly=yes', '-o', `UserKnownHostsFile=${knownHostsFile}`, '-o', 'StrictHostKeyChecking=yes', '-o', 'BatchMode=yes', '-o', 'ConnectTimeout=3', `root@${host}`, cmd],
      { env: { HOME: tb!.dir }, timeoutMs: 10_000 },
    );
  let r = await ssh(tb.knownHostsPath, app1.ip, 'ls /opt');
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'app');
  r = await ssh(tb.knownHostsHashedPath, app2.ip, 'ls /opt');
  assert.equal(r.code, 0, r.stderr);
  assert.match(tb.knownHostsHashed, /^\|1\|/);
  // a wrong host key is refused
  const wrongKnownHosts = `${tb.dir}/known_hosts_wrong`;
  fs.writeFileSync(wrongKnownHosts, tb.knownHosts.replace(app1.ip + ' ', 'x ').replace(app2.ip + ' ', app1.ip + ' '));
  r = await ssh(wrongKnownHosts, app1.ip, 'true');
  assert.equal(r.code, 255);
  // the encrypted key decrypts with its passphrase
  assert.ok(tb.encryptedKey);
  assert.match(tb.encryptedKey.key, /BEGIN OPENSSH PRIVATE KEY/);
  const dec = await tb.runInRunner(['ssh-keygen', '-y', '-P', tb.encryptedKey.passphrase, '-f', tb.encryptedKey.path], { env: {}, timeoutMs: 5000 });
  assert.equal(dec.code, 0, dec.stderr);
  assert.equal(dec.stdout.trim().split(' ').slice(0, 2).join(' '), tb.publicKey.trim().split(' ').slice(0, 2).join(' '));
  const noPass = await tb.runInRunner(['ssh-keygen', '-y', '-P', '', '-f', tb.encryptedKey.path], { env: {}, timeoutMs: 5000 });
  assert.notEqual(noPass.code, 0);

  // /opt/app is private per host
  r = await ssh(tb.knownHostsPath, app1.ip, 'echo hello > /opt/app/marker && cat /opt/app/marker');
  assert.equal(r.stdout, 'hello\n');
  assert.equal(fs.readFileSync(tb.localPath(app1, '/opt/app/marker'), 'utf8'), 'hello\n');
  r = await ssh(tb.knownHostsPath, app2.ip, 'test -e /opt/app/marker && echo present || echo absent');
  assert.equal(r.stdout, 'absent\n');
  assert.equal((await tb.exec(app2, ['ls', '/opt/app/marker'])).code, 2);
  // a backgrounded, fully detached process does not hold the SSH channel
  const tDetach = Date.now();
  r = await ssh(tb.knownHostsPath, app1.ip, 'setsid nohup sleep 30 >/dev/null 2>&1 </dev/null & echo ok');
  assert.equal(r.code, 0);
  assert.ok(Date.now() - tDetach < 5000);

  // nginx over ssh acts on the testbed nginx
  r = await ssh(tb.knownHostsPath, tb.nginx.ip, 'nginx -t');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /test is successful/);
  r = await ssh(tb.knownHostsPath, tb.nginx.ip, 'nginx -s reload && grep -c "worker process" /dev/null; ps -eo args | grep -c "^nginx: master"');
  assert.equal(r.stdout.trim().split('\n').pop(), '1');
  assert.equal((await tb.get('/health')).status, 200);

  // teardown: no namespace with our prefix, none of our processes, no temp dir
  const nsNames = [tb.runner, tb.nginx, ...tb.apps].map((h) => h.ns).concat(`${PREFIX}-sw`);
  const ours = (await Promise.all(nsNames.map(nsPids))).flat().map((pid) => ({ pid, start: startTime(pid) }));
  assert.ok(ours.length >= 6, `expected sshd x3, java x2, nginx... found ${ours.length}`);
  const dir = tb.dir;
  const tTear = Date.now();
  await tb.teardown();
  await tb.teardown(); // idempotent
  t.diagnostic(`teardown ${Date.now() - tTear} ms`);
  const left = fs.existsSync('/run/netns') ? fs.readdirSync('/run/netns').filter((n) => n.startsWith(`${PREFIX}-`)) : [];
  assert.deepEqual(left, []);
  const alive = ours.filter((p) => p.start !== null && startTime(p.pid) === p.start);
  assert.deepEqual(alive, []);
  assert.equal(fs.existsSync(dir), false);
  await assert.rejects(tb.exec(app1, ['true']));
});
