// Self-test of the e2e testbed (needs root): node --test test/testbed/testbed.selftest.ts
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { after, before, test } from 'node:test';
import { cleanupStale, createTestbed, DEPLOY_UID, DEPLOY_USER, nsPids, upstreamIncludeText } from './testbed.ts';
import type { Testbed } from './testbed.ts';

const PREFIX = 'zddtbself';
const SUBNET = 77;
const PREFIX2 = 'zddtbself2';
const SUBNET2 = 78;
const PREFIX3 = 'zddtbself3';
const SUBNET3 = 79;
let tb: Testbed | undefined;
let tb2: Testbed | undefined;
let tb3: Testbed | undefined;

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
  await cleanupStale(PREFIX2);
  await cleanupStale(PREFIX3);
});

after(async () => {
  try {
    await tb?.teardown();
  } finally {
    try {
      await tb2?.teardown();
    } finally {
      await tb3?.teardown();
    }
  }
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

test('testbed: two nginx hosts, two instances on one app host (rolling layout)', { timeout: 90_000 }, async (t) => {
  const t0 = Date.now();
  tb2 = await createTestbed({
    prefix: PREFIX2,
    subnet: SUBNET2,
    nginxHosts: 2,
    appHosts: 1,
    form: 'upstream',
    instances: [
      { app: 0, port: 8080 },
      { app: 0, port: 8081 },
    ],
  });
  t.diagnostic(`setup ${Date.now() - t0} ms`);
  const tb = tb2;
  const [app1] = tb.apps;
  const [nginx1, nginx2] = tb.nginxes;
  assert.equal(tb.nginxes.length, 2);
  assert.equal(tb.nginx, nginx1);
  assert.equal(nginx1.name, 'nginx');
  assert.equal(nginx1.ip, `10.213.${SUBNET2}.20`);
  assert.equal(nginx2.name, 'nginx2');
  assert.equal(nginx2.ns, `${PREFIX2}-nginx2`);
  assert.equal(nginx2.ip, `10.213.${SUBNET2}.21`);
  assert.equal(app1.ip, `10.213.${SUBNET2}.31`);
  assert.deepEqual(
    tb.hosts.map((h) => h.name),
    ['nginx', 'nginx2', 'app1'],
  );
  assert.deepEqual(
    tb.instances.map((i) => [i.host.name, i.port]),
    [
      ['app1', 8080],
      ['app1', 8081],
    ],
  );
  for (const h of tb.hosts) assert.match(tb.knownHosts, new RegExp(`^${h.ip.replace(/\./g, '\\.')} ssh-ed25519 `, 'm'), `${h.name} not in known_hosts`);
  assert.equal(tb.knownHostsHashed.trim().split('\n').length, 3);

  // the same include on both nginx hosts, each its own file
  const expected = `upstream app {\n    server ${app1.ip}:8080;\n    server ${app1.ip}:8081;\n}\n`;
  assert.equal(upstreamIncludeText([{ ip: app1.ip, port: 8080 }, { ip: app1.ip, port: 8081 }]), expected);
  assert.equal(await tb.readInclude(), expected);
  assert.equal(await tb.readInclude(nginx1), expected);
  assert.equal(await tb.readInclude(tb.nginxes[1]), expected);
  assert.notEqual(tb.localPath(nginx1, '/etc/nginx/conf.d/service_url.inc'), tb.localPath(nginx2, '/etc/nginx/conf.d/service_url.inc'));
  await assert.rejects(tb.readInclude(app1), /not an nginx host/);

  await Promise.all([tb.startSeedApp(app1, 8080, '2.0.0-a'), tb.startSeedApp(app1, 8081, '2.0.0-b')]);

  // both nginx hosts serve, each round robin over both ports
  for (const nginx of tb.nginxes) {
    const ports = new Set<string>();
    for (let i = 0; i < 6; i++) {
      const r = await tb.get('/version', { nginx });
      assert.equal(r.status, 200, `${nginx.name}: ${r.body}`);
      const m = /^version=2\.0\.0-[ab] port=(808[01]) pid=\d+$/.exec(r.body);
      assert.ok(m, r.body);
      ports.add(m[1]);
    }
    assert.deepEqual([...ports].sort(), ['8080', '8081'], `${nginx.name} saw ports ${[...ports].join(',')}`);
    // its own access log, in the zdd format
    const logText = fs.readFileSync(tb.localPath(nginx, '/var/log/nginx/access.log'), 'utf8');
    const lines = logText.trim().split('\n');
    assert.equal(lines.length, 6, `${nginx.name} access log:\n${logText}`);
    t.diagnostic(`${nginx.name} access.log: ${lines[0]}`);
    const appRe = app1.ip.replace(/\./g, '\\.');
    for (const l of lines) assert.match(l, new RegExp(`^\\d+\\.\\d{3} 200 ${appRe}:808[01] 200 \\d+\\.\\d{3} \\d+\\.\\d{3}$`));
  }
  assert.equal((await tb.get('/health')).status, 200); // default: the first nginx host

  // per-host include, test and reload: switch nginx2 to 8081 only, nginx stays on both
  const only8081 = upstreamIncludeText([{ ip: app1.ip, port: 8081 }]);
  await tb.writeInclude(only8081, nginx2);
  assert.equal(await tb.readInclude(nginx2), only8081);
  assert.equal(await tb.readInclude(), expected);
  const nt = await tb.nginxTest(nginx2);
  assert.equal(nt.code, 0, nt.stderr);
  assert.equal((await tb.reloadNginx(nginx2)).code, 0);
  const deadline = Date.now() + 5000;
  for (let ok = 0; ok < 4; ) {
    const r = await tb.get('/version', { nginx: nginx2 });
    assert.equal(r.status, 200, r.body);
    if (r.body.includes(' port=8081 ')) ok++;
    else ok = 0; // old workers may still answer right after the reload
    assert.ok(Date.now() < deadline, 'nginx2 still routes to 8080 after reload');
  }
  const ports1 = new Set<string>();
  for (let i = 0; i < 4; i++) ports1.add(/ port=(\d+) /.exec((await tb.get('/version')).body)?.[1] ?? '?');
  assert.deepEqual([...ports1].sort(), ['8080', '8081']);

  // the runner cannot reach app ports directly; both nginx hosts can
  for (const nginx of tb.nginxes) {
    const r = await tb.exec(nginx, ['curl', '-sS', '--max-time', '3', `http://${app1.ip}:8081/health`]);
    assert.equal(r.code, 0, `${nginx.name}: ${r.stderr}`);
    assert.equal(r.stdout, '{"status":"UP"}');
  }
  const direct = await tb.runInRunner(['curl', '-sS', '--connect-timeout', '1.5', '--max-time', '2', `http://${app1.ip}:8081/health`], { env: {}, timeoutMs: 5000 });
  assert.notEqual(direct.code, 0, `runner reached app1:8081 directly: ${direct.stdout}`);

  // ssh into nginx2 with strict host key checking; nginx there acts on nginx2's own nginx
  const r = await tb.runInRunner(
    ['ssh', '-F', '/dev/null', '-i', tb.privateKeyPath, '-o', 'IdentitiesOnly=yes', '-o', `UserKnownHostsFile=${tb.knownHostsPath}`, '-o', 'StrictHostKeyChecking=yes', '-o', 'BatchMode=yes', '-o', 'ConnectTimeout=3', `root@${nginx2.ip}`, 'nginx -t 2>&1 && cat /etc/nginx/conf.d/service_url.inc && cat "$(sed -n "s/^pid \\(.*\\);$/\\1/p" /etc/nginx/nginx.conf)"'],
    { env: { HOME: tb.dir }, timeoutMs: 10_000 },
  );
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /test is successful/);
  assert.ok(r.stdout.includes(only8081), r.stdout);
  const masterPid = r.stdout.trim().split('\n').pop();
  const ps = await tb.exec(nginx2, ['ps', '-o', 'args=', '-p', masterPid ?? '']);
  assert.match(ps.stdout, /^nginx: master/);

  // teardown removes every namespace, including nginx2's
  const nsNames = [tb.runner, ...tb.hosts].map((h) => h.ns).concat(`${PREFIX2}-sw`);
  const ours = (await Promise.all(nsNames.map(nsPids))).flat().map((pid) => ({ pid, start: startTime(pid) }));
  assert.ok(ours.length >= 7, `expected sshd x3, java x2, nginx x2+... found ${ours.length}`);
  const dir = tb.dir;
  await tb.teardown();
  const left = fs.existsSync('/run/netns') ? fs.readdirSync('/run/netns').filter((n) => n.startsWith(`${PREFIX2}-`)) : [];
  assert.deepEqual(left, []);
  const alive = ours.filter((p) => p.start !== null && startTime(p.pid) === p.start);
  assert.deepEqual(alive, []);
  assert.equal(fs.existsSync(dir), false);
});

/** What deployUser must leave alone on the machine: account files, sudoers, /home, /run/sudo. */
function machineSnapshot(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of ['/etc/passwd', '/etc/group', '/etc/shadow', '/etc/gshadow', '/etc/sudoers']) {
    try {
      const st = fs.statSync(f);
      out[f] = `${st.mode.toString(8)} ${st.uid}:${st.gid} ${st.mtimeMs} ${createHash('sha256').update(fs.readFileSync(f)).digest('hex')}`;
    } catch {
      out[f] = 'absent';
    }
  }
  for (const d of ['/etc/sudoers.d', '/home', '/run/sudo']) {
    try {
      out[d] = fs
        .readdirSync(d)
        .sort()
        .map((e) => {
          const st = fs.statSync(`${d}/${e}`);
          return `${e} ${st.mode.toString(8)} ${st.uid}:${st.gid} ${st.size} ${st.mtimeMs}`;
        })
        .join('\n');
    } catch {
      out[d] = 'absent';
    }
  }
  return out;
}

test('testbed: deployUser (non-root user with sudo) and allowTcpForwarding', { timeout: 90_000 }, async (t) => {
  const before = machineSnapshot();
  const machineGetent = () => spawnSync('getent', ['passwd', DEPLOY_USER], { encoding: 'utf8' });
  assert.equal(machineGetent().stdout, '');
  const t0 = Date.now();
  tb3 = await createTestbed({ prefix: PREFIX3, subnet: SUBNET3, appHosts: 1, form: 'set', deployUser: true, allowTcpForwarding: { app1: false } });
  t.diagnostic(`setup ${Date.now() - t0} ms`);
  const tb = tb3;
  const [app1] = tb.apps;
  const nginx = tb.nginx;
  assert.equal(tb.sshUser, 'zdddeploy');
  assert.equal(DEPLOY_UID, 2950);

  const ssh = (host: string, cmd: string, { user = tb.sshUser, extra = [] as string[], timeoutMs = 10_000 } = {}) =>
    tb.runInRunner(
      ['ssh', '-F', '/dev/null', '-i', tb.privateKeyPath, '-o', 'IdentitiesOnly=yes', '-o', `UserKnownHostsFile=${tb.knownHostsPath}`, '-o', 'StrictHostKeyChecking=yes', '-o', 'BatchMode=yes', '-o', 'ConnectTimeout=3', ...extra, `${user}@${host}`, ...(cmd ? [cmd] : [])],
      { env: { HOME: tb.dir }, timeoutMs },
    );

  // the user logs in with the client key; passwordless sudo works; home and shell are as configured
  for (const h of tb.hosts) {
    const r = await ssh(h.ip, 'id -u; id -g; id -un; echo "$HOME $SHELL"; pwd; sudo -n id -u; stat -c "%U %G %a" /opt/app');
    assert.equal(r.code, 0, `${h.name}: ${r.stderr}`);
    assert.equal(r.stdout, `2950\n2950\nzdddeploy\n/home/zdddeploy /bin/sh\n/home/zdddeploy\n0\nzdddeploy zdddeploy 755\n`, `${h.name}: ${r.stdout}`);
    assert.equal(r.stderr, '', `${h.name}: ${r.stderr}`);
  }
  // root can still log in, and tb.exec still runs as root
  let r = await ssh(app1.ip, 'id -u', { user: 'root' });
  assert.equal(r.stdout, '0\n', r.stderr);
  assert.equal((await tb.exec(app1, ['id', '-u'])).stdout, '0\n');

  // the drop-in is root-owned 0440, next to the machine's own sudoers.d files
  r = await tb.exec(nginx, ['sh', '-c', 'stat -c "%a %U %G" /etc/sudoers.d/zdddeploy; ls /etc/sudoers.d']);
  assert.equal(r.stdout.split('\n')[0], '440 root root');
  for (const f of fs.readdirSync('/etc/sudoers.d')) assert.ok(r.stdout.split('\n').includes(f), `machine's /etc/sudoers.d/${f} missing in the host: ${r.stdout}`);

  // nginx host: conf.d is root-owned; the include needs sudo
  r = await ssh(nginx.ip, 'stat -c "%U %a" /etc/nginx/conf.d; echo hi > /etc/nginx/conf.d/x');
  assert.notEqual(r.code, 0);
  assert.equal(r.stdout, 'root 755\n');
  assert.match(r.stderr, /Permission denied/);
  assert.equal(fs.existsSync(tb.localPath(nginx, '/etc/nginx/conf.d/x')), false);
  r = await ssh(nginx.ip, 'echo hi | sudo -n tee /etc/nginx/conf.d/x >/dev/null && sudo -n nginx -t 2>&1 && sudo -n nginx -s reload');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /test is successful/);
  assert.equal(fs.readFileSync(tb.localPath(nginx, '/etc/nginx/conf.d/x'), 'utf8'), 'hi\n');
  r = await ssh(nginx.ip, 'mkdir /opt/app/lock && rmdir /opt/app/lock && echo ok');
  assert.equal(r.stdout, 'ok\n', r.stderr);

  // app host: /opt/app is the user's, and /tmp is writable
  r = await ssh(app1.ip, 'touch /opt/app/x && stat -c %U /opt/app/x && touch /tmp/y && stat -c %a /tmp');
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'zdddeploy\n1777\n');
  assert.equal(fs.statSync(tb.localPath(app1, '/opt/app/x')).uid, 2950);

  // execAs: a process of the deploy user (seed app too); tb.exec stays root
  r = await tb.execAs(app1, tb.sshUser, ['sh', '-c', 'id -u; id -G; echo "$HOME $USER"']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, '2950\n2950\n/home/zdddeploy zdddeploy\n');
  assert.equal((await tb.execAs(app1, 'root', ['id', '-u'])).stdout, '0\n');
  await assert.rejects(tb.execAs(app1, 'nosuchuserzdd', ['true']), /no user/);
  const pid = await tb.startSeedApp(app1, 8080, '3.0.0-u', [], { user: tb.sshUser });
  assert.equal((await tb.exec(app1, ['ps', '-o', 'user=', '-p', String(pid)])).stdout.trim(), 'zdddeploy');
  assert.equal(fs.statSync(tb.localPath(app1, '/opt/app/app-8080.log')).uid, 2950);
  const g = await tb.get('/version');
  assert.equal(g.status, 200, g.body);
  assert.match(g.body, /^version=3\.0\.0-u port=8080 /);
  // the user can stop its own app without sudo
  r = await ssh(app1.ip, `kill ${pid} && echo ok`);
  assert.equal(r.stdout, 'ok\n', r.stderr);

  // the user exists only inside the hosts
  assert.match((await tb.exec(app1, ['getent', 'passwd', 'zdddeploy'])).stdout, /^zdddeploy:x:2950:2950:/);
  assert.equal(machineGetent().status, 2);
  assert.equal(machineGetent().stdout, '');

  // TCP forwarding: refused by app1 (AllowTcpForwarding no), allowed by nginx (default)
  const w = (host: string) => ssh(host, '', { extra: ['-o', 'ExitOnForwardFailure=yes', '-W', '127.0.0.1:22'] });
  r = await w(app1.ip);
  assert.notEqual(r.code, 0, r.stdout);
  assert.match(r.stderr, /administratively prohibited|open failed/);
  r = await w(nginx.ip);
  assert.match(r.stdout, /^SSH-2\.0-OpenSSH/, r.stderr);
  r = await ssh(app1.ip, 'echo plain');
  assert.equal(r.stdout, 'plain\n', r.stderr);
  assert.match(fs.readFileSync(`${app1.dir}/sshd_config`, 'utf8'), /^AllowTcpForwarding no$/m);
  assert.match(fs.readFileSync(`${nginx.dir}/sshd_config`, 'utf8'), /^AllowTcpForwarding yes$/m);

  // teardown leaves nothing, and the machine's /etc, /home, /run/sudo are as they were
  const nsNames = [tb.runner, ...tb.hosts].map((h) => h.ns).concat(`${PREFIX3}-sw`);
  const ours = (await Promise.all(nsNames.map(nsPids))).flat().map((p) => ({ pid: p, start: startTime(p) }));
  assert.ok(ours.length >= 3, `expected sshd x2, nginx... found ${ours.length}`);
  const dir = tb.dir;
  await tb.teardown();
  const left = fs.existsSync('/run/netns') ? fs.readdirSync('/run/netns').filter((n) => n.startsWith(`${PREFIX3}-`)) : [];
  assert.deepEqual(left, []);
  assert.deepEqual(
    ours.filter((p) => p.start !== null && startTime(p.pid) === p.start),
    [],
  );
  assert.equal(fs.existsSync(dir), false);
  assert.equal(fs.readFileSync('/proc/self/mountinfo', 'utf8').includes(dir), false);
  assert.deepEqual(machineSnapshot(), before);
  assert.equal(machineGetent().stdout, '');
});
