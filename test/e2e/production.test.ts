// Production-shaped checks: dry-run, preflight, a systemd-managed old app, an include edited
// during the deploy, a second nginx on the nginx host, env kept off command lines, any-body health.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createTestbed, cleanupStale, type Testbed } from '../testbed/testbed.ts';
import { baseInputs, runAction, startAction, explain } from './harness.ts';

let tb: Testbed;
let app: Testbed['apps'][number];
const APP = '10\\.213\\.54\\.31:22';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

before(async () => {
  await cleanupStale('zddprod');
  tb = await createTestbed({ prefix: 'zddprod', subnet: 54, appHosts: 1, form: 'set' });
  app = tb.apps[0];
  await tb.startSeedApp(app, 8080, 'v0');
});
after(async () => {
  await tb?.teardown();
});

async function snapshot() {
  const include = await tb.readInclude();
  const live = Number(/:(\d+);/.exec(include ?? '')?.[1]);
  return { include, live, idle: live === 8080 ? 8081 : 8080, livePid: await tb.pidOnPort(app, live), served: (await tb.get('/version')).body.replace(/ pid=.*/, '') };
}

async function assertUnchanged(s: Awaited<ReturnType<typeof snapshot>>, run: { stdout: string; stderr: string; code: number }) {
  const now = await snapshot();
  assert.equal(now.include, s.include, `include byte-identical\n${explain(run as never)}`);
  assert.equal(now.livePid, s.livePid, 'the old process still serves');
  assert.equal(now.served, s.served);
  assert.equal(await tb.pidOnPort(app, s.idle), null, 'no new process left');
}

test('dry-run: prints the plan and the include diff, changes nothing anywhere', async () => {
  const s = await snapshot();
  const jar = await tb.makeJar('dry');
  const r = await runAction(tb, baseInputs(tb, jar, { 'dry-run': 'true', release: 'dry-1' }));
  assert.equal(r.code, 0, explain(r));
  assert.match(r.summary, /### Dry run: blue-green of dry-1 \(nothing was changed\)/);
  assert.match(r.summary, new RegExp(`- set \\$service_url http://${app.ip.replaceAll('.', '\\.')}:8080;\\n\\+ set \\$service_url http://${app.ip.replaceAll('.', '\\.')}:8081;`));
  assert.match(r.summary, /would upload 0\.0 MiB|already there|identical jar/);
  assert.match(r.stdout, /: \/\S*java \(.*java \d+/, "java found, its version logged");
  await assertUnchanged(s, r);
  assert.equal(existsSync(tb.localPath(app, '/opt/app/releases/dry-1')), false, 'no release directory created');
  assert.equal(existsSync(tb.localPath(tb.nginx, '/opt/app/deploy.lock')), false, 'no lock left');
});

test('preflight: a java that is not there fails before anything is uploaded, naming host, path and the input', async () => {
  const s = await snapshot();
  const r = await runAction(tb, baseInputs(tb, await tb.makeJar('nojava'), { java: '/opt/jdk/bin/java', release: 'nojava-1' }));
  assert.equal(r.code, 1, explain(r));
  assert.match(r.error, new RegExp(`\\[preflight\\] ${APP}: java '/opt/jdk/bin/java' was not found for user 'root' \\(PATH of a non-login shell over SSH: .*\\); set the 'java' input to its full path`));
  assert.equal(existsSync(tb.localPath(app, '/opt/app/releases/nojava-1/app.jar')), false, 'nothing uploaded');
  await assertUnchanged(s, r);
});

test('an old app run by a systemd unit is refused with what to do; nothing is stopped', async () => {
  const s = await snapshot();
  const root = existsSync('/sys/fs/cgroup/unified/cgroup.procs') ? '/sys/fs/cgroup/unified' : '/sys/fs/cgroup';
  const unit = `${root}/zddfake-${process.pid}.service`;
  const orig = (await tb.exec(app, ['sh', '-c', `sed -n 's/^0:://p' /proc/${s.livePid}/cgroup`])).stdout.trim();
  const move = (dir: string) => tb.exec(app, ['sh', '-c', `echo ${s.livePid} > ${dir}/cgroup.procs`]);
  assert.equal((await tb.exec(app, ['mkdir', '-p', unit])).code, 0);
  assert.equal((await move(unit)).code, 0);
  try {
    const r = await runAction(tb, baseInputs(tb, await tb.makeJar('unit')));
    assert.equal(r.code, 1, explain(r));
    assert.match(r.error, new RegExp(`\\[upload and start\\] ${APP}: the process on port ${s.live} \\(pid ${s.livePid}\\) belongs to the systemd unit zddfake-${process.pid}\\.service; .*systemctl disable --now`));
    assert.match(r.error, /Set systemd-unit: NAME, and the action runs each release as NAME@PORT\.service/);
    await assertUnchanged(s, r);
  } finally {
    await move(`${root}${orig === '/' ? '' : orig}`);
    await tb.exec(app, ['rmdir', unit]);
  }
});

test('the include edited by someone else during the deploy is not overwritten', async () => {
  const s = await snapshot();
  const a = startAction(tb, baseInputs(tb, await tb.makeJar('edited'), { 'java-opts': '-Dstart.delay.ms=2500' }));
  let out = '';
  a.child.stdout?.on('data', (c) => (out += c));
  for (let i = 0; i < 400 && !/started pid/.test(out); i++) await sleep(25);
  const edited = `${s.include}# pinned by config management\n`;
  await tb.writeInclude(edited);
  const r = await a.done;
  try {
    assert.equal(r.code, 1, explain(r));
    assert.match(r.error, /\[switch\] nginx host .*: \/etc\/nginx\/conf\.d\/service_url\.inc changed on the host since it was read .* so it was not overwritten/);
    assert.equal(await tb.readInclude(), edited, 'the edit is kept');
    assert.equal(await tb.pidOnPort(app, s.idle), null, 'the new process is gone');
  } finally {
    await tb.writeInclude(s.include!);
  }
});

test('a second nginx on the nginx host does not stretch the drain; only the reloaded master counts', async () => {
  const conf = `pid /tmp/n2/nginx.pid;\nerror_log /tmp/n2/error.log;\nevents {}\nhttp {\n  access_log off;\n  client_body_temp_path /tmp/n2;\n  proxy_temp_path /tmp/n2;\n  fastcgi_temp_path /tmp/n2;\n  uwsgi_temp_path /tmp/n2;\n  scgi_temp_path /tmp/n2;\n  server { listen 127.0.0.1:8089; return 200 other; }\n}\n`;
  assert.equal((await tb.exec(tb.nginx, ['sh', '-c', `mkdir -p /tmp/n2 && cat > /tmp/n2/nginx.conf && nginx -c /tmp/n2/nginx.conf`], { input: conf })).code, 0);
  try {
    const r = await runAction(tb, baseInputs(tb, await tb.makeJar('two-nginx'), { 'drain-timeout': '15' }));
    assert.equal(r.code, 0, explain(r));
    assert.doesNotMatch(r.stdout, /drain-timeout .* reached/);
    const drainS = Number(/\| Drain and stop the old version \| ([\d.]+) s \|/.exec(r.summary)?.[1]);
    assert.ok(drainS < 8, `drain took ${drainS} s`);
  } finally {
    await tb.exec(tb.nginx, ['nginx', '-c', '/tmp/n2/nginx.conf', '-s', 'stop']);
  }
});

test('env values never appear on a command line; the app gets them; health-body empty accepts any body', async () => {
  const secret = 'zdd-s3cr3t-value';
  const jar = await tb.makeJar('env');
  const a = startAction(tb, baseInputs(tb, jar, { env: `APP_SECRET=${secret}\nPATH=/nowhere:$PATH`, 'java-opts': '-Dhealth.mode=wrongbody -Dstart.delay.ms=1000', 'health-body': '' }));
  let done = false;
  const seen: string[] = [];
  // The pattern comes from a file, so the watcher's own command line does not contain the value.
  await tb.exec(app, ['sh', '-c', 'cat > /tmp/zdd-pattern'], { input: secret });
  const watch = (async () => {
    while (!done) {
      const r = await tb.exec(app, ['sh', '-c', 'grep -l -a -F -f /tmp/zdd-pattern /proc/[0-9]*/cmdline 2>/dev/null || true']);
      if (r.stdout.trim()) seen.push(r.stdout.trim());
      await sleep(10);
    }
  })();
  const r = await a.done;
  done = true;
  await watch;
  assert.equal(r.code, 0, explain(r));
  assert.deepEqual(seen, [], 'the env value was on a command line');
  const info = await tb.get('/info');
  assert.match(info.body, new RegExp(`env\\.APP_SECRET=${secret}`));
  const port = Number(r.outputs['active-port']);
  const envFile = tb.localPath(app, `/opt/app/run/${port}.env`);
  assert.equal((statSync(envFile).mode & 0o777).toString(8), '600');
});

test('a login banner (a .bashrc that echoes) is no output of any command: the deploy works, and it is never taken for "no include"', async () => {
  const rc = path.join(tb.nginx.dir, 'home-root', '.bashrc'); // the nginx host's /root
  writeFileSync(rc, 'echo "Welcome to prod"\necho "and to stderr" >&2\n');
  try {
    const before = (await tb.readInclude())!;
    const r = await runAction(tb, baseInputs(tb, await tb.makeJar('banner')));
    assert.equal(r.code, 0, explain(r));
    // The login shell runs once per shell, before the action's own sh: what it prints ends there.
    assert.doesNotMatch(r.stdout, /Welcome to prod|and to stderr|unexpected output/);
    assert.notEqual(await tb.readInclude(), before, 'switched');
    assert.match((await tb.get('/version')).body, /version=banner/);
  } finally {
    rmSync(rc, { force: true });
  }
});

test('warm-up: each new process gets warmup-requests GETs before the switch; a path that is not 2xx stops the deploy as unhealthy', async () => {
  const r = await runAction(tb, baseInputs(tb, await tb.makeJar('warm'), { 'warmup-path': '/version', 'warmup-requests': '60', 'java-opts': '-Dwarmup.requests=30 -Dwarmup.ms=20' }));
  assert.equal(r.code, 0, explain(r));
  assert.match(r.stdout, new RegExp(`${APP}: warm-up of port \\d+: 60 × GET /version, latency p50 \\d+ ms, p90 \\d+ ms, p99 (\\d+) ms, max \\d+ ms`));
  const p99 = Number(/p99 (\d+) ms/.exec(r.stdout)![1]);
  assert.ok(p99 >= 15, `the cold requests were the slow ones (p99 ${p99} ms)`);
  const s = await snapshot();
  const bad = await runAction(tb, baseInputs(tb, await tb.makeJar('warm-bad'), { 'warmup-path': '/nope', 'warmup-requests': '5' }));
  assert.equal(bad.code, 1, explain(bad));
  assert.match(bad.error, new RegExp(`\\[warm-up\\] ${APP}: GET /nope on port ${s.idle} answered 404: the new version does not serve it`));
  await assertUnchanged(s, bad);
});
