// One long-lived shell per SSH channel: the remote commands of a deploy run one after another in
// it, each framed by a nonce, instead of each opening its own exec channel. An exec channel costs
// two round trips (open, exec) plus the login shell's start (sshd runs `$SHELL -c`, and bash then
// reads ~/.bashrc: ~90 ms with sdkman or nvm); a command sent to a running shell costs one round
// trip and nothing else. Every command line is the same `[sudo -n] timeout ... sh -c SCRIPT sh
// ARGS` as before: the shell only runs it, with stdin from /dev/null (or the command's own bytes,
// base64 through `base64 -d`), and prints the exit code after a marker on stdout and a marker on
// stderr. Nothing a command prints can fake a marker: the nonce is random per shell and is never
// an argument of any command.
import { randomBytes } from 'node:crypto';
import type { ClientChannel } from 'ssh2';
import type { Cmd } from '../commands/shell.ts';
import { errorText } from '../errors.ts';
import { quote } from '../util/quote.ts';

export interface ShellResult {
  /** null: the shell is gone (connection lost, or closed after a runner-side timeout) */
  code: number | null;
  stdout: Buffer;
  stderr: Buffer;
  error?: string;
}

interface Pending {
  resolve: (r: ShellResult) => void;
  out: Buffer[];
  err: Buffer[];
  code?: number;
  errDone: boolean;
  /** the opening no-op: not counted as work */
  noop?: boolean;
  waits?: boolean;
}

/** The text sent to the shell for one command. Pure; the nonce is the shell's. */
export function frame(cmd: Pick<Cmd, 'line' | 'stdin' | 'keep'>, nonce: string): string {
  // Stdin is the command's own bytes, or nothing: never the shell's (the next frames).
  const run = cmd.stdin ? `printf %s ${Buffer.from(cmd.stdin).toString('base64')} | base64 -d | { ${cmd.line}\n}` : `{ ${cmd.line}\n} </dev/null`;
  const end = `printf '\\n%s %s\\n' ${nonce} "$?"; printf '\\n%s\\n' ${nonce} >&2\n`;
  if (!cmd.keep) return `${run}\n${end}`;
  // keep: its stdout, byte for byte (the x guards trailing newlines), stays in the shell as
  // $_zdd_prev for the command sent right behind it (shell.ts withPrevious).
  return `_zdd_prev=$( ${run}\n_zdd_rc=$?; echo x; exit "$_zdd_rc" )\n_zdd_rc=$?; _zdd_prev=\${_zdd_prev%x}; printf %s "$_zdd_prev"; (exit "$_zdd_rc")\n${end}`;
}

/** Splits a stream at `\n<nonce> <code>\n` (stdout) or `\n<nonce>\n` (stderr). Pure. */
export class MarkerReader {
  private buf: Buffer = Buffer.alloc(0);
  private readonly marker: Buffer;
  private readonly withCode: boolean;
  constructor(nonce: string, withCode: boolean) {
    this.marker = Buffer.from(`\n${nonce}${withCode ? ' ' : '\n'}`);
    this.withCode = withCode;
  }

  /** Feeds bytes; returns the output of each command that ended in them (and its code on stdout). */
  push(chunk: Buffer, onBytes: (b: Buffer) => void, onEnd: (code?: number) => void): void {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    for (;;) {
      const i = this.buf.indexOf(this.marker);
      if (i < 0) {
        // Hand on all but what could be the start of a marker.
        const keep = Math.min(this.buf.length, this.marker.length + 12);
        if (this.buf.length > keep) {
          onBytes(this.buf.subarray(0, this.buf.length - keep));
          this.buf = this.buf.subarray(this.buf.length - keep);
        }
        return;
      }
      let end = i + this.marker.length;
      let code: number | undefined;
      if (this.withCode) {
        const nl = this.buf.indexOf(10, end);
        if (nl < 0) {
          if (i > 0) {
            onBytes(this.buf.subarray(0, i));
            this.buf = this.buf.subarray(i);
          }
          return;
        }
        code = Number(this.buf.subarray(end, nl).toString());
        end = nl + 1;
      }
      if (i > 0) onBytes(this.buf.subarray(0, i));
      this.buf = this.buf.subarray(end);
      onEnd(code);
    }
  }
}

export class Shell {
  private readonly nonce = randomBytes(16).toString('hex');
  private queue: Pending[] = [];
  private closed = false;
  readonly ready: Promise<void>;
  private channel?: ClientChannel;
  /** why the channel could not be opened (sshd's MaxSessions reached, say): nothing ran in it */
  openFailed?: string;
  /** commands sent and not answered yet (0: free) */
  get busy(): number {
    return this.queue.filter((p) => !p.noop).length;
  }
  /** a command that waits on the host is sent and not answered yet */
  get waiting(): boolean {
    return this.queue.some((p) => p.waits);
  }
  get alive(): boolean {
    return !this.closed;
  }

  /** Frames sent before the channel is asked for (embedding shells): they go into its command. */
  private early?: string[];
  /** the channel is open and takes frames */
  isReady = false;
  /** an embedding shell still collecting the frames of its exec */
  get collecting(): boolean {
    return this.early !== undefined && !this.closed;
  }

  /**
   * open: opens a channel running the command given (ssh2's exec), normally `exec sh`. embed: the
   * frames sent in the same tick as the shell is created go into that command itself
   * (`exec sh -c 'FRAMES exec sh'`), so they run when sshd starts it, with no round trip between
   * the channel's set-up and their answer (for the first commands on a host, the lock, before any
   * shell is open).
   */
  constructor(open: (command: string) => Promise<ClientChannel>, embed = false) {
    if (embed) this.early = [];
    const start = () => {
      const pre = this.early?.join('') ?? '';
      this.early = undefined;
      // A long one (a big stdin) goes the usual way: one argument may not exceed 128 KiB.
      const inline = pre !== '' && pre.length < 32_768;
      return open(inline ? `exec sh -c ${quote(`${pre}exec sh\n`)}` : 'exec sh').then((ch) => {
        if (pre !== '' && !inline) ch.write(pre);
        return ch;
      });
    };
    this.ready = (embed ? new Promise<void>((r) => setImmediate(r)).then(start) : start()).then((ch) => this.attach(ch));
    this.ready.catch((e: unknown) => {
      this.openFailed = errorText(e);
      this.fail(`the shell could not be started: ${errorText(e)}`);
    });
    // The first frame is a no-op whose output is thrown away: whatever the login shell printed
    // before running ours (a banner in .bashrc) ends there.
    void this.send({ line: ':' }, true);
  }

  private attach(ch: ClientChannel): void {
    this.channel = ch;
    this.isReady = true;
    // Closed while it was opening: it is not needed.
    if (this.closed) {
      ch.end();
      ch.close();
      return;
    }
    const out = new MarkerReader(this.nonce, true);
    const err = new MarkerReader(this.nonce, false);
    // Each stream belongs to the first command whose marker on it has not come yet: the stdout
    // of the next command may arrive before the stderr marker of this one.
    const outOpen = () => this.queue.find((p) => p.code === undefined);
    ch.on('data', (b: Buffer) =>
      out.push(
        b,
        (x) => outOpen()?.out.push(Buffer.from(x)),
        (code) => {
          const p = outOpen();
          if (!p) return;
          p.code = code ?? -1;
          this.settle();
        },
      ),
    );
    ch.stderr.on('data', (b: Buffer) => {
      err.push(
        b,
        (x) => this.queue.find((p) => !p.errDone)?.err.push(Buffer.from(x)),
        () => {
          const p = this.queue.find((q) => !q.errDone);
          if (!p) return;
          p.errDone = true;
          this.settle();
        },
      );
    });
    ch.on('close', () => this.fail('the SSH connection was lost'));
    ch.on('error', (e: unknown) => this.fail(errorText(e)));
  }

  private settle(): void {
    while (this.queue.length > 0 && this.queue[0].code !== undefined && this.queue[0].errDone) {
      const p = this.queue.shift()!;
      p.resolve({ code: p.code!, stdout: Buffer.concat(p.out), stderr: Buffer.concat(p.err) });
    }
  }

  private fail(why: string): void {
    if (this.closed) return;
    this.closed = true;
    for (const p of this.queue.splice(0)) p.resolve({ code: null, stdout: Buffer.concat(p.out), stderr: Buffer.concat(p.err), error: why });
    this.channel?.close();
  }

  /** Sends one command; resolves when the shell printed its markers, or the shell is gone. */
  send(cmd: Pick<Cmd, 'line' | 'stdin' | 'waits' | 'keep'>, noop = false): Promise<ShellResult> {
    if (this.closed) return Promise.resolve({ code: null, stdout: Buffer.alloc(0), stderr: Buffer.alloc(0), error: 'the shell is closed' });
    return new Promise((resolve) => {
      this.queue.push({ resolve, out: [], err: [], errDone: false, noop, waits: cmd.waits });
      const text = frame(cmd, this.nonce);
      if (this.early) return void this.early.push(text);
      this.ready.then(
        () => {
          if (!this.closed) this.channel!.write(text);
        },
        () => undefined,
      );
    });
  }

  /** Ends the shell; what is still running gets code null. */
  close(why = 'closed'): void {
    if (!this.closed && this.channel) this.channel.end();
    this.fail(why);
  }
}

/**
 * The shells of one connection. A command goes to a shell with nothing to do; else a quick one is
 * sent right behind the quick ones of the least busy shell (it runs a few milliseconds later, in
 * the same round trip); else a new shell is opened (two round trips: up to `max`, sshd allows 10
 * sessions per connection by default, MaxSessions); else it queues behind the least busy one.
 */
export class ShellPool {
  private shells: Shell[] = [];
  private readonly open: (command: string) => Promise<ClientChannel>;
  private max: number;
  constructor(open: (command: string) => Promise<ClientChannel>, max = 6, warm = 2) {
    this.open = open;
    this.max = max;
    for (let i = 0; i < warm; i++) this.shells.push(new Shell(open));
  }

  pick(cmd: Pick<Cmd, 'waits'> = {}): Shell {
    // A shell sshd would not open (MaxSessions lower than ours): as many as are open is the most.
    if (this.shells.some((s) => s.openFailed)) this.max = Math.max(1, this.shells.filter((s) => s.alive).length);
    this.shells = this.shells.filter((s) => s.alive);
    // Quick commands of the same tick ride in the exec of a shell that is still collecting.
    const collecting = cmd.waits ? undefined : this.shells.find((s) => s.collecting);
    if (collecting) return collecting;
    const free = this.shells.find((s) => s.busy === 0);
    // Right after connecting, the warm shells are still opening: a new shell with the command in
    // its own exec answers in the time the warm one takes to open, one round trip sooner.
    if (free && !free.isReady && this.shells.length < this.max) {
      const s = new Shell(this.open, true);
      this.shells.push(s);
      return s;
    }
    if (free) return free;
    const quick = cmd.waits ? [] : this.shells.filter((s) => !s.waiting);
    if (quick.length > 0) return quick.reduce((a, b) => (b.busy < a.busy ? b : a));
    if (this.shells.length < this.max) {
      const s = new Shell(this.open);
      this.shells.push(s);
      return s;
    }
    return this.shells.reduce((a, b) => (b.busy < a.busy ? b : a));
  }

  close(): void {
    for (const s of this.shells) s.close();
    this.shells = [];
  }
}
