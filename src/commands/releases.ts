// Release records on the app hosts, built as data. Pure: nothing here connects.
//   releases/<release>/app.jar (+ .sha256)   the jar
//   releases/<release>/start.json            how it is started (java, java-opts, app-args, env; mode 600)
//   run/<port>.release                       the release last deployed on that port
//   run/staged                               `RELEASE PORT PID STARTTIME` of a staged release
import { type Cmd, type CmdOptions, wrap } from './shell.ts';
import * as SH from './scripts.gen.ts';

export const PRUNE = SH.RELEASES_PRUNE;

/**
 * Removes all but the newest `keep` releases (and their logs), never a protected one, one named
 * by run/<port>.release (the live and the previous release) or the staged one. Prints removed names.
 */
export function pruneReleases(remoteDir: string, keep: number, protect: string[], o: CmdOptions): Cmd {
  return wrap('remove old releases', PRUNE, [remoteDir, keep, ...protect], o);
}

export const RECORD = SH.RELEASES_RECORD;

/** Records the release on a port and, from stdin, how it is started (readable by the deploy user only). */
export function recordRelease(remoteDir: string, port: number, release: string, startJson: string, o: CmdOptions): Cmd {
  return wrap('record the release', RECORD, [remoteDir, port, release], o, startJson);
}

/** Records only what runs on a port (a team's own unit, `unit:NAME.service`: no jar, no command). */
export function recordPort(remoteDir: string, port: number, release: string, o: CmdOptions): Cmd {
  return wrap('record the release', 'printf \'%s\\n\' "$3" > "$1/run/$2.release"', [remoteDir, port, release], o);
}

export const INFO = SH.RELEASES_INFO;

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

export const STAGE = SH.RELEASES_STAGE;

/** Marks the process on port (from its pid file) as the staged release. */
export function markStaged(remoteDir: string, port: number, release: string, o: CmdOptions): Cmd {
  return wrap('record the staged release', STAGE, [remoteDir, port, release], o);
}

export function clearStaged(remoteDir: string, o: CmdOptions): Cmd {
  return wrap('clear the staged release', 'rm -f -- "$1/run/staged"', [remoteDir], o);
}

export const ADOPT = SH.RELEASES_ADOPT;

/** Records a process this action did not start as its own (a warm standby it will replace later). */
export function adoptProcess(remoteDir: string, port: number, pid: number, o: CmdOptions): Cmd {
  return wrap(`adopt process ${pid}`, ADOPT, [remoteDir, port, pid], o);
}
