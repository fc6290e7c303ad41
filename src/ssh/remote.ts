// The one SSH layer: a reused connection per host (connect.ts opens it), its one shell
// (session.ts), timeouts, exit codes, the upload, and forwarded channels for health checks.
// Nothing else in the action opens SSH.
import type { NodeSSH } from 'node-ssh';
import type { Duplex } from 'node:stream';
import { createReadStream } from 'node:fs';
import { DeployError, errorText } from '../errors.ts';
import { revokedEntries } from '../config/knownhosts.ts';
import { checkHostCert } from '../config/hostcert.ts';
import type { SshAddress } from '../config/hosts.ts';
import type { Cmd } from '../commands/shell.ts';
import { hostPort } from '../config/hosts.ts';
import { CHUNK, HostShell, type Lane, type ShellResult } from './session.ts';
import { close, open, type PendingCert, type SshOptions } from './connect.ts';

export type { Lane };
export { sshOptions, type SshOptions } from './connect.ts';

export interface RunResult {
  /** null: killed, timed out or connection lost */
  code: number | null;
  stdout: string;
  stderr: string;
  /** the runner's own limit ended it */
  timedOut: boolean;
  /** code null, not a timeout: why there is no answer (the connection, or a login shell that ended) */
  lost?: string;
}

export class ForwardingRefused extends Error {
  constructor(label: string) {
    super(`sshd on ${label} refuses TCP forwarding (AllowTcpForwarding no), which the health checks use; allow it for the deploy user (a Match User block in sshd_config)`);
  }
}

/** The error, or one it was caused by (undici wraps a connector's), is sshd refusing forwarding. */
export function isForwardingRefused(e: unknown): boolean {
  let x = e;
  for (let i = 0; i < 5 && x; i++, x = (x as { cause?: unknown }).cause) if (x instanceof ForwardingRefused) return true;
  return false;
}

/** sshd could not connect a forwarded channel to its target (SSH_OPEN_CONNECT_FAILED: refused, unreachable). */
export function isConnectFailed(e: unknown): boolean {
  return (e as { reason?: unknown }).reason === 2;
}

export class Remote {
  readonly label: string;
  private ssh: NodeSSH;
  private jump?: NodeSSH;

  private addr: SshAddress;
  private opts: SshOptions;
  private shell: HostShell;

  private constructor(label: string, addr: SshAddress, opts: SshOptions, ssh: NodeSSH, jump?: NodeSSH) {
    this.label = label;
    this.addr = addr;
    this.opts = opts;
    this.ssh = ssh;
    this.jump = jump;
    this.shell = this.newShell();
  }

  // The shell starts as soon as the connection is up: the commands of the first tick go in its exec.
  private newShell(): HostShell {
    return new HostShell(
      (command) =>
        new Promise((resolve, reject) => {
          const c = this.ssh.connection;
          if (!c) return reject(new Error('not connected'));
          c.exec(command, (err, ch) => (err ? reject(err) : resolve(ch)));
        }),
    );
  }

  static async connect(addr: SshAddress, o: SshOptions): Promise<Remote> {
    const c = await Remote.open(addr, o);
    const r = new Remote(hostPort(addr.host, addr.port), addr, o, c.ssh, c.jump);
    await r.vouch(c.pending);
    return r;
  }

  /** Opens the connection again (after it was lost). */
  async reconnect(): Promise<void> {
    this.dispose();
    const c = await Remote.open(this.addr, this.opts);
    this.ssh = c.ssh;
    this.jump = c.jump;
    this.shell = this.newShell();
    await this.vouch(c.pending);
  }

  /** A host key only a @cert-authority line matched: nothing else runs until its certificate vouches for it. */
  private async vouch(pending?: PendingCert): Promise<void> {
    if (!pending) return;
    const r = await this.run({ what: 'read the host certificates', line: "timeout -k 5 10 sh -c 'cat /etc/ssh/ssh_host_*-cert.pub' 2>/dev/null" }, 15_000);
    const v = checkHostCert(r.stdout, pending.key, pending.authorities, revokedEntries(this.opts.knownHosts), this.addr.host);
    if (!v.ok) {
      this.dispose();
      throw new Error(`${this.label} is not vouched for by known-hosts: ${v.reason}`);
    }
    this.opts.debug?.(`${this.label}: ${v.detail}`);
  }

  private static async open(addr: SshAddress, o: SshOptions): Promise<{ ssh: NodeSSH; jump?: NodeSSH; pending?: PendingCert }> {
    if (!o.jump) return await open(addr, o);
    let jump: NodeSSH;
    try {
      jump = (await open(o.jump, o, undefined, true)).ssh;
    } catch (e) {
      throw new Error(`jump host ${hostPort(o.jump.host, o.jump.port)}: ${errorText(e)}`, { cause: e });
    }
    try {
      const sock = await jump.forwardOut('127.0.0.1', 0, addr.host, addr.port);
      return { ...(await open(addr, o, sock as unknown as Duplex)), jump };
    } catch (e) {
      jump.dispose();
      throw new Error(`via jump host ${hostPort(o.jump.host, o.jump.port)}: ${errorText(e)}`, { cause: e });
    }
  }

  /**
   * Runs a command in the connection's shell, side by side with the others (one round trip);
   * never throws for a non-zero exit. code null: killed, timed out or connection lost. With a
   * lane, it runs after the lane's earlier commands, in their shell.
   */
  async run(cmd: Cmd, timeoutMs: number, lane?: Lane): Promise<RunResult> {
    const t0 = Date.now();
    const sent = this.shell.send(cmd, lane?.shell === this.shell ? lane : undefined);
    let timedOut = false;
    // A command that outlives the runner's own limit is given up on (its own timeout ends it on the host).
    const timer = setTimeout(() => {
      timedOut = true;
      this.shell.abandon(sent.id, 'timed out');
    }, timeoutMs + 3000);
    let code: number | null = null;
    try {
      const r = resultOf(await sent.result, timedOut);
      code = r.code;
      return r;
    } finally {
      clearTimeout(timer);
      this.opts.debug?.(`${this.label}: ${cmd.what}: exit ${code ?? '-'} in ${Date.now() - t0} ms`);
    }
  }

  /**
   * A lane: commands run with it run one after another on the host, in the order they were sent,
   * each sent at once: one sent behind another runs right after it, with no round trip between.
   */
  lane(): Lane {
    return this.shell.lane();
  }

  /**
   * Answers of commands sent ahead of the caller that needs them (the include read behind the
   * lock, the audit log's read, the wait for a port sent behind a start), by name: the caller
   * takes its answer once (takeAhead).
   */
  readonly ahead = new Map<string, unknown>();

  /** The answer sent ahead under name, taken (it is gone from ahead then); undefined if none. */
  takeAhead<T>(name: string): T | undefined {
    const v = this.ahead.get(name) as T | undefined;
    this.ahead.delete(name);
    return v;
  }

  /** Runs a command that must succeed; throws a DeployError naming host, step and cause otherwise. */
  async must(step: string, cmd: Cmd, timeoutMs: number, lane?: Lane): Promise<string> {
    const r = await this.run(cmd, timeoutMs, lane);
    if (r.code === 0) return r.stdout;
    throw new DeployError(step, this.label, `${cmd.what} failed: ${failureText(r, timeoutMs)}`);
  }

  /**
   * Streams a local file as stdin of a command, over the connection's one shell (chunks between
   * which other commands get through; flow-controlled by the SSH window, like scp), the command
   * started ahead of time: its start overlaps whatever decides whether it is needed. send() then
   * streams `go` (or another first line) and the file, skip() sends `no` and ends it. The command
   * reads that first line before anything else.
   */
  openWithFile(cmd: Cmd, timeoutMs: number): { send(localPath: string, first?: string): Promise<RunResult>; skip(): void } {
    const t0 = Date.now();
    const stream = this.shell.stream(cmd);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      void stream.then((s) => this.shell.abandon(s.id, 'timed out'));
    }, timeoutMs + 3000);
    const result = stream
      .then((s) => s.result)
      .then((r) => resultOf(r, timedOut))
      .finally(() => {
        clearTimeout(timer);
        this.opts.debug?.(`${this.label}: ${cmd.what}: in ${Date.now() - t0} ms`);
      });
    let used = false;
    return {
      send: async (localPath, first = 'go') => {
        used = true;
        const s = await stream;
        try {
          await s.write(Buffer.from(`${first}\n`));
          // 1 MiB reads, each one frame: commands sent meanwhile wait for one chunk at most.
          for await (const chunk of createReadStream(localPath, { highWaterMark: CHUNK })) await s.write(chunk as Buffer);
        } finally {
          // A file that could not be read ends short: the command says how many bytes it got.
          s.end();
        }
        return result;
      },
      skip: () => {
        if (used) return;
        used = true;
        void stream.then(async (s) => {
          await s.write(Buffer.from('no\n'));
          s.end();
        });
      },
    };
  }

  /** A TCP channel from the remote host to host:port as that host reaches it (default: itself). */
  async forward(port: number, host = '127.0.0.1'): Promise<Duplex> {
    try {
      return (await this.ssh.forwardOut('127.0.0.1', 0, host, port)) as unknown as Duplex;
    } catch (e) {
      // sshd with AllowTcpForwarding no refuses every channel with reason 1 (administratively
      // prohibited, described as "open failed"): say so instead of "not listening".
      if ((e as { reason?: unknown }).reason === 1 || /administratively prohibited/i.test(errorText(e))) throw new ForwardingRefused(this.label);
      throw e;
    }
  }

  get connected(): boolean {
    return this.ssh.isConnected();
  }

  dispose(): void {
    this.shell.close();
    close(this.ssh);
    if (this.jump) close(this.jump);
  }
}

/** A shell's answer as a RunResult; why it has none (the connection, the login shell) in stderr. */
function resultOf(r: ShellResult, timedOut: boolean): RunResult {
  const stderr = r.stderr.toString('utf8');
  return { code: r.code, stdout: r.stdout.toString('utf8'), stderr: r.code === null && r.error && !timedOut ? `${stderr}${r.error}` : stderr, timedOut, lost: r.code === null && !timedOut ? r.error : undefined };
}

export function failureText(r: RunResult, timeoutMs: number): string {
  const out = (r.stderr.trim() || r.stdout.trim()).split('\n').slice(-8).join('\n');
  if (r.timedOut || r.code === 124) return `timed out after ${Math.round(timeoutMs / 1000)}s${out ? `: ${out}` : ''}`;
  if (r.code === null && r.lost && r.lost !== 'the SSH connection was lost') return r.lost;
  if (r.code === null) return `the SSH connection was lost${out ? `: ${out}` : ''}`;
  if (/sudo: a (terminal|password) is required/.test(out)) {
    return `sudo needs a password; allow the command without one for this user (NOPASSWD in sudoers): ${out}`;
  }
  return `exit code ${r.code}${out ? `: ${out}` : ''}`;
}
