// How a running process was started (argv, working directory, environment), kept in a file on
// its host for a rollback to start it again as it was, and read back. Pure: commands as data.
import { type Cmd, type CmdOptions, wrap, wrapForPid } from './shell.ts';
import * as SH from './scripts.gen.ts';

export const CAPTURE = SH.APP_CAPTURE;

/**
 * Keeps how a running process was started (argv, working directory, environment, from /proc) in
 * the file save on its host (mode 600): they may hold secrets, so they never travel to the job's
 * state, which keeps only the file's path. Prints `saved`, `dead` or why /proc could not be read.
 */
export function captureProcess(pid: number, save: string, o: CmdOptions): Cmd {
  return wrapForPid(`keep how process ${pid} was started`, CAPTURE, [pid, save], o);
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
