// One shell per connection, started once: sshd runs the user's login shell (`$SHELL -c`, and bash
// then reads ~/.bashrc, which costs 0.1 s with sdkman or nvm and 0.8 s with pyenv) for every
// channel it starts, so a deploy opens exactly one (the channel's command execs the dispatcher,
// src/commands/sh/shell/mux.sh). Every remote command of the deploy on that host runs there as a
// job, side by side; its stdout, stderr and exit code come back framed by a nonce; the jar goes
// over the same channel, in chunks between which commands still get through. Every command line is
// the same `[sudo -n] timeout ... sh -c SCRIPT sh ARGS` as before: the dispatcher only runs it,
// with its own stdin bytes or nothing.
import { randomBytes } from 'node:crypto';
import type { ClientChannel } from 'ssh2';
import type { Cmd } from '../commands/shell.ts';
import { SHELL_MUX } from '../commands/scripts.gen.ts';
import { errorText } from '../errors.ts';
import { quote } from '../util/quote.ts';
import { FrameReader, jobScript } from './frames.ts';

export interface ShellResult {
  /** null: not answered (connection lost, the shell ended, or given up after a runner-side timeout) */
  code: number | null;
  stdout: Buffer;
  stderr: Buffer;
  error?: string;
}

interface Job {
  resolve: (r: ShellResult) => void;
  out: Buffer[];
  err: Buffer[];
  /** which of its outputs the frame being read is */
  part?: 'o' | 'e';
}

/** The dispatcher as sent in a command line: the comment lines dropped. */
const MUX = SHELL_MUX.split('\n')
  .filter((l) => !/^\s*#/.test(l))
  .join('\n');

/** The stream file descriptors of the dispatcher (D frames), at most this many streams at once. */
const STREAM_FDS = [4, 5, 6, 7, 8];

/** The jar's chunks: each is one D frame, between which other frames get through. */
export const CHUNK = 1 << 20;

/** Empty lines sent ahead of the first frame: a .bashrc may read this many lines of stdin. */
const PAD = 16;

/** Jobs sent before the channel is asked for go into its command line, up to this size. */
const EMBED_MAX = 32_768;

/** A lane of a shell: its jobs run one after another on the host, in the order sent (lane()). */
export interface Lane {
  readonly shell: HostShell;
  readonly id: number;
}

export class HostShell {
  private readonly nonce = randomBytes(16).toString('hex');
  private readonly jobs = new Map<number, Job>();
  private nextId = 1;
  private nextLane = 1;
  private closed = false;
  private channel?: ClientChannel;
  /** jobs of the first tick, as [id, lane, script] words of the command line */
  private embed?: string[] = [];
  /** a job of the first tick could not go into the command line: the ones after it may not either (order) */
  private embedShut = false;
  /** frames sent before the channel was open: written right behind its padding */
  private held: Buffer[] = [];
  private started = false;
  private readonly helloWaiters: (() => void)[] = [];
  private freeFds = [...STREAM_FDS];
  private readonly fdWaiters: ((fd: number) => void)[] = [];
  /** what the login shell printed on stderr before the dispatcher started (for an early end) */
  private preStderr = '';
  private exitCode?: number | null;
  private why?: string;

  /**
   * open: asks for the channel, running the command given (ssh2's exec). The jobs sent in the
   * same tick as the shell is created go into that command itself, so they run as soon as sshd
   * starts it, with no round trip between the channel's set-up and their answers.
   */
  constructor(open: (command: string) => Promise<ClientChannel>) {
    const ready = new Promise<void>((r) => setImmediate(r)).then(() => {
      const words = this.embed ?? [];
      this.embed = undefined;
      return open(['exec sh -c', quote(MUX), 'sh', this.nonce, ...words.map(quote)].join(' '));
    });
    ready.then(
      (ch) => this.attach(ch),
      (e: unknown) => this.fail(`the SSH server would not start a shell: ${errorText(e)}`),
    );
  }

  get alive(): boolean {
    return !this.closed;
  }

  private attach(ch: ClientChannel): void {
    this.channel = ch;
    if (this.closed) {
      ch.close();
      return;
    }
    const reader = new FrameReader(this.nonce);
    let current: Job | undefined;
    ch.on('data', (b: Buffer) =>
      reader.push(
        b,
        (x) => {
          if (current?.part === 'o') current.out.push(Buffer.from(x));
          else if (current?.part === 'e') current.err.push(Buffer.from(x));
        },
        (w) => {
          // Every header but the first starts right after the \n that ends the one before it.
          if (w[0] === 'hello') return this.hello();
          if (w[0] === 'fail') return this.fail(w.slice(1).join(' '));
          const job = this.jobs.get(Number(w[0]));
          if (w[1] === 'o' || w[1] === 'e') {
            current = job;
            if (job) job.part = w[1];
          } else if (w[1] === 'r') {
            current = undefined;
            if (!job) return;
            this.jobs.delete(Number(w[0]));
            job.resolve({ code: Number(w[2]), stdout: Buffer.concat(job.out), stderr: Buffer.concat(job.err) });
          }
        },
      ),
    );
    // The dispatcher's own stderr is the login shell's until it starts; jobs' stderr is framed.
    ch.stderr.on('data', (b: Buffer) => {
      if (!this.started && this.preStderr.length < 4096) this.preStderr += b.toString('utf8');
    });
    ch.on('exit', (code: number | null) => (this.exitCode = code));
    ch.on('close', () => this.fail(!this.started && typeof this.exitCode === 'number' ? this.endedEarly() : 'the SSH connection was lost'));
    ch.on('error', (e: unknown) => this.fail(errorText(e)));
    // Frames go out at once, not a round trip later once the dispatcher says hello: a command
    // sent while the login shell starts runs as soon as the dispatcher does. Ahead of them, empty
    // lines the dispatcher skips, for a .bashrc that reads stdin (up to PAD lines), and until the
    // dispatcher says hello, another each half second, for one that reads while it waits on
    // something. The jar's bytes wait for the hello (stream()).
    ch.write(Buffer.concat([Buffer.from('\n'.repeat(PAD)), ...this.held.splice(0)]));
    const nudge = setInterval(() => (this.started || this.closed ? clearInterval(nudge) : ch.write('\n')), 500);
    nudge.unref();
  }

  private endedEarly(): string {
    const out = this.preStderr.trim().split('\n').slice(-4).join('\n');
    return (
      `the login shell ended before it ran anything (exit code ${this.exitCode}): ` +
      `a ~/.bashrc or profile that exits when run by sshd ends every command; make it return early when not interactive ([ -n "$PS1" ] || return)${out ? `; it printed: ${out}` : ''}`
    );
  }

  private hello(): void {
    if (this.started) return;
    this.started = true;
    for (const w of this.helloWaiters.splice(0)) w();
  }

  private write(b: Buffer | string): boolean {
    const buf = typeof b === 'string' ? Buffer.from(b) : b;
    if (this.closed) return true;
    if (!this.channel) {
      this.held.push(buf);
      return true;
    }
    return this.channel.write(buf);
  }

  private fail(why: string): void {
    if (this.closed) return;
    this.closed = true;
    this.why = why;
    for (const [, j] of this.jobs) j.resolve({ code: null, stdout: Buffer.concat(j.out), stderr: Buffer.concat(j.err), error: why });
    this.jobs.clear();
    for (const w of this.helloWaiters.splice(0)) w();
    this.channel?.close();
  }

  private newJob(): [number, Promise<ShellResult>] {
    const id = this.nextId++;
    const p = new Promise<ShellResult>((resolve) => this.jobs.set(id, { resolve, out: [], err: [] }));
    return [id, p];
  }

  private gone(): ShellResult {
    return { code: null, stdout: Buffer.alloc(0), stderr: Buffer.alloc(0), error: this.why ?? 'the shell is closed' };
  }

  lane(): Lane {
    return { shell: this, id: this.nextLane++ };
  }

  /**
   * Runs one command as a job (in its lane: after the lane's earlier ones, in the same shell);
   * resolves when its frame came back, or the shell is gone. keep: its stdout stays in the lane's
   * shell as $_zdd_prev for the lane's next command (shell.ts withPrevious).
   */
  send(cmd: Pick<Cmd, 'line' | 'stdin' | 'keep'>, lane?: Lane): { id: number; result: Promise<ShellResult> } {
    if (this.closed) return { id: 0, result: Promise.resolve(this.gone()) };
    const [id, result] = this.newJob();
    const script = jobScript(cmd);
    const laneWord = lane ? String(lane.id) : '-';
    if (this.embed && !this.embedShut && !cmd.stdin && this.embed.reduce((n, w) => n + w.length, 0) + script.length < EMBED_MAX) {
      this.embed.push(String(id), laneWord, script);
    } else {
      this.embedShut = true;
      const s = Buffer.from(script);
      const i = cmd.stdin ? Buffer.from(cmd.stdin) : Buffer.alloc(0);
      this.write(Buffer.concat([Buffer.from(`${this.nonce} J ${id} ${s.length} ${i.length} ${laneWord}\n`), s, i]));
    }
    return { id, result };
  }

  /** Gives up on a job (a runner-side timeout): its answer, if it still comes, is dropped. */
  abandon(id: number, why: string): void {
    const j = this.jobs.get(id);
    if (!j) return;
    this.jobs.delete(id);
    j.resolve({ code: null, stdout: Buffer.concat(j.out), stderr: Buffer.concat(j.err), error: why });
  }

  /**
   * Starts a job whose stdin is a stream sent later over the same channel (the jar): write()
   * sends bytes (resolving once the channel takes more), end() ends its stdin.
   */
  async stream(cmd: Pick<Cmd, 'line'>): Promise<{ id: number; result: Promise<ShellResult>; write: (b: Buffer) => Promise<void>; end: () => void }> {
    const fd = await this.takeFd();
    const [id, result] = this.newJob();
    const s = Buffer.from(jobScript(cmd));
    this.write(Buffer.concat([Buffer.from(`${this.nonce} S ${id} ${s.length} ${fd}\n`), s]));
    let ended = false;
    return {
      id,
      result,
      write: async (b) => {
        if (!this.started) await this.whenStarted();
        if (ended || this.closed) return;
        const ok = this.write(Buffer.concat([Buffer.from(`${this.nonce} D ${fd} ${b.length}\n`), b]));
        if (!ok && this.channel && !this.closed) await this.drained();
      },
      end: () => {
        if (ended) return;
        ended = true;
        this.write(`${this.nonce} E ${fd}\n`);
        this.freeFds.push(fd);
        const w = this.fdWaiters.shift();
        if (w) w(this.freeFds.shift()!);
      },
    };
  }

  private whenStarted(): Promise<void> {
    return this.started || this.closed ? Promise.resolve() : new Promise((r) => this.helloWaiters.push(r));
  }

  private takeFd(): Promise<number> {
    const fd = this.freeFds.shift();
    if (fd !== undefined) return Promise.resolve(fd);
    return new Promise((r) => this.fdWaiters.push(r));
  }

  private drained(): Promise<void> {
    return new Promise((resolve) => {
      const ch = this.channel!;
      const done = () => {
        ch.off('drain', done);
        ch.off('close', done);
        resolve();
      };
      ch.on('drain', done);
      ch.on('close', done);
    });
  }

  /** Ends the shell: the host's jobs finish on their own; what was not answered gets code null. */
  close(why = 'closed'): void {
    if (!this.closed && this.channel) this.channel.end();
    this.fail(why);
  }
}
