// Commands that run on the app hosts, built as data. Pure: nothing here connects.
import { join } from '../util/quote.ts';
import { type Cmd, type CmdOptions, waiting, wrap, wrapForPid } from './shell.ts';
import * as SH from './scripts.gen.ts';

/** Layout under remote-dir on every app host. */
export function layout(remoteDir: string, release: string, port?: number) {
  const rel = `${remoteDir}/releases/${release}`;
  return {
    releaseDir: rel,
    jar: `${rel}/app.jar`,
    pidFile: port === undefined ? '' : `${remoteDir}/run/${port}.pid`,
    log: port === undefined ? '' : `${remoteDir}/logs/${release}.${port}.log`,
  };
}

// look=1: only say what it would do (dry-run); nothing is created or copied.
export const PREPARE = SH.APP_PREPARE;

/**
 * Creates the directories; says `have` (jar already there), `copied PATH` (from an identical
 * release), `taken SHA256` (another jar holds the label: nothing written) or `need`.
 */
export function prepareRelease(remoteDir: string, release: string, sha256: string, o: CmdOptions): Cmd {
  return wrap('prepare the release directory', PREPARE, [remoteDir, release, sha256, 0], o);
}

/** What prepareRelease would say, without creating anything (dry-run). */
export function jarState(remoteDir: string, release: string, sha256: string, o: CmdOptions): Cmd {
  return wrap('look for the jar', PREPARE, [remoteDir, release, sha256, 1], o);
}

export const RECEIVE = SH.APP_RECEIVE;

/**
 * Receives the jar on stdin (after a line \`go\` or \`go rc\`; any other line: nothing is done, \`skipped\`)
 * into a temp file, checks its size and moves it into place; the temp
 * file is removed on any failure (a full disk). The checksum is checked by verifyJar, which the
 * deploy runs while the JVM starts, so the upload streams at link speed.
 */
export function receiveJar(part: string, jar: string, size: number, o: CmdOptions): Cmd {
  return wrap('receive the jar', RECEIVE, [part, jar, size], o);
}

export const GATE = SH.APP_GATE;

/** Waits on the host for the receiving of the jar (RECEIVE after \`go rc\`): exit 0 once the jar is in place, 97 otherwise. */
export function gate(part: string, limitSec: number, o: CmdOptions): Cmd {
  return wrap('wait for the jar', GATE, [gateFile(part), Math.ceil(limitSec)], o);
}

/** The file a gated upload's receiving writes its exit code to (GATE and ABORT_GATE read it). */
export const gateFile = (part: string) => `${part}.rc`;

export const ABORT_GATE = SH.APP_ABORT_GATE;

/**
 * After the deploy gave up: makes a start waiting behind the jar (GATE) never run, unless it
 * already passed. Prints aborted (it never starts) | decided (it passed: the start runs, and its
 * pid file will say what it started) | none (no such directory: nothing can let the gate pass).
 */
export function abortGate(rcFile: string, o: CmdOptions): Cmd {
  return wrap('stop the start waiting for the jar', ABORT_GATE, [rcFile], o);
}

export const VERIFY = SH.APP_VERIFY;

/** Checks the jar's sha256 and records it (the record is what later deploys trust); removes a bad jar. */
export function verifyJar(jar: string, sha256: string, o: CmdOptions): Cmd {
  return waiting(wrap('verify the jar checksum', VERIFY, [jar, sha256], o));
}

export const PORT_STATE = SH.APP_PORT_STATE;

export interface PortState {
  free: boolean;
  /** pid listening, when the user can see it */
  pid?: number;
  cmd?: string;
  /** pid recorded by this action for this port */
  ours?: number;
  /** the systemd service the listener belongs to */
  unit?: string;
  /** the listener's start time (clock ticks since boot): with pid, who it is */
  start?: string;
  /** the socket listing was asked through sudo and sudo refused (the rule lacks the ss line) */
  unprivileged?: boolean;
  /** the listener's uid */
  uid?: number;
  /**
   * with sudo, a listener of another user: whether the deploy user's rule is broad enough to
   * take it over (stop it, keep how it was started); with the names, when it is not
   */
  broad?: { ok: true } | { ok: false; user: string; owner: string };
}

/**
 * Who listens on a TCP port, and which pid this action recorded for it. privSs: only the socket
 * listing runs through sudo (`sudo -n ss -Htlnp sport = :PORT`, an exact sudoers command), for a
 * script that otherwise runs as the deploy user (systemd-unit).
 */
export function portState(port: number, pidFile: string, o: CmdOptions, privSs = false): Cmd {
  return wrap(`inspect port ${port}`, PORT_STATE, [port, pidFile, privSs ? 1 : 0], o);
}

/** The exact command port inspection runs through sudo with systemd-unit (a sudoers line names it). */
export const SS_COMMAND = (port: number) => `/usr/bin/ss -Htlnp sport \\= \\:${port}`;

export function parsePortState(stdout: string): PortState | string {
  const lines = stdout.split('\n');
  if (lines[0]?.startsWith('ss-failed')) return `could not list listening sockets with ss (iproute2): ${lines[0].slice(10)}`;
  const get = (k: string) => lines.find((l) => l.startsWith(`${k}=`))?.slice(k.length + 1);
  const num = (s: string | undefined) => (s && /^\d+$/.test(s.trim()) ? Number(s.trim()) : undefined);
  const st: PortState = { free: lines.includes('free'), pid: num(get('pid')), cmd: get('cmd')?.trim(), ours: num(get('ours')) };
  if (lines.includes('unprivileged')) st.unprivileged = true;
  const unit = get('unit')?.trim();
  if (unit) st.unit = unit;
  const start = get('start')?.trim();
  if (start && /^\d+$/.test(start)) st.start = start;
  const uid = num(get('uid'));
  if (uid !== undefined) st.uid = uid;
  const broad = get('broad')?.trim().split(' ');
  if (broad?.[0] === 'yes') st.broad = { ok: true };
  else if (broad?.[0] === 'no') st.broad = { ok: false, user: broad[1] ?? '?', owner: broad[2] || `uid ${uid ?? '?'}` };
  return st;
}

// The guard: unless the deploy disarms it (it does once the new process passed its health
// checks, right before the switch), it stops the new process after $1 seconds. So a runner
// that dies, or a host cut off from the runner, never leaves a half-deployed process running.
export const GUARD = SH.APP_GUARD;

// The app is launched through a tiny sh that exports the environment file (written from stdin,
// readable by the deploy user only, so values never appear on a command line) and then execs
// argv: the start script itself never sees the app's environment.
// (kv is KEY=VALUE: exporting its value is the point, hence the directive)
export const LAUNCH = SH.APP_LAUNCH;
/** The log cap started next to a detached release (log-max-size): copy to LOG.1 and truncate. */
export const LOGCAP = SH.APP_LOGCAP;

export const START = SH.APP_START;

/** How to start one app process: the same shape whether it is a new release or an old process restored. */
export interface StartSpec {
  cwd: string;
  argv: string[];
  env: [string, string][];
  log: string;
}

/** Environment lines the launcher can export: KEY=VALUE with a shell-name key and no newline. */
export function envLines(env: [string, string][]): string {
  return env
    .filter(([k, v]) => /^[A-Za-z_][A-Za-z0-9_]*$/.test(k) && !/[\n\0]/.test(v))
    .map(([k, v]) => `${k}=${v}\n`)
    .join('');
}

/**
 * Starts spec.argv fully detached (setsid nohup, all fds redirected, log appended), records and
 * prints its pid, and arms a guard that stops it after guardSec unless disarmed (0: no guard).
 * The environment travels on stdin into run/<port>.env (mode 600).
 */
export function startApp(remoteDir: string, port: number, spec: StartSpec, guardSec: number, o: CmdOptions, logMaxBytes = 0, oomScoreAdj = 0): Cmd {
  const l = layout(remoteDir, '', port);
  return wrap(
    `start the app on port ${port}`,
    `GUARD_SCRIPT=${join([GUARD])}
LAUNCH_SCRIPT=${join([LAUNCH])}
LOGCAP_SCRIPT=${join([LOGCAP])}
${START}`,
    [port, l.pidFile, spec.log, Math.ceil(guardSec), spec.cwd, `${remoteDir}/run/${port}.env`, Math.max(0, Math.floor(logMaxBytes)), Math.trunc(oomScoreAdj), ...spec.argv],
    o,
    envLines(spec.env),
  );
}

/** The OOM score a new version takes while it runs next to the live one (the kernel's first pick). */
export const OVERLAP_OOM_SCORE_ADJ = 500;

/** Puts the oom_score_adj of the process started on a port (its pid file) back to 0 (needs root: sudo); prints `reset` or `gone`. */
export function oomReset(pidFile: string, pid: number, o: CmdOptions): Cmd {
  return wrap(`reset the OOM score of pid ${pid}`, SH.APP_OOM_RESET, [pidFile, pid], o);
}

// How a running process was started, kept on its host and read back: capture.ts.
export * from './capture.ts';

export const PROC_STATE = SH.APP_PROC_STATE;

/**
 * Is pid alive, and (port > 0) is the process listening on port that pid or one of its
 * descendants? Prints `dead`, or `alive` + `start=TICKS` + `listener=PID` [+ `owns-port`]. When it owns the
 * port and disarmPidFile is given, the start guard is disarmed (`disarmed`).
 */
export function procState(pid: number, port: number, o: CmdOptions, disarmPidFile = ''): Cmd {
  return wrap(`check process ${pid}`, PROC_STATE, [pid, port, disarmPidFile], o);
}

// Waits on the host, looking every 20 ms, until the process recorded in the pid file listens on
// its port (anyone's listener counts: the health check's ownership check judges it) or is dead, or
// ms have passed. Prints \`listening PID\`, \`dead PID\`, \`waiting PID\` or \`nopid\`; with a url,
// one GET of it is made as the port opens: \`listening PID MS\` (the ms it took), then its output
// (HTTP_GET's).
export const WAIT_LISTEN = SH.APP_WAIT_LISTEN;

export function waitListen(pidFile: string, port: number, ms: number, o: CmdOptions, check?: { url: string; timeoutSec: number }): Cmd {
  const args: (string | number)[] = [pidFile, port, Math.max(0, Math.round(ms))];
  if (check) args.push(check.url, Math.max(1, Math.ceil(check.timeoutSec)));
  return waiting(wrap(`wait for port ${port} to open`, WAIT_LISTEN, args, o));
}

/** What WAIT_LISTEN said about pid: undefined when it was about another one, or unreadable. */
export function parseWaitListen(stdout: string, pid: number): 'listening' | 'dead' | 'waiting' | undefined {
  const m = /^(listening|dead|waiting) (\d+)(?: \d+)?$/.exec(stdout.trimStart().split('\n', 1)[0].trim());
  return m && Number(m[2]) === pid ? (m[1] as 'listening' | 'dead' | 'waiting') : undefined;
}

/**
 * The GET that followed `listening PID MS` (parseHttpGet's input) and the ms it took on the host,
 * or undefined when none was asked for.
 */
export function waitListenGet(stdout: string): { out: string; ms: number } | undefined {
  const text = stdout.trimStart();
  const nl = text.indexOf('\n');
  const m = /^listening \d+ (\d+)$/.exec(text.slice(0, nl < 0 ? undefined : nl).trim());
  if (!m || nl < 0 || text.slice(nl + 1).trim() === '') return undefined;
  return { out: text.slice(nl + 1), ms: Number(m[1]) };
}

export const WAIT_HEALTHY = SH.APP_WAIT_HEALTHY;

/**
 * A hint, never the verdict (the runner's prober judges, told at once): once the port is open,
 * GETs url on the host (curl, else wget: 2xx; each GET given timeoutSec) until it answers status
 * with body in it, 20 ms apart for the first second, then 100 ms apart, for ms at most. Prints `healthy PID`,
 * `listening PID` (open, not seen healthy: no curl or wget, or ms passed), `waiting PID` (not open
 * by ms), `dead PID` or `nopid`.
 */
export function waitHealthyHint(pidFile: string, port: number, ms: number, url: string, status: number, body: string, timeoutSec: number, o: CmdOptions): Cmd {
  const t = Math.max(1, Math.ceil(timeoutSec));
  return waiting(wrap(`wait for port ${port} to answer its health check`, WAIT_HEALTHY, [pidFile, port, Math.max(0, Math.round(ms)), url, status, body, t], o));
}

/** What WAIT_HEALTHY said about pid (listening: open, but not seen healthy). */
export function parseWaitHealthy(stdout: string, pid: number): 'healthy' | 'listening' | 'dead' | 'waiting' | undefined {
  const m = /^(healthy|listening|dead|waiting) (\d+)$/.exec(stdout.trim());
  return m && Number(m[2]) === pid ? (m[1] as 'healthy' | 'listening' | 'dead' | 'waiting') : undefined;
}

// The watchdog a detached stop leaves on the host: SIGKILL at $2 (epoch ms) unless pid $1 is gone.
// STOP runs it from its 5th argument, so it is a script like the others.
export const WATCHDOG = SH.APP_WATCHDOG;

export const STOP = SH.APP_STOP;

/**
 * SIGTERM, then SIGKILL after waitSec. Prints gone | terminated | killed, and removes pidFile if
 * given. detach: returns right after SIGTERM and prints `exiting WATCHDOG_PID KILL_AT_EPOCH_MS`;
 * a watchdog left on the host SIGKILLs the process at that time if it still runs.
 */
export function stopProcess(pid: number, waitSec: number, pidFile: string, o: CmdOptions, detach = false, start = ''): Cmd {
  return waiting(wrapForPid(`stop process ${pid}`, STOP, [pid, Math.ceil(waitSec), pidFile, detach ? WATCHDOG : '', start], o));
}

/** A detached stop's answer. */
export function parseDetachedStop(stdout: string): { watchdog: number; killAt: number } | undefined {
  const m = /^exiting (\d+) (\d+)$/.exec(stdout.trim());
  return m ? { watchdog: Number(m[1]), killAt: Number(m[2]) } : undefined;
}

export function tailLog(path: string, lines: number, o: CmdOptions): Cmd {
  return wrap(`read ${path}`, 'tail -n "$2" -- "$1" 2>/dev/null || true', [path, lines], o);
}

export const WAIT_NO_CONNECTIONS = SH.APP_WAIT_NO_CONNECTIONS;

/**
 * Waits on the host, looking every 20 ms, until no established connection to port is left or
 * waitMs has passed; prints the count left (0: none).
 */
export function waitNoConnections(port: number, waitMs: number, o: CmdOptions): Cmd {
  return waiting(wrap(`wait for connections on port ${port} to end`, WAIT_NO_CONNECTIONS, [port, Math.max(0, Math.round(waitMs))], o));
}

