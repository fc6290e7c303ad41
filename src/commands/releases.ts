// Release records on the app hosts, built as data. Pure: nothing here connects.
//   releases/<release>/app.jar (+ .sha256)   the jar
//   releases/<release>/start.json            how it is started (java, java-opts, app-args, env; mode 600)
//   run/<port>.release                       the release last deployed on that port
//   run/staged                               `RELEASE PORT PID STARTTIME` of a staged release
import { type Cmd, type CmdOptions, PROC_FNS, wrap } from './shell.ts';

export const PRUNE = `
dir=$1 keep=$2
shift 2
cd "$dir/releases" 2>/dev/null || exit 0
staged=$(cut -d' ' -f1 "$dir/run/staged" 2>/dev/null)
n=0
# Newest first by mtime; release names are letters, digits, '.', '_' and '-' only (inputs.ts).
# shellcheck disable=SC2045
for r in $(ls -1t); do
  n=$((n + 1))
  [ "$n" -le "$keep" ] && continue
  [ "$r" = "$staged" ] && continue
  for p in "$@"; do [ "$r" = "$p" ] && continue 2; done
  for f in "$dir"/run/*.release; do [ -f "$f" ] && [ "$(cat -- "$f")" = "$r" ] && continue 2; done
  rm -rf -- "./$r" && rm -f -- "$dir/logs/$r".*.log && echo "$r"
done
`;

/**
 * Removes all but the newest `keep` releases (and their logs), never a protected one, one named
 * by run/<port>.release (the live and the previous release) or the staged one. Prints removed names.
 */
export function pruneReleases(remoteDir: string, keep: number, protect: string[], o: CmdOptions): Cmd {
  return wrap('remove old releases', PRUNE, [remoteDir, keep, ...protect], o);
}

export const RECORD = `
dir=$1 port=$2 rel=$3
printf '%s\\n' "$rel" > "$dir/run/$port.release"
( umask 077; cat > "$dir/releases/$rel/start.json.tmp" ) && mv -f -- "$dir/releases/$rel/start.json.tmp" "$dir/releases/$rel/start.json"
`;

/** Records the release on a port and, from stdin, how it is started (readable by the deploy user only). */
export function recordRelease(remoteDir: string, port: number, release: string, startJson: string, o: CmdOptions): Cmd {
  return wrap('record the release', RECORD, [remoteDir, port, release], o, startJson);
}

/** Records only what runs on a port (a team's own unit, `unit:NAME.service`: no jar, no command). */
export function recordPort(remoteDir: string, port: number, release: string, o: CmdOptions): Cmd {
  return wrap('record the release', 'printf \'%s\\n\' "$3" > "$1/run/$2.release"', [remoteDir, port, release], o);
}

export const INFO = `
dir=$1 rel=$2
shift 2
if [ -n "$rel" ]; then
  if [ -f "$dir/releases/$rel/app.jar" ]; then echo jar=yes; else echo jar=no; fi
  [ -f "$dir/releases/$rel/start.json" ] && echo "start=$(base64 -w0 < "$dir/releases/$rel/start.json")"
fi
for p in "$@"; do echo "release-$p=$(cat -- "$dir/run/$p.release" 2>/dev/null)"; done
echo "staged=$(cat -- "$dir/run/staged" 2>/dev/null)"
exit 0
`;

/** What a host knows of a release (its jar, its start record) and of the given ports and the stage. */
export function releaseInfo(remoteDir: string, release: string, ports: number[], o: CmdOptions): Cmd {
  return wrap('read the release records', INFO, [remoteDir, release, ...ports], o);
}

export interface ReleaseInfo {
  jar: boolean;
  /** start.json, decoded */
  start?: string;
  /** port -> release recorded on it */
  ports: Map<number, string>;
  staged?: { release: string; port: number; pid: number; start: string };
}

export function parseReleaseInfo(stdout: string): ReleaseInfo {
  const lines = stdout.split('\n');
  const get = (k: string) => lines.find((l) => l.startsWith(`${k}=`))?.slice(k.length + 1);
  const ports = new Map<number, string>();
  for (const l of lines) {
    const m = /^release-(\d+)=(.*)$/.exec(l);
    if (m && m[2].trim()) ports.set(Number(m[1]), m[2].trim());
  }
  const st = (get('staged') ?? '').trim().split(/\s+/);
  const start = get('start');
  return {
    jar: get('jar') === 'yes',
    start: start ? Buffer.from(start, 'base64').toString('utf8') : undefined,
    ports,
    staged: st.length === 4 && /^\d+$/.test(st[1]) && /^\d+$/.test(st[2]) ? { release: st[0], port: Number(st[1]), pid: Number(st[2]), start: st[3] } : undefined,
  };
}

export const STAGE = `
dir=$1 port=$2 rel=$3
read -r pid st < "$dir/run/$port.pid" || exit 1
printf '%s %s %s %s\\n' "$rel" "$port" "$pid" "$st" > "$dir/run/staged"
`;

/** Marks the process on port (from its pid file) as the staged release. */
export function markStaged(remoteDir: string, port: number, release: string, o: CmdOptions): Cmd {
  return wrap('record the staged release', STAGE, [remoteDir, port, release], o);
}

export function clearStaged(remoteDir: string, o: CmdOptions): Cmd {
  return wrap('clear the staged release', 'rm -f -- "$1/run/staged"', [remoteDir], o);
}

export const ADOPT = `
dir=$1 port=$2 pid=$3
${PROC_FNS}
alive "$pid" || exit 0
printf '%s %s\\n' "$pid" "$(starttime "$pid")" > "$dir/run/$port.pid"
`;

/** Records a process this action did not start as its own (a warm standby it will replace later). */
export function adoptProcess(remoteDir: string, port: number, pid: number, o: CmdOptions): Cmd {
  return wrap(`adopt process ${pid}`, ADOPT, [remoteDir, port, pid], o);
}
