// A real Spring Boot app (test/springboot/: Boot 3.5, Tomcat, actuator, graceful shutdown) deployed
// under wrk load through nginx in every strategy and mode, 0 non-2xx each time: blue/green with
// the default health path and with /actuator/health/readiness, long requests in flight when the
// old version gets SIGTERM, warm and cold rollback, stage -> promote, canary, and rolling over
// systemd-unit instances.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createTestbed, cleanupStale, makeSpringJar, buildSpringBootJar, type Testbed } from '../testbed/testbed.ts';
import { baseInputs, runAction, explain, type ActionRun } from './harness.ts';
import { startLoad, longRequests } from './load.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Inputs for the Spring Boot jar: the action's default health path (baseInputs' /health is the
 * HttpServer app's), and a JVM that starts faster on a busy 2-core machine (C1 only).
 */
function springInputs(tb: Testbed, jar: string, extra: Record<string, string> = {}): Record<string, string> {
  const i = baseInputs(tb, jar, { 'health-timeout': '90', 'stop-timeout': '30', 'java-opts': '-XX:TieredStopAtLevel=1', ...extra });
  if (!('health-path' in extra)) delete i['health-path'];
  return i;
}

let tb: Testbed;
let app: Testbed['apps'][number];
before(async () => {
  await buildSpringBootJar(); // mvn, once (cached by the project's hash)
  await cleanupStale('zddsb');
  tb = await createTestbed({ prefix: 'zddsb', subnet: 80, appHosts: 1, form: 'upstream' });
  app = tb.apps[0];
  await tb.startSeedApp(app, 8080, 'v0');
  for (let i = 0; i < 5; i++) await tb.get('/version'); // the canary's format check reads the log's last lines
});
after(async () => {
  await tb?.teardown();
});

const jar = (v: string, t: Testbed = tb) => makeSpringJar(t.dir, v);
const served = async (t: Testbed = tb) => (await t.get('/version')).body.replace(/ pid=.*/, '').trim();

/**
 * Runs the action under wrk load through every nginx host, with long requests (`/slow`) in flight
 * when `long` is given; every run must leave clients unharmed: 0 non-2xx, every long request 200.
 */
async function act(t: Testbed, inputs: Record<string, string>, long?: { ms: number; everyMs: number }): Promise<ActionRun> {
  const loads = t.nginxes.map((n) => startLoad(t, 240, '/version', n));
  const slow = long ? longRequests(t, long.ms, long.everyMs, 60) : undefined;
  await sleep(300);
  const r = await runAction(t, inputs, { timeoutMs: 300_000 });
  await sleep(300);
  const statuses = slow ? await slow.stop() : [];
  for (const l of loads) {
    const res = await l.stop();
    assert.ok(res.requests > 50, `load ran: ${res.raw}`);
    assert.equal(res.non2xx, 0, `no non-2xx: ${res.raw}\n${explain(r)}`);
    assert.equal(res.socketErrors, 0, `no connection errors: ${res.raw}\n${explain(r)}`);
  }
  if (long) {
    assert.ok(statuses.length >= 3, 'long requests ran');
    assert.deepEqual(statuses.filter((s) => s !== 200), [], `every long request completed: ${statuses.join(',')}\n${explain(r)}`);
  }
  return r;
}

const logOf = async (release: string, port: number) => (await tb.exec(app, ['sh', '-c', `cat /opt/app/logs/${release}.${port}.log 2>&1`])).stdout;

test('blue/green: Spring Boot replaces the seed (default health path), then a new version with /actuator/health/readiness while long requests are in flight when the old one gets SIGTERM: Tomcat finishes them', async () => {
  const r1 = await act(tb, springInputs(tb, await jar('sb1'), { release: 'sb1' }));
  assert.equal(r1.code, 0, explain(r1));
  assert.match(r1.stdout, /healthy \(200 \{"status":"UP","groups":\["liveness","readiness"\]\}\)/, 'the default health path, /actuator/health, was checked');
  assert.equal(await served(), 'version=sb1 port=8081');

  // drain-timeout 1: the old version gets SIGTERM while 6 s requests still run on it; Spring
  // Boot's graceful shutdown (server.shutdown=graceful) lets them finish before Tomcat stops.
  const r2 = await act(tb, springInputs(tb, await jar('sb2'), { release: 'sb2', 'health-path': '/actuator/health/readiness', 'drain-timeout': '1' }), { ms: 6000, everyMs: 400 });
  assert.equal(r2.code, 0, explain(r2));
  assert.match(r2.stdout, /drain-timeout \(1s\) reached with/, 'requests were still in flight on the old port when it was stopped');
  assert.equal(await served(), 'version=sb2 port=8080');
  const old = await logOf('sb1', 8081);
  assert.match(old, /Commencing graceful shutdown\. Waiting for active requests to complete/);
  assert.match(old, /Graceful shutdown complete/);
  assert.equal(await tb.pidOnPort(app, 8081), null, 'sb1 exited');
});

test('warm rollback from the standby kept by keep-previous, then a cold rollback from the kept jar', async () => {
  const r3 = await act(tb, springInputs(tb, await jar('sb3'), { release: 'sb3', 'keep-previous': 'true' }));
  assert.equal(r3.code, 0, explain(r3));
  assert.equal(await served(), 'version=sb3 port=8081');
  const warm = await tb.pidOnPort(app, 8080);
  assert.ok(warm, 'sb2 kept running on 8080 as a warm standby');

  const back = await act(tb, springInputs(tb, '', { mode: 'rollback', 'health-path': '/actuator/health/readiness' }));
  assert.equal(back.code, 0, explain(back));
  assert.match(back.stdout, /still runs on port 8080/);
  assert.equal(await served(), 'version=sb2 port=8080');
  assert.equal(await tb.pidOnPort(app, 8080), warm, 'served by the warm standby, not a new JVM');
  assert.equal(await tb.pidOnPort(app, 8081), null, 'sb3 stopped');

  const r4 = await act(tb, springInputs(tb, await jar('sb4'), { release: 'sb4' }));
  assert.equal(r4.code, 0, explain(r4));
  assert.equal(await served(), 'version=sb4 port=8081');
  const cold = await act(tb, springInputs(tb, '', { mode: 'rollback' }));
  assert.equal(cold.code, 0, explain(cold));
  assert.match(cold.stdout, /kept on the host \(0 bytes\)/);
  assert.equal(await served(), 'version=sb2 port=8080', 'sb2 started again from its kept jar');
  assert.notEqual(await tb.pidOnPort(app, 8080), warm);
});

test('stage, then promote (readiness probe)', async () => {
  const s = await act(tb, springInputs(tb, await jar('sb5'), { mode: 'stage', release: 'sb5', 'health-path': '/actuator/health/readiness' }));
  assert.equal(s.code, 0, explain(s));
  assert.equal(s.outputs['staged-port'], '8081');
  assert.equal(await served(), 'version=sb2 port=8080', 'nginx still serves the old version');
  assert.match((await tb.exec(app, ['curl', '-s', 'http://127.0.0.1:8081/version'])).stdout, /version=sb5 port=8081/);
  const p = await act(tb, springInputs(tb, '', { mode: 'promote', 'health-path': '/actuator/health/readiness' }));
  assert.equal(p.code, 0, explain(p));
  assert.equal(await served(), 'version=sb5 port=8081');
  assert.equal(await tb.pidOnPort(app, 8080), null, 'sb2 stopped');
});

test('canary: Spring Boot through every step, judged from the access log', async () => {
  const r = await act(
    tb,
    springInputs(tb, await jar('sb6'), {
      release: 'sb6',
      strategy: 'canary',
      'access-log': '/var/log/nginx/access.log',
      'canary-steps': '25,100',
      'canary-interval': '2',
      'min-requests': '20',
      // a fresh JVM's first requests are slow (JIT): warmed up, and judged with slack on 2 cores
      'warmup-path': '/version',
      'warmup-requests': '200',
      'max-p99-ratio': '4',
      'p99-floor-ms': '200',
    }),
  );
  assert.equal(r.code, 0, explain(r));
  assert.match(r.summary, /\| 25 % \| \d+ \| 0\.0 % \|/);
  assert.equal(await served(), 'version=sb6 port=8080');
  assert.equal(await tb.pidOnPort(app, 8081), null, 'sb5 stopped');
});

// The seeds are the HttpServer app, which answers /actuator/health too: rolling checks that the
// instances it does not replace are healthy, with the same health-path.
test("rolling over systemd-unit instances (two on one host, systemd as PID 1), with long requests in flight; a release that fails to start shows Spring Boot's report from the journal", async () => {
  await cleanupStale('zddsbsd');
  const sb = await createTestbed({ prefix: 'zddsbsd', subnet: 81, appHosts: 1, form: 'upstream', systemd: true, instances: [{ app: 0, port: 8080 }, { app: 0, port: 8081 }] });
  try {
    const a = sb.apps[0];
    await sb.startSeedApp(a, 8080, 'v0');
    await sb.startSeedApp(a, 8081, 'v0');
    const r = await act(sb, springInputs(sb, await jar('sbr1', sb), {
        strategy: 'rolling',
        'systemd-unit': 'shop',
        release: 'sbr1',
        // The testbed's systemd hosts mount a cgroup2 with no controllers, where JDK 17's container
        // support fails the OperatingSystemMXBean that actuator's metrics read at start (a real
        // host's cgroups have controllers): off here.
        'java-opts': '-XX:TieredStopAtLevel=1 -XX:-UseContainerSupport',
      }), { ms: 3000, everyMs: 700 });
    assert.equal(r.code, 0, explain(r));
    const seen = new Set<string>();
    for (let i = 0; i < 8; i++) seen.add(await served(sb));
    assert.deepEqual([...seen].sort(), ['version=sbr1 port=8080', 'version=sbr1 port=8081']);
    for (const u of ['shop@8080.service', 'shop@8081.service']) {
      assert.equal((await sb.systemctl(a, 'is-active', u)).stdout.trim(), 'active', u);
      assert.equal((await sb.systemctl(a, 'is-enabled', u)).stdout.trim(), 'enabled', u);
    }

    // A release that misses its required settings: batch 1 fails with Spring Boot's report from
    // the unit's journal, whole, and is put back; the other instance served throughout.
    const bad = await act(sb, springInputs(sb, await jar('sbr2', sb), {
      strategy: 'rolling',
      'systemd-unit': 'shop',
      release: 'sbr2',
      'java-opts': '-XX:TieredStopAtLevel=1 -XX:-UseContainerSupport',
      'app-args': '--app.payment.enabled=true',
    }));
    assert.equal(bad.code, 1, explain(bad));
    const err = bad.error.replace(/%0A/g, '\n');
    assert.match(err, /--- Spring Boot's failure report in the journal of shop@8080\.service ---\n[^]*APPLICATION FAILED TO START[^]*Property: app\.payment\.apiKey[^]*Update your application's configuration/, err);
    seen.clear();
    for (let i = 0; i < 8; i++) seen.add(await served(sb));
    assert.deepEqual([...seen].sort(), ['version=sbr1 port=8080', 'version=sbr1 port=8081'], 'both instances on sbr1 again');
  } finally {
    await sb.teardown();
  }
});
