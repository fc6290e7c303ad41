// Moving off root with systemd-unit (issue 30): a non-root deploy user with only the documented
// sudoers rule takes over a team's unit that runs as root, then one that runs as another user;
// and a redeploy of the same jar with other java-opts is a deployment of its own, which a
// rollback returns to with its own options.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createTestbed, cleanupStale, DEPLOY_USER, type Testbed } from '../testbed/testbed.ts';
import { baseInputs, runAction, explain, type ActionRun } from './harness.ts';
import { underLoad } from './load.ts';
import { sudoersRule } from '../../src/commands/unit.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const teamUnit = (user: string) => `[Unit]
Description=the team's own unit, written by hand
[Service]
${user ? `User=${user}\n` : ''}ExecStart=/usr/bin/java -Dserver.port=8080 -Dapp.version=team -jar /srv/team/team.jar
Restart=always
[Install]
WantedBy=multi-user.target
`;

let tb: Testbed;
let jar: string;
before(async () => {
  await cleanupStale('zddquiets');
  const rule = sudoersRule(DEPLOY_USER, 'shop', [8080, 8081], 'shop.service');
  tb = await createTestbed({ prefix: 'zddquiets', subnet: 74, appHosts: 1, form: 'set', systemd: true, deployUser: true, sudoersByHost: { app1: rule } });
  jar = await tb.makeJar('s1');
});
after(async () => {
  await tb?.teardown();
});

const served = async () => (await tb.get('/version')).body.replace(/ pid=.*/, '').trim();

/** The team's app as shop.service (of root, or of `user`) on port 8080, and nginx pointing at it. */
async function installTeamUnit(user: string): Promise<void> {
  const a = tb.apps[0];
  assert.equal((await tb.exec(a, ['sh', '-c', 'mkdir -p /srv/team && cp "$1" /srv/team/team.jar && chmod 644 /srv/team/team.jar', 'sh', jar])).code, 0);
  await tb.exec(a, ['sh', '-c', 'cat > /etc/systemd/system/shop.service && systemctl daemon-reload'], { input: teamUnit(user) });
  assert.equal((await tb.systemctl(a, 'enable', '--now', 'shop.service')).code, 0);
  for (let i = 0; i < 100 && !(await tb.pidOnPort(a, 8080)); i++) await sleep(200);
  await tb.writeInclude(`set $service_url http://${a.ip}:8080;\n`);
  assert.equal((await tb.reloadNginx()).code, 0);
  await sleep(300);
  assert.match(await served(), /version=team port=8080/);
}

async function deploy(inputs: Record<string, string>): Promise<ActionRun> {
  const { run, load } = await underLoad(tb, async () => runAction(tb, baseInputs(tb, jar, { 'systemd-unit': 'shop', sudo: 'true', ...inputs })));
  assert.equal(load.non2xx, 0, `no 5xx: ${load.raw}\n${explain(run)}`);
  return run;
}

test('the deploy user (only the generated sudoers rule) takes over a unit of root; the same jar with other java-opts is its own release, and a rollback returns to the first with its options', async () => {
  await installTeamUnit('');
  const owner = (await tb.exec(tb.apps[0], ['sh', '-c', 'ps -o user= -p "$(systemctl show -p MainPID --value shop.service)"'])).stdout.trim();
  assert.equal(owner, 'root');
  assert.notEqual((await tb.execAs(tb.apps[0], tb.sshUser, ['sudo', '-n', 'id'])).code, 0, 'the deploy user is not root');

  const s1 = await deploy({});
  assert.equal(s1.code, 0, explain(s1));
  assert.match(s1.stdout, /took over from shop\.service/);
  assert.match(await served(), /version=s1 port=8081/);

  // The same jar again, with other java-opts: a release of its own.
  const s2 = await deploy({ 'java-opts': '-Dapp.version=s2' });
  assert.equal(s2.code, 0, explain(s2));
  assert.equal(s2.outputs.release, `${s1.outputs.release}-${/this deployment is release \S+-([0-9a-f]{8}),/.exec(s2.stdout)?.[1]}`, s2.stdout);
  assert.match(await served(), /version=s2 port=8080/);

  const s3 = await deploy({ 'java-opts': '-Dhealth.mode=down', 'health-timeout': '4' });
  assert.equal(s3.code, 1, explain(s3));
  assert.match(await served(), /version=s2 port=8080/);

  const back = await deploy({ mode: 'rollback' });
  assert.equal(back.code, 0, explain(back));
  assert.equal(back.outputs.release, s1.outputs.release, 'back to the first deployment, not to the team unit');
  assert.match(await served(), /version=s1 port=8081/, "with s1's own options (no -Dapp.version)");
});

test('a unit of another user (User=nobody) is taken over the same way', async () => {
  const a = tb.apps[0];
  for (const u of ['shop@8080.service', 'shop@8081.service']) await tb.systemctl(a, 'disable', '--now', u);
  await installTeamUnit('nobody');
  const r = await deploy({ release: 'n1' });
  assert.equal(r.code, 0, explain(r));
  assert.match(r.stdout, /took over from shop\.service/);
  assert.match(await served(), /version=s1 port=8081/);
  assert.equal((await tb.systemctl(a, 'is-enabled', 'shop.service')).stdout.trim(), 'disabled');
});
