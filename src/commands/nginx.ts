// Commands that run on the nginx hosts, built as data. Pure: nothing here connects.
import { type Cmd, type CmdOptions, PROC_FNS, WAIT_ZERO_FN, WRITE_FN, waiting, wrap } from './shell.ts';

// nginx_workers: one line per nginx worker process: `PID PPID serving|shutting`.
export const WORKERS_FN = `
nginx_workers() { ps -eo pid=,ppid=,args= | awk '$3 == "nginx:" && $4 == "worker" { print $1, $2, ($0 ~ /shutting down/ ? "shutting" : "serving") }'; }
`;

export const READ_NGINX = `
k=$1 f=$2 ct=$3
shift 3
${WORKERS_FN}
echo "zdd-$k uid $(id -u) $(id -un)"
if command -v ps >/dev/null 2>&1; then echo "zdd-$k workers $(nginx_workers | awk '$3 == "serving"' | wc -l)"; else echo "zdd-$k workers no-ps"; fi
if [ -n "$f" ]; then
  d=$(dirname -- "$f")
  if [ -e "$f" ]; then s=present; elif [ -d "$d" ]; then s=absent; else s=nodir; fi
  if [ -w "$d" ] && { [ ! -e "$f" ] || [ -w "$f" ]; }; then w=w; else w=r; fi
  o=$(stat -c %U -- "$d" 2>/dev/null) || o='?'
  echo "zdd-$k want $s $w \${o:-?} $(readlink -m -- "$f")"
fi
out=$(mktemp) || { echo "zdd-$k status mktemp failed"; exit 0; }
err=$(mktemp) || { rm -f -- "$out"; echo "zdd-$k status mktemp failed"; exit 0; }
trap 'rm -f -- "$out" "$err"' EXIT
timeout -k 5 "$ct" "$@" >"$out" 2>"$err"; st=$?
echo "zdd-$k status $st"
if [ "$st" -ne 0 ]; then tail -n 20 -- "$err"; exit 0; fi
sed -n 's/^# configuration file \\(.*\\):$/\\1/p' -- "$out" | while IFS= read -r p; do
  r=$p
  [ -L "$p" ] && r=$(readlink -f -- "$p")
  if [ -w "\${r%/*}/" ] && [ -w "$r" ]; then w=w; else w=r; fi
  printf 'zdd-%s file %s %s\\t%s\\n' "$k" "$w" "$p" "$r"
done
printf '\\nzdd-%s dump\\n' "$k"
cat -- "$out"
`;

/**
 * One round trip that says what nginx serves from: who we are; for an explicit include-file,
 * whether it exists, may be written and where it really is; then the dump command's (nginx -T)
 * status and, when it passed, every file it lists (writable, symlinks resolved) and the dump.
 * `key` makes the marker lines unguessable to the files' content.
 */
export function readNginx(key: string, includeFile: string | undefined, dump: string[], commandSec: number, o: CmdOptions): Cmd {
  return wrap('read the nginx configuration', READ_NGINX, [key, includeFile ?? '', Math.ceil(commandSec), ...dump], o);
}


/** Lists nginx worker processes: `PID PPID shutting|serving` per line. */
export function nginxWorkers(o: CmdOptions): Cmd {
  return wrap('list nginx workers', `${WORKERS_FN}
nginx_workers`, [], o);
}

export const WAIT_GONE = `
ms=$1; shift
${PROC_FNS}
${WAIT_ZERO_FN}
count_alive() { _k=0; for _p; do alive "$_p" && _k=$((_k + 1)); done; echo "$_k"; }
wait_zero "$ms" count_alive "$@"
`;

/**
 * Waits on the host, looking every 20 ms, until none of the (old nginx worker) pids is alive or
 * waitMs has passed; prints how many are left (0: all gone).
 */
export function waitWorkersGone(pids: number[], waitMs: number, o: CmdOptions): Cmd {
  return waiting(wrap(`wait for ${pids.length} old nginx worker(s) to exit`, WAIT_GONE, [Math.max(0, Math.round(waitMs)), ...pids], o));
}

export interface Worker {
  pid: number;
  ppid: number;
  shutting: boolean;
}

export function parseWorkers(stdout: string): Worker[] {
  return stdout
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => /^\d+$/.test(f[0] ?? '') && /^\d+$/.test(f[1] ?? ''))
    .map((f) => ({ pid: Number(f[0]), ppid: Number(f[1]), shutting: f[2] === 'shutting' }));
}

export const CHANGE = `
f=$1 action=$2 expect=$3 target=$4 reload=$5 wait=$6 ct=$7 nt=$8 nd=$9 name=\${10}
shift 10
# A symlinked include is replaced through its link: the link stays.
[ -L "$f" ] && f=$(readlink -f -- "$f")
${WORKERS_FN}
${WRITE_FN}
sum_of() { if [ -e "$1" ]; then sha256sum -- "$1" | cut -d' ' -f1; else echo absent; fi; }
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
old=$(nginx_workers | awk '$3 == "serving" { print $1 "/" $2 }' | tr '\\n' ' ')
echo "old-workers $old"
if [ "$action" != none ]; then
  cur=$(sum_of "$f")
  if [ "$cur" = "$target" ]; then echo same; exit 0; fi
  if [ "$expect" != - ] && [ "$cur" != "$expect" ]; then echo "changed $cur"; exit 0; fi
  bak="$(dirname -- "$f")/.$(basename -- "$f").prev-$$"
  # A hard link keeps the old file (write_atomic replaces the name, not the inode): no copy.
  if [ -e "$f" ] && ! ln -f -- "$f" "$bak" 2>/dev/null && ! err=$(cp -p -- "$f" "$bak" 2>&1); then echo "write-failed $err"; exit 0; fi
  if [ "$action" = write ]; then
    if ! err=$( { write_atomic "$f"; } 2>&1 ); then rm -f -- "$bak"; echo "write-failed $err"; exit 0; fi
  elif ! err=$(rm -f -- "$f" 2>&1); then rm -f -- "$bak"; echo "write-failed $err"; exit 0; fi
  echo written
  put_back() { if [ -e "$bak" ]; then mv -f -- "$bak" "$f"; else rm -f -- "$f"; fi; }
  dump=$(mktemp) || { put_back; echo "write-failed mktemp failed"; exit 0; }
  trap 'rm -f -- "$dump"' EXIT
  # The test's stdout is the dump when the test is the dump command (nginx -T).
  out=$(run_first "$((nt + 4))" timeout -k 5 "$ct" "$@" 2>&1 >"$dump"); st=$?
  if [ "$st" -ne 0 ]; then
    if [ "$action" = remove ]; then rm -f -- "$bak"; echo "removed-untestable $st"; exit 0; fi
    put_back
    echo "test-failed $st"; printf '%s\\n' "$out"; tail -c 2000 -- "$dump"; exit 0
  fi
  shift "$nt"
  if [ "$action" = write ]; then
    if [ "$nd" -gt 0 ]; then
      out=$(run_first "$((nd + 4))" timeout -k 5 "$ct" "$@" 2>&1 >"$dump"); st=$?
      if [ "$st" -ne 0 ]; then put_back; echo "dump-failed $st"; printf '%s\\n' "$out"; exit 0; fi
    fi
    # What nginx will load: the new content under the name it includes the file by.
    if grep -qxF -- "# configuration file $name:" "$dump"; then
      got=$(H="# configuration file $name:" awk 'index($0, "# configuration file ") == 1 { on = ($0 == ENVIRON["H"]); next } on { if (n++) printf "\\n"; printf "%s", $0 }' "$dump" | sha256sum | cut -d' ' -f1)
    else
      got=absent
    fi
    if [ "$got" != "$target" ]; then put_back; echo "not-loaded $got"; exit 0; fi
  fi
  rm -f -- "$bak"
else
  shift "$nt"
fi
shift "$nd"
[ "$reload" = 1 ] || { echo staged; exit 0; }
out=$(timeout -k 5 "$ct" "$@" 2>&1); st=$?
if [ "$st" -ne 0 ]; then
  # Did it reload all the same (a new worker within a second)? Then nginx runs the new include.
  applied=none i=0
  while [ "$i" -lt 50 ] && [ "$applied" = none ]; do
    for w in $(nginx_workers | awk '$3 == "serving" { print $1 "/" $2 }'); do case " $old " in *" $w "*) ;; *) applied=applied ;; esac; done
    [ -z "$old" ] && break
    sleep 0.02; i=$((i + 1))
  done
  echo "reload-failed $st $applied"; printf '%s\\n' "$out"; exit 0
fi
echo reloaded
end=$(( $(date +%s) + wait ))
while :; do
  now=$(nginx_workers | awk '$3 == "serving" { print $1 "/" $2 }')
  for w in $now; do
    case " $old " in *" $w "*) ;; *)
      master=\${w#*/}
      mine=""
      for o in $old; do [ "\${o#*/}" = "$master" ] && mine="$mine \${o%/*}"; done
      echo "switched $master$mine"; exit 0 ;;
    esac
  done
  # No worker seen before or after: nothing shows the reload took (hidepid, no ps, other titles).
  if [ "$(date +%s)" -ge "$end" ]; then
    if [ -z "$old" ] && [ -z "$now" ]; then echo no-workers; else echo not-applied; fi
    exit 0
  fi
  sleep 0.02
done
`;

export type ChangeOutcome =
  | { kind: 'same' }
  | { kind: 'changed'; current: string }
  | { kind: 'write-failed'; detail: string }
  | { kind: 'test-failed' | 'dump-failed'; detail: string; code: number }
  /** applied: nginx started new workers all the same (it runs the new include) */
  | { kind: 'reload-failed'; detail: string; code: number; applied: boolean }
  /** after the write, the dump does not show the new content under the include's name */
  | { kind: 'not-loaded'; got: string }
  | { kind: 'removed-untestable' }
  | { kind: 'staged' }
  | { kind: 'not-applied' }
  /** no nginx worker could be seen, before or after the reload: the switch is unconfirmed */
  | { kind: 'no-workers' }
  | { kind: 'switched'; master: number; oldWorkers: number[] };

export interface ChangeSpec {
  /** what to put in the include: its text, null to remove it, undefined to leave it (reload only) */
  content?: string | null;
  /** sha256 the file must have now ('absent' for no file, '-' for any) */
  expect: string;
  /** sha256 of content ('absent' for null): a file that already has it is left alone */
  target: string;
  /** reload and wait up to waitSec for new workers; false: write and test only */
  reload: boolean;
  test: string[];
  /** the dump command (nginx -T); empty when the test command is it */
  dump: string[];
  /** the include's name in the dump, where the new content must show */
  loadedAs: string;
  reloadCmd: string[];
  waitSec: number;
  commandSec: number;
}

/**
 * One round trip on an nginx host: note the serving workers; unless the file changed since it
 * was read (its sha256 is not `expect`), write the include atomically (stdin) and run the test
 * command, putting the previous file back if the test fails; then (reload) reload and wait until
 * a worker that was not there before serves, the sign that the new configuration is live. The
 * master of that new worker is the nginx that serves the include: its old workers are the ones
 * the drain waits for (another nginx on the host is not counted).
 */
export function changeInclude(path: string, s: ChangeSpec, o: CmdOptions): Cmd {
  const action = s.content === undefined ? 'none' : s.content === null ? 'remove' : 'write';
  return wrap(
    s.reload ? 'switch nginx' : 'write and test the include',
    CHANGE,
    [path, action, s.expect, s.target, s.reload ? 1 : 0, s.waitSec, Math.ceil(s.commandSec), s.test.length, s.dump.length, s.loadedAs, ...s.test, ...s.dump, ...s.reloadCmd],
    o,
    typeof s.content === 'string' ? s.content : undefined,
  );
}

export function parseChange(stdout: string): { written: boolean; outcome?: ChangeOutcome } {
  const lines = stdout.split('\n');
  const written = lines.includes('written');
  const first = (k: string) => lines.findIndex((l) => l === k || l.startsWith(`${k} `));
  if (first('same') >= 0) return { written: false, outcome: { kind: 'same' } };
  let i = first('changed');
  if (i >= 0) return { written: false, outcome: { kind: 'changed', current: lines[i].slice(8).trim() } };
  i = first('write-failed');
  if (i >= 0) return { written: false, outcome: { kind: 'write-failed', detail: lines.slice(i).join('\n').slice(13).trim() } };
  i = first('not-loaded');
  if (i >= 0) return { written: false, outcome: { kind: 'not-loaded', got: lines[i].slice(11).trim() } };
  for (const k of ['test-failed', 'reload-failed', 'dump-failed'] as const) {
    i = first(k);
    if (i >= 0) {
      const [code, applied] = lines[i].slice(k.length + 1).split(' ');
      const detail = lines.slice(i + 1).join('\n').trim();
      if (k === 'reload-failed') return { written, outcome: { kind: k, code: Number(code), detail, applied: applied === 'applied' } };
      return { written: false, outcome: { kind: k, code: Number(code), detail } };
    }
  }
  if (first('removed-untestable') >= 0) return { written, outcome: { kind: 'removed-untestable' } };
  if (first('staged') >= 0) return { written, outcome: { kind: 'staged' } };
  if (first('not-applied') >= 0) return { written, outcome: { kind: 'not-applied' } };
  if (first('no-workers') >= 0) return { written, outcome: { kind: 'no-workers' } };
  i = first('switched');
  if (i >= 0) {
    const n = lines[i].split(/\s+/).slice(1).map(Number);
    return { written, outcome: { kind: 'switched', master: n[0] ?? 0, oldWorkers: n.slice(1).filter((x) => x > 0) } };
  }
  return { written };
}

export const APPEND = `
f=$1 n=$3
mkdir -p -- "$(dirname -- "$f")" || exit 1
printf '%s\\n' "$2" >> "$f" || exit 1
[ "$n" -gt 0 ] && tail -n "$n" -- "$f"
exit 0
`;

/**
 * Appends one line (one write, O_APPEND: atomic for lines under PIPE_BUF), then prints the last
 * `tail` lines of the file (0: none), in the same round trip.
 */
export function appendLine(path: string, line: string, tail: number, o: CmdOptions): Cmd {
  return wrap(`append to ${path}`, APPEND, [path, line.replace(/\n/g, ' '), tail], o);
}

export function tailLines(path: string, n: number, o: CmdOptions): Cmd {
  return wrap(`read ${path}`, 'tail -n "$2" -- "$1" 2>/dev/null || true', [path, n], o);
}

export const LOG_SIZE = `
if [ -f "$1" ]; then stat -c %s -- "$1"; else echo absent; fi
`;

/** The size of a log file in bytes (`absent` when there is none): where a step's lines begin. */
export function logSize(path: string, o: CmdOptions): Cmd {
  return wrap(`size of ${path}`, LOG_SIZE, [path], o);
}

export const LOG_FROM = `
f=$1 from=$2 max=$3
size=$(stat -c %s -- "$f" 2>/dev/null || echo 0)
# Rotated (smaller than where we started): read the new file from its start.
[ "$size" -lt "$from" ] && from=0
tail -c +"$((from + 1))" -- "$f" 2>/dev/null | head -c "$max"
`;

/** The log from byte `from` on (at most maxBytes). */
export function readLogFrom(path: string, from: number, maxBytes: number, o: CmdOptions): Cmd {
  return wrap(`read ${path}`, LOG_FROM, [path, from, maxBytes], o);
}
