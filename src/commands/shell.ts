// How every remote command is built: a fixed POSIX sh script (a constant of this program) run as
// `sh -c SCRIPT sh ARGS...`, every value a quoted positional argument, wrapped in `timeout` so
// nothing can hang the deploy, prefixed with `sudo -n` where it needs privileges and the user
// asked for sudo. Pure: nothing here connects.
import { join, quote, script } from '../util/quote.ts';
import * as SH from './scripts.gen.ts';

export interface Cmd {
  /** the command line to send */
  line: string;
  /** what it does, for logs and error messages */
  what: string;
  /** bytes to feed on stdin */
  stdin?: string;
  /**
   * it waits on the host (for an exit, a drain, a checksum of a big jar): nothing is queued
   * behind it in its shell; a command without it is quick, and may be sent right behind another
   */
  waits?: boolean;
  /** its stdout stays in its shell for the command sent right behind it there (withPrevious) */
  keep?: boolean;
}

export interface CmdOptions {
  sudo?: boolean;
  /** remote-side limit in seconds (the runner also enforces its own) */
  timeoutSec: number;
}

export function wrap(what: string, body: string, args: (string | number)[], o: CmdOptions, stdin?: string): Cmd {
  const inner = script(body, args);
  const limited = `timeout -k 5 ${Math.max(1, Math.ceil(o.timeoutSec))} ${inner}`;
  return { what, line: o.sudo ? `sudo -n ${limited}` : limited, stdin };
}

// Shell helpers over /proc/PID/stat (fields after "pid (comm) ": 1 state, 2 ppid, 20 start time).
// alive forks nothing (the wait loops call it every 20 ms): the state is what follows the last ') '.
export const PROC_FNS = SH.SHELL_PROC_FNS;

// wait_zero MS CMD [ARG...]: runs CMD, which prints a count, every 20 ms until it prints 0 or MS ms
// have passed; prints the last count. A wait on the host costs one round trip, not one per look.
export const WAIT_ZERO_FN = SH.SHELL_WAIT_ZERO_FN;

/** The count a wait_zero command printed last, or undefined for anything else. */
export function parseCount(stdout: string): number | undefined {
  const last = stdout.trim().split('\n').at(-1)?.trim() ?? '';
  return /^\d+$/.test(last) ? Number(last) : undefined;
}

// write_atomic FILE: stdin to FILE via a temp file in the same directory and mv, keeping the
// file's mode and owner; on failure the temp file is removed and the error is on stderr.
export const WRITE_FN = SH.SHELL_WRITE_FN;

/** The same command, marked as one that waits on the host. */
export function waiting(c: Cmd): Cmd {
  return { ...c, waits: true };
}

/**
 * The same command with one more argument: the stdout of the command sent right before it in the
 * same shell with keep (Remote.run's lane); empty if that one was not kept. The value is the
 * shell's variable, expanded as one quoted word: nothing in it is run.
 */
export function withPrevious(c: Cmd): Cmd {
  return { ...c, line: `${c.line} "$_zdd_prev"` };
}

/** b, run only once a succeeded (a's stdin is nothing, b's its own): one command, no round trip between them. */
export function andThen(a: Cmd, b: Cmd): Cmd {
  return { what: b.what, line: `${a.line} </dev/null && ${b.line}`, stdin: b.stdin, waits: true };
}

/**
 * A start behind its gate (GATE, then the start: one command), after which the gate's files go
 * (whatever the start did, its status is the command's).
 */
export function gatedStart(gate: Cmd, start: Cmd, rcFile: string): Cmd {
  const rm = `rm -f -- ${quote(rcFile)} ${quote(`${rcFile}.go`)}`;
  return { what: start.what, line: `${gate.line} </dev/null && { ${start.line}\n}; _zdd_s=$?; ${rm}; (exit "$_zdd_s")`, stdin: start.stdin, waits: true };
}

/**
 * A command about a process (its pid the first argument), run as the deploy user; with o.sudo,
 * a process of another user is handled through `sudo -n sh -c SCRIPT` (a broad rule's, for the
 * one-time takeover of a process another user started), and `needs-root UID USER` is printed
 * when sudo refuses that (an exact rule). Without o.sudo: wrap.
 */
export function wrapForPid(what: string, body: string, args: (string | number)[], o: CmdOptions): Cmd {
  if (!o.sudo) return wrap(what, body, args, o);
  return wrap(what, SH.SHELL_AS_PID_OWNER, [body, ...args], { ...o, sudo: false });
}

/** The `needs-root UID USER` answer of a wrapForPid command, if it is one. */
export function parseNeedsRoot(out: string): { uid: number; user: string } | undefined {
  const m = /^needs-root (\d+) (\S+)$/m.exec(out.trim());
  return m ? { uid: Number(m[1]), user: m[2] } : undefined;
}

export function removeFile(path: string, o: CmdOptions): Cmd {
  return wrap(`remove ${path}`, 'rm -f -- "$1"', [path], o);
}

/** Runs a user-given command (argv, never through a shell string of theirs). */
export function runArgv(what: string, argv: string[], o: CmdOptions): Cmd {
  return wrap(what, '"$@"', argv, o);
}

export function describe(argv: string[]): string {
  return join(argv);
}
