// Every command the action runs on a server, built as data. Pure: nothing here connects.
//
// Each command is a fixed POSIX sh script (a constant below) run as `sh -c SCRIPT sh ARGS...`,
// with every value passed as a quoted positional argument, wrapped in `timeout` so nothing can
// hang the deploy, and prefixed with `sudo -n` where the command needs privileges and the user
// asked for sudo.
import { join, script } from './quote.ts';

export interface Cmd {
  /** the command line to send */
  line: string;
  /** what it does, for logs and error messages */
  what: string;
  /** bytes to feed on stdin */
  stdin?: string;
}

export interface CmdOptions {
  sudo?: boolean;
  /** remote-side limit in seconds (the runner also enforces its own) */
  timeoutSec: number;
}

function wrap(what: string, body: string, args: (string | number)[], o: CmdOptions, stdin?: string): Cmd {
  const inner = script(body, args);
  const limited = `timeout -k 5 ${Math.max(1, Math.ceil(o.timeoutSec))} ${inner}`;
  return { what, line: o.sudo ? `sudo -n ${limited}` : limited, stdin };
}

// ---------------------------------------------------------------- app hosts

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

const PREPARE = `
set -e
dir=$1 rel=$2 sum=$3
mkdir -p -- "$dir/releases/$rel" "$dir/run" "$dir/logs"
jar="$dir/releases/$rel/app.jar"
if [ -f "$jar" ] && [ "$(cat -- "$jar.sha256" 2>/dev/null)" = "$sum" ]; then echo have; exit 0; fi
for f in "$dir"/releases/*/app.jar.sha256; do
  [ -f "$f" ] || continue
  src=\${f%.sha256}
  if [ "$src" != "$jar" ] && [ -f "$src" ] && [ "$(cat -- "$f")" = "$sum" ]; then
    tmp="$jar.part-$$"
    ln -f -- "$src" "$tmp" 2>/dev/null || cp -- "$src" "$tmp"
    mv -f -- "$tmp" "$jar"
    printf '%s\\n' "$sum" > "$jar.sha256"
    echo "copied $src"
    exit 0
  fi
done
echo need
`;

/** Creates the directories; says `have` (jar already there), `copied PATH` (from an identical release) or `need`. */
export function prepareRelease(remoteDir: string, release: string, sha256: string, o: CmdOptions): Cmd {
  return wrap('prepare the release directory', PREPARE, [remoteDir, release, sha256], o);
}

const RECEIVE = `
part=$1 jar=$2 size=$3
if ! err=$( { cat > "$part"; } 2>&1 ); then rm -f -- "$part"; echo "$err" >&2; exit 2; fi
have=$(wc -c < "$part" 2>/dev/null || echo 0)
if [ "$have" -ne "$size" ]; then rm -f -- "$part"; echo "wrote $have of $size bytes" >&2; exit 2; fi
rm -f -- "$jar.sha256"
mv -f -- "$part" "$jar"
`;

/**
 * Receives the jar on stdin into a temp file, checks its size and moves it into place; the temp
 * file is removed on any failure (a full disk). The checksum is checked by verifyJar, which the
 * deploy runs while the JVM starts, so the upload streams at link speed.
 */
export function receiveJar(part: string, jar: string, size: number, o: CmdOptions): Cmd {
  return wrap('receive the jar', RECEIVE, [part, jar, size], o);
}

const VERIFY = `
jar=$1 sum=$2
got=$(sha256sum -- "$jar" | cut -d' ' -f1)
if [ "$got" != "$sum" ]; then rm -f -- "$jar"; echo "checksum mismatch after upload: expected $sum, got $got" >&2; exit 3; fi
printf '%s\\n' "$sum" > "$jar.sha256"
`;

/** Checks the jar's sha256 and records it (the record is what later deploys trust); removes a bad jar. */
export function verifyJar(jar: string, sha256: string, o: CmdOptions): Cmd {
  return wrap('verify the jar checksum', VERIFY, [jar, sha256], o);
}

export function removeFile(path: string, o: CmdOptions): Cmd {
  return wrap(`remove ${path}`, 'rm -f -- "$1"', [path], o);
}

// Shell helpers over /proc/PID/stat (fields after "pid (comm) ": 1 state, 2 ppid, 20 start time).
const PROC_FNS = `
stat_field() { sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f"$2"; }
starttime() { stat_field "$1" 20; }
alive() { _st=$(stat_field "$1" 1); [ -n "$_st" ] && [ "$_st" != Z ] && [ "$_st" != X ]; }
`;

const PORT_STATE = `
port=$1 pidfile=$2
${PROC_FNS}
out=$(ss -Htlnp "sport = :$port" 2>&1) || { echo "ss-failed $out"; exit 0; }
read -r opid ostart < "$pidfile" 2>/dev/null || true
if [ -n "$opid" ] && [ -n "$ostart" ] && [ "$(starttime "$opid")" = "$ostart" ]; then echo "ours=$opid"; else echo "ours="; fi
[ -z "$out" ] && { echo free; exit 0; }
pid=$(printf '%s\\n' "$out" | sed -n 's/.*pid=\\([0-9][0-9]*\\).*/\\1/p' | head -n 1)
echo "pid=$pid"
if [ -n "$pid" ]; then
  cmd=$(tr '\\000' ' ' < "/proc/$pid/cmdline" 2>/dev/null | cut -c1-300)
  echo "cmd=$cmd"
fi
`;

export interface PortState {
  free: boolean;
  /** pid listening, when the user can see it */
  pid?: number;
  cmd?: string;
  /** pid recorded by this action for this port */
  ours?: number;
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
  return { free: lines.includes('free'), pid: num(get('pid')), cmd: get('cmd')?.trim(), ours: num(get('ours')) };
}

// The guard: unless the deploy disarms it (it does once the new process passed its health
// checks, right before the switch), it stops the new process after $1 seconds. So a runner
// that dies, or a host cut off from the runner, never leaves a half-deployed process running.
const GUARD = `
end=$(( $(date +%s) + $1 )) pid=$2 start=$3
${PROC_FNS}
while [ "$(date +%s)" -lt "$end" ]; do sleep 1; done
same() { [ "$(starttime "$pid")" = "$start" ]; }
same || exit 0
kill -TERM "$pid" 2>/dev/null
i=0
while same && [ "$i" -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
same && kill -KILL "$pid" 2>/dev/null
exit 0
`;

const START = `
dir=$1 rel=$2 port=$3 pidfile=$4 log=$5 guard=$6 n=$7
shift 7
${PROC_FNS}
i=0
while [ "$i" -lt "$n" ]; do export "$1"; shift; i=$((i + 1)); done
cd "$dir/releases/$rel" || exit 1
setsid nohup "$@" >"$log" 2>&1 </dev/null &
pid=$!
st=$(starttime "$pid")
printf '%s %s\\n' "$pid" "$st" > "$pidfile"
if [ "$guard" -gt 0 ]; then
  setsid nohup sh -c "$GUARD_SCRIPT" guard "$guard" "$pid" "$st" >/dev/null 2>&1 </dev/null &
  printf '%s\\n' "$!" > "$pidfile.guard"
fi
echo "$pid"
`;

/**
 * Starts argv fully detached (setsid nohup, all fds redirected), records and prints its pid,
 * and arms a guard that stops it after guardSec unless disarmed (0: no guard).
 */
export function startApp(
  remoteDir: string,
  release: string,
  port: number,
  env: [string, string][],
  argv: string[],
  guardSec: number,
  o: CmdOptions,
): Cmd {
  const l = layout(remoteDir, release, port);
  return wrap(
    `start the app on port ${port}`,
    `GUARD_SCRIPT=${join([GUARD])}
${START}`,
    [remoteDir, release, port, l.pidFile, l.log, Math.ceil(guardSec), env.length, ...env.map(([k, v]) => `${k}=${v}`), ...argv],
    o,
  );
}

const PROC_STATE = `
pid=$1 port=$2 disarm=$3
${PROC_FNS}
alive "$pid" || { echo dead; exit 0; }
echo alive
[ "$port" = 0 ] && exit 0
out=$(ss -Htlnp "sport = :$port" 2>/dev/null)
lp=$(printf '%s\\n' "$out" | sed -n 's/.*pid=\\([0-9][0-9]*\\).*/\\1/p' | head -n 1)
echo "listener=$lp"
p=$lp
while [ -n "$p" ] && [ "$p" -gt 1 ]; do
  if [ "$p" = "$pid" ]; then
    echo owns-port
    if [ -n "$disarm" ] && read -r w < "$disarm.guard" 2>/dev/null; then kill -TERM "-$w" 2>/dev/null; rm -f -- "$disarm.guard"; echo disarmed; fi
    exit 0
  fi
  p=$(stat_field "$p" 2)
done
`;

/**
 * Is pid alive, and (port > 0) is the process listening on port that pid or one of its
 * descendants? Prints `dead`, or `alive` + `listener=PID` [+ `owns-port`]. When it owns the
 * port and disarmPidFile is given, the start guard is disarmed (`disarmed`).
 */
export function procState(pid: number, port: number, o: CmdOptions, disarmPidFile = ''): Cmd {
  return wrap(`check process ${pid}`, PROC_STATE, [pid, port, disarmPidFile], o);
}

const STOP = `
pid=$1 wait=$2 pidfile=$3
${PROC_FNS}
if [ -n "$pidfile" ] && read -r w < "$pidfile.guard" 2>/dev/null; then kill -TERM "-$w" 2>/dev/null; rm -f -- "$pidfile.guard"; fi
if ! alive "$pid"; then echo gone; [ -n "$pidfile" ] && rm -f -- "$pidfile"; exit 0; fi
kill -TERM "$pid" 2>/dev/null || { alive "$pid" && { echo "cannot signal $pid" >&2; exit 4; }; }
end=$(( $(date +%s) * 10 + wait * 10 ))
while alive "$pid"; do
  if [ "$(( $(date +%s%N) / 100000000 ))" -ge "$end" ]; then
    kill -KILL "$pid" 2>/dev/null
    i=0; while alive "$pid" && [ "$i" -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
    alive "$pid" && { echo "process $pid survived SIGKILL" >&2; exit 5; }
    echo killed; [ -n "$pidfile" ] && rm -f -- "$pidfile"; exit 0
  fi
  sleep 0.1
done
echo terminated
[ -n "$pidfile" ] && rm -f -- "$pidfile"
exit 0
`;

/** SIGTERM, then SIGKILL after waitSec. Prints gone | terminated | killed. Removes pidFile if given. */
export function stopProcess(pid: number, waitSec: number, pidFile: string, o: CmdOptions): Cmd {
  return wrap(`stop process ${pid}`, STOP, [pid, Math.ceil(waitSec), pidFile], o);
}

export function tailLog(path: string, lines: number, o: CmdOptions): Cmd {
  return wrap(`read ${path}`, 'tail -n "$2" -- "$1" 2>/dev/null || true', [path, lines], o);
}

/** Number of established TCP connections whose local port is `port`. */
export function connectionCount(port: number, o: CmdOptions): Cmd {
  return wrap(`count connections on port ${port}`, 'ss -Htn state established "sport = :$1" | wc -l', [port], o);
}

const PRUNE = `
dir=$1 keep=$2
shift 2
cd "$dir/releases" 2>/dev/null || exit 0
n=0
for r in $(ls -1t); do
  n=$((n + 1))
  [ "$n" -le "$keep" ] && continue
  for p in "$@"; do [ "$r" = "$p" ] && continue 2; done
  for f in "$dir"/run/*.release; do [ -f "$f" ] && [ "$(cat -- "$f")" = "$r" ] && continue 2; done
  rm -rf -- "./$r" && echo "$r"
done
`;

/** Removes all but the newest `keep` releases, never the protected ones. Prints removed names. */
export function pruneReleases(remoteDir: string, keep: number, protect: string[], o: CmdOptions): Cmd {
  return wrap('remove old releases', PRUNE, [remoteDir, keep, ...protect], o);
}

export function recordRelease(remoteDir: string, port: number, release: string, o: CmdOptions): Cmd {
  return wrap('record the release', 'printf "%s\\n" "$2" > "$1"', [`${remoteDir}/run/${port}.release`, release], o);
}

// ---------------------------------------------------------------- nginx host

const READ_INCLUDE = `
if [ -e "$1" ]; then echo present; cat -- "$1"; else
  d=$(dirname -- "$1")
  if [ -d "$d" ]; then echo absent; else echo "nodir $d"; fi
fi
`;

/** Prints `present` then the file, `absent`, or `nodir DIR`. */
export function readInclude(path: string, o: CmdOptions): Cmd {
  return wrap(`read ${path}`, READ_INCLUDE, [path], o);
}

export type IncludeState = { kind: 'present'; text: string } | { kind: 'absent' } | { kind: 'nodir' };

export function parseReadInclude(stdout: string): IncludeState {
  const nl = stdout.indexOf('\n');
  const head = nl < 0 ? stdout.trim() : stdout.slice(0, nl);
  if (head === 'present') return { kind: 'present', text: nl < 0 ? '' : stdout.slice(nl + 1) };
  return head.startsWith('nodir') ? { kind: 'nodir' } : { kind: 'absent' };
}

// write_atomic FILE: stdin to FILE via a temp file in the same directory and mv, keeping the
// file's mode and owner; on failure the temp file is removed and the error is on stderr.
const WRITE_FN = `
write_atomic() {
  tmp="$(dirname -- "$1")/.$(basename -- "$1").deploy-$$"
  if ! cat > "$tmp"; then rm -f -- "$tmp"; return 1; fi
  if [ -e "$1" ]; then
    chmod --reference="$1" -- "$tmp" 2>/dev/null
    chown --reference="$1" -- "$tmp" 2>/dev/null
  else
    chmod 644 -- "$tmp"
  fi
  mv -f -- "$tmp" "$1" || { rm -f -- "$tmp"; return 1; }
}
`;

const WRITE_INCLUDE = `${WRITE_FN}
write_atomic "$1"
`;

/** Writes stdin to path atomically (temp file in the same directory, then mv). */
export function writeInclude(path: string, content: string, o: CmdOptions): Cmd {
  return wrap(`write ${path}`, WRITE_INCLUDE, [path], o, content);
}

/** Runs a user-given command (argv, never through a shell string of theirs). */
export function runArgv(what: string, argv: string[], o: CmdOptions): Cmd {
  return wrap(what, '"$@"', argv, o);
}

// nginx_workers: one line per nginx worker process, `PID serving` or `PID shutting`.
const WORKERS_FN = `
nginx_workers() { ps -eo pid=,args= | awk '$2 == "nginx:" && $3 == "worker" { print $1, ($0 ~ /shutting down/ ? "shutting" : "serving") }'; }
`;

/** Lists nginx worker processes: `PID shutting|serving` per line. */
export function nginxWorkers(o: CmdOptions): Cmd {
  return wrap('list nginx workers', `${WORKERS_FN}
nginx_workers`, [], o);
}

export function parseWorkers(stdout: string): { pid: number; shutting: boolean }[] {
  return stdout
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => /^\d+$/.test(f[0] ?? ''))
    .map((f) => ({ pid: Number(f[0]), shutting: f[1] === 'shutting' }));
}

const SWITCH = `
f=$1 wait=$2 ct=$3 nt=$4
shift 4
${WORKERS_FN}
${WRITE_FN}
workers() { nginx_workers | awk '$2 == "serving" { print $1 }' | tr '\\n' ' '; }
# Runs the command made of the first $1 of the remaining arguments.
run_first() {
  n=$1; shift
  total=$#; i=0
  for a do
    i=$((i + 1))
    [ "$i" -le "$n" ] && set -- "$@" "$a"
  done
  shift "$total"
  "$@"
}
old=$(workers)
echo "old-workers $old"
if ! err=$( { write_atomic "$f"; } 2>&1 ); then echo "write-failed $err"; exit 0; fi
echo written
out=$(run_first "$((nt + 4))" timeout -k 5 "$ct" "$@" 2>&1); st=$?
if [ "$st" -ne 0 ]; then echo "test-failed $st"; printf '%s\\n' "$out"; exit 0; fi
shift "$nt"
out=$(timeout -k 5 "$ct" "$@" 2>&1); st=$?
if [ "$st" -ne 0 ]; then echo "reload-failed $st"; printf '%s\\n' "$out"; exit 0; fi
echo reloaded
end=$(( $(date +%s) + wait ))
while :; do
  now=$(workers)
  [ -z "$old" ] && [ -z "$now" ] && { echo switched; exit 0; }
  for p in $now; do
    case " $old " in *" $p "*) ;; *) echo switched; exit 0 ;; esac
  done
  [ "$(date +%s)" -ge "$end" ] && { echo not-applied; exit 0; }
  sleep 0.02
done
`;

export type SwitchOutcome =
  | { kind: 'write-failed'; detail: string }
  | { kind: 'test-failed' | 'reload-failed'; detail: string; code: number }
  | { kind: 'not-applied' }
  | { kind: 'switched' };

/**
 * The switch in one round trip: note the serving nginx workers, write the include atomically
 * (stdin), run the test command, then the reload command, and wait (up to waitSec) until a
 * worker that was not there before serves, the sign that the new configuration is live.
 */
export function switchInclude(
  path: string,
  content: string,
  test: string[],
  reload: string[],
  limits: { waitSec: number; commandSec: number },
  o: CmdOptions,
): Cmd {
  return wrap('switch nginx', SWITCH, [path, limits.waitSec, Math.ceil(limits.commandSec), test.length, ...test, ...reload], o, content);
}

export function parseSwitch(stdout: string): { oldWorkers: number[]; written: boolean; outcome?: SwitchOutcome } {
  const lines = stdout.split('\n');
  const ow = lines.find((l) => l.startsWith('old-workers'));
  const oldWorkers = (ow ?? '').split(/\s+/).slice(1).filter((x) => /^\d+$/.test(x)).map(Number);
  const written = lines.includes('written');
  const wf = lines.find((l) => l.startsWith('write-failed'));
  if (wf !== undefined) return { oldWorkers, written: false, outcome: { kind: 'write-failed', detail: wf.slice(13).trim() } };
  for (const k of ['test-failed', 'reload-failed'] as const) {
    const i = lines.findIndex((l) => l.startsWith(`${k} `));
    if (i >= 0) {
      const code = Number(lines[i].slice(k.length + 1));
      return { oldWorkers, written, outcome: { kind: k, code, detail: lines.slice(i + 1).join('\n').trim() } };
    }
  }
  if (lines.includes('not-applied')) return { oldWorkers, written, outcome: { kind: 'not-applied' } };
  if (lines.includes('switched')) return { oldWorkers, written, outcome: { kind: 'switched' } };
  return { oldWorkers, written };
}

const LOCK = `
lock=$1 info=$2 stale=$3
mkdir -p -- "$(dirname -- "$lock")" || exit 1
if mkdir -- "$lock" 2>/dev/null; then printf '%s\\n' "$info" > "$lock/owner"; echo acquired; exit 0; fi
now=$(date +%s)
since=$(stat -c %Y -- "$lock" 2>/dev/null || echo "$now")
age=$((now - since))
owner=$(cat -- "$lock/owner" 2>/dev/null | head -n 1)
if [ "$stale" -gt 0 ] && [ "$age" -ge "$stale" ]; then
  rm -rf -- "$lock"
  if mkdir -- "$lock" 2>/dev/null; then printf '%s\\n' "$info" > "$lock/owner"; echo "recovered $age $owner"; exit 0; fi
fi
echo "held $age $owner"
`;

/** mkdir-based lock. Prints `acquired`, `recovered AGE OWNER` (stale lock replaced) or `held AGE OWNER`. */
export function acquireLock(lockDir: string, info: string, staleSec: number, o: CmdOptions): Cmd {
  return wrap('take the deploy lock', LOCK, [lockDir, info.replace(/\n/g, ' '), Math.ceil(staleSec)], o);
}

const UNLOCK = `
lock=$1 info=$2
[ "$(cat -- "$lock/owner" 2>/dev/null | head -n 1)" = "$info" ] && rm -rf -- "$lock"
exit 0
`;

export function releaseLock(lockDir: string, info: string, o: CmdOptions): Cmd {
  return wrap('release the deploy lock', UNLOCK, [lockDir, info.replace(/\n/g, ' ')], o);
}

export function describe(argv: string[]): string {
  return join(argv);
}
