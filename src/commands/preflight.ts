// Preflight checks, one round trip per host, before anything is uploaded or started. Pure.
import { type Cmd, type CmdOptions, wrap } from './shell.ts';

const TOOLS = ['timeout', 'sha256sum', 'setsid', 'nohup', 'ss', 'ps', 'base64', 'sed', 'awk'];

export const APP = `
java=$1 dir=$2
echo "path=$PATH"
if j=$(command -v "$java" 2>/dev/null) && [ -n "$j" ]; then
  echo "java=$j"
  # The JDK's release file says its version without starting a JVM (one per host adds up).
  home=$(readlink -f -- "$j" 2>/dev/null); home=\${home%/bin/java}
  if [ -f "$home/release" ] && v=$(sed -n 's/^IMPLEMENTOR="\\(.*\\)"$/\\1 /p; s/^JAVA_VERSION="\\(.*\\)"$/java \\1/p' "$home/release" | tr -d '\\n') && [ -n "$v" ]; then
    echo "java-version=$v"
  else
    echo "java-version=$("$j" -version 2>&1 | head -n 1)"
  fi
else
  echo "java="
fi
shift 2
m=""
for t in "$@"; do command -v "$t" >/dev/null 2>&1 || m="$m $t"; done
echo "missing=$m"
d=$dir
while [ ! -d "$d" ]; do d=$(dirname -- "$d"); done
echo "avail-kb=$(df -Pk -- "$d" 2>/dev/null | awk 'NR == 2 { print $4 }')"
if [ -w "$d" ]; then echo writable=yes; else echo "writable=no $(id -un) $(stat -c %U -- "$d" 2>/dev/null)"; fi
`;

/** What an app host has: java (path and version), the tools the scripts use, free disk under remote-dir. */
export function appPreflight(java: string, remoteDir: string, o: CmdOptions): Cmd {
  return wrap('preflight', APP, [java, remoteDir, ...TOOLS], o);
}

export interface AppPreflight {
  path: string;
  java?: string;
  javaVersion?: string;
  missing: string[];
  availBytes?: number;
  writable: boolean;
  /** when not writable: who we are and who owns the directory */
  who?: string;
}

export function parseAppPreflight(stdout: string): AppPreflight {
  const get = (k: string) => stdout.split('\n').find((l) => l.startsWith(`${k}=`))?.slice(k.length + 1);
  const kb = Number(get('avail-kb'));
  const w = get('writable') ?? 'no';
  return {
    path: get('path') ?? '',
    java: get('java') || undefined,
    javaVersion: get('java-version') || undefined,
    missing: (get('missing') ?? '').trim().split(/\s+/).filter(Boolean),
    availBytes: Number.isFinite(kb) && get('avail-kb') ? kb * 1024 : undefined,
    writable: w === 'yes',
    who: w === 'yes' ? undefined : w.slice(3),
  };
}
