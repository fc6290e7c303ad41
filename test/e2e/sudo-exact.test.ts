// A deploy key is not root (issue 34): a non-root deploy user whose sudoers holds only the rule
// the code generates for each host's role (src/commands/sudoers.ts, docs/server-setup.md) runs
// blue/green, dry-run, canary, stage/promote, warm and cold rollback and rolling under load, and
// systemd-unit on hosts with systemd; it cannot get a root shell; an include-file or a reload
// command the rule does not name is refused by name before anything changes; an app another user
// started is not taken over under the exact rule, and says why. The include goes in only through
// the include validator, installed on the nginx hosts with the command the docs print: content
// other than the action's lines fed to it through sudo is refused and changes nothing, and a host
// without it gets the named error before anything changes.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createTestbed, cleanupStale, DEPLOY_USER, type Host, type Testbed } from '../testbed/testbed.ts';
import { baseInputs, runAction, explain, type ActionRun } from './harness.ts';
import { underLoad } from './load.ts';
import { appSudoersRule, nginxRuleForInputs } from '../../src/commands/sudoers.ts';
import { sudoersRule } from '../../src/commands/unit.ts';
import { VALIDATOR_PATH, VALIDATOR_SHA, validatorInstallCommand } from '../../src/commands/validator.ts';

const INCLUDE = '/etc/nginx/conf.d/service_url.inc';
// The rule for the default nginx-test-command and nginx-reload-command (docs/server-setup.md).
const NGINX_RULE = nginxRuleForInputs(DEPLOY_USER, INCLUDE, ['nginx', '-t'], ['nginx', '-s', 'reload']);
const APP_RULE = appSudoersRule(DEPLOY_USER, [8080, 8081]);

/**
 * The admin's one-time install on an nginx host, the command the docs print, run as root there.
 * /usr/local is the machine's: a tmpfs over it in the host's own mount namespace takes the
 * validator, so nothing on the machine changes.
 */
async function installValidator(t: Testbed, h: Host): Promise<void> {
  const m = await t.exec(h, ['sh', '-c', 'mountpoint -q /usr/local || mount -t tmpfs -o mode=0755 zdd-usr-local /usr/local']);
  assert.equal(m.code, 0, m.stderr);
  const r = await t.exec(h, ['sh', '-c', validatorInstallCommand()]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`^${VALIDATOR_SHA} `), 'the sha256 the docs print');
}

let tb: Testbed;
before(async () => {
  await cleanupStale('zddsudo');
  tb = await createTestbed({ prefix: 'zddsudo', subnet: 100, appHosts: 2, form: 'upstream', deployUser: true, sudoersByHost: { nginx: NGINX_RULE, app1: APP_RULE, app2: APP_RULE } });
  await installValidator(tb, tb.nginx);
  // app1's old app as root (the seed scripts' way), app2's as the deploy user.
  await tb.startSeedApp(tb.apps[0], 8080, 'v0');
  await tb.startSeedApp(tb.apps[1], 8080, 'v0', [], { user: tb.sshUser, jarName: 'seed.jar' });
  for (let i = 0; i < 5; i++) await tb.get('/version');
});
after(async () => {
  await tb?.teardown();
});

const SUDO = { sudo: 'true' };
const owner = async (h: Host, pid: number) => (await tb.exec(h, ['ps', '-o', 'user=', '-p', String(pid)])).stdout.trim();
const seen = async () => {
  const s = new Set<string>();
  for (let i = 0; i < 8; i++) s.add((await tb.get('/version')).body.replace(/ pid=.*/, '').trim());
  return [...s].sort();
};
const pids = async () => Promise.all(tb.apps.flatMap((a) => [tb.pidOnPort(a, 8080), tb.pidOnPort(a, 8081)]));

async function deploy(version: string, extra: Record<string, string> = {}): Promise<ActionRun> {
  const { run, load } = await underLoad(tb, async () => runAction(tb, baseInputs(tb, await tb.makeJar(version), { ...SUDO, release: version, ...extra })));
  assert.equal(load.non2xx, 0, `no 5xx: ${load.raw}\n${explain(run)}`);
  return run;
}

test('the deploy user cannot get a root shell on any host: only the rule\'s exact commands', async () => {
  for (const h of tb.hosts) {
    for (const argv of [['sudo', '-n', 'sh', '-c', 'id'], ['sudo', '-n', 'id'], ['sudo', '-n', 'cat', '/etc/shadow']]) {
      const r = await tb.execAs(h, DEPLOY_USER, argv);
      assert.notEqual(r.code, 0, `${h.name}: ${argv.join(' ')} is refused`);
      assert.match(r.stderr, /a password is required/);
    }
  }
  assert.equal((await tb.execAs(tb.nginx, DEPLOY_USER, ['sudo', '-n', '-l', '/usr/sbin/nginx', '-T'])).code, 0, 'the rule is in effect');
  assert.notEqual((await tb.execAs(tb.nginx, DEPLOY_USER, ['sudo', '-n', '-l', '/usr/sbin/nginx', '-s', 'stop'])).code, 0, 'and names nothing else');
});

test('an app root started is not taken over under the exact rule: said before the switch, with what to do; nothing changes', async () => {
  const include = await tb.readInclude();
  const before = await pids();
  const r = await runAction(tb, baseInputs(tb, await tb.makeJar('v1'), { ...SUDO, release: 'v1' }));
  assert.equal(r.code, 1, explain(r));
  assert.match(r.error, /pid \d+ on port 8080 runs as user 'root', not as 'zdddeploy': taking it over .* needs root over another user's process, which the exact sudoers rule does not give.*NOPASSWD: ALL.*put the exact rule back/);
  assert.equal(await tb.readInclude(), include);
  assert.deepEqual(await pids(), before);
  // The one-time takeover done by hand here: the old app runs as the deploy user from now on.
  await tb.exec(tb.apps[0], ['sh', '-c', `kill ${before[0]}; while kill -0 ${before[0]} 2>/dev/null; do sleep 0.1; done; rm -f /opt/app/app-8080.jar /opt/app/app-8080.log`]);
  await tb.startSeedApp(tb.apps[0], 8080, 'v0', [], { user: tb.sshUser, jarName: 'seed.jar' });
});

const nginxPids = async () => (await tb.exec(tb.nginx, ['sh', '-c', 'ps -eo pid,args | grep "[n]ginx: " | sort'])).stdout;

test('content other than the action\'s lines, fed through the sudo command, is refused: the include and nginx stay as they were', async () => {
  const include = (await tb.readInclude())!;
  const dump = (await tb.exec(tb.nginx, ['nginx', '-T'])).stdout;
  const running = await nginxPids();
  const evil = [
    `${include}log_format x '$remote_addr';\naccess_log /etc/cron.d/zdd-x x;\n`,
    `${include}include /etc/shadow;\n`,
    include.replace(/;\n/, '; include /etc/shadow;\n'),
    include.replace(/:8080;/, ':8080 "weight=1";'),
    `${include}upstream x {\n`,
  ];
  for (const text of evil) {
    const r = await tb.execAs(tb.nginx, DEPLOY_USER, ['sudo', '-n', VALIDATOR_PATH, INCLUDE], { input: text });
    assert.equal(r.code, 3, `refused:\n${text}\n${r.stdout}${r.stderr}`);
    assert.match(r.stderr, /include-install: refused: /);
  }
  // The caller chooses no other file, and the unchecked ways in are gone from the rule.
  for (const argv of [
    ['sudo', '-n', VALIDATOR_PATH, '/etc/nginx/conf.d/other.inc'],
    ['sudo', '-n', VALIDATOR_PATH, '--check'],
    ['sudo', '-n', '/usr/bin/install', '-m', '644', '/dev/stdin', '/etc/nginx/conf.d/.service_url.inc.zdd-new'],
    ['sudo', '-n', '/usr/bin/tee', INCLUDE],
  ]) {
    const r = await tb.execAs(tb.nginx, DEPLOY_USER, argv, { input: include });
    assert.notEqual(r.code, 0, argv.join(' '));
    assert.match(r.stderr, /a password is required/, argv.join(' '));
  }
  assert.equal(await tb.readInclude(), include);
  assert.equal((await tb.exec(tb.nginx, ['nginx', '-T'])).stdout, dump);
  assert.equal(await nginxPids(), running, 'nginx was not reloaded');
  assert.equal((await tb.exec(tb.nginx, ['ls', '-A', '/etc/nginx/conf.d'])).stdout.trim(), 'service_url.inc');
});

test('an nginx host without the validator, or with another version of it: the named error with the install command and the rule, before anything changes', async () => {
  const include = await tb.readInclude();
  const before = await pids();
  await tb.exec(tb.nginx, ['mv', VALIDATOR_PATH, `${VALIDATOR_PATH}.away`]);
  try {
    const r = await runAction(tb, baseInputs(tb, await tb.makeJar('v1'), { ...SUDO, release: 'v1' }));
    assert.equal(r.code, 1, explain(r));
    assert.match(r.error, /\[preflight\] nginx host [\d.:]+: include validator missing: \/usr\/local\/libexec\/jar-bluegreen-deploy\/include-install is missing, so nothing was changed/);
    // (the ::error:: line keeps its newlines as %0A)
    const lines = (t: string) => t.replace(/\n/g, '%0A');
    assert.ok(r.error.includes(lines(validatorInstallCommand())), 'the install command');
    assert.ok(r.error.includes(lines(NGINX_RULE.trimEnd())), 'the rule');
    assert.doesNotMatch(r.stdout, /started pid/);
    assert.equal(await tb.readInclude(), include);
    assert.deepEqual(await pids(), before);
    await tb.exec(tb.nginx, ['sh', '-c', `cp -p ${VALIDATOR_PATH}.away ${VALIDATOR_PATH} && echo '# changed' >> ${VALIDATOR_PATH}`]);
    const old = await runAction(tb, baseInputs(tb, await tb.makeJar('v1'), { ...SUDO, release: 'v1' }));
    assert.equal(old.code, 1, explain(old));
    assert.match(old.error, /include validator outdated: \/usr\/local\/libexec\/jar-bluegreen-deploy\/include-install is not this version's \(sha256 [0-9a-f]{12}…, this version's is [0-9a-f]{12}…\)/);
    assert.equal(await tb.readInclude(), include);
    assert.deepEqual(await pids(), before);
  } finally {
    await tb.exec(tb.nginx, ['mv', '-f', `${VALIDATOR_PATH}.away`, VALIDATOR_PATH]);
  }
});

test('an include holding a line the validator refuses is said before anything starts, with the line', async () => {
  const include = (await tb.readInclude())!;
  const before = await pids();
  await tb.exec(tb.nginx, ['sh', '-c', `printf '%s\\n' 'server_tokens off;' >> ${INCLUDE}`]);
  try {
    const r = await runAction(tb, baseInputs(tb, await tb.makeJar('v1'), { ...SUDO, release: 'v1' }));
    assert.equal(r.code, 1, explain(r));
    assert.match(r.error, /\[preflight\] nginx host [\d.:]+: the include validator \(\/usr\/local\/libexec\/jar-bluegreen-deploy\/include-install\) would refuse \/etc\/nginx\/conf\.d\/service_url\.inc as it is .*, so nothing was changed: include-install: refused: line \d+: not a set line, an upstream block or a comment/);
    assert.doesNotMatch(r.stdout, /started pid/);
    assert.deepEqual(await pids(), before);
  } finally {
    await tb.exec(tb.nginx, ['sh', '-c', `printf '%s' "$1" > ${INCLUDE}`, 'sh', include]);
  }
  assert.equal(await tb.readInclude(), include);
});

test('blue/green under load with only the exact rules; the apps run as the deploy user; the lock and audit log are its own', async () => {
  const r = await deploy('v1');
  assert.equal(r.code, 0, explain(r));
  assert.deepEqual(await seen(), ['version=v1 port=8081']);
  for (const a of tb.apps) assert.equal(await owner(a, (await tb.pidOnPort(a, 8081))!), DEPLOY_USER);
  assert.equal(await tb.pidOnPort(tb.apps[0], 8080), null, 'the old version stopped');
  const audit = await tb.exec(tb.nginx, ['stat', '-c', '%U', '/opt/app/deploys.log']);
  assert.equal(audit.stdout.trim(), DEPLOY_USER);
  const inc = await tb.exec(tb.nginx, ['sh', '-c', `stat -c '%U %a' ${INCLUDE}; ls -A /etc/nginx/conf.d`]);
  assert.equal(inc.stdout.trim(), 'root 644\nservice_url.inc', 'root\'s include, nothing left beside it');
});

test('dry-run changes nothing, and prints the exact rule each host needs for these inputs', async () => {
  const include = await tb.readInclude();
  const r = await runAction(tb, baseInputs(tb, await tb.makeJar('v2'), { ...SUDO, 'dry-run': 'true' }));
  assert.equal(r.code, 0, explain(r));
  assert.ok(r.summary.includes(NGINX_RULE) && r.summary.includes(APP_RULE), r.summary);
  assert.equal(await tb.readInclude(), include);
});

test('canary: a log the deploy user cannot read is said before traffic moves; readable, every step passes', async () => {
  const log = '/var/log/nginx/access.log';
  const CAN = { strategy: 'canary', 'access-log': log, 'canary-interval': '2', 'min-requests': '20', 'p99-floor-ms': '200', 'max-p99-ratio': '4' };
  const include = await tb.readInclude();
  await tb.exec(tb.nginx, ['chmod', '600', log]);
  const denied = await runAction(tb, baseInputs(tb, await tb.makeJar('v2'), { ...SUDO, ...CAN, release: 'v2' }));
  assert.equal(denied.code, 1, explain(denied));
  assert.match(denied.error, /user 'zdddeploy' cannot read access-log \/var\/log\/nginx\/access\.log \(root:root 600\): .*group adm/);
  assert.equal(await tb.readInclude(), include);
  await tb.exec(tb.nginx, ['chmod', '644', log]);
  const r = await deploy('v2', CAN);
  assert.equal(r.code, 0, explain(r));
  assert.deepEqual(await seen(), ['version=v2 port=8080']);
});

test('stage then promote', async () => {
  const s = await runAction(tb, baseInputs(tb, await tb.makeJar('v3'), { ...SUDO, mode: 'stage', release: 'v3' }));
  assert.equal(s.code, 0, explain(s));
  assert.deepEqual(await seen(), ['version=v2 port=8080']);
  const { run: p, load } = await underLoad(tb, async () => runAction(tb, baseInputs(tb, '', { ...SUDO, mode: 'promote' })));
  assert.equal(load.non2xx, 0, load.raw);
  assert.equal(p.code, 0, explain(p));
  assert.deepEqual(await seen(), ['version=v3 port=8081']);
});

test('a warm rollback to a kept standby, then a cold one from a kept jar', async () => {
  const kept = await deploy('v4', { 'keep-previous': 'true' });
  assert.equal(kept.code, 0, explain(kept));
  const standby = await tb.pidOnPort(tb.apps[0], 8081);
  assert.ok(standby);
  const { run: warm, load } = await underLoad(tb, async () => runAction(tb, baseInputs(tb, '', { ...SUDO, mode: 'rollback' })));
  assert.equal(load.non2xx, 0, load.raw);
  assert.equal(warm.code, 0, explain(warm));
  assert.equal(warm.outputs.release, 'v3');
  assert.equal(await tb.pidOnPort(tb.apps[0], 8081), standby, 'the standby itself serves');
  const v5 = await deploy('v5');
  assert.equal(v5.code, 0, explain(v5));
  const { run: cold, load: cl } = await underLoad(tb, async () => runAction(tb, baseInputs(tb, '', { ...SUDO, mode: 'rollback' })));
  assert.equal(cl.non2xx, 0, cl.raw);
  assert.equal(cold.code, 0, explain(cold));
  assert.deepEqual(await seen(), [`version=${cold.outputs.release} port=${cold.outputs['active-port']}`]);
  assert.notEqual(cold.outputs.release, 'v5');
});

test('rolling over the two app hosts', async () => {
  const r = await deploy('v6', { strategy: 'rolling', 'batch-size': '50%' });
  assert.equal(r.code, 0, explain(r));
  assert.deepEqual((await seen()).map((s) => s.replace(/ port=\d+/, '')), ['version=v6']);
});

test('an include-file or a reload command the rule does not name: refused by name, with the missing line, before anything starts', async () => {
  const include = await tb.readInclude();
  const before = await pids();
  await tb.exec(tb.nginx, ['sh', '-c', `cp ${INCLUDE} /etc/nginx/conf.d/other.inc`]);
  try {
    const moved = await runAction(tb, baseInputs(tb, await tb.makeJar('v7'), { ...SUDO, 'include-file': '/etc/nginx/conf.d/other.inc' }));
    assert.equal(moved.code, 1, explain(moved));
    assert.match(moved.error, /\[preflight\] nginx host [\d.:]+: sudo refused `\/usr\/local\/libexec\/jar-bluegreen-deploy\/include-install \/etc\/nginx\/conf\.d\/other\.inc` for user 'zdddeploy' \(a password is required\)/);
    assert.ok(moved.error.includes('zdddeploy ALL=(root) NOPASSWD: /usr/local/libexec/jar-bluegreen-deploy/include-install /etc/nginx/conf.d/other.inc'), 'the missing line');
    assert.doesNotMatch(moved.stdout, /started pid/);
  } finally {
    await tb.exec(tb.nginx, ['rm', '-f', '/etc/nginx/conf.d/other.inc']);
  }
  const reload = await runAction(tb, baseInputs(tb, await tb.makeJar('v7'), { ...SUDO, 'nginx-reload-command': 'nginx -q -s reload' }));
  assert.equal(reload.code, 1, explain(reload));
  assert.match(reload.error, /sudo refused `\/usr\/sbin\/nginx -q -s reload`/);
  assert.ok(reload.error.includes('zdddeploy ALL=(root) NOPASSWD: /usr/sbin/nginx -q -s reload'), 'the missing line');
  assert.equal(await tb.readInclude(), include);
  assert.deepEqual(await pids(), before);
});

test('systemd-unit with only the exact rules on the nginx host and the app host', async () => {
  await cleanupStale('zddsudos');
  const sb = await createTestbed({
    prefix: 'zddsudos',
    subnet: 101,
    appHosts: 1,
    form: 'set',
    systemd: true,
    deployUser: true,
    sudoersByHost: { nginx: NGINX_RULE, app1: sudoersRule(DEPLOY_USER, 'shop', [8080, 8081]) },
  });
  try {
    await installValidator(sb, sb.nginx);
    const a = sb.apps[0];
    await sb.startSeedApp(a, 8080, 'v0', [], { user: sb.sshUser });
    for (const h of sb.hosts) assert.notEqual((await sb.execAs(h, DEPLOY_USER, ['sudo', '-n', 'id'])).code, 0, `${h.name}: no sudo id`);
    for (const v of ['u1', 'u2']) {
      const { run, load } = await underLoad(sb, async () => runAction(sb, baseInputs(sb, await sb.makeJar(v), { ...SUDO, 'systemd-unit': 'shop', release: v })));
      assert.equal(load.non2xx, 0, load.raw);
      assert.equal(run.code, 0, explain(run));
      assert.match((await sb.get('/version')).body, new RegExp(`version=${v} `));
    }
    assert.equal((await sb.systemctl(a, 'show', '-p', 'User', '--value', 'shop@8080.service')).stdout.trim(), DEPLOY_USER);
    assert.equal((await sb.systemctl(a, 'is-enabled', 'shop@8080.service')).stdout.trim(), 'enabled');
  } finally {
    await sb.teardown();
  }
});
