// Inputs -> a typed, validated Config. Pure: the caller passes a reader for input values.
// Every bad value raises an InputError that names the input and says what would be valid.
import { InputError } from '../errors.ts';
import { type AppHost, type SshAddress, parseAppHost, parseSshAddress, parsePort, splitList, isValidHost } from './hosts.ts';
import { parseKnownHosts, type KnownHostEntry } from './knownhosts.ts';
import { splitWords, WordSplitError } from '../util/quote.ts';
import { refusePortOverrides } from './portsettings.ts';

export type Mode = 'deploy' | 'stage' | 'promote' | 'rollback';
export const MODES: Mode[] = ['deploy', 'stage', 'promote', 'rollback'];

export type Strategy = 'blue-green' | 'rolling' | 'canary';
export const STRATEGIES: Strategy[] = ['blue-green', 'rolling', 'canary'];

/** Instances replaced at a time by the rolling strategy: a count, or a percentage of them. */
export type BatchSize = { count: number } | { percent: number };

export interface CanaryConfig {
  /** percentages of requests to the new release, ascending, the last 100 */
  steps: number[];
  intervalMs: number;
  /** the access log in the canary format on every nginx host */
  log: string;
  maxErrorRate: number;
  /** undefined: the p99 ratio is not judged */
  maxP99Ratio?: number;
  /** a new p99 at or under this many ms never fails the latency gate */
  p99FloorMs: number;
  /** the median rise (ms) that, confirmed by the rank test, fails a step; undefined: not judged */
  maxMedianShiftMs?: number;
  minRequests: number;
}

export interface Config {
  /** what the run should warn about before it starts (deprecated inputs) */
  warnings: string[];
  /** every nginx host that must be switched together, in the order locks are taken */
  nginxHosts: SshAddress[];
  strategy: Strategy;
  batchSize: BatchSize;
  /** connect, read, check and print the plan; change nothing */
  dryRun: boolean;
  mode: Mode;
  /** blue/green: leave the old process running on the idle port as a warm standby */
  keepPrevious: boolean;
  /** false: the old version's stop returns after SIGTERM; a watchdog on its host finishes it */
  waitForExit: boolean;
  canary: CanaryConfig;
  appHosts: AppHost[];
  jumpHost?: SshAddress;
  sshUser: string;
  sshKey: string;
  sshKeyPassphrase?: string;
  knownHosts: KnownHostEntry[];
  insecureSkipHostKeyCheck: boolean;
  /** the jar to deploy; empty for promote and rollback, which need none */
  artifact: string;
  ports: [number, number];
  remoteDir: string;
  /** systemd-unit: every instance is the service NAME@PORT.service; undefined: detached processes */
  systemdUnit?: string;
  java: string;
  javaOpts: string[];
  appArgs: string[];
  env: [string, string][];
  /** the include nginx serves from; undefined: find it in what nginx loads */
  includeFile?: string;
  nginxTestCommand: string[];
  /** lists the files nginx loads (nginx -T): nginx-test-command with -T for -t, or `nginx -T` */
  nginxDumpCommand: string[];
  /** the dump command is nginx-test-command itself (with -T): run once, it tests and lists */
  nginxTestIsDump: boolean;
  nginxReloadCommand: string[];
  sudo: boolean;
  healthPath: string;
  /** health-port: the port health checks go to, `{port}` being the instance's (e.g. 1{port}); undefined: the app's port */
  healthPort?: string;
  healthStatus: number;
  healthBody: string;
  healthTimeoutMs: number;
  healthIntervalMs: number;
  healthPasses: number;
  /** GET this path warmupRequests times on each new process before the switch; '' = off */
  warmupPath: string;
  warmupRequests: number;
  verifyUrl?: string;
  /** run on the runner against the new version before the switch (bash -e -c) */
  smokeTest?: string;
  smokeTestTimeoutMs: number;
  /** after the switch, the old version waits, warm, while the new one is judged; 0: no bake */
  bakeMs: number;
  drainTimeoutMs: number;
  stopTimeoutMs: number;
  commandTimeoutMs: number;
  connectTimeoutMs: number;
  lockTimeoutMs: number;
  keepReleases: number;
  /** before a new JVM starts next to the live one, its maximum heap must fit in the host's available memory */
  checkMemory: boolean;
  /** log-max-size in bytes: a detached release's stdout log is copied to LOG.1 and truncated past it; 0: no cap */
  logMaxBytes: number;
  release?: string;
}

export type InputReader = (name: string) => string;

const BOOL_TRUE = ['true', 'True', 'TRUE'];
const BOOL_FALSE = ['false', 'False', 'FALSE'];

function bool(get: InputReader, name: string, dflt: boolean): boolean {
  const v = get(name).trim();
  if (v === '') return dflt;
  if (BOOL_TRUE.includes(v)) return true;
  if (BOOL_FALSE.includes(v)) return false;
  throw new InputError(name, `'${v}' is not a boolean: use true or false`);
}

function required(get: InputReader, name: string): string {
  const v = get(name);
  if (v.trim() === '') throw new InputError(name, 'is required and was not given');
  return v;
}

const SIZE_UNITS: Record<string, number> = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 };

/** A size like 100M, 512K, 2G or a number of bytes; 0 is allowed (off), else at least 1K. */
function byteSize(get: InputReader, name: string, dflt: string): number {
  const v = get(name).trim() || dflt;
  const m = /^(\d+)([KMG]?)B?$/i.exec(v);
  if (!m) throw new InputError(name, `'${v}' is not a size: a number of bytes or one with K, M or G (e.g. ${dflt}), or 0 for no cap`);
  const n = Number(m[1]) * SIZE_UNITS[m[2].toUpperCase()];
  if (n !== 0 && (n < 1024 || n > 1024 ** 4)) throw new InputError(name, `${v} is out of range: use 0 (no cap) or 1K to 1024G`);
  return n;
}

function seconds(get: InputReader, name: string, dflt: number, min: number, max: number): number {
  const v = get(name).trim();
  if (v === '') return dflt * 1000;
  if (!/^\d+(\.\d+)?$/.test(v)) throw new InputError(name, `'${v}' is not a number of seconds (e.g. ${dflt})`);
  const n = Number(v);
  if (n < min || n > max) throw new InputError(name, `${v} is out of range: use ${min} to ${max} seconds`);
  return Math.round(n * 1000);
}

function integer(get: InputReader, name: string, dflt: number, min: number, max: number): number {
  const v = get(name).trim();
  if (v === '') return dflt;
  if (!/^\d+$/.test(v)) throw new InputError(name, `'${v}' is not a whole number (e.g. ${dflt})`);
  const n = Number(v);
  if (n < min || n > max) throw new InputError(name, `${v} is out of range: use ${min} to ${max}`);
  return n;
}

function words(get: InputReader, name: string, dflt: string): string[] {
  const v = get(name).trim() || dflt;
  try {
    return splitWords(v);
  } catch (e) {
    if (e instanceof WordSplitError) throw new InputError(name, `${e.message} in '${v}' (quote words with ' or ")`);
    throw e;
  }
}

function absolutePath(get: InputReader, name: string, dflt: string): string {
  let v = get(name).trim() || dflt;
  if (!v.startsWith('/')) throw new InputError(name, `'${v}' must be an absolute path (starting with /)`);
  if (/[\0\n\r]/.test(v)) throw new InputError(name, 'must not contain newlines or NUL characters');
  if (v.split('/').some((seg) => seg === '..' || seg === '.')) {
    throw new InputError(name, `'${v}' must not contain '.' or '..' segments`);
  }
  v = v.replace(/\/+/g, '/');
  if (v.length > 1) v = v.replace(/\/$/, '');
  if (v === '/') throw new InputError(name, "must not be '/'");
  return v;
}

export function parsePorts(text: string): [number, number] {
  const parts = text.split(/[\s,]+/).filter((s) => s !== '');
  if (parts.length !== 2) throw new InputError('ports', `'${text}' must be exactly two ports, e.g. 8080,8081`);
  const ps = parts.map((p) => {
    const n = parsePort(p);
    if (n === undefined) throw new InputError('ports', `'${p}' is not a port (1-65535)`);
    return n;
  });
  if (ps[0] === ps[1]) throw new InputError('ports', `the two ports must differ (got ${ps[0]} twice)`);
  return [ps[0], ps[1]];
}

// RFC 3986 path and query characters (percent-encode anything else).
const URL_PATH = /^\/[A-Za-z0-9\-._~!$&'()*+,;=:@/?%]*$/;

/** The analysis inputs' defaults, as action.yml declares them for the new and the older names alike (a unit test checks). */
export const ANALYSIS_DEFAULTS = { 'access-log': '', 'max-error-rate': '1', 'max-p99-ratio': '2', 'min-requests': '50' } as const;

function parseCanary(get: InputReader, on: boolean, warnings: string[]): CanaryConfig {
  const stepsText = get('canary-steps').trim() || '10,50,100';
  const steps = stepsText.split(/[\s,]+/).filter(Boolean).map((x) => {
    if (!/^\d{1,3}$/.test(x) || Number(x) < 1 || Number(x) > 100) throw new InputError('canary-steps', `'${x}' in '${stepsText}' is not a percentage from 1 to 100`);
    return Number(x);
  });
  if (steps.some((x, i) => i > 0 && x <= steps[i - 1])) throw new InputError('canary-steps', `'${stepsText}' must go up, e.g. 10,50,100`);
  if (steps[steps.length - 1] !== 100) throw new InputError('canary-steps', `'${stepsText}' must end at 100 (all traffic on the new release)`);
  const intervalMs = seconds(get, 'canary-interval', 60, 1, 3600);
  // The analysis inputs judge a canary step and a bake alike. The canary-* names are their older,
  // deprecated names, still read. Both carry the same default in action.yml (the runner fills in
  // every input a step does not give, so a value is all the reader sees): an older name that
  // differs from the default was given, and is used unless the new name was given another value
  // than the default too (then the new name wins).
  const named = (name: keyof typeof ANALYSIS_DEFAULTS, alias: string) => {
    const v = get(name).trim();
    const old = get(alias).trim();
    const d = ANALYSIS_DEFAULTS[name];
    if (old === d) return { name, v };
    if (v !== d) {
      warnings.push(`input '${alias}' is deprecated and ignored here: '${name}' is given too (${name}: ${v}); remove ${alias}`);
      return { name, v };
    }
    warnings.push(`input '${alias}' is deprecated: rename it to '${name}' (same meaning${alias === 'canary-max-p99-ratio' && old === '' ? "; '' is off there" : ''})`);
    return { name: alias, v: old === '' && alias === 'canary-max-p99-ratio' ? 'off' : old };
  };
  const logIn = named('access-log', 'canary-log');
  const log = logIn.v;
  if (on && log === '') throw new InputError('access-log', 'is required with strategy: canary: the path of the access log in the canary format on the nginx hosts (docs/server-setup.md, "The canary log_format"; canary-log is its older name)');
  if (log !== '' && (!log.startsWith('/') || /[\0\n\r]/.test(log))) throw new InputError(logIn.name, `'${log}' must be an absolute path`);
  const erIn = named('max-error-rate', 'canary-max-error-rate');
  const er = erIn.v || ANALYSIS_DEFAULTS['max-error-rate'];
  if (!/^\d+(\.\d+)?$/.test(er) || Number(er) > 100) throw new InputError(erIn.name, `'${er}' must be a percentage from 0 to 100, e.g. 1`);
  const prIn = named('max-p99-ratio', 'canary-max-p99-ratio');
  if (prIn.v === '') throw new InputError(prIn.name, "is empty: give a ratio of 1 or more (the default is 2), or off to skip the latency gate");
  const pr = prIn.v === 'off' ? '' : prIn.v;
  if (pr !== '' && (!/^\d+(\.\d+)?$/.test(pr) || Number(pr) < 1)) throw new InputError(prIn.name, `'${pr}' must be a ratio of 1 or more (e.g. 2), or off to skip the latency gate`);
  const p99FloorMs = integer(get, 'p99-floor-ms', 50, 0, 600_000);
  const shiftText = get('max-median-shift-ms').trim();
  if (shiftText !== '' && shiftText !== 'off' && (!/^\d+$/.test(shiftText) || Number(shiftText) > 600_000)) {
    throw new InputError('max-median-shift-ms', `'${shiftText}' must be a whole number of milliseconds from 0 to 600000 (e.g. 30), or off to skip the median and rank test`);
  }
  const maxMedianShiftMs = shiftText === 'off' ? undefined : shiftText === '' ? 30 : Number(shiftText);
  const mrIn = named('min-requests', 'canary-min-requests');
  const minRequests = integer(() => mrIn.v, mrIn.name, Number(ANALYSIS_DEFAULTS['min-requests']), 1, 1_000_000);
  return { steps, intervalMs, log, maxErrorRate: Number(er), maxP99Ratio: pr === '' ? undefined : Number(pr), p99FloorMs, maxMedianShiftMs, minRequests };
}

export function parseBatchSize(text: string): BatchSize {
  const pct = /^(\d{1,3})%$/.exec(text);
  if (pct) {
    const n = Number(pct[1]);
    if (n < 1 || n > 100) throw new InputError('batch-size', `${text} is out of range: use 1% to 100%`);
    return { percent: n };
  }
  if (!/^\d+$/.test(text) || Number(text) < 1 || Number(text) > 1000) {
    throw new InputError('batch-size', `'${text}' must be a number of instances (1 or more) or a percentage such as 25%`);
  }
  return { count: Number(text) };
}

export function parseEnv(text: string): [string, string][] {
  const out: [string, string][] = [];
  const seen = new Set<string>();
  text.split('\n').forEach((raw, i) => {
    const line = raw.replace(/\r$/, '');
    if (line.trim() === '' || line.trim().startsWith('#')) return;
    const eq = line.indexOf('=');
    const key = eq < 0 ? line.trim() : line.slice(0, eq).trim();
    if (eq < 0 || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) {
      throw new InputError('env', `line ${i + 1} must be KEY=VALUE with KEY made of letters, digits and _ (not starting with a digit)`);
    }
    if (seen.has(key)) throw new InputError('env', `line ${i + 1}: ${key} is set twice`);
    if (line.includes('\0')) throw new InputError('env', `line ${i + 1}: NUL characters are not allowed`);
    seen.add(key);
    out.push([key, line.slice(eq + 1)]);
  });
  return out;
}

export function looksLikePrivateKey(text: string): boolean {
  return /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/.test(text);
}

export function readConfig(get: InputReader): Config {
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

  const strategyText = get('strategy').trim() || 'blue-green';
  if (!(STRATEGIES as string[]).includes(strategyText)) {
    throw new InputError('strategy', `'${strategyText}' is not a strategy: use ${STRATEGIES.slice(0, -1).join(', ')} or ${STRATEGIES[STRATEGIES.length - 1]}`);
  }
  const strategy = strategyText as Strategy;
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

  const artifact = mode === 'deploy' || mode === 'stage' ? required(get, 'artifact').trim() : get('artifact').trim();
  const ports = parsePorts(get('ports').trim() || '8080,8081');
  const remoteDir = absolutePath(get, 'remote-dir', '/opt/app');
  const java = get('java').trim() || 'java';
  if (/[\0\n\r]/.test(java)) throw new InputError('java', 'must be one command (no newlines)');
  const javaOpts = words(get, 'java-opts', '');
  const appArgs = words(get, 'app-args', '');
  const env = parseEnv(get('env'));
  refusePortOverrides(javaOpts, appArgs, env);

  const includeFile = get('include-file').trim() === '' ? undefined : absolutePath(get, 'include-file', '');
  const nginxTestCommand = words(get, 'nginx-test-command', 'nginx -t');
  if (nginxTestCommand.length === 0) throw new InputError('nginx-test-command', 'must not be empty');
  const dump = dumpCommand(nginxTestCommand);
  const nginxReloadCommand = words(get, 'nginx-reload-command', 'nginx -s reload');
  if (nginxReloadCommand.length === 0) throw new InputError('nginx-reload-command', 'must not be empty');
  const sudo = bool(get, 'sudo', false);

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

  const drainTimeoutMs = seconds(get, 'drain-timeout', 30, 0, 3600);
  const stopTimeoutMs = seconds(get, 'stop-timeout', 30, 0, 3600);
  const commandTimeoutMs = seconds(get, 'command-timeout', 60, 1, 3600);
  const connectTimeoutMs = seconds(get, 'connect-timeout', 20, 1, 600);
  const lockTimeoutMs = seconds(get, 'lock-timeout', 0, 0, 3600);
  const keepReleases = integer(get, 'keep-releases', 3, 1, 100);
  const logMaxBytes = byteSize(get, 'log-max-size', '100M');
  const checkMemory = bool(get, 'check-memory', true);

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

  // Cross-checks.
  for (const h of appHosts) {
    if (!isValidHost(h.target)) throw new InputError('app-hosts', `'${h.target}' is not a valid address`);
  }

  return {
    warnings,
    nginxHosts,
    strategy,
    batchSize,
    dryRun,
    mode,
    keepPrevious,
    waitForExit,
    canary,
    appHosts,
    jumpHost,
    sshUser,
    sshKey,
    sshKeyPassphrase: passphrase === '' ? undefined : passphrase,
    knownHosts,
    insecureSkipHostKeyCheck: insecure,
    artifact,
    ports,
    remoteDir,
    systemdUnit: unitText || undefined,
    java,
    javaOpts,
    appArgs,
    env,
    includeFile,
    nginxTestCommand,
    nginxDumpCommand: dump.argv,
    nginxTestIsDump: dump.isTest,
    nginxReloadCommand,
    sudo,
    healthPath,
    healthPort,
    healthStatus,
    healthBody,
    healthTimeoutMs,
    healthIntervalMs,
    healthPasses,
    warmupPath,
    warmupRequests,
    verifyUrl,
    smokeTest: smoke || undefined,
    smokeTestTimeoutMs,
    bakeMs,
    drainTimeoutMs,
    stopTimeoutMs,
    commandTimeoutMs,
    connectTimeoutMs,
    lockTimeoutMs,
    keepReleases,
    logMaxBytes,
    checkMemory,
    release,
  };
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
