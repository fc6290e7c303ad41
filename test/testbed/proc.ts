// Tool paths and the small process helpers every part of the testbed uses.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ExecResult } from './types.ts';

export const IP = '/usr/sbin/ip';
export const NSENTER = '/usr/bin/nsenter';
export const UNSHARE = '/usr/bin/unshare';
export const SSHD = '/usr/sbin/sshd';
export const NGINX = '/usr/sbin/nginx';
export const SYS_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
export const INCLUDE_REMOTE = '/etc/nginx/conf.d/service_url.inc';
export const SUDO = '/usr/bin/sudo';
export const VISUDO = '/usr/sbin/visudo';

export const withNewline = (t: string) => (t.endsWith('\n') ? t : `${t}\n`);
export const SETPRIV = '/usr/bin/setpriv';
/** where a systemd host's per-host unit directories are bound */
export const ETC_UNITS = '/etc/systemd/system';
export const LOCAL_UNITS = '/usr/local/lib/systemd/system';

/** the non-root account every sshd host gets with opts.deployUser (primary group: same name/id) */
export const DEPLOY_USER = 'zdddeploy';
export const DEPLOY_UID = 2950;

export const HERE = path.dirname(fileURLToPath(import.meta.url));
export const APP_SRC = path.resolve(HERE, '../app/App.java');
export const APP_BUILD = path.resolve(HERE, '../app/build');

// ---------------------------------------------------------------------------------------------
// small process helpers

export interface RawRun {
  env?: Record<string, string>;
  cwd?: string;
  input?: string;
  timeoutMs?: number;
}

/** Runs argv (no shell) in its own process group; on timeout kills the whole group. */
export function run(argv: string[], opts: RawRun = {}): Promise<ExecResult> {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  return new Promise((resolve) => {
    let child: ChildProcess;
    try {
      child = spawn(argv[0], argv.slice(1), {
        env: opts.env ?? { PATH: SYS_PATH, HOME: '/root', LANG: 'C.UTF-8' },
        cwd: opts.cwd,
        detached: true,
        stdio: ['pipe', 'pipe', 'pipe'],
      });
    } catch (e) {
      resolve({ code: 127, stdout: '', stderr: String(e), timedOut: false });
      return;
    }
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    let settled = false;
    const killGroup = (sig: NodeJS.Signals) => {
      try {
        if (child.pid) process.kill(-child.pid, sig);
      } catch {
        /* gone */
      }
    };
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup('SIGTERM');
      setTimeout(() => killGroup('SIGKILL'), 500).unref();
      // if a grandchild keeps our pipes open, do not wait for 'close' forever
      setTimeout(() => finish(child.exitCode ?? 124), 1500).unref();
    }, timeoutMs);
    const finish = (code: number) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({
        code,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        timedOut,
      });
    };
    child.stdout!.on('data', (d: Buffer) => out.push(d));
    child.stderr!.on('data', (d: Buffer) => err.push(d));
    child.on('error', (e) => {
      err.push(Buffer.from(String(e)));
      finish(127);
    });
    child.on('close', (code, signal) => {
      finish(code ?? (signal ? 128 + (os.constants.signals[signal] ?? 0) : -1));
    });
    child.stdin!.on('error', () => {});
    child.stdin!.end(opts.input ?? '');
  });
}

export async function must(argv: string[], opts: RawRun = {}): Promise<string> {
  const r = await run(argv, opts);
  if (r.code !== 0) {
    throw new Error(`command failed (${r.code}${r.timedOut ? ', timed out' : ''}): ${argv.join(' ')}\n${r.stderr}${r.stdout}`);
  }
  return r.stdout;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function shq(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}
