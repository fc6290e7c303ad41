// Preflight checks, one round trip per host, before anything is uploaded or started. Pure.
import { type Cmd, type CmdOptions, wrap } from './shell.ts';
import * as SH from './scripts.gen.ts';

const TOOLS = ['timeout', 'sha256sum', 'setsid', 'nohup', 'ss', 'ps', 'base64', 'sed', 'awk'];

export const APP = SH.PREFLIGHT_APP;

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
  /** /proc/meminfo's MemTotal and MemAvailable, in bytes, when the host has them */
  memTotalBytes?: number;
  memAvailBytes?: number;
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
    ...memory(get('mem-kb')),
  };
}

function memory(text: string | undefined): Pick<AppPreflight, 'memTotalBytes' | 'memAvailBytes'> {
  const m = /^(\d+) (\d+)$/.exec((text ?? '').trim());
  return m ? { memTotalBytes: Number(m[1]) * 1024, memAvailBytes: Number(m[2]) * 1024 } : {};
}
