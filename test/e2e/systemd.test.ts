// systemd-unit: releases as NAME@PORT.service on app hosts whose PID 1 is a real systemd, under
// load through nginx: the takeover of a team's unit, a crash and reboots, a second deploy, an
// unhealthy release with its journal, rollback, dry-run, and a deploy user that has only the
// documented sudoers rule.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import path from 'node:path';
import { createTestbed, cleanupStale, DEPLOY_USER, type Testbed } from '../testbed/testbed.ts';
import { baseInputs, runAction, explain, type ActionRun } from './harness.ts';
import { underLoad } from './load.ts';
import { sudoersRule } from '../../src/commands/unit.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const TEAM_UNIT = `[Unit]
Description=the team's own unit, written by hand
[Service]
ExecStart=/usr/bin/java -Dserver.port=8080 -jar /opt/app/team.jar
WorkingDirectory=/opt/app
Restart=always
[Install]
WantedBy=multi-user.target
`;

let tb: Testbed;
let app: Testbed['apps'][number];
before(async () => {
  await cleanupStale('zddsys');
  tb = await createTestbed({ prefix: 'zddsys', subnet: 66, appHosts: 1, form: 'set', systemd: true });
  app = tb.apps[0];
  await installTeamUnit(tb);
});

/** The team's app as shop.service on port 8080 of the first app host, the way Spring Boot's docs suggest. */
async function installTeamUnit(t: Testbed): Promise<void> {
  const a = t.apps[0];
  assert.equal((await t.exec(a, ['sh', '-c', 'mkdir -p /opt/app && cp "$1" /opt/app/team.jar', 'sh', await t.makeJar('team')])).code, 0);
  await t.exec(a, ['sh', '-c', 'cat > /etc/systemd/system/shop.service'], { input: TEAM_UNIT });
  assert.equal((await t.systemctl(a, 'enable', '--now', 'shop.service')).code, 0);
  for (let i = 0; i < 100 && !(await t.pidOnPort(a, 8080)); i++) await sleep(200);
  assert.match((await t.get('/version')).body, /version=team port=8080/);
}
after(async () => {
  await tb?.teardown();
});

const SD = { 'systemd-unit': 'shop' };
const state = async (unit: string) => {
  const active = (await tb.systemctl(app, 'is-active', unit)).stdout.trim();
  const enabled = (await tb.systemctl(app, 'is-enabled', unit)).stdout.trim();
  return `${active} ${enabled}`;
};
const served = async () => (await tb.get('/version')).body.replace(/ pid=.*/, '').trim();
async function servingAgain(what: RegExp, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  let last = '';
  while (Date.now() < end) {
    const r = await tb.get('/version').catch(() => ({ status: 0, body: '' }));
    last = `${r.status} ${r.body}`;
    if (r.status === 200 && what.test(r.body)) return;
    await sleep(200);
  }
  assert.fail(`not serving ${what} within ${ms} ms (last: ${last})`);
}

async function deploy(version: string, extra: Record<string, string> = {}): Promise<ActionRun> {
  const { run, load } = await underLoad(tb, async () => runAction(tb, baseInputs(tb, await tb.makeJar(version), { ...SD, release: version, ...extra })));
  assert.equal(load.non2xx, 0, `no 5xx: ${load.raw}\n${explain(run)}`);
  return run;
}

test('the first deploy with systemd-unit takes over the team\'s shop.service: switched, drained, then stopped and disabled, nothing else in it changed', async () => {
  const r = await deploy('v1');
  assert.equal(r.code, 0, explain(r));
  assert.match(r.stdout, /took over from shop\.service: it was stopped and disabled; nothing else in it was changed/);
  assert.match(r.summary, /systemd: `shop@8081\.service` enabled on the app host: a reboot starts the version nginx points at\. Took over from `shop\.service`/);
  // Stopped: "failed" when the unit lacks SuccessExitStatus=143 (a JVM's exit at SIGTERM), as here.
  assert.match(await state('shop.service'), /^(inactive|failed) disabled$/);
  assert.equal(await state('shop@8081.service'), 'active enabled');
  assert.equal((await tb.exec(app, ['cat', '/etc/systemd/system/shop.service'])).stdout, TEAM_UNIT, 'the team\'s unit file is as it was');
  const mode = (await tb.exec(app, ['stat', '-c', '%a %U', '/etc/default/shop@8081'])).stdout.trim();
  assert.equal(mode, '600 root', 'the env file is root\'s, mode 600');
  assert.match(await served(), /^version=v1 port=8081$/);
});

test('kill -9 of the live JVM: systemd starts it again and nginx serves within seconds', async () => {
  const pid = Number((await tb.systemctl(app, 'show', '-p', 'MainPID', '--value', 'shop@8081.service')).stdout.trim());
  assert.ok(pid > 1);
  await tb.exec(app, ['kill', '-9', String(pid)]);
  await servingAgain(/version=v1 port=8081/);
  const again = Number((await tb.systemctl(app, 'show', '-p', 'MainPID', '--value', 'shop@8081.service')).stdout.trim());
  assert.notEqual(again, pid, 'a new JVM');
});

test('a reboot of the host: the live release serves again, nothing on the idle port', async () => {
  await tb.reboot(app);
  await servingAgain(/version=v1 port=8081/, 30_000);
  assert.equal(await tb.pidOnPort(app, 8080), null, 'the team\'s unit stays off, nothing on the idle port');
  assert.match(await state('shop.service'), /^inactive disabled$/);
});

test('a second deploy, then a second reboot: the reboot starts the new version only', async () => {
  const r = await deploy('v2');
  assert.equal(r.code, 0, explain(r));
  assert.equal(await state('shop@8080.service'), 'active enabled');
  assert.equal(await state('shop@8081.service'), 'inactive disabled');
  assert.doesNotMatch(r.stdout, /took over/);
  await tb.reboot(app);
  await servingAgain(/version=v2 port=8080/, 30_000);
  assert.equal(await tb.pidOnPort(app, 8081), null);
});

test('an unhealthy release: the step shows its journal lines; enablement stays as it was', async () => {
  const r = await deploy('sick', { 'java-opts': '-Dhealth.mode=down', 'health-timeout': '4' });
  assert.equal(r.code, 1, explain(r));
  assert.match(r.error, /not healthy after 4s/);
  assert.match(r.error, /--- last lines of the journal of shop@8081\.service ---/);
  assert.equal(await state('shop@8081.service'), 'inactive disabled');
  assert.equal(await state('shop@8080.service'), 'active enabled');
  assert.match(await served(), /^version=v2 port=8080$/);
});

test('dry-run prints the unit it would write and changes nothing', async () => {
  const before = { include: await tb.readInclude(), a: await state('shop@8080.service'), b: await state('shop@8081.service') };
  const r = await runAction(tb, baseInputs(tb, await tb.makeJar('v3'), { ...SD, 'dry-run': 'true' }));
  assert.equal(r.code, 0, explain(r));
  assert.match(r.stdout, /systemd: each instance would run as shop@PORT\.service, from \/etc\/systemd\/system\/shop@\.service/);
  assert.match(r.stdout, /ExecStart=\/bin\/sh "\/opt\/app\/run\/%i\.start"/);
  assert.match(r.stdout, /EnvironmentFile=\/etc\/default\/shop@%i/);
  assert.deepEqual({ include: await tb.readInclude(), a: await state('shop@8080.service'), b: await state('shop@8081.service') }, before);
});

test('rollback: back to v1 from its kept jar as shop@8081, enabled; v2 stopped and disabled', async () => {
  const { run, load } = await underLoad(tb, async () => runAction(tb, baseInputs(tb, '', { ...SD, mode: 'rollback' })));
  assert.equal(load.non2xx, 0, load.raw);
  assert.equal(run.code, 0, explain(run));
  assert.equal(run.outputs.release, 'v1');
  assert.match(await served(), /^version=v1 port=8081$/);
  assert.equal(await state('shop@8081.service'), 'active enabled');
  assert.equal(await state('shop@8080.service'), 'inactive disabled');
});

test('stage runs the instance without enabling it, promote enables it; keep-previous keeps the old one running, disabled, and a warm rollback enables it again; wait-for-exit: false leaves the stop to systemd', async () => {
  const staged = await runAction(tb, baseInputs(tb, await tb.makeJar('v5'), { ...SD, mode: 'stage', release: 'v5' }));
  assert.equal(staged.code, 0, explain(staged));
  assert.equal(await state('shop@8080.service'), 'active disabled', 'staged: running, not started at boot');
  assert.match(await served(), /^version=v1 port=8081$/);
  const { run: promoted, load } = await underLoad(tb, async () => runAction(tb, baseInputs(tb, '', { ...SD, mode: 'promote' })));
  assert.equal(load.non2xx, 0, load.raw);
  assert.equal(promoted.code, 0, explain(promoted));
  assert.equal(await state('shop@8080.service'), 'active enabled');
  assert.equal(await state('shop@8081.service'), 'inactive disabled');

  const kept = await deploy('v6', { 'keep-previous': 'true' });
  assert.equal(kept.code, 0, explain(kept));
  assert.equal(await state('shop@8081.service'), 'active enabled');
  assert.equal(await state('shop@8080.service'), 'active disabled', 'the warm standby runs, and a reboot would not start it');
  assert.match(kept.summary, /kept running \(warm standby\), shop@8080\.service disabled/);

  // A warm rollback: to the standby, which is enabled again; the same JVM serves.
  const standby = await tb.pidOnPort(app, 8080);
  const { run: warm, load: wl } = await underLoad(tb, async () => runAction(tb, baseInputs(tb, '', { ...SD, mode: 'rollback' })));
  assert.equal(wl.non2xx, 0, wl.raw);
  assert.equal(warm.code, 0, explain(warm));
  assert.equal(warm.outputs.release, 'v5');
  assert.match(warm.stdout, /still runs on port 8080/);
  assert.equal(await tb.pidOnPort(app, 8080), standby, 'the standby itself serves');
  assert.equal(await state('shop@8080.service'), 'active enabled');
  assert.equal(await state('shop@8081.service'), 'inactive disabled');

  const quick = await deploy('v7', { 'wait-for-exit': 'false' });
  assert.equal(quick.code, 0, explain(quick));
  assert.match(quick.stdout, /shop@8080\.service disabled, stopping \(wait-for-exit: false: systemd finishes the stop/);
  assert.equal(await state('shop@8081.service'), 'active enabled');
  for (let i = 0; i < 100 && (await state('shop@8080.service')) !== 'inactive disabled'; i++) await sleep(100);
  assert.equal(await state('shop@8080.service'), 'inactive disabled');
  assert.match(await served(), /^version=v7 port=8081$/);
});

test('without systemd-unit the action\'s own unit is refused, pointing at systemd-unit', async () => {
  // shop@8081 is a unit now: a deploy without systemd-unit must not stop it.
  const r = await runAction(tb, baseInputs(tb, await tb.makeJar('v8')));
  assert.equal(r.code, 1, explain(r));
  assert.match(r.error, /belongs to the systemd unit shop@8081\.service; .*Set systemd-unit: NAME/);
  assert.equal(await state('shop@8081.service'), 'active enabled');
});

test('a non-root deploy user with only the documented sudoers rule on the app host', async () => {
  await cleanupStale('zddsysu');
  const rule = sudoersRule(DEPLOY_USER, 'shop', [8080, 8081]);
  const ub = await createTestbed({ prefix: 'zddsysu', subnet: 67, appHosts: 1, form: 'set', systemd: true, deployUser: true, sudoersByHost: { app1: rule } });
  try {
    const a = ub.apps[0];
    await ub.startSeedApp(a, 8080, 'v0', [], { user: ub.sshUser });
    // The rule is narrow: anything else through sudo is refused.
    const denied = await ub.execAs(a, ub.sshUser, ['sudo', '-n', 'id']);
    assert.notEqual(denied.code, 0, 'sudo id is not allowed');
    for (const v of ['u1', 'u2']) {
      const r = await runAction(ub, baseInputs(ub, await ub.makeJar(v), { ...SD, sudo: 'true', release: v }));
      assert.equal(r.code, 0, explain(r));
      assert.match((await ub.get('/version')).body, new RegExp(`version=${v} `));
    }
    const unit = (await ub.systemctl(a, 'show', '-p', 'User', '--value', 'shop@8080.service')).stdout.trim();
    assert.equal(unit, DEPLOY_USER, 'the app runs as the deploy user');
    assert.equal((await ub.systemctl(a, 'is-enabled', 'shop@8080.service')).stdout.trim(), 'enabled');
    assert.equal((await ub.systemctl(a, 'is-active', 'shop@8081.service')).stdout.trim(), 'inactive');
  } finally {
    await ub.teardown();
  }
});

test('rolling over systemd instances: two NAME@PORT on one host, each restarted with the new release on its own port; a release bad on the second batch puts the first back as it was', async () => {
  await cleanupStale('zddsysr');
  const rb = await createTestbed({ prefix: 'zddsysr', subnet: 69, appHosts: 1, form: 'upstream', systemd: true, instances: [{ app: 0, port: 8080 }, { app: 0, port: 8081 }] });
  try {
    const a = rb.apps[0];
    await rb.startSeedApp(a, 8080, 'v0');
    await rb.startSeedApp(a, 8081, 'v0');
    const st = async (u: string) => `${(await rb.systemctl(a, 'is-active', u)).stdout.trim()} ${(await rb.systemctl(a, 'is-enabled', u)).stdout.trim()}`;
    const seen = async () => {
      const s = new Set<string>();
      for (let i = 0; i < 8; i++) s.add((await rb.get('/version')).body.replace(/ pid=.*/, '').trim());
      return [...s].sort();
    };
    const first = await underLoad(rb, async () => runAction(rb, baseInputs(rb, await rb.makeJar('r1'), { ...SD, strategy: 'rolling', release: 'r1' })));
    assert.equal(first.load.non2xx, 0, first.load.raw);
    assert.equal(first.run.code, 0, explain(first.run));
    assert.deepEqual([await st('shop@8080.service'), await st('shop@8081.service')], ['active enabled', 'active enabled']);
    assert.deepEqual(await seen(), ['version=r1 port=8080', 'version=r1 port=8081']);

    const bad = await underLoad(rb, async () =>
      runAction(rb, baseInputs(rb, await rb.makeJar('r2'), { ...SD, strategy: 'rolling', release: 'r2', 'java-opts': '-Dhealth.down.ports=8081', 'health-timeout': '4' })),
    );
    assert.equal(bad.load.non2xx, 0, bad.load.raw);
    assert.equal(bad.run.code, 1, explain(bad.run));
    assert.match(bad.run.stdout, /the previous version runs again on port 8080/);
    assert.deepEqual(await seen(), ['version=r1 port=8080', 'version=r1 port=8081'], 'both instances on r1 again');
    assert.deepEqual([await st('shop@8080.service'), await st('shop@8081.service')], ['active enabled', 'active enabled']);
    await rb.reboot(a);
    for (let i = 0; i < 100 && (await rb.pidOnPort(a, 8081)) === null; i++) await sleep(200);
    assert.deepEqual(await seen(), ['version=r1 port=8080', 'version=r1 port=8081'], 'a reboot starts both, on r1');
  } finally {
    await rb.teardown();
  }
});

test('a rollback of the takeover deploy enables and starts the team\'s unit again; SSH host certificates (@cert-authority) are checked', async () => {
  await cleanupStale('zddsyst');
  const t = await createTestbed({ prefix: 'zddsyst', subnet: 70, appHosts: 1, form: 'set', systemd: true });
  try {
    const a = t.apps[0];
    await installTeamUnit(t);
    const r = await runAction(t, baseInputs(t, await t.makeJar('n1'), { ...SD, release: 'n1' }));
    assert.equal(r.code, 0, explain(r));
    const { run: back, load } = await underLoad(t, async () => runAction(t, baseInputs(t, '', { ...SD, mode: 'rollback' })));
    assert.equal(load.non2xx, 0, load.raw);
    assert.equal(back.code, 0, explain(back));
    assert.equal(back.outputs.release, 'unit:shop.service');
    assert.match(back.stdout, /shop\.service enabled and started again/);
    assert.match((await t.get('/version')).body, /version=team port=8080/);
    const st = async (u: string) => `${(await t.systemctl(a, 'is-active', u)).stdout.trim()} ${(await t.systemctl(a, 'is-enabled', u)).stdout.trim()}`;
    assert.equal(await st('shop.service'), 'active enabled');
    assert.equal(await st('shop@8081.service'), 'inactive disabled');

    // SSH host certificates: known-hosts trusts the app host through a @cert-authority line only.
    const ca = path.join(t.dir, 'host-ca');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'zdd host CA', '-f', ca]);
    const certify = async (principal: string) => {
      execFileSync('ssh-keygen', ['-q', '-s', ca, '-I', `app1-${principal}`, '-h', '-n', principal, '-V', '-5m:+1h', path.join(a.dir, 'ssh_host_ed25519_key.pub')]);
      const cert = path.join(a.dir, 'ssh_host_ed25519_key-cert.pub');
      assert.equal((await t.exec(a, ['sh', '-c', 'cp "$1" /etc/ssh/ssh_host_ed25519_key-cert.pub', 'sh', cert])).code, 0);
      const cfg = fs.readFileSync(path.join(a.dir, 'sshd_config'), 'utf8');
      if (!cfg.includes('HostCertificate')) fs.appendFileSync(path.join(a.dir, 'sshd_config'), `HostCertificate ${cert}\n`);
      assert.equal((await t.systemctl(a, 'restart', 'ssh.service')).code, 0);
      await sleep(300);
    };
    const knownHosts = [...t.knownHosts.split('\n').filter((l) => l.trim() && !l.includes(a.ip)), `@cert-authority ${a.ip} ${fs.readFileSync(`${ca}.pub`, 'utf8').trim()}`].join('\n');
    await certify(a.ip);
    const ok = await runAction(t, baseInputs(t, await t.makeJar('n2'), { ...SD, 'known-hosts': knownHosts, 'dry-run': 'true' }));
    assert.equal(ok.code, 0, explain(ok));
    assert.match(ok.stdout, new RegExp(`${a.ip.replaceAll('.', '\\.')}:22: host certificate 'app1-${a.ip.replaceAll('.', '\\.')}' \\(serial 0\\) signed by the CA of known-hosts line \\d+`));
    await certify('someone-else.example.com');
    const no = await runAction(t, baseInputs(t, await t.makeJar('n2'), { ...SD, 'known-hosts': knownHosts, 'dry-run': 'true' }));
    assert.equal(no.code, 1, explain(no));
    assert.match(no.error, new RegExp(`${a.ip.replaceAll('.', '\\.')}:22 is not vouched for by known-hosts: no host certificate vouches for its key SHA256:\\S+: certificate 'app1-someone-else\\.example\\.com' \\(serial 0\\) names someone-else\\.example\\.com, not ${a.ip.replaceAll('.', '\\.')}`));
  } finally {
    await t.teardown();
  }
});

test('canary with systemd-unit: both versions run as units side by side; the promoted one is enabled, a failed one stopped with its enablement untouched', async () => {
  await cleanupStale('zddsysc');
  const c = await createTestbed({ prefix: 'zddsysc', subnet: 71, appHosts: 2, form: 'upstream', systemd: true });
  try {
    for (const a of c.apps) await c.startSeedApp(a, 8080, 'v0');
    for (let i = 0; i < 5; i++) await c.get('/version');
    const CAN = { ...SD, strategy: 'canary', 'access-log': '/var/log/nginx/access.log', 'canary-interval': '2', 'min-requests': '20', 'p99-floor-ms': '200' };
    const good = await underLoad(c, async () => runAction(c, baseInputs(c, await c.makeJar('c1'), { ...CAN, release: 'c1' })));
    assert.equal(good.load.non2xx, 0, good.load.raw);
    assert.equal(good.run.code, 0, explain(good.run));
    for (const a of c.apps) assert.equal((await c.systemctl(a, 'is-enabled', 'shop@8081.service')).stdout.trim(), 'enabled');
    const bad = await underLoad(c, async () => runAction(c, baseInputs(c, await c.makeJar('c2'), { ...CAN, release: 'c2', 'java-opts': '-Dfail.share=0.2' })));
    assert.equal(bad.run.code, 1, explain(bad.run));
    assert.match(bad.run.error, /\[canary\] step 10 % failed/);
    for (const a of c.apps) {
      assert.equal((await c.systemctl(a, 'is-active', 'shop@8080.service')).stdout.trim(), 'inactive', 'the failed canary is stopped');
      assert.equal((await c.systemctl(a, 'is-enabled', 'shop@8080.service')).stdout.trim(), 'disabled');
      assert.equal((await c.systemctl(a, 'is-active', 'shop@8081.service')).stdout.trim(), 'active');
    }
    assert.match((await c.get('/version')).body, /version=c1 port=8081/);
  } finally {
    await c.teardown();
  }
});
