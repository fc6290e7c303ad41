// An app host whose PID 1 is a real systemd (createTestbed({ systemd: true })): systemctl and
// journalctl work there, over SSH as the deploy user through `sudo -n`; a unit with
// Restart=on-failure comes back after kill -9 and, enabled, after a reboot of the host; /run
// and /tmp are fresh after a reboot, /opt is kept. And the machine is left alone: its /tmp (top
// level: names, sizes, mtimes) and /etc (checksums) are the same after teardown as before setup.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createTestbed, cleanupStale, nsPids, DEPLOY_USER, type Testbed, type Host } from '../testbed/testbed.ts';

const PREFIX = 'zddsd';
const UNIT = 'zddsd-app.service';
const PORT = 8080;

/**
 * `name size mtime` of every top-level entry of the machine's /tmp, but `skip` (this testbed's
 * dir) and the dirs of other testbeds running on the machine meanwhile (`zdd-tb-P-XXXXXX` with
 * namespaces `P-*`): like ours, they change while they run.
 */
function tmpListing(skip?: string): string[] {
  const live = new Set(
    fs
      .readdirSync('/run/netns')
      .filter((n) => n.endsWith('-sw'))
      .map((n) => n.slice(0, -3)),
  );
  return fs
    .readdirSync('/tmp')
    .filter((e) => path.join('/tmp', e) !== skip)
    .filter((e) => {
      const m = /^zdd-tb-([a-z0-9]+)-[A-Za-z0-9]{6}$/.exec(e);
      return !m || m[1] === PREFIX || !live.has(m[1]);
    })
    .sort()
    .map((e) => {
      const st = fs.lstatSync(path.join('/tmp', e));
      return `${e} ${st.size} ${st.mtimeMs}`;
    });
}

/** `path type mode uid:gid mtime sha256|target` of everything under /etc (symlinks not followed) */
function etcListing(): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const p = path.join(d, e.name);
      const st = fs.lstatSync(p);
      const head = `${p} ${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid}`;
      if (e.isSymbolicLink()) out.push(`${head} l ${fs.readlinkSync(p)}`);
      else if (e.isDirectory()) {
        out.push(`${head} d`);
        walk(p);
      } else if (e.isFile()) out.push(`${head} f ${st.mtimeMs} ${createHash('sha256').update(fs.readFileSync(p)).digest('hex')}`);
      else out.push(`${head} other ${st.mtimeMs}`);
    }
  };
  walk('/etc');
  return out;
}

function diff(a: string[], b: string[]): string {
  const sa = new Set(a);
  const sb = new Set(b);
  return [...a.filter((l) => !sb.has(l)).map((l) => `- ${l}`), ...b.filter((l) => !sa.has(l)).map((l) => `+ ${l}`)].join('\n');
}

async function until<T>(what: string, ms: number, f: () => Promise<T | undefined | null | false>): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

let tb: Testbed;
let app: Host;
let tmpBefore: string[];
let etcBefore: string[];
let java: string;

/** a command over SSH from the runner, as the deploy user (known_hosts checked) */
const ssh = (cmd: string) =>
  tb.runInRunner(
    ['ssh', '-F', '/dev/null', '-i', tb.privateKeyPath, '-o', `UserKnownHostsFile=${tb.knownHostsPath}`, '-o', 'StrictHostKeyChecking=yes', '-o', 'BatchMode=yes', '-o', 'ConnectTimeout=5', `${tb.sshUser}@${app.ip}`, cmd],
    { env: { HOME: '/root' }, timeoutMs: 30_000 },
  );
const mainPid = async () => Number((await tb.systemctl(app, 'show', '-p', 'MainPID', '--value', UNIT)).stdout.trim());
/** the unit's MainPID once it is the one listening on PORT */
const serving = (not?: number) =>
  until(`${UNIT} listening on ${PORT}${not ? ` with a MainPID other than ${not}` : ''}`, 15_000, async () => {
    const pid = await mainPid();
    return pid > 0 && pid !== not && (await tb.pidOnPort(app, PORT)) === pid ? pid : null;
  });

before(async () => {
  await cleanupStale(PREFIX);
  tmpBefore = tmpListing();
  etcBefore = etcListing();
  const t0 = Date.now();
  tb = await createTestbed({ prefix: PREFIX, subnet: 64, appHosts: 1, systemd: true, deployUser: true, form: 'set' });
  process.stderr.write(`# systemd testbed up in ${Date.now() - t0} ms\n`);
  app = tb.apps[0];
  java = (await tb.exec(app, ['sh', '-c', 'command -v java'])).stdout.trim();
  assert.ok(java.startsWith('/'), `java on the host: ${java}`);
});
after(async () => {
  await tb?.teardown();
});

test('the app host boots systemd: running, nothing failed, sshd is a unit', async () => {
  assert.equal(tb.systemd, true);
  const state = (await tb.systemctl(app, 'is-system-running')).stdout.trim();
  assert.ok(state === 'running' || state === 'degraded', `is-system-running: ${state}`);
  const failed = await tb.systemctl(app, '--failed', '--plain', '--no-legend', '--no-pager');
  assert.equal(failed.stdout.trim(), '', `failed units (mask them in SYSTEMD_MASKED_UNITS if they touch the machine):\n${failed.stdout}`);
  const pid1 = await tb.exec(app, ['cat', '/proc/1/comm']);
  assert.equal(pid1.stdout.trim(), 'systemd');
  assert.equal((await tb.systemctl(app, 'is-active', 'ssh.service')).stdout.trim(), 'active');
  // the pid of sshd as the host sees it
  assert.equal(await tb.pidOnPort(app, 22), Number((await tb.systemctl(app, 'show', '-p', 'MainPID', '--value', 'ssh.service')).stdout.trim()));
});

test('over SSH, the deploy user runs systemctl through sudo -n', async () => {
  const r = await ssh('id -un; sudo -n systemctl status --no-pager');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`^${DEPLOY_USER}\\n`));
  assert.match(r.stdout, /State: (running|degraded)/);
});

test('a Restart=on-failure unit runs the app, comes back after kill -9, logs to the journal', async () => {
  fs.copyFileSync(await tb.makeJar('sd1'), tb.localPath(app, '/opt/app/app-sd.jar'));
  const unit = `[Unit]
Description=zdd systemd-host test app
After=network.target

[Service]
User=${DEPLOY_USER}
WorkingDirectory=/opt/app
ExecStart=${java} -XX:+UseSerialGC -Xmx64m -Dserver.port=${PORT} -jar /opt/app/app-sd.jar
Restart=on-failure
RestartSec=200ms

[Install]
WantedBy=multi-user.target
`;
  // written and enabled the way a deploy would: as the deploy user, through sudo
  const w = await ssh(`sudo -n tee /etc/systemd/system/${UNIT} >/dev/null <<'EOF'\n${unit}EOF\nsudo -n systemctl daemon-reload && sudo -n systemctl enable --now ${UNIT}`);
  assert.equal(w.code, 0, w.stderr);
  assert.equal(fs.readFileSync(tb.localPath(app, `/etc/systemd/system/${UNIT}`), 'utf8'), unit, 'the unit is in the per-host /etc/systemd/system');
  assert.equal((await tb.systemctl(app, 'is-enabled', UNIT)).stdout.trim(), 'enabled');
  const first = await serving();
  assert.match((await tb.get('/version')).body, new RegExp(`version=sd1 port=${PORT}`));
  assert.equal((await tb.exec(app, ['ps', '-o', 'user=', '-p', String(first)])).stdout.trim(), DEPLOY_USER);

  const t0 = Date.now();
  assert.equal((await tb.exec(app, ['kill', '-9', String(first)])).code, 0);
  const second = await serving(first);
  const ms = Date.now() - t0;
  assert.ok(ms < 10_000, `back after ${ms} ms`);
  process.stderr.write(`# kill -9: back (pid ${first} -> ${second}) in ${ms} ms\n`);
  assert.match((await tb.get('/version')).body, new RegExp(`version=sd1 port=${PORT}`));

  const journal = await tb.exec(app, ['journalctl', '-u', UNIT, '--no-pager', '-o', 'cat']);
  assert.equal(journal.stdout.match(/^started version=sd1 port=8080/gm)?.length, 2, `the app's stdout in journalctl -u (twice):\n${journal.stdout}`);
  assert.match(journal.stdout, /Main process exited, code=killed, status=9\/KILL/);
});

test('EnvironmentFile= values in KEY="..." with \\ and " escaped reach the process exactly', async () => {
  const values: Record<string, string> = {
    SPACES: 'a b  c',
    QUOTES: `it's "quoted"`,
    DOLLAR: '$HOME ${HOME} $$',
    BACKSLASH: 'a\\b \\n \\\\ end\\',
    EQUALS: 'a=b==c=',
    MIXED: "`id` ; #x % %h 'q' \\\"",
    EDGES: '  lead and trail  ',
    EMPTY: '',
  };
  const esc = (v: string) => v.replace(/[\\"]/g, (c) => `\\${c}`);
  fs.writeFileSync(tb.localPath(app, '/opt/app/env-test.env'), Object.entries(values).map(([k, v]) => `${k}="${esc(v)}"\n`).join(''));
  fs.writeFileSync(
    tb.localPath(app, '/etc/systemd/system/zddsd-env.service'),
    '[Service]\nType=oneshot\nEnvironmentFile=/opt/app/env-test.env\nExecStart=/usr/bin/env -0\nStandardOutput=truncate:/opt/app/env-test.out\n',
  );
  assert.equal((await tb.systemctl(app, 'daemon-reload')).code, 0);
  const r = await tb.systemctl(app, 'start', 'zddsd-env.service');
  assert.equal(r.code, 0, r.stderr);
  const got = new Map(
    fs
      .readFileSync(tb.localPath(app, '/opt/app/env-test.out'), 'utf8')
      .split('\0')
      .filter(Boolean)
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)] as const),
  );
  for (const [k, v] of Object.entries(values)) assert.equal(got.get(k), v, k);
});

test('startSeedApp on a systemd host: a setsid nohup java, reaped after it dies', async () => {
  const pid = await tb.startSeedApp(app, 8081, 'seed');
  assert.equal(await tb.pidOnPort(app, 8081), pid);
  assert.equal((await tb.exec(app, ['kill', '-9', String(pid)])).code, 0);
  await until(`seed pid ${pid} reaped`, 5000, async () => (await tb.exec(app, ['ps', '-o', 'stat=', '-p', String(pid)])).stdout.trim() === '');
});

test('reboot: the enabled unit comes back, /run and /tmp are fresh, /opt is kept', async () => {
  const before = await mainPid();
  fs.writeFileSync(tb.localPath(app, '/opt/app/marker'), 'kept\n');
  assert.equal((await tb.exec(app, ['sh', '-c', 'echo x > /run/zddsd-marker && echo x > /tmp/zddsd-marker'])).code, 0);
  const t0 = Date.now();
  await tb.reboot(app);
  const ms = Date.now() - t0;
  process.stderr.write(`# reboot: sshd + systemd running in ${ms} ms\n`);
  assert.ok(ms < 10_000, `reboot took ${ms} ms`);
  const state = (await tb.systemctl(app, 'is-system-running')).stdout.trim();
  assert.ok(state === 'running' || state === 'degraded', state);
  const after = await serving();
  assert.notEqual(after, before);
  assert.match((await tb.get('/version')).body, new RegExp(`version=sd1 port=${PORT}`));
  const files = await tb.exec(app, ['sh', '-c', 'for f in /run/zddsd-marker /tmp/zddsd-marker; do test -e $f && echo "$f survived"; done; cat /opt/app/marker']);
  assert.equal(files.stdout, 'kept\n', '/run and /tmp are new, /opt is kept');
  // ssh works again (same host key: known_hosts is checked)
  const r = await ssh('sudo -n systemctl is-active ' + UNIT);
  assert.equal(r.stdout.trim(), 'active', r.stderr);
});

test('teardown leaves no namespace, no process, no cgroup; the machine /tmp and /etc are unchanged', async () => {
  const namespaces = [...tb.hosts, tb.runner].map((h) => h.ns).concat(`${PREFIX}-sw`);
  const pids = (await Promise.all(namespaces.map(nsPids))).flat();
  assert.ok(pids.length > 0);
  const startTime = (pid: number) => {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
    } catch {
      return undefined;
    }
  };
  const startTimes = new Map(pids.map((p) => [p, startTime(p)]));
  const dir = tb.dir;
  await tb.teardown();
  const ipNetns = fs.readdirSync('/run/netns').filter((n) => n.startsWith(`${PREFIX}-`));
  assert.deepEqual(ipNetns, [], 'no namespace left');
  const left = pids.filter((p) => startTime(p) !== undefined && startTime(p) === startTimes.get(p));
  assert.deepEqual(left, [], 'no process left');
  const cgroups = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(' - cgroup2 ')).map((l) => l.split(' ')[4]);
  for (const cg of cgroups) assert.deepEqual(fs.readdirSync(cg).filter((e) => e.startsWith(`zdd-tb-${PREFIX}-`)), [], `no cgroup left in ${cg}`);
  assert.equal(fs.existsSync(dir), false);
  const tmpAfter = tmpListing(dir);
  // (strict: anything else writing to /tmp's top level meanwhile shows up here too)
  assert.equal(diff(tmpBefore, tmpAfter), '', "the machine's /tmp (top level) changed while the testbed ran");
  assert.equal(diff(etcBefore, etcListing()), '', "the machine's /etc changed");
});
