// Commands that run on the app hosts, built as data. Pure: nothing here connects.
import { join } from './quote.ts';
import { type Cmd, type CmdOptions, PROC_FNS, WAIT_ZERO_FN, waiting, wrap } from './shell.ts';

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
export const PREPARE = `
set -e
dir=$1 rel=$2 sum=$3 look=$4
[ "$look" = 1 ] || mkdir -p -- "$dir/releases/$rel" "$dir/run" "$dir/logs"
jar="$dir/releases/$rel/app.jar"
if [ -f "$jar" ] && [ "$(cat -- "$jar.sha256" 2>/dev/null)" = "$sum" ]; then echo have; exit 0; fi
# A release label names one jar: another verified jar under it is a kept release, never
# overwritten (one without its .sha256 is an upload that was never verified).
if [ -f "$jar" ] && [ -s "$jar.sha256" ]; then echo "taken $(cat -- "$jar.sha256")"; exit 0; fi
for f in "$dir"/releases/*/app.jar.sha256; do
  [ -f "$f" ] || continue
  src=\${f%.sha256}
  if [ "$src" != "$jar" ] && [ -f "$src" ] && [ "$(cat -- "$f")" = "$sum" ]; then
    if [ "$look" != 1 ]; then
      tmp="$jar.part-$$"
      ln -f -- "$src" "$tmp" 2>/dev/null || cp -- "$src" "$tmp"
      mv -f -- "$tmp" "$jar"
      printf '%s\\n' "$sum" > "$jar.sha256"
    fi
    echo "copied $src"
    exit 0
  fi
done
echo need
`;

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

export const RECEIVE = `
part=$1 jar=$2 size=$3
# The channel opens ahead of the release directory check: the first line says whether the jar
# follows (go) or is not needed (anything else); nothing is touched before it.
IFS= read -r go || go=
# 'go rc': a start waits on the host for this one's end (GATE): its exit code goes to $part.rc,
# created exclusively (an abort the runner wrote there first wins).
record_rc() {
  c=$?
  (set -C; printf '%s\\n' "$c" > "$part.rc") 2>/dev/null
  exit "$c"
}
case $go in
  go) ;;
  'go rc') trap record_rc EXIT; trap 'exit 1' HUP TERM ;;
  *) echo skipped; exit 0 ;;
esac
# The jar may be sent while the release directory is made (prepareRelease): make it here too.
if ! err=$(mkdir -p -- "\${part%/*}" 2>&1); then echo "$err" >&2; exit 2; fi
if ! err=$( { cat > "$part"; } 2>&1 ); then rm -f -- "$part"; echo "$err" >&2; exit 2; fi
have=$(wc -c 2>/dev/null < "$part" || echo 0)
if [ "$have" -ne "$size" ]; then rm -f -- "$part"; echo "wrote $have of $size bytes" >&2; exit 2; fi
# A verified jar (with its .sha256) is a kept release: never replaced.
if [ -s "$jar.sha256" ]; then rm -f -- "$part"; echo "$jar is a kept release (it has its .sha256): not replaced" >&2; exit 3; fi
rm -f -- "$jar.sha256"
mv -f -- "$part" "$jar"
`;

/**
 * Receives the jar on stdin (after a line \`go\` or \`go rc\`; any other line: nothing is done, \`skipped\`)
 * into a temp file, checks its size and moves it into place; the temp
 * file is removed on any failure (a full disk). The checksum is checked by verifyJar, which the
 * deploy runs while the JVM starts, so the upload streams at link speed.
 */
export function receiveJar(part: string, jar: string, size: number, o: CmdOptions): Cmd {
  return wrap('receive the jar', RECEIVE, [part, jar, size], o);
}

export const GATE = `
rc=$1 limit=$2
# The start was sent right behind the jar, so that it costs no round trip after it: it goes on
# once RECEIVE wrote 0 to $rc (the jar is in place), and never when it wrote anything else.
i=0
while [ "$i" -lt $((limit * 50)) ]; do
  if [ -s "$rc" ] && IFS= read -r code < "$rc"; then
    rm -f -- "$rc"
    [ "$code" = 0 ] && exit 0
    echo "the jar was not received (its receiving ended with $code): nothing was started" >&2
    exit 97
  fi
  sleep 0.02
  i=$((i + 1))
done
echo "the jar did not arrive within \${limit}s: nothing was started" >&2
exit 97
`;

/** Waits on the host for the receiving of the jar (RECEIVE after \`go rc\`): exit 0 once the jar is in place, 97 otherwise. */
export function gate(part: string, limitSec: number, o: CmdOptions): Cmd {
  return wrap('wait for the jar', GATE, [`${part}.rc`, Math.ceil(limitSec)], o);
}

export const ABORT_GATE = `
rc=$1
if (set -C; printf '1\\n' > "$rc") 2>/dev/null; then echo aborted; elif [ -e "$rc" ]; then echo decided; else echo none; fi
`;

/**
 * After the runner saw the receiving fail: makes a start waiting behind it (GATE) give up, unless
 * RECEIVE decided first. Prints aborted | decided (the gate ends now either way) | none (no such
 * directory: the receiving never began, and nothing can let the gate pass).
 */
export function abortGate(part: string, o: CmdOptions): Cmd {
  return wrap('stop the start waiting for the jar', ABORT_GATE, [`${part}.rc`], o);
}

export const VERIFY = `
jar=$1 sum=$2
got=$(sha256sum -- "$jar" | cut -d' ' -f1)
if [ "$got" != "$sum" ]; then rm -f -- "$jar"; echo "checksum mismatch after upload: expected $sum, got $got" >&2; exit 3; fi
printf '%s\\n' "$sum" > "$jar.sha256"
`;

/** Checks the jar's sha256 and records it (the record is what later deploys trust); removes a bad jar. */
export function verifyJar(jar: string, sha256: string, o: CmdOptions): Cmd {
  return waiting(wrap('verify the jar checksum', VERIFY, [jar, sha256], o));
}

export const PORT_STATE = `
port=$1 pidfile=$2
${PROC_FNS}
out=$(ss -Htlnp "sport = :$port" 2>&1) || { echo "ss-failed $out"; exit 0; }
read -r opid ostart 2>/dev/null < "$pidfile" || true
if [ -n "$opid" ] && [ -n "$ostart" ] && [ "$(starttime "$opid")" = "$ostart" ]; then echo "ours=$opid"; else echo "ours="; fi
[ -z "$out" ] && { echo free; exit 0; }
pid=$(printf '%s\\n' "$out" | sed -n 's/.*pid=\\([0-9][0-9]*\\).*/\\1/p' | head -n 1)
echo "pid=$pid"
if [ -n "$pid" ]; then
  echo "start=$(starttime "$pid")"
  cmd=$(tr '\\000' ' ' 2>/dev/null < "/proc/$pid/cmdline" | cut -c1-300)
  echo "cmd=$cmd"
  # A systemd service (its cgroup is NAME.service, not the one this command runs in).
  # cgroup v2 (0::PATH) or v1's name=systemd hierarchy.
  svc() { sed -n 's/^0:://p; s/^[0-9]*:name=systemd://p' "/proc/$1/cgroup" 2>/dev/null | grep '\\.service$' | head -n 1; }
  cg=$(svc "$pid")
  if [ -n "$cg" ] && [ "$cg" != "$(svc $$)" ]; then echo "unit=\${cg##*/}"; fi
fi
exit 0
`;

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
}

/** Who listens on a TCP port, and which pid this action recorded for it. */
export function portState(port: number, pidFile: string, o: CmdOptions): Cmd {
  return wrap(`inspect port ${port}`, PORT_STATE, [port, pidFile], o);
}

export function parsePortState(stdout: string): PortState | string {
  const lines = stdout.split('\n');
  if (lines[0]?.startsWith('ss-failed')) return `could not list listening sockets with ss (iproute2): ${lines[0].slice(10)}`;
  const get = (k: string) => lines.find((l) => l.startsWith(`${k}=`))?.slice(k.length + 1);
  const num = (s: string | undefined) => (s && /^\d+$/.test(s.trim()) ? Number(s.trim()) : undefined);
  const st: PortState = { free: lines.includes('free'), pid: num(get('pid')), cmd: get('cmd')?.trim(), ours: num(get('ours')) };
  const unit = get('unit')?.trim();
  if (unit) st.unit = unit;
  const start = get('start')?.trim();
  if (start && /^\d+$/.test(start)) st.start = start;
  return st;
}

// The guard: unless the deploy disarms it (it does once the new process passed its health
// checks, right before the switch), it stops the new process after $1 seconds. So a runner
// that dies, or a host cut off from the runner, never leaves a half-deployed process running.
export const GUARD = `
end=$(( $(date +%s) + $1 )) pid=$2 start=$3 unit=$4 priv=$5
${PROC_FNS}
while [ "$(date +%s)" -lt "$end" ]; do sleep 1; done
same() { [ "$(starttime "$pid")" = "$start" ]; }
same || exit 0
# A systemd service is stopped through systemd (a killed main process would be restarted), with
# the same sudo as the start (the deploy user's systemctl cannot stop a system unit).
if [ -n "$unit" ]; then
  if [ "$priv" = 1 ]; then sudo -n systemctl stop "$unit"; else systemctl stop "$unit"; fi 2>/dev/null
  exit 0
fi
kill -TERM "$pid" 2>/dev/null
i=0
while same && [ "$i" -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
same && kill -KILL "$pid" 2>/dev/null
exit 0
`;

// The app is launched through a tiny sh that exports the environment file (written from stdin,
// readable by the deploy user only, so values never appear on a command line) and then execs
// argv: the start script itself never sees the app's environment.
// (kv is KEY=VALUE: exporting its value is the point, hence the directive)
export const LAUNCH = `# shellcheck disable=SC2163
f=$1; shift; while IFS= read -r kv || [ -n "$kv" ]; do export "$kv"; done < "$f"; exec "$@"`;

export const START = `
pidfile=$2 log=$3 guard=$4 cwd=$5 envfile=$6
shift 6
${PROC_FNS}
mkdir -p -- "$(dirname -- "$envfile")" "$(dirname -- "$log")" || exit 1
( umask 077; cat > "$envfile.tmp" ) && mv -f -- "$envfile.tmp" "$envfile" || exit 1
exe=$(command -v "$1" 2>/dev/null) && [ -n "$exe" ] && { shift; set -- "$exe" "$@"; }
cd "$cwd" || exit 1
setsid nohup sh -c "$LAUNCH_SCRIPT" launch "$envfile" "$@" >>"$log" 2>&1 </dev/null &
pid=$!
st=$(starttime "$pid")
printf '%s %s\\n' "$pid" "$st" > "$pidfile"
if [ "$guard" -gt 0 ]; then
  setsid nohup sh -c "$GUARD_SCRIPT" guard "$guard" "$pid" "$st" >/dev/null 2>&1 </dev/null &
  printf '%s\\n' "$!" > "$pidfile.guard"
fi
echo "$pid"
`;

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
export function startApp(remoteDir: string, port: number, spec: StartSpec, guardSec: number, o: CmdOptions): Cmd {
  const l = layout(remoteDir, '', port);
  return wrap(
    `start the app on port ${port}`,
    `GUARD_SCRIPT=${join([GUARD])}
LAUNCH_SCRIPT=${join([LAUNCH])}
${START}`,
    [port, l.pidFile, spec.log, Math.ceil(guardSec), spec.cwd, `${remoteDir}/run/${port}.env`, ...spec.argv],
    o,
    envLines(spec.env),
  );
}

export const CAPTURE = `
pid=$1 save=$2
${PROC_FNS}
alive "$pid" || { echo dead; exit 0; }
cmd=$(base64 -w0 2>/dev/null < "/proc/$pid/cmdline") && env=$(base64 -w0 2>/dev/null < "/proc/$pid/environ") \\
  && cwd=$(readlink "/proc/$pid/cwd" 2>/dev/null) && [ -n "$cmd" ] || { echo "cannot read /proc/$pid/cmdline, environ or cwd"; exit 0; }
umask 077
printf 'start=%s\\ncwd=%s\\ncmdline=%s\\nenviron=%s\\n' "$(starttime "$pid")" "$(printf '%s' "$cwd" | base64 -w0)" "$cmd" "$env" > "$save.tmp" \\
  && mv -f -- "$save.tmp" "$save" || exit 1
# Under sudo: the deploy user's file in the deploy user's remote-dir, readable by nobody else.
[ -n "\${SUDO_UID:-}" ] && chown "$SUDO_UID:\${SUDO_GID:-$SUDO_UID}" -- "$save"
echo saved
`;

/**
 * Keeps how a running process was started (argv, working directory, environment, from /proc) in
 * the file save on its host (mode 600): they may hold secrets, so they never travel to the job's
 * state, which keeps only the file's path. Prints `saved`, `dead` or why /proc could not be read.
 */
export function captureProcess(pid: number, save: string, o: CmdOptions): Cmd {
  return wrap(`keep how process ${pid} was started`, CAPTURE, [pid, save], o);
}

/** Reads a file captureProcess wrote (parseCapture reads what it prints). */
export function readCaptured(save: string, o: CmdOptions): Cmd {
  return wrap('read how the old process was started', 'cat -- "$1"', [save], o);
}

/** Removes the files captureProcess wrote once nothing can need them (they may hold secrets). */
export function forgetCaptured(saves: string[], o: CmdOptions): Cmd {
  return wrap('remove the kept start records', 'rm -f -- "$@"', saves, o);
}

/** Where captureProcess keeps the old process on port. */
export function capturePath(remoteDir: string, port: number): string {
  return `${remoteDir}/run/${port}.previous`;
}

export interface Captured {
  cwd: string;
  argv: string[];
  env: [string, string][];
}

export function parseCapture(stdout: string): Captured | 'dead' | string {
  const lines = stdout.split('\n');
  if (lines[0]?.trim() === 'dead') return 'dead';
  const get = (k: string) => lines.find((l) => l.startsWith(`${k}=`))?.slice(k.length + 1);
  const b64 = (s: string | undefined) => (s === undefined ? undefined : Buffer.from(s.trim(), 'base64').toString('utf8'));
  const cwd = b64(get('cwd'))?.replace(/\n$/, '');
  const cmdline = b64(get('cmdline'));
  const environ = b64(get('environ'));
  if (!cwd || !cmdline || environ === undefined) return `could not read /proc of the process (permission? set sudo: true): ${stdout.trim().slice(0, 200)}`;
  const argv = cmdline.split('\0').filter((_, i, a) => i < a.length - 1 || a[i] !== '');
  const env: [string, string][] = environ
    .split('\0')
    .filter((kv) => kv.includes('='))
    .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]);
  return { cwd, argv, env };
}

export const PROC_STATE = `
pid=$1 port=$2 disarm=$3
${PROC_FNS}
alive "$pid" || { echo dead; exit 0; }
echo alive
echo "start=$(starttime "$pid")"
[ "$port" = 0 ] && exit 0
out=$(ss -Htlnp "sport = :$port" 2>/dev/null)
lp=$(printf '%s\\n' "$out" | sed -n 's/.*pid=\\([0-9][0-9]*\\).*/\\1/p' | head -n 1)
echo "listener=$lp"
p=$lp
while [ -n "$p" ] && [ "$p" -gt 1 ]; do
  if [ "$p" = "$pid" ]; then
    echo owns-port
    if [ -n "$disarm" ] && read -r w 2>/dev/null < "$disarm.guard"; then kill -TERM "-$w" 2>/dev/null; rm -f -- "$disarm.guard"; echo disarmed; fi
    exit 0
  fi
  p=$(stat_field "$p" 2)
done
`;

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
// ms have passed. Prints \`listening PID\`, \`dead PID\`, \`waiting PID\` or \`nopid\`.
export const WAIT_LISTEN = `
pidfile=$1 port=$2 ms=$3
${PROC_FNS}
${WAIT_ZERO_FN}
read -r pid _ 2>/dev/null < "$pidfile" || { echo nopid; exit 0; }
end=$(( $(now_ms) + ms ))
while :; do
  alive "$pid" || { echo "dead $pid"; exit 0; }
  [ -n "$(ss -Htln "sport = :$port" 2>/dev/null)" ] && { echo "listening $pid"; exit 0; }
  [ "$(now_ms)" -ge "$end" ] && { echo "waiting $pid"; exit 0; }
  sleep 0.02
done
`;

export function waitListen(pidFile: string, port: number, ms: number, o: CmdOptions): Cmd {
  return waiting(wrap(`wait for port ${port} to open`, WAIT_LISTEN, [pidFile, port, Math.max(0, Math.round(ms))], o));
}

/** What WAIT_LISTEN said about pid: undefined when it was about another one, or unreadable. */
export function parseWaitListen(stdout: string, pid: number): 'listening' | 'dead' | 'waiting' | undefined {
  const m = /^(listening|dead|waiting) (\d+)$/.exec(stdout.trim());
  return m && Number(m[2]) === pid ? (m[1] as 'listening' | 'dead' | 'waiting') : undefined;
}

// The watchdog a detached stop leaves on the host: SIGKILL at $2 (epoch ms) unless pid $1 is gone.
// STOP runs it from its 5th argument, so it is a script like the others.
export const WATCHDOG = `
pid=$1 end=$2
${PROC_FNS}
while alive "$pid"; do
  if [ "$(date +%s%3N)" -ge "$end" ]; then kill -KILL "$pid" 2>/dev/null; exit 0; fi
  sleep 0.2
done
`;

export const STOP = `
pid=$1 wait=$2 pidfile=$3 watchdog=$4 start=$5
${PROC_FNS}
if [ -n "$pidfile" ] && read -r w 2>/dev/null < "$pidfile.guard"; then kill -TERM "-$w" 2>/dev/null; rm -f -- "$pidfile.guard"; fi
# Who the pid is: its start time as seen when it was chosen, else as this action recorded it.
if [ -z "$start" ] && [ -n "$pidfile" ] && read -r rp rs 2>/dev/null < "$pidfile" && [ "$rp" = "$pid" ]; then start=$rs; fi
# A pid whose start time differs is another process now (the one chosen exited): never signalled.
if [ -n "$start" ] && [ "$(starttime "$pid")" != "$start" ]; then echo gone; exit 0; fi
if ! alive "$pid"; then echo gone; [ -n "$pidfile" ] && rm -f -- "$pidfile"; exit 0; fi
kill -TERM "$pid" 2>/dev/null || { alive "$pid" && { echo "cannot signal $pid" >&2; exit 4; }; }
if [ -n "$watchdog" ]; then
  # The rest of its exit is left to a watchdog in its own session (it outlives this command and
  # the SSH connection); the pid file stays: it names this pid and start time only while it lives.
  end=$(( $(date +%s%3N) + wait * 1000 ))
  setsid sh -c "$watchdog" zdd-stop-watchdog "$pid" "$end" </dev/null >/dev/null 2>&1 &
  echo "exiting $! $end"
  exit 0
fi
end=$(( $(date +%s) * 10 + wait * 10 ))
while alive "$pid"; do
  if [ "$(( $(date +%s%N) / 100000000 ))" -ge "$end" ]; then
    kill -KILL "$pid" 2>/dev/null
    i=0; while alive "$pid" && [ "$i" -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
    alive "$pid" && { echo "process $pid survived SIGKILL" >&2; exit 5; }
    echo killed; [ -n "$pidfile" ] && rm -f -- "$pidfile"; exit 0
  fi
  sleep 0.02
done
echo terminated
[ -n "$pidfile" ] && rm -f -- "$pidfile"
exit 0
`;

/**
 * SIGTERM, then SIGKILL after waitSec. Prints gone | terminated | killed, and removes pidFile if
 * given. detach: returns right after SIGTERM and prints `exiting WATCHDOG_PID KILL_AT_EPOCH_MS`;
 * a watchdog left on the host SIGKILLs the process at that time if it still runs.
 */
export function stopProcess(pid: number, waitSec: number, pidFile: string, o: CmdOptions, detach = false, start = ''): Cmd {
  return waiting(wrap(`stop process ${pid}`, STOP, [pid, Math.ceil(waitSec), pidFile, detach ? WATCHDOG : '', start], o));
}

/** A detached stop's answer. */
export function parseDetachedStop(stdout: string): { watchdog: number; killAt: number } | undefined {
  const m = /^exiting (\d+) (\d+)$/.exec(stdout.trim());
  return m ? { watchdog: Number(m[1]), killAt: Number(m[2]) } : undefined;
}

export function tailLog(path: string, lines: number, o: CmdOptions): Cmd {
  return wrap(`read ${path}`, 'tail -n "$2" -- "$1" 2>/dev/null || true', [path, lines], o);
}

export const WAIT_NO_CONNECTIONS = `
${WAIT_ZERO_FN}
conns() { ss -Htn state established "sport = :$1" | wc -l; }
wait_zero "$2" conns "$1"
`;

/**
 * Waits on the host, looking every 20 ms, until no established connection to port is left or
 * waitMs has passed; prints the count left (0: none).
 */
export function waitNoConnections(port: number, waitMs: number, o: CmdOptions): Cmd {
  return waiting(wrap(`wait for connections on port ${port} to end`, WAIT_NO_CONNECTIONS, [port, Math.max(0, Math.round(waitMs))], o));
}


