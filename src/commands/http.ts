// An HTTP GET run on a host itself (curl, else wget): the fallback for health and reachability
// checks when its sshd refuses TCP forwarding. Pure.
import { type Cmd, type CmdOptions, waiting, wrap } from './shell.ts';
import * as SH from './scripts.gen.ts';

export const GET = SH.HTTP_GET;

export function httpGet(url: string, timeoutSec: number, o: CmdOptions): Cmd {
  return waiting(wrap(`GET ${url}`, GET, [url, Math.max(1, Math.ceil(timeoutSec))], o));
}

/** noClient: the host has neither curl nor wget. */
export type HttpAnswer = { status: number; body: string } | { error: string; noClient?: true };

export function parseHttpGet(stdout: string): HttpAnswer {
  if (stdout.trim() === 'zdd-no-client') return { error: 'neither curl nor wget is installed on the host (needed because its sshd refuses TCP forwarding)', noClient: true };
  const curl = /\nzdd-status (\d{3})\n?$/.exec(stdout);
  if (curl) {
    const body = stdout.slice(0, curl.index);
    const status = Number(curl[1]);
    if (status === 0) return { error: /refused/i.test(body) ? 'connection refused (not listening yet)' : body.trim().replace(/^curl: \(\d+\) /, '') || 'no answer' };
    return { status, body };
  }
  const wget = /\nzdd-wget (\d+)\n?$/.exec(stdout);
  if (wget) {
    const text = stdout.slice(0, wget.index);
    const lines = text.split('\n');
    const st = lines.map((l) => /^\s+HTTP\/\S+ (\d{3})/.exec(l)).filter(Boolean).pop();
    if (!st) return { error: /refused/i.test(text) ? 'connection refused (not listening yet)' : text.trim() || 'no answer' };
    return { status: Number(st[1]), body: lines.filter((l) => !/^\s/.test(l)).join('\n') };
  }
  return { error: `unexpected output: ${stdout.slice(0, 200).trim()}` };
}

export const MANY = SH.HTTP_MANY;

/** n GETs of url, one after the other, on the host itself: `STATUS SECONDS` per line (curl). */
export function httpGetMany(url: string, n: number, timeoutSec: number, o: CmdOptions): Cmd {
  return waiting(wrap(`warm up ${url}`, MANY, [url, n, Math.max(1, Math.ceil(timeoutSec))], o));
}
