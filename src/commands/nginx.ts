// Commands that run on the nginx hosts, built as data. Pure: nothing here connects.
import { type Cmd, type CmdOptions, waiting, withPrevious, wrap } from './shell.ts';
import * as SH from './scripts.gen.ts';
import { VALIDATOR_PATH, VALIDATOR_SHA } from './validator.ts';

// nginx_workers: one line per nginx worker process: `PID PPID serving|shutting`.
export const WORKERS_FN = SH.NGINX_WORKERS_FN;

export const READ_NGINX = SH.NGINX_READ_NGINX;

/**
 * One round trip that says what nginx serves from: who we are; for an explicit include-file,
 * whether it exists, may be written and where it really is; then the dump command's (nginx -T)
 * status and, when it passed, every file it lists (writable, symlinks resolved) and the dump.
 * `key` makes the marker lines unguessable to the files' content.
 */
export function readNginx(key: string, includeFile: string | undefined, dump: string[], commandSec: number, o: CmdOptions, names: string[] = [], priv = false, checks: string[][] = [], validator = VALIDATOR_PATH): Cmd {
  // names: host names (never addresses) to resolve on the host, one word each (config/hosts.ts isValidHost).
  // priv: the dump runs as `sudo -n DUMP...` (an exact command of the sudoers rule); the script
  // itself runs as the deploy user. checks: the other commands a switch runs through sudo (the
  // test, the reload), asked with `sudo -n -l` (which runs nothing) so a refusal comes first.
  // With priv it also says how the include validator is (validator.ts), and whether the rule is
  // broad when that is not the one expected.
  const asked = priv ? checks.filter((c) => c.length > 0).flatMap((c) => [String(c.length), ...c]) : [];
  return wrap('read the nginx configuration', READ_NGINX, [key, includeFile ?? '', Math.ceil(commandSec), names.join(' '), priv ? 1 : 0, validator, VALIDATOR_SHA, ...asked, '--', ...dump], o);
}

/** Lists nginx worker processes: `PID PPID shutting|serving` per line. */
export function nginxWorkers(o: CmdOptions): Cmd {
  return wrap('list nginx workers', SH.NGINX_LIST_WORKERS, [], o);
}

export const WAIT_GONE = SH.NGINX_WAIT_GONE;

/**
 * Waits on the host, looking every 20 ms, until none of the (old nginx worker) pids is alive or
 * waitMs has passed; prints how many are left (0: all gone).
 */
export function waitWorkersGone(pids: number[], waitMs: number, o: CmdOptions): Cmd {
  return waiting(wrap(`wait for ${pids.length} old nginx worker(s) to exit`, WAIT_GONE, [Math.max(0, Math.round(waitMs)), ...pids], o));
}

export const WAIT_SWITCHED = SH.NGINX_WAIT_SWITCHED;

/**
 * Sent right behind a change sent with keep, in its shell: waits like waitWorkersGone for the
 * old workers its `switched MASTER PID...` line names (0 when there were none); `none` when the
 * change did not switch. No round trip between the switch and this wait.
 */
export function waitSwitchedWorkers(waitMs: number, o: CmdOptions): Cmd {
  return withPrevious(waiting(wrap('wait for the old nginx workers of the switch to exit', WAIT_SWITCHED, [Math.max(0, Math.round(waitMs))], o)));
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

export const CHANGE = SH.NGINX_CHANGE;

export type ChangeOutcome =
  | { kind: 'same' }
  | { kind: 'changed'; current: string }
  | { kind: 'write-failed'; detail: string }
  /** the include validator refused the new content (its reason): nothing was written */
  | { kind: 'content-refused'; detail: string }
  | { kind: 'test-failed' | 'dump-failed'; detail: string; code: number }
  /** applied: nginx started new workers all the same (it runs the new include) */
  | { kind: 'reload-failed'; detail: string; code: number; applied: boolean }
  /** after the write, the dump does not show the new content under the include's name */
  | { kind: 'not-loaded'; got: string }
  /** the file was put back: without it nginx's configuration fails its test (detail) */
  | { kind: 'removed-untestable'; detail: string }
  | { kind: 'staged' }
  | { kind: 'not-applied' }
  /** sudo refused a command (not in the sudoers rule): nothing of this change stays */
  | { kind: 'sudo-refused'; refused: SudoRefusal }
  /** no nginx worker could be seen, before or after the reload: the switch is unconfirmed */
  | { kind: 'no-workers' }
  | { kind: 'switched'; master: number; oldWorkers: number[] };

/** What sudo refused on a host: who asked, and the command (its full path first, as a sudoers line names it). */
export interface SudoRefusal {
  user: string;
  argv: string[];
}

/** A `TAG USER<TAB>PATH<TAB>ARG...` line (nginx/_sudo-fn.sh refused_line), after its tag. */
export function parseRefusal(rest: string): SudoRefusal | undefined {
  const [user, ...argv] = rest.split('\t');
  return user && argv.length > 0 ? { user: user.trim(), argv } : undefined;
}

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
  /** with sudo: every root step is `sudo -n` and an exact command of the sudoers rule (sudoers.ts) */
  priv?: boolean;
  /** the include validator's path (validator.ts VALIDATOR_PATH; another one in tests) */
  validator?: string;
}

/**
 * One round trip on an nginx host: note the serving workers; unless the file changed since it
 * was read (its sha256 is not `expect`), write the include atomically (stdin; with sudo, through
 * the include validator when the host has this version's) and run the test
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
    [path, action, s.expect, s.target, s.reload ? 1 : 0, s.waitSec, Math.ceil(s.commandSec), s.test.length, s.dump.length, s.loadedAs, s.priv ? 1 : 0, s.validator ?? VALIDATOR_PATH, VALIDATOR_SHA, ...s.test, ...s.dump, ...s.reloadCmd],
    o,
    typeof s.content === 'string' ? s.content : undefined,
  );
}

export function parseChange(stdout: string): { written: boolean; outcome?: ChangeOutcome } {
  const lines = stdout.split('\n');
  const written = lines.includes('written');
  const first = (k: string) => lines.findIndex((l) => l === k || l.startsWith(`${k} `));
  if (first('same') >= 0) return { written: false, outcome: { kind: 'same' } };
  const refusedAt = first('sudo-refused');
  const refused = refusedAt >= 0 ? parseRefusal(lines[refusedAt].slice('sudo-refused '.length)) : undefined;
  // Refused at the write, the test or the dump, the include was put back; at the reload, it holds
  // what was written and tested, and nginx was not signalled.
  if (refused) return { written: written && lines.includes('reload-refused'), outcome: { kind: 'sudo-refused', refused } };
  let i = first('changed');
  if (i >= 0) return { written: false, outcome: { kind: 'changed', current: lines[i].slice(8).trim() } };
  i = first('content-refused');
  if (i >= 0) return { written: false, outcome: { kind: 'content-refused', detail: lines.slice(i + 1).join('\n').trim() } };
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
  i = first('removed-untestable');
  if (i >= 0) return { written: false, outcome: { kind: 'removed-untestable', detail: lines.slice(i + 1).join('\n').trim() } };
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

export const APPEND = SH.NGINX_APPEND;

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

/** The last n lines of a log, or `unreadable USER OWNER:GROUP MODE` when the user may not read it. */
export function tailLog(path: string, n: number, o: CmdOptions): Cmd {
  return wrap(`read ${path}`, SH.NGINX_LOG_TAIL, [path, n], o);
}

/** A log-size or log-tail answer that says the user may not read the log. */
export function parseUnreadable(out: string): { user: string; mode: string } | undefined {
  const m = /^unreadable (\S+) (.*)$/.exec(out.trim());
  return m ? { user: m[1], mode: m[2] } : undefined;
}

export const LOG_SIZE = SH.NGINX_LOG_SIZE;

/** The size of a log file in bytes (`absent` when there is none): where a step's lines begin. */
export function logSize(path: string, o: CmdOptions): Cmd {
  return wrap(`size of ${path}`, LOG_SIZE, [path], o);
}

export const LOG_FROM = SH.NGINX_LOG_FROM;

/** The log from byte `from` on (at most maxBytes). */
export function readLogFrom(path: string, from: number, maxBytes: number, o: CmdOptions): Cmd {
  return wrap(`read ${path}`, LOG_FROM, [path, from, maxBytes], o);
}
