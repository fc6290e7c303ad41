// The run backend of a detached process (no systemd-unit): each release runs as `setsid nohup
// java ...` with its log in <remote-dir>/logs, stopped by its pid; a process it replaces is
// captured (argv, cwd, environment, kept on its host) so that a rollback starts it again as it was.
import { DeployError } from '../errors.ts';
import * as appCmd from '../commands/app.ts';
import { parseNeedsRoot } from '../commands/shell.ts';
import { appSudoersRule } from '../commands/sudoers.ts';
import type { Cmd, CmdOptions } from '../commands/shell.ts';
import { failureText } from '../ssh/remote.ts';
import type { OpContext } from '../run/context.ts';
import { appCommand, type BackendKind, type LogSource, type ReleaseCommand, type ReleaseStart, type RestartFrom, type RunBackend, type StopOptions } from './backend.ts';
import type { AppNode } from './node.ts';
import { takeoverNeedsRoot } from './port.ts';

export class DetachedBackend implements RunBackend {
  readonly kind = 'process' as const;
  readonly sudoersDoc = 'docs/server-setup.md, "The sudo rule"';
  readonly takesOverUnits = false;
  private readonly ctx: OpContext;
  /**
   * A command about a process (stop it, keep how it was started) runs as the deploy user, whose
   * processes the releases are; with sudo: true a process of another user (the one-time takeover
   * of an app the seed scripts started as root) goes through `sudo -n sh -c` (commands/shell.ts
   * wrapForPid), which only a broad rule allows. Not under systemd-unit (systemd.ts), where a
   * team's unit is stopped by the exact systemctl commands instead.
   */
  private readonly pidSudo: boolean;

  constructor(ctx: OpContext, pidSudo: boolean) {
    this.ctx = ctx;
    this.pidSudo = pidSudo;
  }

  of(kind: BackendKind | undefined): RunBackend {
    if (kind === 'unit') throw new Error('a systemd unit recorded in the journal, but systemd-unit is not set: set it as the deploy that recorded it had it');
    return this;
  }

  preflightCmd(): undefined {
    return undefined;
  }

  async preflight(): Promise<void> {}

  releaseStart(release: string, port: number, cmd: ReleaseCommand): ReleaseStart {
    const l = appCmd.layout(this.ctx.cfg.remoteDir, release, port);
    return { cwd: l.releaseDir, argv: appCommand(cmd, port, appCmd.layout(this.ctx.cfg.remoteDir, release).jar), env: cmd.env, log: { file: l.log } };
  }

  startCommand(_app: AppNode, port: number, spec: ReleaseStart, guardSec: number, oomScoreAdj: number): Promise<Cmd> {
    const cfg = this.ctx.cfg;
    if (!('file' in spec.log)) throw new Error(`a detached process logs to a file, not to ${spec.log.unit}`);
    return Promise.resolve(appCmd.startApp(cfg.remoteDir, port, { ...spec, log: spec.log.file }, guardSec, this.ctx.cmdOptions(), cfg.logMaxBytes, oomScoreAdj));
  }

  /**
   * A new version running next to the live one is the kernel's first pick if memory runs out
   * (oom_score_adj OVERLAP_OOM_SCORE_ADJ), when the action can put it back to 0 once it serves:
   * lowering a score needs root, so only as ssh-user root (sudo: true names exact commands, and a
   * pid is no exact command: the exact sudoers rule could not put it back). Otherwise 0: the score
   * stays the host's default throughout.
   */
  overlapOomScoreAdj(): number {
    return this.ctx.cfg.sshUser === 'root' ? appCmd.OVERLAP_OOM_SCORE_ADJ : 0;
  }

  async resetOomScores(started: { app: AppNode; port: number; pid: number }[]): Promise<void> {
    const ctx = this.ctx;
    if (this.overlapOomScoreAdj() === 0) return;
    await Promise.all(
      started.map(async ({ app, port, pid }) => {
        const r = await app.remote.run(appCmd.oomReset(appCmd.layout(ctx.cfg.remoteDir, '', port).pidFile, pid, this.pidOptions()), ctx.cfg.commandTimeoutMs);
        if (r.code !== 0) ctx.ui.warn(`${app.remote.label}: could not put the OOM score of pid ${pid} back to 0 (${failureText(r, ctx.cfg.commandTimeoutMs)}): it stays ${appCmd.OVERLAP_OOM_SCORE_ADJ}, the kernel's first pick if memory runs out`);
      }),
    );
  }

  pidOptions(timeoutSec = this.ctx.cfg.commandTimeoutMs / 1000): CmdOptions {
    return { sudo: this.pidSudo, timeoutSec };
  }

  stop(app: AppNode, pid: number, port: number, step: string, opts: StopOptions = {}): Promise<string> {
    return this.ctx.span(app.remote.label, 'stop', () => this.stopPid(app, pid, port, step, opts));
  }

  /**
   * SIGTERM, SIGKILL after stop-timeout (waitSec). Returns what happened, in words. detach: returns
   * right after SIGTERM (wait-for-exit: false), and says what is still pending and what finishes it.
   * `start`: the pid's start time when it was chosen (a PortState's); without it, the one this
   * action recorded for the port. A pid that has become another process since is never signalled.
   */
  async stopPid(app: AppNode, pid: number, port: number, step: string, opts: StopOptions): Promise<string> {
    const ctx = this.ctx;
    const cfg = ctx.cfg;
    const { waitSec = cfg.stopTimeoutMs / 1000, detach = false, start, lane } = opts;
    const out = (
      await app.remote.must(step, appCmd.stopProcess(pid, waitSec, appCmd.layout(cfg.remoteDir, '', port).pidFile, this.pidOptions(waitSec + 30), detach, start ?? ''), (detach ? 0 : waitSec * 1000) + cfg.commandTimeoutMs + (lane ? cfg.drainTimeoutMs : 0), lane)
    ).trim();
    const denied = parseNeedsRoot(out);
    if (denied) throw new DeployError(step, app.remote.label, takeoverNeedsRoot(ctx, pid, port, `uid ${denied.uid}`, denied.user));
    if (out === 'killed') ctx.ui.warn(`${app.remote.label}: pid ${pid} ignored SIGTERM for ${waitSec}s (stop-timeout) and was killed`);
    const d = appCmd.parseDetachedStop(out);
    if (d) {
      const at = new Date(d.killAt).toISOString().slice(11, 19);
      return `sent SIGTERM, still exiting (wait-for-exit: false): watchdog pid ${d.watchdog} on the host SIGKILLs it at ${at} UTC if it still runs (stop-timeout ${waitSec}s)`;
    }
    return { gone: 'had already exited', terminated: 'stopped (SIGTERM)', killed: `SIGKILLed after ${waitSec}s` }[out] ?? out;
  }

  /**
   * A process systemd manages cannot be replaced by stopping it: with Restart=always it comes back
   * (and the next deploy finds a stranger on its port). Refuse, and say what to do.
   */
  refuseUnit(app: AppNode, port: number, st: appCmd.PortState, step: string): void {
    if (!st.unit || st.pid === undefined) return;
    throw new DeployError(
      step,
      app.remote.label,
      `the process on port ${port} (pid ${st.pid}) belongs to the systemd unit ${st.unit}; systemd would start it again after it is stopped. ` +
        `Set systemd-unit: NAME, and the action runs each release as NAME@PORT.service and takes ${st.unit} over on its first deploy (docs/systemd.md); ` +
        `or stop and disable the unit (systemctl disable --now ${st.unit}) and deploy again (a setting such as Restart=no does not help: the process still belongs to the unit)`,
    );
  }

  unitOf(): undefined {
    return undefined;
  }

  ownInstance(): undefined {
    return undefined;
  }

  needsBroadSudo(st: appCmd.PortState): boolean {
    return st.pid !== undefined && st.broad?.ok === false && !st.unit;
  }

  enableAtBoot(): undefined {
    return undefined;
  }

  async enableEach(): Promise<string[]> {
    return [];
  }

  async keepWarm(): Promise<string> {
    return 'kept running (warm standby)';
  }

  unitNames(): undefined {
    return undefined;
  }

  tookOver(): undefined {
    return undefined;
  }

  /** Keeps how the running process was started (argv, cwd, environment) in a file on its host, mode 600. */
  async captureForRestart(app: AppNode, pid: number, port: number, step: string): Promise<RestartFrom> {
    const ctx = this.ctx;
    const save = appCmd.capturePath(ctx.cfg.remoteDir, port);
    const said = (await app.remote.must(step, appCmd.captureProcess(pid, save, this.pidOptions()), ctx.cfg.commandTimeoutMs)).trim();
    const denied = parseNeedsRoot(said);
    if (denied) throw new DeployError(step, app.remote.label, takeoverNeedsRoot(ctx, pid, port, `uid ${denied.uid}`, denied.user));
    if (said === 'dead') throw new DeployError(step, app.remote.label, `the old process (pid ${pid}) on port ${port} exited before it was replaced`);
    if (said !== 'saved') throw new DeployError(step, app.remote.label, `could not keep how the old process (pid ${pid}) on port ${port} was started: ${said} (permission? set sudo: true)`);
    return { backend: 'process', saved: save, log: `${ctx.cfg.remoteDir}/logs/previous.${port}.log` };
  }

  /** Read back from its file on the host. */
  async restartStart(app: AppNode, port: number, from: RestartFrom): Promise<ReleaseStart> {
    const ctx = this.ctx;
    if (from.backend === 'unit') throw new Error(`port ${port}: a unit's restart is the unit backend's`);
    const c = appCmd.parseCapture(await app.remote.must('rollback', appCmd.readCaptured(from.saved, ctx.cmdOptions()), ctx.cfg.commandTimeoutMs));
    if (typeof c === 'string') throw new DeployError('rollback', app.remote.label, `${from.saved}: ${c === 'dead' ? 'empty' : c}`);
    return { ...c, log: { file: from.log } };
  }

  restartLog(_port: number, from: RestartFrom): LogSource {
    return { file: from.backend === 'unit' ? '' : from.log };
  }

  async forgetRestart(app: AppNode, from: RestartFrom): Promise<void> {
    if (from.backend === 'unit' || !from.saved) return;
    await app.remote.run(appCmd.forgetCaptured([from.saved], this.ctx.cmdOptions()), this.ctx.cfg.commandTimeoutMs).catch(() => undefined);
  }

  notes(): string[] {
    const cfg = this.ctx.cfg;
    const mib = cfg.logMaxBytes / 1048576;
    return [
      cfg.logMaxBytes > 0
        ? `Logs: ${cfg.remoteDir}/logs/RELEASE.PORT.log, capped at ${mib >= 1 ? `${+mib.toFixed(1)} MiB` : `${Math.round(cfg.logMaxBytes / 1024)} KiB`} (log-max-size; the older part in .log.1).`
        : `Logs: ${cfg.remoteDir}/logs/RELEASE.PORT.log, not capped (log-max-size: 0).`,
    ];
  }

  sudoersRule(user: string, ports: number[]): { rule: string; note: string } {
    return { rule: appSudoersRule(user, ports), note: '' };
  }

  describe(): string[] {
    return [];
  }
}

/** How the old processes on ports were started is needed no more (it may hold secrets): what could not be removed, in words. */
export async function forgetCaptures(ctx: OpContext, app: AppNode, ports: number[]): Promise<string | undefined> {
  const forgot = await app.remote.run(appCmd.forgetCaptured(ports.map((p) => appCmd.capturePath(ctx.cfg.remoteDir, p)), ctx.cmdOptions()), ctx.cfg.commandTimeoutMs);
  if (forgot.code === 0) return undefined;
  return `${app.remote.label}: could not remove ${appCmd.capturePath(ctx.cfg.remoteDir, 0).replace('/0.', '/PORT.')} (how the old processes were started; mode 600)`;
}
