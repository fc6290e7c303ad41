// A deploy that cannot succeed leaves production exactly as it was.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { createTestbed, cleanupStale, type Testbed } from '../testbed/testbed.ts';
import { baseInputs, runAction, explain } from './harness.ts';

let tb: Testbed;
before(async () => {
  await cleanupStale('zdde2e4');
  tb = await createTestbed({ prefix: 'zdde2e4', subnet: 44, appHosts: 1, form: 'set' });
  await tb.startSeedApp(tb.apps[0], 8080, 'v0');
});
after(async () => {
  await tb?.teardown();
});

async function snapshot() {
  return {
    include: await tb.readInclude(),
    pid8080: await tb.pidOnPort(tb.apps[0], 8080),
    pid8081: await tb.pidOnPort(tb.apps[0], 8081),
    served: (await tb.get('/version')).body,
  };
}

async function assertUnchanged(before: Awaited<ReturnType<typeof snapshot>>) {
  const now = await snapshot();
  assert.equal(now.include, before.include, 'include byte-identical');
  assert.equal(now.pid8080, before.pid8080, 'old process still serving');
  assert.equal(now.pid8081, null, 'no new process left behind');
  assert.equal(now.served, before.served);
}

test('an app that never becomes healthy: step fails, old version still served, new process gone', async () => {
  const s = await snapshot();
  const r = await runAction(tb, baseInputs(tb, await tb.makeJar('bad'), { 'java-opts': '-Dhealth.mode=down', 'health-timeout': '3' }));
  assert.equal(r.code, 1, explain(r));
  assert.match(r.error, /\[health check\] 10\.213\.44\.31:22: not healthy after 3s \(health-timeout\).*503/);
  // What a workflow can act on: nothing reached the new version, where, and which hosts.
  assert.equal(r.outputs.outcome, 'failed-before-switch', explain(r));
  assert.match(r.outputs['failed-step'], /^Upload, start and health-check c0ffee1-[0-9a-f]{8} on port 8081$/);
  assert.equal(r.outputs['failed-host'], '10.213.44.31:22');
  assert.equal(r.outputs.hosts, '10.213.44.31:22', 'the host that failed, which is the only one the run changed');
  assert.match(r.outputs.release, /^c0ffee1-/);
  assert.match(r.outputs.duration, /^\d+\.\d$/);
  // The failure summary: the outcome, the hosts and steps tables a success has, and the timeline.
  assert.match(r.summary, /Outcome `failed-before-switch`: nginx never sent a request to the new version/);
  assert.match(r.summary, /\| app host \| nginx address \| upload \| new pid \|/);
  assert.match(r.summary, /\| 10\.213\.44\.31:22 \| 10\.213\.44\.31:8081 \| [\d.]+ MiB in [\d.]+ s \| \d+ \|/);
  assert.match(r.summary, /\| step \| time \|\n\|---\|---\|\n\| Resolve the artifact \|/);
  assert.match(r.summary, /```mermaid\ngantt\n[^]*section 10\.213\.44\.31\n[^]*health :crit, \d+, \d+\n[^]*health \(rollback\)|```mermaid\ngantt\n[^]*section 10\.213\.44\.31\n[^]*health :crit, \d+, \d+\n[^]*stop \(rollback\)/);
  await assertUnchanged(s);
});

test('an app that exits at once: fails fast with its log', async () => {
  const s = await snapshot();
  const r = await runAction(tb, baseInputs(tb, await tb.makeJar('bad2'), { 'java-opts': '-Xmx1k', 'health-timeout': '60' }));
  assert.equal(r.code, 1, explain(r));
  assert.match(r.error, /exited before becoming healthy/);
  assert.match(r.stdout, /heap|Error occurred during initialization|Too small/i);
  await assertUnchanged(s);
});

test('a configuration nginx -t refuses (a broken file elsewhere) is refused before anything starts, with nginx\'s error', async () => {
  const s = await snapshot();
  const conf = tb.localPath(tb.nginx, '/etc/nginx/nginx.conf');
  const good = readFileSync(conf, 'utf8');
  writeFileSync(conf, good.replace('http {', 'http {\n    this_is_not_a_directive on;'));
  try {
    const r = await runAction(tb, baseInputs(tb, await tb.makeJar('v1')));
    assert.equal(r.code, 1, explain(r));
    assert.match(r.error, /\[read include\] nginx host 10\.213\.44\.20:22: could not list the files nginx loads: `nginx -T` exited 1: .*unknown directive "this_is_not_a_directive"/);
    assert.doesNotMatch(r.stdout, /started pid/);
  } finally {
    writeFileSync(conf, good);
  }
  await assertUnchanged(s);
});

test('a host key not in known-hosts is refused before anything changes', async () => {
  const s = await snapshot();
  const onlyNginx = tb.knownHosts.split('\n').filter((l) => l.startsWith(tb.nginx.ip + ' ')).join('\n');
  const r = await runAction(tb, baseInputs(tb, await tb.makeJar('v1'), { 'known-hosts': onlyNginx }));
  assert.equal(r.code, 1, explain(r));
  assert.match(r.error, /\[connect\] app host 10\.213\.44\.31:22: 10\.213\.44\.31 is not in known-hosts \(it offered ssh-ed25519 SHA256:/);
  assert.doesNotMatch(r.stdout, /Upload and start/);
  await assertUnchanged(s);
  // A key that does not match is refused with a louder message.
  const wrong = tb.knownHosts.replace(new RegExp(`^${tb.apps[0].ip.replaceAll('.', '\\.')} (\\S+) (\\S+)`, 'm'), (_m, t) => `${tb.apps[0].ip} ${t} ${tb.knownHosts.split('\n').find((l) => l.startsWith(tb.nginx.ip + ' '))!.split(' ')[2]}`);
  const r2 = await runAction(tb, baseInputs(tb, await tb.makeJar('v1'), { 'known-hosts': wrong }));
  assert.equal(r2.code, 1, explain(r2));
  assert.match(r2.error, /HOST KEY MISMATCH for 10\.213\.44\.31/);
  await assertUnchanged(s);
});

test('an ssh-key the servers do not accept is refused by name before anything changes; an RSA key they accept signs at once and deploys', async () => {
  // The bundle sends the signed publickey request without asking first (scripts/build.mjs): a
  // refused key must still end in the same clear error, and an RSA key (several signature
  // algorithms) must still get in.
  const keygen = (file: string, type: string) => execFileSync('ssh-keygen', ['-q', '-t', type, ...(type === 'rsa' ? ['-b', '3072'] : []), '-N', '', '-C', 'zdd-test', '-f', file]);
  const other = path.join(tb.dir, 'keys/other_ed25519');
  keygen(other, 'ed25519');
  const s = await snapshot();
  const r = await runAction(tb, baseInputs(tb, await tb.makeJar('v1'), { 'ssh-key': readFileSync(other, 'utf8') }));
  assert.equal(r.code, 1, explain(r));
  assert.match(r.error, new RegExp(`\\[connect\\] nginx host 10\\.213\\.44\\.20:22: authentication failed for user '${tb.sshUser}': the server did not accept ssh-key`));
  await assertUnchanged(s);
  const rsa = path.join(tb.dir, 'keys/id_rsa');
  keygen(rsa, 'rsa');
  const authorized = path.join(tb.dir, 'keys/authorized_keys');
  const was = readFileSync(authorized, 'utf8');
  writeFileSync(authorized, was + readFileSync(`${rsa}.pub`, 'utf8'));
  try {
    const ok = await runAction(tb, baseInputs(tb, await tb.makeJar('v-rsa'), { 'ssh-key': readFileSync(rsa, 'utf8') }));
    assert.equal(ok.code, 0, explain(ok));
    assert.match((await tb.get('/version')).body, /v-rsa/);
  } finally {
    writeFileSync(authorized, was);
  }
  // Back to the first version, as the other tests expect it.
  const back = await runAction(tb, baseInputs(tb, await tb.makeJar('v0')));
  assert.equal(back.code, 0, explain(back));
});

test('bad inputs are refused before any server is touched', async () => {
  const s = await snapshot();
  const r = await runAction(tb, baseInputs(tb, await tb.makeJar('v1'), { ports: '8080,8080' }));
  assert.equal(r.code, 1);
  assert.match(r.error, /input 'ports': the two ports must differ/);
  assert.deepEqual([r.outputs.outcome, r.outputs['failed-step'], r.outputs['failed-host'], r.outputs.hosts], ['failed-before-switch', 'inputs', '', '']);
  const r2 = await runAction(tb, baseInputs(tb, tb.dir + '/jars/*.jar'));
  assert.match(r2.error, /input 'artifact': .* matches \d+ files/);
  await assertUnchanged(s);
});

test('nginx cannot reach the new port (a firewall open to the live port only): refused before the switch, naming host, address and port', async () => {
  const s = await snapshot();
  const rule = ['nft', 'insert', 'rule', 'inet', 'zddtb', 'input', 'ip', 'saddr', tb.nginx.ip, 'tcp', 'dport', '8081', 'drop'];
  assert.equal((await tb.exec(tb.apps[0], rule)).code, 0);
  try {
    const r = await runAction(tb, baseInputs(tb, await tb.makeJar('walled')));
    assert.equal(r.code, 1, explain(r));
    assert.match(r.error, /\[reachability\] nginx host 10\.213\.44\.20:22: cannot reach the new version at 10\.213\.44\.31:8081 \(no answer within 5s/);
    assert.doesNotMatch(r.stdout, /nginx now sends traffic/);
  } finally {
    await tb.exec(tb.apps[0], ['nft', 'flush', 'chain', 'inet', 'zddtb', 'input']);
    await tb.exec(tb.apps[0], ['nft', '-f', `${tb.apps[0].dir}/firewall.nft`]);
  }
  await assertUnchanged(s);
});
