// Inputs -> a typed, validated Config (config/settings.ts). Pure: the caller passes a reader for
// input values. Every bad value raises an InputError that names the input and says what would be
// valid. The inputs are read concern by concern, in the order their errors are reported, and the
// rules that tie inputs of two concerns together are said where the second is read.
import { InputError } from '../errors.ts';
import { type AppHost, type SshAddress, parseAppHost, parseSshAddress, parsePort, splitList, isValidHost } from './hosts.ts';
import { parseKnownHosts, type KnownHostEntry } from './knownhosts.ts';
import { refusePortOverrides } from './portsettings.ts';
import { absolutePath, bool, byteSize, integer, looksLikePrivateKey, parseBatchSize, parseEnv, parsePorts, required, seconds, URL_PATH, words, type InputReader } from './readers.ts';
import { parseCanary } from './analysis.ts';
import { MODES, STRATEGIES, type AppSettings, type CheckSettings, type Config, type HostSettings, type Mode, type NginxSettings, type RunSettings, type StrategyName, type TimeoutSettings } from './settings.ts';

export { ANALYSIS_DEFAULTS } from './analysis.ts';
export type { BatchSize, CanaryConfig, Config, Mode, StrategyName } from './settings.ts';
export { MODES, STRATEGIES } from './settings.ts';
export type { InputReader } from './readers.ts';

/** ssh-port and nginx-host: the port every host entry defaults to, and the nginx hosts. */
function readNginxHosts(get: InputReader): { sshPort: number; nginxHosts: SshAddress[] } {
  const sshPort = parsePort(get('ssh-port').trim() || '22');
  if (sshPort === undefined) throw new InputError('ssh-port', `'${get('ssh-port')}' is not a port (1-65535)`);

  const nginxEntries = splitList(required(get, 'nginx-host'));
  if (nginxEntries.length === 0) throw new InputError('nginx-host', 'lists no host');
  const nginxHosts: SshAddress[] = [];
  for (const e of nginxEntries) {
    const n = parseSshAddress(e, sshPort);
    if (typeof n === 'string') throw new InputError('nginx-host', `${n}; expected host or host:port (several: comma- or newline-separated)`);
    if (nginxHosts.some((o) => o.host === n.host && o.port === n.port)) throw new InputError('nginx-host', `'${e}' is listed twice`);
    nginxHosts.push(n);
  }
  if (nginxHosts.length > 16) throw new InputError('nginx-host', `${nginxHosts.length} hosts: at most 16 are supported`);
  return { sshPort, nginxHosts };
}

/** What the run does (mode, strategy, canary, how the old version ends), and the rules between them. */
function readRun(get: InputReader): Omit<RunSettings, 'bakeMs' | 'release'> {
  const strategyText = get('strategy').trim() || 'blue-green';
  if (!(STRATEGIES as string[]).includes(strategyText)) {
    throw new InputError('strategy', `'${strategyText}' is not a strategy: use ${STRATEGIES.slice(0, -1).join(', ')} or ${STRATEGIES[STRATEGIES.length - 1]}`);
  }
  const strategy = strategyText as StrategyName;
  const batchSize = parseBatchSize(get('batch-size').trim() || '1');
  const dryRun = bool(get, 'dry-run', false);
  const modeText = get('mode').trim() || 'deploy';
  if (!(MODES as string[]).includes(modeText)) throw new InputError('mode', `'${modeText}' is not a mode: use ${MODES.join(', ')}`);
  const mode = modeText as Mode;
  const warnings: string[] = [];
  const canary = parseCanary(get, strategy === 'canary', warnings);
  if ((mode === 'stage' || mode === 'promote') && strategy !== 'blue-green') {
    throw new InputError('mode', `${mode} works with strategy: blue-green (a staged release waits on the idle port); rolling has no idle port`);
  }
  const keepPrevious = bool(get, 'keep-previous', false);
  const waitForExit = bool(get, 'wait-for-exit', true);
  return { warnings, strategy, batchSize, dryRun, mode, keepPrevious, waitForExit, canary };
}

/** The app hosts, the jump host and the SSH login. */
function readHosts(get: InputReader, sshPort: number): Omit<HostSettings, 'nginxHosts' | 'sudo'> {
  const entries = splitList(required(get, 'app-hosts'));
  if (entries.length === 0) throw new InputError('app-hosts', 'lists no host');
  const appHosts: AppHost[] = [];
  for (const e of entries) {
    const h = parseAppHost(e, sshPort);
    if (typeof h === 'string') throw new InputError('app-hosts', `${h}; expected host, host:port or host:port=proxy-address`);
    if (appHosts.some((o) => o.ssh.host === h.ssh.host && o.ssh.port === h.ssh.port)) {
      throw new InputError('app-hosts', `'${e}' is listed twice`);
    }
    if (appHosts.some((o) => o.target === h.target)) {
      throw new InputError('app-hosts', `two entries give nginx the same address '${h.target}'`);
    }
    appHosts.push(h);
  }
  if (appHosts.length > 64) throw new InputError('app-hosts', `${appHosts.length} hosts: at most 64 are supported`);

  let jumpHost: SshAddress | undefined;
  const jump = get('jump-host').trim();
  if (jump !== '') {
    const j = parseSshAddress(jump, sshPort);
    if (typeof j === 'string') throw new InputError('jump-host', `${j}; expected host or host:port`);
    jumpHost = j;
  }

  const sshUser = required(get, 'ssh-user').trim();
  if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]*$/.test(sshUser)) {
    throw new InputError('ssh-user', `'${sshUser}' is not a valid user name (letters, digits, '.', '_', '-')`);
  }
  const sshKey = required(get, 'ssh-key').replace(/\r\n/g, '\n').trim() + '\n';
  if (!looksLikePrivateKey(sshKey)) {
    throw new InputError('ssh-key', 'is not a private key: paste the whole key text, from -----BEGIN ... PRIVATE KEY----- to the END line');
  }
  const passphrase = get('ssh-key-passphrase');

  const insecure = bool(get, 'insecure-skip-host-key-check', false);
  const khText = get('known-hosts');
  let knownHosts: KnownHostEntry[] = [];
  if (khText.trim() !== '') {
    const parsed = parseKnownHosts(khText);
    if (typeof parsed === 'string') throw new InputError('known-hosts', parsed);
    knownHosts = parsed;
  } else if (!insecure) {
    throw new InputError(
      'known-hosts',
      'is required: give the known_hosts lines of every host (e.g. the output of `ssh-keyscan HOST`, checked out of band), ' +
        'or set insecure-skip-host-key-check: true to connect without verifying host keys',
    );
  }
  return { appHosts, jumpHost, sshUser, sshKey, sshKeyPassphrase: passphrase === '' ? undefined : passphrase, knownHosts, insecureSkipHostKeyCheck: insecure };
}

/** The jar, its ports and directory, and its command line (ports are set by the action, never by it). */
function readApp(get: InputReader, mode: Mode): Pick<AppSettings, 'artifact' | 'ports' | 'remoteDir' | 'java' | 'javaOpts' | 'appArgs' | 'env'> {
  const artifact = mode === 'deploy' || mode === 'stage' ? required(get, 'artifact').trim() : get('artifact').trim();
  const ports = parsePorts(get('ports').trim() || '8080,8081');
  const remoteDir = absolutePath(get, 'remote-dir', '/opt/app');
  const java = get('java').trim() || 'java';
  if (/[\0\n\r]/.test(java)) throw new InputError('java', 'must be one command (no newlines)');
  const javaOpts = words(get, 'java-opts', '');
  const appArgs = words(get, 'app-args', '');
  const env = parseEnv(get('env'));
  refusePortOverrides(javaOpts, appArgs, env);
  return { artifact, ports, remoteDir, java, javaOpts, appArgs, env };
}

/** The include and the nginx commands, and sudo. */
function readNginx(get: InputReader): NginxSettings & { sudo: boolean } {
  const includeFile = get('include-file').trim() === '' ? undefined : absolutePath(get, 'include-file', '');
  const nginxTestCommand = words(get, 'nginx-test-command', 'nginx -t');
  if (nginxTestCommand.length === 0) throw new InputError('nginx-test-command', 'must not be empty');
  const dump = dumpCommand(nginxTestCommand);
  const nginxReloadCommand = words(get, 'nginx-reload-command', 'nginx -s reload');
  if (nginxReloadCommand.length === 0) throw new InputError('nginx-reload-command', 'must not be empty');
  const sudo = bool(get, 'sudo', false);
  return { includeFile, nginxTestCommand, nginxDumpCommand: dump.argv, nginxTestIsDump: dump.isTest, nginxReloadCommand, sudo };
}

/** The checks of a new version, and bake-time (which needs something to judge it, and an old version that waits). */
function readChecks(get: InputReader, ports: [number, number], run: { strategy: StrategyName; canary: RunSettings['canary'] }): CheckSettings & { bakeMs: number } {
  const { strategy, canary } = run;
  const healthPath = get('health-path').trim() || '/actuator/health';
  // RFC 3986 path and query characters (percent-encode anything else).
  if (!URL_PATH.test(healthPath)) {
    throw new InputError(
      'health-path',
      `'${healthPath}' must be a URL path starting with /, e.g. /actuator/health, made of URL path characters (no spaces; percent-encode others)`,
    );
  }
  const healthPort = get('health-port').trim() || undefined;
  if (healthPort !== undefined) {
    if (!/^(\d|\{port\})+$/.test(healthPort) || !healthPort.includes('{port}')) {
      throw new InputError(
        'health-port',
        `'${healthPort}' must be the app's port with digits around it, like 1{port} (18080 for 8080): a port derived from {port}, as management.server.port must be for two versions to run side by side`,
      );
    }
    for (const p of ports) {
      const n = Number(healthPort.split('{port}').join(String(p)));
      if (!Number.isInteger(n) || n < 1 || n > 65535 || ports.includes(n)) {
        throw new InputError('health-port', `'${healthPort}' gives ${healthPort.split('{port}').join(String(p))} for port ${p}: not a port number from 1 to 65535 apart from ports`);
      }
    }
  }
  const healthStatus = integer(get, 'health-status', 200, 100, 599);
  // The runner fills in action.yml's default (UP) when the input is not given; an empty value
  // given on purpose means any body passes.
  const healthBody = get('health-body');
  const healthTimeoutMs = seconds(get, 'health-timeout', 120, 1, 3600);
  const healthIntervalMs = seconds(get, 'health-interval', 1, 0.05, 60);
  const healthPasses = integer(get, 'health-passes', 2, 1, 20);
  const warmupPath = get('warmup-path').trim();
  if (warmupPath !== '' && !URL_PATH.test(warmupPath)) {
    throw new InputError('warmup-path', `'${warmupPath}' must be a URL path starting with /, e.g. /api/ping, made of URL path characters (no spaces; percent-encode others), or empty for no warm-up`);
  }
  const warmupRequests = integer(get, 'warmup-requests', 200, 1, 100_000);

  let verifyUrl: string | undefined;
  const vu = get('verify-url').trim();
  if (vu !== '') {
    let u: URL;
    try {
      u = new URL(vu);
    } catch {
      throw new InputError('verify-url', `'${vu}' is not a URL, e.g. https://example.com/actuator/health`);
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new InputError('verify-url', `'${vu}' must be an http:// or https:// URL`);
    verifyUrl = u.toString();
  }

  const smoke = get('smoke-test').trim();
  if (/\0/.test(smoke)) throw new InputError('smoke-test', 'holds a NUL byte');
  const smokeTestTimeoutMs = seconds(get, 'smoke-test-timeout', 300, 1, 7200);
  const bakeMs = seconds(get, 'bake-time', 0, 0, 3600);
  if (bakeMs > 0 && canary.log === '' && verifyUrl === undefined) {
    throw new InputError('bake-time', 'needs access-log (the canary log_format: its figures judge the bake) or verify-url: with neither, nothing would judge the new version while it bakes');
  }
  if (bakeMs > 0 && strategy === 'rolling') {
    throw new InputError('bake-time', 'works with strategy: blue-green and canary: a rolling deploy has no moment where the old version waits, warm, while the new one takes all traffic');
  }
  return { healthPath, healthPort, healthStatus, healthBody, healthTimeoutMs, healthIntervalMs, healthPasses, warmupPath, warmupRequests, verifyUrl, smokeTest: smoke || undefined, smokeTestTimeoutMs, bakeMs };
}

/** The timeouts, and what is kept on the app hosts. */
function readLimits(get: InputReader): TimeoutSettings & Pick<AppSettings, 'keepReleases' | 'logMaxBytes' | 'checkMemory'> {
  const drainTimeoutMs = seconds(get, 'drain-timeout', 30, 0, 3600);
  const stopTimeoutMs = seconds(get, 'stop-timeout', 30, 0, 3600);
  const commandTimeoutMs = seconds(get, 'command-timeout', 60, 1, 3600);
  const connectTimeoutMs = seconds(get, 'connect-timeout', 20, 1, 600);
  const lockTimeoutMs = seconds(get, 'lock-timeout', 0, 0, 3600);
  const keepReleases = integer(get, 'keep-releases', 3, 1, 100);
  const logMaxBytes = byteSize(get, 'log-max-size', '100M');
  const checkMemory = bool(get, 'check-memory', true);
  return { drainTimeoutMs, stopTimeoutMs, commandTimeoutMs, connectTimeoutMs, lockTimeoutMs, keepReleases, logMaxBytes, checkMemory };
}

/** systemd-unit (its unit file names remote-dir) and release. */
function readUnitAndRelease(get: InputReader, remoteDir: string): { systemdUnit?: string; release?: string } {
  const unitText = get('systemd-unit').trim();
  if (unitText !== '' && (!/^[A-Za-z0-9_.:-]{1,200}$/.test(unitText) || unitText.endsWith('.service'))) {
    throw new InputError('systemd-unit', `'${unitText}' is not a unit name prefix: letters, digits, '_', '.', ':' and '-', without '@' or '.service' (e.g. shop gives shop@8080.service)`);
  }
  if (unitText !== '' && /[\s"'\\%$]/.test(remoteDir)) {
    throw new InputError('remote-dir', `'${remoteDir}' is named in the unit file with systemd-unit: use a path without spaces, quotes, '\\', '%' or '$'`);
  }
  let release: string | undefined = get('release').trim();
  if (release === '') release = undefined;
  else if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/.test(release)) {
    throw new InputError('release', `'${release}' may hold only letters, digits, '.', '_' and '-' (at most 100, not starting with '.' or '-')`);
  }
  return { systemdUnit: unitText || undefined, release };
}

export function readConfig(get: InputReader): Config {
  const { sshPort, nginxHosts } = readNginxHosts(get);
  const run = readRun(get);
  const hosts = readHosts(get, sshPort);
  const app = readApp(get, run.mode);
  const nginx = readNginx(get);
  const checks = readChecks(get, app.ports, run);
  const limits = readLimits(get);
  const { systemdUnit, release } = readUnitAndRelease(get, app.remoteDir);

  // Cross-checks.
  for (const h of hosts.appHosts) {
    if (!isValidHost(h.target)) throw new InputError('app-hosts', `'${h.target}' is not a valid address`);
  }

  return { ...run, nginxHosts, ...hosts, ...app, systemdUnit, ...nginx, ...checks, ...limits, release };
}

/**
 * The command that lists the files nginx loads: nginx-test-command with its -t flag made -T
 * (same nginx binary, -c, -p and -g, same wrapper), so it tests too; `nginx -T` when the test
 * command has no -t word (a shell wrapper of the user's).
 */
export function dumpCommand(test: string[]): { argv: string[]; isTest: boolean } {
  const i = test.findIndex((w) => /^-[hvVtTq]*t[hvVtTq]*$/.test(w));
  if (i < 0) return { argv: ['nginx', '-T'], isTest: false };
  return { argv: test.map((w, j) => (j === i ? w.replace('t', 'T') : w)), isTest: true };
}
