// The ways a real Spring Boot app (test/springboot/) trips a blue/green deploy on one host, each
// under wrk load through nginx with 0 non-2xx and the live version left serving, each with an
// error that says what to change: a context path, a secured health endpoint, a missing required
// property (Spring Boot's failure report, whole), a fixed management port (and the supported way:
// a management port derived from {port}, health-checked there with health-port), a
// stop-timeout shorter than the graceful shutdown; and what a small host needs: the stdout log
// capped (log-max-size), a heap that cannot fit next to the live one refused (check-memory), and
// the OOM scores during and after the overlap.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createTestbed, cleanupStale, makeSpringJar, buildSpringBootJar, type Testbed } from '../testbed/testbed.ts';
import { baseInputs, runAction, explain, type ActionRun } from './harness.ts';
import { underLoad } from './load.ts';

let tb: Testbed;
before(async () => {
  await buildSpringBootJar();
  await cleanupStale('zddsbf');
  tb = await createTestbed({ prefix: 'zddsbf', subnet: 82, appHosts: 1, form: 'set' });
  await tb.startSeedApp(tb.apps[0], 8080, 'v0');
});
after(async () => {
  await tb?.teardown();
});

const served = async () => (await tb.get('/version')).body.replace(/ pid=.*/, '').trim();
/** The error as one text (the runner's %0A back to newlines). */
const errorOf = (r: ActionRun) => r.error.replace(/%0A/g, '\n');

async function deploy(version: string, extra: Record<string, string>): Promise<ActionRun> {
  const inputs = baseInputs(tb, await makeSpringJar(tb.dir, version), { release: version, 'health-timeout': '60', 'stop-timeout': '30', 'java-opts': '-XX:TieredStopAtLevel=1', ...extra });
  if (!('health-path' in extra)) delete inputs['health-path']; // the action's default, /actuator/health
  const { run, load } = await underLoad(tb, () => runAction(tb, inputs, { timeoutMs: 240_000 }));
  assert.equal(load.non2xx, 0, `no non-2xx: ${load.raw}\n${explain(run)}`);
  return run;
}

/** A deploy that must fail with `expect` in its error and leave the live version serving as it was. */
async function refused(version: string, extra: Record<string, string>, expect: RegExp[]): Promise<string> {
  const before = { include: await tb.readInclude(), served: await served() };
  const r = await deploy(version, extra);
  assert.equal(r.code, 1, explain(r));
  const err = errorOf(r);
  for (const e of expect) assert.match(err, e, err);
  assert.deepEqual({ include: await tb.readInclude(), served: await served() }, before, 'the live version serves as before');
  return err;
}

test('the first Spring Boot deploy', async () => {
  const r = await deploy('sb1', {});
  assert.equal(r.code, 0, explain(r));
  assert.equal(await served(), 'version=sb1 port=8081');
});

test('server.servlet.context-path: the 404 names the context path and the health-path to set', async () => {
  await refused('ctx', { 'app-args': '--server.servlet.context-path=/api', 'health-timeout': '15' }, [
    /404 [^]*expected status 200/,
    /server\.servlet\.context-path is \/api \(from app-args\): the app serves every path under it, the actuator's too\. Set health-path: \/api\/actuator\/health/,
  ]);
});

test('a health endpoint behind authentication: the 401 says to permit the health path', async () => {
  await refused('secured', { 'app-args': '--app.secure-actuator=true', 'health-timeout': '15' }, [/asks for credentials \(401\)[^]*permit health-path \/actuator\/health without authentication/]);
});

test("a missing required property: Spring Boot's failure report is shown whole", async () => {
  const err = await refused('nosecret', { 'app-args': '--app.payment.enabled=true' }, [
    /exited before becoming healthy\n--- Spring Boot's failure report in \/opt\/app\/logs\/nosecret\.8080\.log ---\n/,
    /\*{27}\nAPPLICATION FAILED TO START\n\*{27}\n\nDescription:\n\nBinding to target zdd\.demo\.DemoApplication\$PaymentProperties failed:/,
    /Update your application's configuration$/,
  ]);
  for (const p of ['apiKey', 'url', 'merchantId']) assert.match(err, new RegExp(`Property: app\\.payment\\.${p}\\n\\s+Value: "null"\\n\\s+Reason: must not be blank`), err);
});

test('a fixed management.server.port: the second colour fails to bind, and the error names it and the fix; derived from {port} with health-port, both colours deploy, health-checked on their management port', async () => {
  // The live version holds the actuator's port 9090 (health checked on the app port's /version).
  const fixed = { 'app-args': '--management.server.port=9090', 'health-path': '/version', 'health-body': 'version=' };
  const m1 = await deploy('mgmt1', fixed);
  assert.equal(m1.code, 0, explain(m1));
  assert.equal(await served(), 'version=mgmt1 port=8080');
  // The next version with the same fixed port, health-checked at the default /actuator/health
  // (which is on the management port, so the app port answers it 404 until the JVM gives up).
  // (With a health-path on the app port, like fixed's /version, the app port answers healthy for
  // a moment before the management server fails to bind: use health-port or the default path.)
  await refused('mgmt2', { 'app-args': '--management.server.port=9090' }, [
    /exited before becoming healthy/,
    /Web server failed to start\. Port 9090 was already in use\./,
    /Port 9090 is not the app's port \(8081\): it is management\.server\.port \(9090, from app-args\), a fixed port that the version already running holds/,
    /app-args: --management\.server\.port=1\{port\}, and health-port: 1\{port\}/,
  ]);

  // The supported way: each colour's actuator on 1{port}, health-checked there. The env asks for
  // a graceful shutdown longer than stop-timeout: warned.
  const derived = { 'app-args': '--management.server.port=1{port}', 'health-port': '1{port}', env: 'SPRING_LIFECYCLE_TIMEOUTPERSHUTDOWNPHASE=45s' };
  const m3 = await deploy('mgmt3', derived);
  assert.equal(m3.code, 0, explain(m3));
  assert.match(m3.stdout, /::warning::stop-timeout \(30s\) is shorter than spring\.lifecycle\.timeout-per-shutdown-phase \(45s, from env \(SPRING_LIFECYCLE_TIMEOUTPERSHUTDOWNPHASE\)\)/);
  assert.match(m3.stdout, /healthy \(200 \{"status":"UP","groups":\["liveness","readiness"\]\}\), pid \d+ owns port 8081/);
  assert.match(m3.summary, /Health checks: GET \/actuator\/health on port 1\{port\} \(health-port/);
  assert.equal(await served(), 'version=mgmt3 port=8081');
  assert.equal((await tb.exec(tb.apps[0], ['curl', '-s', 'http://127.0.0.1:18081/actuator/health'])).stdout, '{"status":"UP","groups":["liveness","readiness"]}');
  const m4 = await deploy('mgmt4', { ...derived, env: '' });
  assert.equal(m4.code, 0, explain(m4));
  assert.doesNotMatch(m4.stdout, /::warning::stop-timeout/);
  assert.equal(await served(), 'version=mgmt4 port=8080');
});

test("log-max-size: Spring Boot's stdout log is capped while it runs, the older part kept in .log.1", async () => {
  const r = await deploy('logs1', { 'log-max-size': '1K' });
  assert.equal(r.code, 0, explain(r));
  assert.match(r.summary, /Logs: \/opt\/app\/logs\/RELEASE\.PORT\.log, capped at 1 KiB \(log-max-size/);
  const port = Number(r.outputs['active-port']);
  const log = `/opt/app/logs/logs1.${port}.log`;
  const size = async (f: string) => Number((await tb.exec(tb.apps[0], ['sh', '-c', 'wc -c < "$1" 2>/dev/null || echo -1', 'sh', f])).stdout.trim());
  // Spring Boot's start-up lines are a few KiB: over the cap at the cap's next look (every 5 s)
  for (let i = 0; i < 60 && (await size(`${log}.1`)) < 0; i++) await new Promise((res) => setTimeout(res, 200));
  assert.match((await tb.exec(tb.apps[0], ['cat', `${log}.1`])).stdout, /Starting DemoApplication/, 'the start-up lines, moved to .log.1');
  assert.ok((await size(log)) < 1024, 'the log was emptied');
  assert.equal(await served(), `version=logs1 port=${port}`);
});

test("check-memory: a JVM whose heap cannot fit next to the live one is refused before it starts; check-memory: false starts it", async () => {
  const app = tb.apps[0];
  const live = Number(/:(\d+);/.exec((await tb.readInclude())!)![1]);
  const idle = live === 8080 ? 8081 : 8080;
  // -Xmx30g: more than the whole machine's RAM (24 GiB), so never available
  await refused('bigheap', { 'java-opts': '-XX:TieredStopAtLevel=1 -Xmx30g' }, [
    /\[preflight\] [\d.]+:22: not enough memory for a second JVM: [\d.]+ GiB available \(MemAvailable, of [\d.]+ GiB\), and the new version's heap may grow to 30\.0 GiB \(-Xmx30g in java-opts\) while the old one still runs\. Lower -Xmx, free memory on the host, or set check-memory: false/,
  ]);
  assert.equal(await tb.pidOnPort(app, idle), null, 'nothing was started');
  const r = await deploy('bigheap2', { 'java-opts': '-XX:TieredStopAtLevel=1 -Xmx30g', 'check-memory': 'false' });
  assert.equal(r.code, 0, explain(r));
  assert.equal(await served(), `version=bigheap2 port=${idle}`);
  const d = await deploy('smallheap', { 'java-opts': '-XX:TieredStopAtLevel=1 -Xmx256m' });
  assert.equal(d.code, 0, explain(d));
  assert.match(d.stdout, /memory: [\d.]+ GiB available, the new JVM's heap may grow to 0\.3 GiB \(-Xmx256m in java-opts\)/);
});

test('OOM scores: a staged version next to the live one is the kernel\'s first pick (oom_score_adj 500), the live one keeps 0; promoted, it is a normal service again (0)', async () => {
  const app = tb.apps[0];
  const live = Number(/:(\d+);/.exec((await tb.readInclude())!)![1]);
  const idle = live === 8080 ? 8081 : 8080;
  const score = async (port: number) => (await tb.exec(app, ['cat', `/proc/${await tb.pidOnPort(app, port)}/oom_score_adj`])).stdout.trim();
  const s = await deploy('oom1', { mode: 'stage' });
  assert.equal(s.code, 0, explain(s));
  assert.deepEqual([await score(idle), await score(live)], ['500', '0'], 'during the overlap');
  const inputs = baseInputs(tb, '', { mode: 'promote', 'stop-timeout': '30' });
  delete inputs['health-path'];
  const { run: p, load } = await underLoad(tb, () => runAction(tb, inputs, { timeoutMs: 240_000 }));
  assert.equal(load.non2xx, 0, load.raw);
  assert.equal(p.code, 0, explain(p));
  assert.equal(await served(), `version=oom1 port=${idle}`);
  assert.equal(await score(idle), '0', 'after the switch');
});
