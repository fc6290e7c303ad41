// What the action sees of a Spring Boot app's settings, and the advice it gives (src/config/spring.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { envName, healthHint, healthPortOf, portInUseHint, springDurationMs, springSetting, springWarnings, startFailureLines } from '../../src/config/spring.ts';

const cfg = (o: { javaOpts?: string[]; appArgs?: string[]; env?: [string, string][] } = {}) => ({ javaOpts: [], appArgs: [], env: [], ...o });

test('a Spring property is read from app-args, then java-opts, then env (relaxed name), as Spring Boot ranks them', () => {
  const key = 'spring.lifecycle.timeout-per-shutdown-phase';
  assert.equal(envName(key), 'SPRING_LIFECYCLE_TIMEOUTPERSHUTDOWNPHASE');
  assert.equal(springSetting(cfg(), key), undefined);
  const env: [string, string][] = [['SPRING_LIFECYCLE_TIMEOUTPERSHUTDOWNPHASE', '40s']];
  assert.deepEqual(springSetting(cfg({ env }), key), { value: '40s', from: 'env (SPRING_LIFECYCLE_TIMEOUTPERSHUTDOWNPHASE)' });
  assert.deepEqual(springSetting(cfg({ env, javaOpts: [`-D${key}=35s`] }), key), { value: '35s', from: 'java-opts' });
  assert.deepEqual(springSetting(cfg({ env, javaOpts: [`-D${key}=35s`], appArgs: [`--${key}=1m`] }), key), { value: '1m', from: 'app-args' });
});

test('Spring durations: units, bare milliseconds, ISO-8601; anything else is unknown', () => {
  assert.equal(springDurationMs('20s'), 20_000);
  assert.equal(springDurationMs('500ms'), 500);
  assert.equal(springDurationMs('1m'), 60_000);
  assert.equal(springDurationMs('2h'), 7_200_000);
  assert.equal(springDurationMs('45000'), 45_000);
  assert.equal(springDurationMs('PT45S'), 45_000);
  assert.equal(springDurationMs('PT1M30S'), 90_000);
  assert.equal(springDurationMs('pt0.5s'), 500);
  assert.equal(springDurationMs('soon'), undefined);
  assert.equal(springDurationMs('PT'), undefined);
});

test('a stop-timeout shorter than timeout-per-shutdown-phase is warned about, naming both; not when it is longer, unseen, or the mode starts nothing', () => {
  const key = 'spring.lifecycle.timeout-per-shutdown-phase';
  const w = springWarnings({ ...cfg({ appArgs: [`--${key}=45s`] }), stopTimeoutMs: 30_000, mode: 'deploy' });
  assert.equal(w.length, 1);
  assert.match(w[0], /^stop-timeout \(30s\) is shorter than spring\.lifecycle\.timeout-per-shutdown-phase \(45s, from app-args\)/);
  assert.match(w[0], /SIGKILLed at stop-timeout/);
  assert.deepEqual(springWarnings({ ...cfg({ appArgs: [`--${key}=20s`] }), stopTimeoutMs: 30_000, mode: 'deploy' }), []);
  assert.deepEqual(springWarnings({ ...cfg(), stopTimeoutMs: 1000, mode: 'stage' }), []);
  assert.deepEqual(springWarnings({ ...cfg({ appArgs: [`--${key}=45s`] }), stopTimeoutMs: 30_000, mode: 'rollback' }), []);
  assert.equal(springWarnings({ ...cfg({ env: [['SPRING_LIFECYCLE_TIMEOUTPERSHUTDOWNPHASE', 'PT1M']] }), stopTimeoutMs: 30_000, mode: 'stage' }).length, 1);
});

test('a 404 names server.servlet.context-path and the health-path to set; 401 and 403 say to permit the health path', () => {
  const h = healthHint({ ...cfg({ appArgs: ['--server.servlet.context-path=/api'] }), healthPath: '/actuator/health' }, 404);
  assert.match(h, /server\.servlet\.context-path is \/api \(from app-args\)[^]*Set health-path: \/api\/actuator\/health/);
  assert.match(healthHint({ ...cfg(), healthPath: '/actuator/health' }, 404), /Nothing answers health-path \/actuator\/health: if the app sets server\.servlet\.context-path/);
  // already under it: the generic hint
  assert.doesNotMatch(healthHint({ ...cfg({ appArgs: ['--server.servlet.context-path=/api/'] }), healthPath: '/api/actuator/health' }, 404), /Set health-path/);
  for (const s of [401, 403]) assert.match(healthHint({ ...cfg(), healthPath: '/actuator/health' }, s), new RegExp(`asks for credentials \\(${s}\\)[^]*permit health-path /actuator/health without authentication`));
  assert.equal(healthHint({ ...cfg(), healthPath: '/h' }, 503), '');
  assert.equal(healthHint({ ...cfg(), healthPath: '/h' }, undefined), '');
});

const REPORT = `2026-12-05T07:00:00.000Z  INFO 1 --- [main] o.s.b.w.e.tomcat.TomcatWebServer  : Tomcat initialized with port 8081 (http)
2026-12-05T07:00:01.000Z  WARN 1 --- [main] ConfigServletWebServerApplicationContext : Exception encountered during context initialization
2026-12-05T07:00:01.100Z ERROR 1 --- [main] o.s.b.d.LoggingFailureAnalysisReporter   : 

***************************
APPLICATION FAILED TO START
***************************

Description:

Binding to target zdd.demo.DemoApplication$PaymentProperties failed:

    Property: app.payment.apiKey
    Value: "null"
    Reason: must not be blank

    Property: app.payment.url
    Value: "null"
    Reason: must not be blank

    Property: app.payment.merchantId
    Value: "null"
    Reason: must not be blank


Action:

Update your application's configuration

`;

test("a failed start shows Spring Boot's failure report whole, else the last lines", () => {
  const t = startFailureLines(REPORT);
  assert.match(t, /^2026-12-05T07:00:01\.100Z ERROR .*LoggingFailureAnalysisReporter/);
  assert.match(t, /APPLICATION FAILED TO START[^]*Property: app\.payment\.apiKey[^]*Property: app\.payment\.merchantId[^]*Action:\n\nUpdate your application's configuration$/);
  assert.doesNotMatch(t, /Tomcat initialized/);
  const plain = Array.from({ length: 40 }, (_, i) => `line ${i}`).join('\n');
  assert.equal(startFailureLines(plain), Array.from({ length: 15 }, (_, i) => `line ${i + 25}`).join('\n'));
});

test('a port in use that is not the app port is named as management.server.port, with the fix', () => {
  const log = 'Web server failed to start. Port 9090 was already in use.';
  const h = portInUseHint({ ...cfg({ appArgs: ['--management.server.port=9090'] }), healthPort: undefined }, log, 8081);
  assert.match(h, /Port 9090 is not the app's port \(8081\): it is management\.server\.port \(9090, from app-args\)/);
  assert.match(h, /--management\.server\.port=1\{port\}, and health-port: 1\{port\}/);
  assert.match(portInUseHint({ ...cfg(), healthPort: undefined }, log, 8081), /most likely management\.server\.port/);
  assert.equal(portInUseHint({ ...cfg(), healthPort: undefined }, 'Port 8081 was already in use.', 8081), '');
  assert.equal(portInUseHint({ ...cfg(), healthPort: undefined }, 'fine', 8081), '');
});

test('health-port: {port} filled in; none: the app port', () => {
  assert.equal(healthPortOf({ healthPort: undefined }, 8080), 8080);
  assert.equal(healthPortOf({ healthPort: '1{port}' }, 8081), 18081);
  assert.throws(() => healthPortOf({ healthPort: '9{port}' }, 8080), /health-port 9\{port\} gives 98080 for port 8080/);
});
