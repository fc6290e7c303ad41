// Fault injection: every fault leaves production serving, with one clear error, under load.
// For every case: the step fails (or succeeds, where the case says so) with a message naming
// host, step and cause; the old version keeps serving through nginx with 0 non-2xx answers
// during the whole attempt; no process the action started is left behind; the include is
// byte-identical (or correctly switched).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createTestbed, cleanupStale, type Testbed } from '../testbed/testbed.ts';
import { baseInputs, runAction, startAction, explain, type ActionRun } from './harness.ts';
import { startLoad } from './load.ts';

let tb: Testbed;
let app: Testbed['apps'][number];
const APP = '10\\.213\\.46\\.31:22';
const NGINX = '10\\.213\\.46\\.20:22';

before(async () => {
  await cleanupStale('zddfault');
  tb = await createTestbed({ prefix: 'zddfault', subnet: 46, appHosts: 1, form: 'set' });
  app = tb.apps[0];
  await tb.startSeedApp(app, 8080, 'v0');
});
after(async () => {
  await tb?.teardown();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Snapshot {
  include: string | null;
  livePort: number;
  livePid: number | null;
  served: string;
}

async function snapshot(): Promise<Snapshot> {
  const include = await tb.readInclude();
  const livePort = Number(/:(\d+);/.exec(include ?? '')?.[1]);
  return { include, livePort, livePid: await tb.pidOnPort(app, livePort), served: (await tb.get('/version')).body.replace(/ pid=.*/, '') };
}

async function javaCount(): Promise<number> {
  const r = await tb.exec(app, ['sh', '-c', 'pgrep -c java || true']);
  return Number(r.stdout.trim());
}

/** Runs `attempt` under load and checks the invariants that hold whatever the outcome. */
async function underLoad(attempt: () => Promise<ActionRun>): Promise<{ run: ActionRun; before: Snapshot }> {
  const s = await snapshot();
  assert.ok(s.livePid, 'something serves before the case');
  const load = startLoad(tb, 150);
  await sleep(300);
  let run: ActionRun;
  try {
    run = await attempt();
  } finally {
    await sleep(300);
  }
  const l = await load.stop();
  assert.ok(l.requests > 50, `load ran: ${l.raw}`);
  assert.equal(l.non2xx, 0, `no 5xx during the attempt: ${l.raw}\n${explain(run)}`);
  assert.equal(l.socketErrors, 0, `no connection errors during the attempt: ${l.raw}`);
  return { run, before: s };
}

/** The failed-case invariants: include identical, old process still the one serving, nothing new left. */
async function assertNothingChanged(s: Snapshot, run: ActionRun) {
  const now = await snapshot();
  assert.equal(now.include, s.include, `include byte-identical\n${explain(run)}`);
  assert.equal(now.livePid, s.livePid, 'the old process still serves');
  assert.equal(now.served, s.served);
  const idle = s.livePort === 8080 ? 8081 : 8080;
  assert.equal(await tb.pidOnPort(app, idle), null, `no new process left on ${idle}\n${explain(run)}`);
  assert.equal(await javaCount(), 1, 'only the old JVM runs');
}

async function failCase(inputs: Record<string, string>, message: RegExp) {
  const jar = await tb.makeJar(`f${Date.now()}`);
  const { run, before } = await underLoad(() => runAction(tb, baseInputs(tb, jar, inputs)));
  assert.equal(run.code, 1, explain(run));
  assert.match(run.error, message, explain(run));
  assert.equal(run.error.split('\n').length, 1, 'one error message');
  await assertNothingChanged(before, run);
  assert.ok(!run.post || run.post.code === 0, `post step quiet: ${run.post?.stdout}`);
  return run;
}

// ------------------------------------------------------------------ 1. the new app is bad

test('new app exits at once (jar without Main-Class)', async () => {
  const d = path.join(tb.dir, 'nomain');
  mkdirSync(d, { recursive: true });
  writeFileSync(path.join(d, 'x.txt'), 'no main class here');
  const jar = path.join(tb.dir, 'nomain.jar');
  execFileSync('jar', ['--create', '--file', jar, '-C', d, 'x.txt']);
  const { run, before } = await underLoad(() => runAction(tb, baseInputs(tb, jar)));
  assert.equal(run.code, 1, explain(run));
  assert.match(run.error, new RegExp(`\\[health check\\] ${APP}: the new process \\(pid \\d+\\) exited before becoming healthy`));
  assert.match(run.stdout, /no main manifest attribute/);
  await assertNothingChanged(before, run);
});

test('new app crashes half-way through the health checks', async () => {
  await failCase({ 'java-opts': '-Dhealth.mode=crash-after:1', 'health-passes': '3' }, new RegExp(`\\[health check\\] ${APP}: the new process \\(pid \\d+\\) exited`));
});

test('new app never becomes healthy', async () => {
  await failCase({ 'java-opts': '-Dhealth.mode=down', 'health-timeout': '3' }, new RegExp(`\\[health check\\] ${APP}: not healthy after 3s .*503`));
});

test('new app answers 200 with the wrong body', async () => {
  await failCase({ 'java-opts': '-Dhealth.mode=wrongbody', 'health-timeout': '3' }, /not healthy after 3s .*200 .*OUT_OF_SERVICE.*body lacks 'UP'/);
});

test('new app is healthy only every other request (flapping)', async () => {
  await failCase({ 'java-opts': '-Dhealth.mode=flap', 'health-timeout': '4', 'health-passes': '2' }, /not healthy after 4s/);
});

// ------------------------------------------------------------------ 2. a stranger on the idle port

test('a stranger on the idle port is refused, named, and left alone', async () => {
  const s = await snapshot();
  const idle = s.livePort === 8080 ? 8081 : 8080;
  const stranger = await tb.startSeedApp(app, idle, 'stranger', [], { jarName: 'stranger.jar' });
  try {
    const jar = await tb.makeJar('v-stranger');
    const { run } = await underLoad(() => runAction(tb, baseInputs(tb, jar)));
    assert.equal(run.code, 1, explain(run));
    assert.match(run.error, new RegExp(`\\[upload and start\\] ${APP}: port ${idle} is in use by pid ${stranger} \\(java .*stranger\\.jar.*\\), which this action did not start and nginx does not point to`));
    assert.equal(await tb.pidOnPort(app, idle), stranger, 'the stranger was not killed');
    assert.equal(await tb.readInclude(), s.include);
  } finally {
    await tb.exec(app, ['kill', String(stranger)]);
    for (let i = 0; i < 50 && (await tb.pidOnPort(app, idle)); i++) await sleep(100);
  }
});

// ------------------------------------------------------------------ 3. old app ignores SIGTERM

test('an old app that ignores SIGTERM is SIGKILLed after stop-timeout; the deploy succeeds', async () => {
  const first = await runAction(tb, baseInputs(tb, await tb.makeJar('stubborn'), { 'java-opts': '-Dignore.sigterm=true' }));
  assert.equal(first.code, 0, explain(first));
  const oldPort = Number(first.outputs['active-port']);
  const stubborn = await tb.pidOnPort(app, oldPort);
  const jar = await tb.makeJar('after-stubborn');
  const { run } = await underLoad(() => runAction(tb, baseInputs(tb, jar, { 'stop-timeout': '2' })));
  assert.equal(run.code, 0, explain(run));
  assert.match(run.stdout, new RegExp(`pid ${stubborn} ignored SIGTERM for 2s \\(stop-timeout\\) and was killed`));
  assert.equal(await tb.pidOnPort(app, oldPort), null);
  assert.equal(await javaCount(), 1);
  assert.match((await tb.get('/version')).body, /version=after-stubborn/);
});

test('wait-for-exit: false ends the step at SIGTERM; the watchdog it leaves on the host SIGKILLs a stubborn old app at stop-timeout', async () => {
  const first = await runAction(tb, baseInputs(tb, await tb.makeJar('stubborn2'), { 'java-opts': '-Dignore.sigterm=true' }));
  assert.equal(first.code, 0, explain(first));
  const oldPort = Number(first.outputs['active-port']);
  const stubborn = (await tb.pidOnPort(app, oldPort))!;
  const alive = async () => (await tb.exec(app, ['kill', '-0', String(stubborn)])).code === 0;
  const { run } = await underLoad(async () => runAction(tb, baseInputs(tb, await tb.makeJar('after-stubborn2'), { 'stop-timeout': '3', 'wait-for-exit': 'false' })));
  assert.equal(run.code, 0, explain(run));
  assert.match(run.stdout, new RegExp(`old pid ${stubborn} sent SIGTERM, still exiting \\(wait-for-exit: false\\): watchdog pid \\d+ on the host SIGKILLs it at \\d\\d:\\d\\d:\\d\\d UTC if it still runs \\(stop-timeout 3s\\)`));
  assert.match(run.summary, /a watchdog on its host finishes the stop/);
  assert.ok(await alive(), 'the step did not wait: the old app ignores SIGTERM and still runs');
  assert.match((await tb.get('/version')).body, /version=after-stubborn2/);
  let gone = false;
  for (let i = 0; i < 100 && !gone; i++) {
    gone = !(await alive());
    if (!gone) await sleep(100);
  }
  assert.ok(gone, 'the watchdog SIGKILLed it at stop-timeout, after the action had ended');
  assert.equal(await tb.pidOnPort(app, oldPort), null);
  assert.equal(await javaCount(), 1);
});

// ------------------------------------------------------------------ 4. nginx faults

test('nginx -t fails (a file elsewhere in the config broken while the new version starts): include restored, no reload', async () => {
  const conf = tb.localPath(tb.nginx, '/etc/nginx/nginx.conf');
  const good = readFileSync(conf, 'utf8');
  const s = await snapshot();
  const idle = s.livePort === 8080 ? 8081 : 8080;
  writeFileSync(tb.localPath(tb.nginx, '/etc/nginx/broken.conf'), 'proxy_buffers oops;\n');
  try {
    const jar = await tb.makeJar(`f${Date.now()}`);
    const { run, before } = await underLoad(async () => {
      const a = startAction(tb, baseInputs(tb, jar, { 'java-opts': '-Dstart.delay.ms=1000' }));
      // Read at the start, the configuration was good; someone breaks it before the switch.
      await whenNewProcessStarts(idle, async () => writeFileSync(conf, good.replace('http {', 'http {\n    include /etc/nginx/broken.conf;')));
      return a.done;
    });
    assert.equal(run.code, 1, explain(run));
    assert.match(run.error, new RegExp(`\\[switch\\] nginx host ${NGINX}: nginx-test-command \\(nginx -t\\) did not pass, so nginx was not reloaded: .*proxy_buffers`));
    await assertNothingChanged(before, run);
  } finally {
    writeFileSync(conf, good);
  }
});

test('the reload command fails: include restored, old version serves', async () => {
  await failCase({ 'nginx-reload-command': 'sh -c "echo reload refused >&2; exit 3"' }, new RegExp(`\\[switch\\] nginx host ${NGINX}: nginx-reload-command \\(sh -c .*\\) failed: reload refused`));
});

test('the include directory is not writable', async () => {
  const ro = ['sh', '-c', 'mount --bind /etc/nginx/conf.d /etc/nginx/conf.d && mount -o remount,bind,ro /etc/nginx/conf.d'];
  assert.equal((await tb.exec(tb.nginx, ro)).code, 0);
  try {
    await failCase({}, new RegExp(`\\[switch\\] nginx host ${NGINX}: could not write /etc/nginx/conf.d/service_url.inc: .*Read-only file system`));
  } finally {
    await tb.exec(tb.nginx, ['umount', '/etc/nginx/conf.d']);
  }
});

test('an include naming a port not in ports, or an unknown host, is refused before anything changes', async () => {
  const s = await snapshot();
  try {
    // (Ports that disagree within an upstream block: test/unit/plan.test.ts.)
    await tb.writeInclude(`set $service_url http://${app.ip}:9090;\n`);
    const r = await runAction(tb, baseInputs(tb, await tb.makeJar('x1')));
    assert.match(r.error, /\[read include\] nginx host .*: \/etc\/nginx\/conf\.d\/service_url\.inc points at port 9090, which is not one of ports/);
    await tb.writeInclude('set $service_url http://10.213.46.99:8080;\n');
    const r2 = await runAction(tb, baseInputs(tb, await tb.makeJar('x2')));
    assert.match(r2.error, /points at 10\.213\.46\.99, which is not in app-hosts/);
    assert.equal(await tb.pidOnPort(app, s.livePort === 8080 ? 8081 : 8080), null);
  } finally {
    await tb.writeInclude(s.include!);
  }
});

// ------------------------------------------------------------------ 5-6. lost connections, hangs

/** Waits until the new JVM (on the idle port) exists, then runs fn. */
async function whenNewProcessStarts(idle: number, fn: () => Promise<unknown>) {
  for (let i = 0; i < 300; i++) {
    // [s] keeps pgrep from matching this very shell command line.
    const r = await tb.exec(app, ['sh', '-c', `pgrep -f '[s]erver.port=${idle}' || true`]);
    if (r.stdout.trim()) return fn();
    await sleep(50);
  }
  throw new Error('the new process never started');
}

test('the SSH connection to the app host dies mid-deploy: rollback reconnects and cleans up', async () => {
  const s = await snapshot();
  const idle = s.livePort === 8080 ? 8081 : 8080;
  const jar = await tb.makeJar('v-sshkill');
  const { run, before } = await underLoad(async () => {
    const a = startAction(tb, baseInputs(tb, jar, { 'java-opts': '-Dstart.delay.ms=2000', 'command-timeout': '5' }));
    await whenNewProcessStarts(idle, () => tb.exec(app, ['sh', '-c', 'for p in $(pgrep -f "sshd: root"); do [ "$p" != 1 ] && kill -9 "$p"; done; true']));
    return a.done;
  });
  assert.equal(run.code, 1, explain(run));
  assert.match(run.error, new RegExp(`\\[(upload and start|health check)\\] ${APP}: .*(connection was lost|Not connected|No response|ECONNRESET|closed)`, 'i'));
  assert.match(run.stdout, /reconnected to 10\.213\.46\.31:22 for the rollback/);
  await assertNothingChanged(before, run);
});

test('a remote command hangs (a stuck nginx -t): it times out, the include is restored', async () => {
  await failCase({ 'nginx-test-command': 'sleep 600', 'command-timeout': '2' }, new RegExp(`\\[switch\\] nginx host ${NGINX}: nginx-test-command \\(sleep 600\\) did not pass, so nginx was not reloaded: timed out after 2s \\(command-timeout\\)`));
});

// ------------------------------------------------------------------ 7. disk full

test('the disk fills up during the upload: partial file removed, the old release untouched', async () => {
  const small = '/opt/small';
  await tb.exec(app, ['sh', '-c', `mkdir -p ${small} && mount -t tmpfs -o size=6m tmpfs ${small}`]);
  try {
    const ok = await runAction(tb, baseInputs(tb, await tb.makeJar('small-1'), { 'remote-dir': small }));
    assert.equal(ok.code, 0, explain(ok));
    const before = (await tb.exec(app, ['sh', '-c', `cd ${small} && find releases -type f | sort && sha256sum releases/*/app.jar`])).stdout;
    const big = path.join(tb.dir, 'big.jar');
    execFileSync('sh', ['-c', `cp ${await tb.makeJar('big')} ${big} && head -c 12000000 /dev/urandom > ${tb.dir}/pad.bin && cd ${tb.dir} && jar --update --no-compress --file ${big} pad.bin`]);
    const { run } = await underLoad(() => runAction(tb, baseInputs(tb, big, { 'remote-dir': small })));
    assert.equal(run.code, 1, explain(run));
    assert.match(run.error, new RegExp(`\\[upload and start\\] ${APP}: upload of .*big\\.jar failed: .*(disk|space|Failure)`, 'i'));
    const after = (await tb.exec(app, ['sh', '-c', `cd ${small} && find releases -type f | sort && sha256sum releases/*/app.jar`])).stdout;
    assert.equal(after.replace(/^releases\/[^/]+\/?\n/gm, ''), before, 'old release untouched, no partial file left');
  } finally {
    // Move the app off the tmpfs-backed release before unmounting: deploy a normal release.
    const back = await runAction(tb, baseInputs(tb, await tb.makeJar('after-small')));
    assert.equal(back.code, 0, explain(back));
    await tb.exec(app, ['umount', '-l', small]);
  }
});

// ------------------------------------------------------------------ 8. two deploys at once

test('two deploys at the same time: exactly one switches, the other fails naming the lock holder', async () => {
  const s = await snapshot();
  const [a, b] = await Promise.all([
    runAction(tb, baseInputs(tb, await tb.makeJar('race-a'), { 'java-opts': '-Dstart.delay.ms=1000' })),
    runAction(tb, baseInputs(tb, await tb.makeJar('race-b'), { 'java-opts': '-Dstart.delay.ms=1000' })),
  ]);
  const codes = [a.code, b.code].sort();
  assert.deepEqual(codes, [0, 1], explain(a) + explain(b));
  const loser = a.code === 1 ? a : b;
  assert.match(loser.error, /\[lock\] nginx host .*: another deploy holds \/opt\/app\/deploy\.lock \(for \d+s, run=local#- actor=- runner=\S+ pid=\d+/);
  const now = await snapshot();
  assert.notEqual(now.livePort, s.livePort, 'switched once');
  assert.equal(await javaCount(), 1);
});

test('a deploy queued behind another (lock-timeout) reads the app hosts again once the lock is its own: it stops what the first one started', async () => {
  const s = await snapshot();
  const first = startAction(tb, baseInputs(tb, await tb.makeJar('queue-a'), { 'java-opts': '-Dstart.delay.ms=1500' }));
  // The second one's early reads (fleet/early.ts) run while the first's new process is not yet
  // listening: used after the wait, they would show its live port as free, and its process would
  // be left running after the second switch.
  await sleep(300);
  const second = await runAction(tb, baseInputs(tb, await tb.makeJar('queue-b'), { 'lock-timeout': '60' }));
  const a = await first.done;
  assert.equal(a.code, 0, explain(a));
  assert.equal(second.code, 0, explain(second));
  assert.doesNotMatch(second.stdout, /nothing listens on the live port/);
  const now = await snapshot();
  assert.equal(now.livePort, s.livePort, 'switched twice');
  assert.match(now.served, /queue-b/);
  assert.equal(await javaCount(), 1, 'the first deploy\'s version was stopped by the second');
});

test('a stale lock from a crashed run is recovered with a warning', async () => {
  await tb.exec(tb.nginx, ['sh', '-c', 'mkdir -p /opt/app/deploy.lock && echo "run=crashed#1" > /opt/app/deploy.lock/owner && touch -d "3 hours ago" /opt/app/deploy.lock']);
  const r = await runAction(tb, baseInputs(tb, await tb.makeJar('after-stale')));
  assert.equal(r.code, 0, explain(r));
  assert.match(r.stdout, /::warning::replaced a stale deploy lock \(\d+s old, held by run=crashed#1\)/);
});

// ------------------------------------------------------------------ 9. cancellation

test('cancelled mid-deploy (SIGINT, then SIGTERM): stops at a safe point and rolls back', async () => {
  const s = await snapshot();
  const idle = s.livePort === 8080 ? 8081 : 8080;
  const jar = await tb.makeJar('v-cancel');
  const { run, before } = await underLoad(async () => {
    const a = startAction(tb, baseInputs(tb, jar, { 'java-opts': '-Dstart.delay.ms=3000' }));
    await whenNewProcessStarts(idle, async () => {
      a.child.kill('SIGINT');
      await sleep(2500);
      if (a.child.exitCode === null) a.child.kill('SIGTERM');
    });
    return a.done;
  });
  assert.equal(run.code, 1, explain(run));
  assert.match(run.error, /the workflow was cancelled \(SIGINT\)/);
  await assertNothingChanged(before, run);
});

test('killed during the switch: the post step finishes the rollback', async () => {
  const s = await snapshot();
  const jar = await tb.makeJar('v-killed');
  // A slow nginx -t holds the deploy inside the switch (include already written) while we kill it.
  const { run, before } = await underLoad(async () => {
    const a = startAction(tb, baseInputs(tb, jar, { 'nginx-test-command': 'sh -c "sleep 4; nginx -t"' }));
    for (let i = 0; i < 400; i++) {
      if ((await tb.readInclude()) !== s.include) break;
      await sleep(25);
    }
    assert.notEqual(await tb.readInclude(), s.include, 'the include was written');
    a.child.kill('SIGKILL');
    return a.done;
  });
  assert.notEqual(run.code, 0);
  assert.equal(run.post?.code, 0, run.post?.stdout);
  assert.match(run.post!.stdout, /finishing its rollback/);
  assert.match(run.post!.stdout, /restored \/etc\/nginx\/conf\.d\/service_url\.inc and reloaded nginx/);
  await assertNothingChanged(before, run);
});

// ------------------------------------------------------------------ security

test('hashed known_hosts work; the key and passphrase never reach a log, the summary or a host', async () => {
  const r = await runAction(tb, baseInputs(tb, await tb.makeJar('hashed'), { 'known-hosts': tb.knownHostsHashed }));
  assert.equal(r.code, 0, explain(r));
  const keyLines = tb.privateKey.split('\n').filter((l) => l.length > 20 && !l.startsWith('-----'));
  const shown = (r.stdout + r.stderr + r.summary).split('\n').filter((l) => !l.startsWith('::add-mask::')).join('\n');
  for (const l of keyLines) assert.ok(!shown.includes(l), 'key material in the log');
  for (const h of tb.hosts) {
    const found = await tb.exec(h, ['sh', '-c', `grep -rlF --exclude-dir='zdd-tb-*' ${JSON.stringify(keyLines[1])} /opt /tmp 2>/dev/null || true`]);
    assert.equal(found.stdout.trim(), '', `key material in files on ${h.name}`);
  }
});

test('insecure-skip-host-key-check works but warns loudly', async () => {
  const r = await runAction(tb, baseInputs(tb, await tb.makeJar('insecure'), { 'known-hosts': '', 'insecure-skip-host-key-check': 'true' }));
  assert.equal(r.code, 0, explain(r));
  assert.match(r.stdout, /::warning::HOST KEY NOT VERIFIED for 10\.213\.46\.20:22/);
});

test('a jump host: app hosts reachable only through the bastion, its host key checked too', async () => {
  // Close SSH on the app host to everyone but the nginx host (the bastion).
  const block = ['nft', 'add', 'rule', 'inet', 'zddtb', 'input', 'ip', 'saddr', tb.runner.ip, 'tcp', 'dport', '22', 'drop'];
  const rule = await tb.exec(app, ['sh', '-c', `nft add table inet zddjump && nft add chain inet zddjump input '{ type filter hook input priority -10; }' && nft add rule inet zddjump input ip saddr ${tb.runner.ip} tcp dport 22 drop`]);
  assert.equal(rule.code, 0, rule.stderr);
  void block;
  try {
    const direct = await runAction(tb, baseInputs(tb, await tb.makeJar('jump-0'), { 'connect-timeout': '2' }));
    assert.match(direct.error, /\[connect\] app host 10\.213\.46\.31:22/);
    const r = await runAction(tb, baseInputs(tb, await tb.makeJar('jump-1'), { 'jump-host': tb.nginx.ip }));
    assert.equal(r.code, 0, explain(r));
    const onlyApps = tb.knownHosts.split('\n').filter((l) => !l.startsWith(tb.nginx.ip + ' ')).join('\n');
    const bad = await runAction(tb, baseInputs(tb, await tb.makeJar('jump-2'), { 'jump-host': tb.nginx.ip, 'known-hosts': onlyApps }));
    assert.match(bad.error, /jump host 10\.213\.46\.20:22: 10\.213\.46\.20 is not in known-hosts/);
  } finally {
    await tb.exec(app, ['nft', 'delete', 'table', 'inet', 'zddjump']);
  }
});
