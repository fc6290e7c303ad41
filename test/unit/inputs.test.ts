import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { readConfig, ANALYSIS_DEFAULTS } from '../../src/config/inputs.ts';
import { appCommand } from '../../src/fleet/backend.ts';
import { InputError } from '../../src/errors.ts';
import { actionDefaults } from '../action-defaults.ts';

const key = generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
const kh = 'h ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl';

const base: Record<string, string> = {
  'nginx-host': '203.0.113.10',
  'app-hosts': '10.0.1.5',
  'ssh-user': 'deploy',
  'ssh-key': key,
  'known-hosts': kh,
  artifact: 'build/libs/*.jar',
};
const defaults = actionDefaults();
const read = (over: Record<string, string> = {}) => readConfig((n) => ({ ...defaults, ...base, ...over })[n] ?? '');

test('defaults match the contract', () => {
  const c = read();
  assert.deepEqual(c.ports, [8080, 8081]);
  assert.equal(c.remoteDir, '/opt/app');
  assert.equal(c.includeFile, undefined, 'found in what nginx loads');
  assert.deepEqual([c.nginxDumpCommand, c.nginxTestIsDump], [['nginx', '-T'], true]);
  assert.deepEqual(c.nginxTestCommand, ['nginx', '-t']);
  assert.deepEqual(c.nginxReloadCommand, ['nginx', '-s', 'reload']);
  assert.equal(c.healthPath, '/actuator/health');
  assert.equal(c.healthPort, undefined, 'health checks on the app port');
  assert.equal(c.logMaxBytes, 100 * 1024 * 1024);
  assert.equal(c.checkMemory, true);
  assert.equal(read({ 'check-memory': 'false' }).checkMemory, false);
  assert.equal(read({ 'log-max-size': '512k' }).logMaxBytes, 512 * 1024);
  assert.equal(read({ 'log-max-size': '0' }).logMaxBytes, 0);
  assert.equal(read({ 'health-port': '1{port}' }).healthPort, '1{port}');
  assert.equal(c.healthStatus, 200);
  assert.equal(c.healthBody, 'UP');
  assert.equal(c.healthTimeoutMs, 120_000);
  assert.equal(c.healthIntervalMs, 1000);
  assert.equal(c.drainTimeoutMs, 30_000);
  assert.equal(c.stopTimeoutMs, 30_000);
  assert.equal(c.sudo, false);
  assert.deepEqual(c.nginxHosts, [{ host: '203.0.113.10', port: 22 }]);
  assert.equal(c.strategy, 'blue-green');
  assert.deepEqual(c.batchSize, { count: 1 });
  assert.deepEqual(c.appHosts, [{ ssh: { host: '10.0.1.5', port: 22 }, target: '10.0.1.5', label: '10.0.1.5' }]);
});

test('hosts: lists, ports, proxy addresses, IPv6', () => {
  const c = read({ 'app-hosts': 'a.example:2222=10.0.1.5, 10.0.1.6\n[fd00::7]:22\n', 'ssh-port': '2200', 'nginx-host': 'nginx.example' });
  assert.deepEqual(c.appHosts.map((h) => [h.ssh.host, h.ssh.port, h.target]), [
    ['a.example', 2222, '10.0.1.5'],
    ['10.0.1.6', 2200, '10.0.1.6'],
    ['fd00::7', 22, 'fd00::7'],
  ]);
  assert.equal(c.nginxHosts[0].port, 2200);
  const two = read({ 'nginx-host': 'lb1.example, lb2.example:2222\n' });
  assert.deepEqual(two.nginxHosts, [{ host: 'lb1.example', port: 22 }, { host: 'lb2.example', port: 2222 }]);
});

test('modes: promote and rollback need no artifact; canary options', () => {
  assert.equal(read({ mode: 'rollback', artifact: '' }).mode, 'rollback');
  assert.equal(read({ mode: 'promote', artifact: '' }).artifact, '');
  assert.equal(read({ mode: 'rollback', artifact: '', 'dry-run': 'true' }).dryRun, true, 'every mode has a dry run');
  assert.equal(read({ mode: 'promote', artifact: '', 'dry-run': 'true' }).dryRun, true);
  assert.equal(read().waitForExit, true, 'a stop waits for the exit unless told otherwise');
  assert.equal(read({ 'wait-for-exit': 'false' }).waitForExit, false);
  const c = read({ strategy: 'canary', 'canary-log': '/var/log/nginx/access.log', 'canary-steps': '5 25 100', 'canary-max-p99-ratio': '' });
  assert.deepEqual(c.canary, { steps: [5, 25, 100], intervalMs: 60_000, log: '/var/log/nginx/access.log', maxErrorRate: 1, maxP99Ratio: undefined, p99FloorMs: 50, maxMedianShiftMs: 30, minRequests: 50 });
  // max-median-shift-ms: a whole number of ms, 0 judging any significant rise, off none; independent of max-p99-ratio.
  assert.deepEqual([read({ 'max-median-shift-ms': '0' }).canary.maxMedianShiftMs, read({ 'max-median-shift-ms': ' 75 ' }).canary.maxMedianShiftMs], [0, 75]);
  const off = read({ 'max-median-shift-ms': 'off' }).canary;
  assert.deepEqual([off.maxMedianShiftMs, off.maxP99Ratio], [undefined, 2]);
  assert.equal(read().canary.maxP99Ratio, 2);
  // The new names win over the older canary-* ones, which still work alone.
  const n = read({ strategy: 'canary', 'access-log': '/a.log', 'canary-log': '/b.log', 'max-error-rate': '5', 'canary-max-error-rate': '2', 'min-requests': '7', 'max-p99-ratio': 'off' });
  assert.deepEqual([n.canary.log, n.canary.maxErrorRate, n.canary.minRequests, n.canary.maxP99Ratio], ['/a.log', 5, 7, undefined]);
  const o = read({ strategy: 'canary', 'canary-log': '/b.log', 'canary-max-error-rate': '2', 'canary-min-requests': '9', 'canary-max-p99-ratio': '3' });
  assert.deepEqual([o.canary.log, o.canary.maxErrorRate, o.canary.minRequests, o.canary.maxP99Ratio], ['/b.log', 2, 9, 3]);
  assert.deepEqual(o.warnings.length, 4, 'each older name given says it is deprecated');
  const b = read({ 'bake-time': '10', 'verify-url': 'https://example.com/', 'smoke-test': './smoke.sh' });
  assert.deepEqual([b.bakeMs, b.smokeTest, b.smokeTestTimeoutMs], [10_000, './smoke.sh', 300_000]);
  assert.deepEqual([read().bakeMs, read().smokeTest], [0, undefined]);
});

test('analysis inputs: the new names carry the defaults; an older name given still works and wins over a new name left at its default', () => {
  // The runner fills in action.yml's defaults, for the new names and the older ones alike.
  for (const [name, d] of Object.entries(ANALYSIS_DEFAULTS)) assert.equal(defaults[name] ?? '', d, `action.yml's default of ${name}`);
  for (const [old, name] of [['canary-log', 'access-log'], ['canary-max-error-rate', 'max-error-rate'], ['canary-max-p99-ratio', 'max-p99-ratio'], ['canary-min-requests', 'min-requests']]) {
    assert.equal(defaults[old] ?? '', defaults[name] ?? '', `${old} has ${name}'s default`);
  }
  const none = read({ strategy: 'canary', 'access-log': '/a.log' });
  assert.deepEqual([none.canary.maxErrorRate, none.canary.maxP99Ratio, none.canary.minRequests, none.warnings], [1, 2, 50, []], 'defaults, no warning');
  // An older name given explicitly, the new one at its default: the older name's value is used, with a deprecation warning.
  const old = read({ strategy: 'canary', 'canary-log': '/b.log', 'canary-max-error-rate': '5', 'canary-max-p99-ratio': '3', 'canary-min-requests': '10' });
  assert.deepEqual([old.canary.log, old.canary.maxErrorRate, old.canary.maxP99Ratio, old.canary.minRequests], ['/b.log', 5, 3, 10]);
  assert.equal(old.warnings.length, 4);
  assert.match(old.warnings.join('\n'), /input 'canary-max-error-rate' is deprecated: rename it to 'max-error-rate'/);
  // 1.0.0's way to skip the latency gate still skips it.
  const skip = read({ strategy: 'canary', 'access-log': '/a.log', 'canary-max-p99-ratio': '' });
  assert.equal(skip.canary.maxP99Ratio, undefined);
  assert.match(skip.warnings[0], /canary-max-p99-ratio.*'' is off there/);
  // Both given, the new one not at its default: the new one wins, and the older one is said to be ignored.
  const both = read({ strategy: 'canary', 'access-log': '/a.log', 'max-error-rate': '3', 'canary-max-error-rate': '5' });
  assert.equal(both.canary.maxErrorRate, 3);
  assert.match(both.warnings[0], /'canary-max-error-rate' is deprecated and ignored here: 'max-error-rate' is given too/);
  // An older name given its default changes nothing, and needs no warning from the action (the runner warns about any deprecated input given).
  assert.deepEqual(read({ 'canary-max-error-rate': '1' }).warnings, []);
  // The new name given empty no longer means 2 in silence.
  assert.throws(() => read({ 'max-p99-ratio': '' }), (e: unknown) => e instanceof InputError && e.input === 'max-p99-ratio' && /off to skip the latency gate/.test(e.message));
  assert.equal(read({ 'max-p99-ratio': 'off' }).canary.maxP99Ratio, undefined);
});

test('strategy, batch-size, and an empty health-body (any body passes)', () => {
  const c = read({ strategy: 'rolling', 'batch-size': '25%', 'health-body': '' });
  assert.equal(c.strategy, 'rolling');
  assert.deepEqual(c.batchSize, { percent: 25 });
  assert.equal(c.healthBody, '');
  assert.deepEqual(read({ 'batch-size': '3' }).batchSize, { count: 3 });
});

test('java-opts, app-args and env keep metacharacters as data; {port} substituted', () => {
  const c = read({ 'java-opts': `-Xmx256m "-Dgreeting=hello world" '-Dx=$(touch /tmp/pwn)' -Dp={port}`, 'app-args': `--name="a;b" '--q=\`id\`'`, env: 'A=1\nB = x y \n# c\n\nC=$(id)' });
  assert.deepEqual(appCommand(c, 8081, '/opt/app/releases/r/app.jar'), [
    'java', '-Dserver.port=8081', '-Xmx256m', '-Dgreeting=hello world', '-Dx=$(touch /tmp/pwn)', '-Dp=8081', '-jar', '/opt/app/releases/r/app.jar', '--name=a;b', '--q=`id`',
  ]);
  assert.deepEqual(c.env, [['A', '1'], ['B', ' x y '], ['C', '$(id)']]);
});

// Every bad value gets its own message naming the input.
const bad: [string, Record<string, string>, RegExp][] = [
  ['nginx-host', { 'nginx-host': '' }, /is required/],
  ['nginx-host', { 'nginx-host': 'bad host!' }, /not a valid host/],
  ['nginx-host', { 'nginx-host': 'h:99999' }, /not a port/],
  ['app-hosts', { 'app-hosts': ' , \n' }, /lists no host|is required/],
  ['app-hosts', { 'app-hosts': '10.0.1.5,10.0.1.5' }, /listed twice/],
  ['app-hosts', { 'app-hosts': '10.0.1.999' }, /not a valid host/],
  ['app-hosts', { 'app-hosts': 'a=' }, /nothing after '='/],
  ['app-hosts', { 'app-hosts': 'a=b:80' }, /not a valid host/],
  ['app-hosts', { 'app-hosts': 'fd00::1' }, /IPv6/],
  ['ssh-user', { 'ssh-user': 'root; rm' }, /not a valid user/],
  ['ssh-key', { 'ssh-key': 'ssh-ed25519 AAAA public' }, /not a private key/],
  ['ssh-port', { 'ssh-port': '0' }, /not a port/],
  ['known-hosts', { 'known-hosts': '' }, /is required/],
  ['known-hosts', { 'known-hosts': 'h ssh-ed25519' }, /line 1/],
  ['insecure-skip-host-key-check', { 'insecure-skip-host-key-check': 'yes' }, /not a boolean/],
  ['artifact', { artifact: ' ' }, /is required/],
  ['ports', { ports: '8080' }, /exactly two ports/],
  ['ports', { ports: '8080,8080' }, /must differ/],
  ['ports', { ports: '8080,70000' }, /not a port/],
  ['ports', { ports: '8080,abc' }, /not a port/],
  ['remote-dir', { 'remote-dir': 'opt/app' }, /absolute path/],
  ['remote-dir', { 'remote-dir': '/opt/../etc' }, /'\.\.'/],
  ['remote-dir', { 'remote-dir': '/' }, /must not be '\/'/],
  ['java-opts', { 'java-opts': '-Da="unterminated' }, /unterminated double quote/],
  ['app-args', { 'app-args': "'x" }, /unterminated single quote/],
  ['env', { env: 'NOEQUALS' }, /line 1 must be KEY=VALUE/],
  ['env', { env: '1A=x' }, /KEY=VALUE/],
  ['env', { env: 'A=1\nA=2' }, /set twice/],
  ['include-file', { 'include-file': 'service_url.inc' }, /absolute path/],
  ['nginx-test-command', { 'nginx-test-command': '"' }, /unterminated/],
  ['sudo', { sudo: 'maybe' }, /not a boolean/],
  ['health-path', { 'health-path': 'actuator/health' }, /starting with \//],
  ['health-path', { 'health-path': '/a b' }, /no spaces/],
  ['health-path', { 'health-path': '/a`id`' }, /URL path characters/],
  ['check-memory', { 'check-memory': 'no' }, /not a boolean/],
  ['log-max-size', { 'log-max-size': '10 MB' }, /not a size[^]*or 0 for no cap/],
  ['log-max-size', { 'log-max-size': '100' }, /out of range: use 0 \(no cap\) or 1K to 1024G/],
  ['health-port', { 'health-port': '9090' }, /like 1\{port\}[^]*derived from \{port\}/],
  ['health-port', { 'health-port': '{port}+1' }, /like 1\{port\}/],
  ['health-port', { 'health-port': '9{port}' }, /gives 98080 for port 8080: not a port number/],
  ['health-status', { 'health-status': '2OO' }, /not a whole number/],
  ['health-status', { 'health-status': '700' }, /out of range/],
  ['health-timeout', { 'health-timeout': 'ten' }, /not a number of seconds/],
  ['health-timeout', { 'health-timeout': '0' }, /out of range/],
  ['health-interval', { 'health-interval': '-1' }, /not a number/],
  ['health-passes', { 'health-passes': '0' }, /out of range/],
  ['verify-url', { 'verify-url': 'not a url' }, /not a URL/],
  ['verify-url', { 'verify-url': 'ftp://x/' }, /http/],
  ['drain-timeout', { 'drain-timeout': '1m' }, /not a number of seconds/],
  ['stop-timeout', { 'stop-timeout': '99999' }, /out of range/],
  ['command-timeout', { 'command-timeout': '0' }, /out of range/],
  ['keep-releases', { 'keep-releases': '0' }, /out of range/],
  ['release', { release: '../evil' }, /may hold only/],
  ['release', { release: 'a b' }, /may hold only/],
  ['jump-host', { 'jump-host': 'x y' }, /not a valid host/],
  ['nginx-host', { 'nginx-host': 'a.example, a.example' }, /listed twice/],
  ['strategy', { strategy: 'linear' }, /not a strategy: use blue-green, rolling or canary/],
  ['access-log', { strategy: 'canary' }, /is required with strategy: canary/],
  ['canary-log', { strategy: 'canary', 'canary-log': 'access.log' }, /absolute path/],
  ['access-log', { strategy: 'canary', 'access-log': 'access.log' }, /absolute path/],
  ['canary-steps', { 'canary-steps': '10,5,100' }, /must go up/],
  ['canary-steps', { 'canary-steps': '10,50' }, /must end at 100/],
  ['canary-steps', { 'canary-steps': '0,100' }, /not a percentage from 1 to 100/],
  ['canary-max-error-rate', { 'canary-max-error-rate': 'low' }, /percentage from 0 to 100/],
  ['canary-max-p99-ratio', { 'canary-max-p99-ratio': '0.5' }, /ratio of 1 or more/],
  ['p99-floor-ms', { 'p99-floor-ms': '-5' }, /not a whole number/],
  ['max-median-shift-ms', { 'max-median-shift-ms': '12.5' }, /'12\.5' must be a whole number of milliseconds from 0 to 600000 \(e\.g\. 30\), or off to skip the median and rank test/],
  ['max-median-shift-ms', { 'max-median-shift-ms': '700000' }, /whole number of milliseconds from 0 to 600000/],
  ['max-median-shift-ms', { 'max-median-shift-ms': 'none' }, /or off/],
  ['max-error-rate', { 'max-error-rate': '101' }, /percentage from 0 to 100/],
  ['max-p99-ratio', { 'max-p99-ratio': '0.9' }, /ratio of 1 or more \(e\.g\. 2\), or off/],
  ['min-requests', { 'min-requests': 'x' }, /not a whole number/],
  ['smoke-test-timeout', { 'smoke-test-timeout': '0' }, /out of range/],
  ['bake-time', { 'bake-time': '10' }, /needs access-log .* or verify-url/],
  ['bake-time', { 'bake-time': '10', strategy: 'rolling', 'access-log': '/var/log/nginx/access.log' }, /works with strategy: blue-green and canary/],
  ['bake-time', { 'bake-time': 'long' }, /bake-time/],
  ['canary-min-requests', { 'canary-min-requests': '0' }, /out of range/],
  ['systemd-unit', { 'systemd-unit': 'shop@' }, /not a unit name prefix: .*without '@' or '\.service'/],
  ['systemd-unit', { 'systemd-unit': 'shop.service' }, /not a unit name prefix/],
  ['remote-dir', { 'systemd-unit': 'shop', 'remote-dir': '/opt/my app' }, /named in the unit file with systemd-unit: use a path without spaces/],
  ['mode', { mode: 'undo' }, /not a mode: use deploy, stage, promote, rollback/],
  ['mode', { mode: 'stage', strategy: 'rolling' }, /works with strategy: blue-green/],
  ['artifact', { mode: 'stage', artifact: '' }, /is required/],
  ['keep-previous', { 'keep-previous': 'maybe' }, /not a boolean/],
  ['dry-run', { 'dry-run': 'perhaps' }, /not a boolean/],
  ['wait-for-exit', { 'wait-for-exit': 'soon' }, /not a boolean/],
  ['warmup-path', { 'warmup-path': 'version' }, /URL path starting with \//],
  ['warmup-requests', { 'warmup-requests': '0' }, /out of range/],
  ['batch-size', { 'batch-size': '0' }, /number of instances .* or a percentage/],
  ['batch-size', { 'batch-size': '150%' }, /1% to 100%/],
  ['batch-size', { 'batch-size': 'half' }, /percentage such as 25%/],
];

for (const [input, over, msg] of bad) {
  test(`bad ${input}: ${JSON.stringify(Object.values(over)[0])}`, () => {
    assert.throws(
      () => read(over),
      (e: unknown) => e instanceof InputError && e.input === input && msg.test(e.message) && e.message.startsWith(`input '${input}'`),
    );
  });
}

test('insecure mode needs no known-hosts', () => {
  const c = read({ 'known-hosts': '', 'insecure-skip-host-key-check': 'true' });
  assert.equal(c.insecureSkipHostKeyCheck, true);
});
