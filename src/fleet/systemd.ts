// The run backend of systemd-unit: NAME: each release runs as the instance NAME@PORT.service of a
// template unit the action writes; systemd starts and stops it, and its log is the unit's
// journal. A team's own unit on the live port is taken over (stopped and disabled after the
// switch), and a rollback can start it again. A process that is no unit's is handled as a
// detached one, without sudo (detached.ts).
import { DeployError } from '../errors.ts';
import * as appCmd from '../commands/app.ts';
import * as unitCmd from '../commands/unit.ts';
import type { Cmd, CmdOptions } from '../commands/shell.ts';
import type { OpContext } from '../run/context.ts';
import { appCommand, type BackendKind, type LogSource, type ReleaseCommand, type ReleaseStart, type RestartFrom, type RunBackend, type StopOptions, type StopUnit } from './backend.ts';
import type { DetachedBackend } from './detached.ts';
import { takeRead } from './lockreads.ts';
import type { AppNode } from './node.ts';
import { keptRelease, releaseOn } from './releases.ts';

/** systemctl, tee and journalctl run through sudo (the exact commands of the sudoers rule) with sudo: true. */
const priv = (ctx: OpContext) => ctx.cfg.sudo;

export class UnitBackend implements RunBackend {
  readonly kind = 'unit' as const;
  readonly sudoersDoc = 'docs/systemd.md, "The sudoers rule"';
  readonly takesOverUnits = true;
  private readonly ctx: OpContext;
  /** the template's name: systemd-unit */
  private readonly name: string;
  /** for a process that is no unit's: stopped by its pid, captured as it was started */
  private readonly detached: DetachedBackend;

  constructor(ctx: OpContext, name: string, detached: DetachedBackend) {
    this.ctx = ctx;
    this.name = name;
    this.detached = detached;
  }

  of(kind: BackendKind | undefined): RunBackend {
    return kind === 'unit' ? this : this.detached;
  }

  preflightCmd(): Cmd {
    return unitCmd.unitPreflight(this.ctx.cmdOptions());
  }

  /** systemd runs the host, and the deploy user can manage system units. */
  async preflight(app: AppNode): Promise<void> {
    const ctx = this.ctx;
    const cfg = ctx.cfg;
    if (app.unitUser) return;
    const p = unitCmd.parseUnitPreflight(await (takeRead(app, 'unit') ?? app.remote.must('preflight', this.preflightCmd(), cfg.commandTimeoutMs)));
    if (!p.systemctl || !p.booted) {
      throw new DeployError(
        'preflight',
        app.remote.label,
        `systemd-unit is set, but ${!p.systemctl ? 'systemctl is not installed' : 'systemd is not what runs this host (no /run/systemd/system: PID 1 is another init, e.g. in a container)'}; leave systemd-unit empty to run releases as detached processes`,
      );
    }
    if (p.uid !== 0 && !cfg.sudo) {
      throw new DeployError('preflight', app.remote.label, `systemd-unit writes ${unitCmd.UNIT_DIR}/${this.name}@.service and runs systemctl, which user '${p.user}' cannot do: set sudo: true (docs/systemd.md has the sudoers rule it needs)`);
    }
    app.unitUser = { user: p.user, group: p.group };
  }

  /** The template unit this host gets (the dry run shows it). */
  template(app: AppNode): string {
    const cfg = this.ctx.cfg;
    return unitCmd.templateText({ name: this.name, user: app.unitUser!.user, group: app.unitUser!.group, remoteDir: cfg.remoteDir, stopTimeoutSec: cfg.stopTimeoutMs / 1000 });
  }

  releaseStart(release: string, port: number, cmd: ReleaseCommand): ReleaseStart {
    const l = appCmd.layout(this.ctx.cfg.remoteDir, release, port);
    return { cwd: l.releaseDir, argv: appCommand(cmd, port, appCmd.layout(this.ctx.cfg.remoteDir, release).jar), env: cmd.env, log: { unit: unitCmd.instanceUnit(this.name, port) } };
  }

  async startCommand(app: AppNode, port: number, spec: ReleaseStart, guardSec: number): Promise<Cmd> {
    const ctx = this.ctx;
    const cfg = ctx.cfg;
    await this.preflight(app);
    const env = appCmd.envLines(spec.env).length > 0 ? unitCmd.envFileText(spec.env) : '';
    // A unit's PATH is systemd's, not the user's: the java the preflight found.
    const argv = app.javaPath && spec.argv[0] === cfg.java ? [app.javaPath, ...spec.argv.slice(1)] : spec.argv;
    return unitCmd.startUnit(priv(ctx), this.name, port, cfg.remoteDir, this.template(app), unitCmd.startScriptText(spec.cwd, argv), env, guardSec, appCmd.GUARD, ctx.cmdOptions());
  }

  /** systemd starts the unit: its OOM score is the unit's. */
  overlapOomScoreAdj(): number {
    return 0;
  }

  async resetOomScores(): Promise<void> {}

  stop(app: AppNode, pid: number, port: number, step: string, opts: StopOptions = {}): Promise<string> {
    const unit = opts.unit;
    if (!unit) return this.ctx.span(app.remote.label, 'stop', () => this.detached.stopPid(app, pid, port, step, opts));
    return this.ctx.span(app.remote.label, 'stop', () => this.stopUnit(app, unit, port, step, opts));
  }

  private async stopUnit(app: AppNode, unit: StopUnit, port: number, step: string, opts: StopOptions): Promise<string> {
    const ctx = this.ctx;
    const cfg = ctx.cfg;
    const { waitSec = cfg.stopTimeoutMs / 1000, detach = false, lane } = opts;
    const how: unitCmd.UnitStop = !unit.disable ? 'stop' : detach ? 'disable-now-no-block' : 'disable-now';
    const pidFile = appCmd.layout(cfg.remoteDir, '', port).pidFile;
    const said = (await app.remote.must(step, unitCmd.stopUnit(priv(ctx), unit.name, how, pidFile, ctx.cmdOptions(false, waitSec + 30)), waitSec * 1000 + 2 * cfg.commandTimeoutMs + (lane ? cfg.drainTimeoutMs : 0), lane)).trim();
    const what = unit.disable ? `${unit.name} stopped and disabled` : `${unit.name} stopped`;
    if (said === 'gone') return `${unit.name} was not running${unit.disable ? ' (disabled)' : ''}`;
    return detach ? `${unit.name} disabled, stopping (wait-for-exit: false: systemd finishes the stop, SIGKILL after TimeoutStopSec=${Math.ceil(waitSec)})` : what;
  }

  pidOptions(timeoutSec?: number): CmdOptions {
    return this.detached.pidOptions(timeoutSec);
  }

  /** Also one this action started (NAME@PORT) is the unit's; another unit on the live port is taken over after the switch. */
  refuseUnit(app: AppNode, port: number, st: appCmd.PortState, step: string, live = false): void {
    if (!st.unit || st.pid === undefined) return;
    if (st.unit === unitCmd.instanceUnit(this.name, port) || live) return;
    throw new DeployError(step, app.remote.label, `port ${port} is held by pid ${st.pid} of the systemd unit ${st.unit}, which nginx does not point to; stop it (systemctl disable --now ${st.unit}) or choose other ports`);
  }

  unitOf(st: Pick<appCmd.PortState, 'unit'>, disable: boolean): StopUnit | undefined {
    return st.unit ? { name: st.unit, disable } : undefined;
  }

  ownInstance(st: Pick<appCmd.PortState, 'unit'> | undefined, port: number): StopUnit | undefined {
    const name = unitCmd.instanceUnit(this.name, port);
    return st === undefined || st.unit === name ? { name, disable: false } : undefined;
  }

  needsBroadSudo(): boolean {
    return false;
  }

  enableAtBoot(app: AppNode, port: number, step: string): Promise<void> {
    const ctx = this.ctx;
    return app.remote.must(step, unitCmd.enableUnit(priv(ctx), unitCmd.instanceUnit(this.name, port), ctx.cmdOptions()), ctx.cfg.commandTimeoutMs).then(() => undefined);
  }

  /** One command per unit: the sudoers rule names each exactly. */
  async enableEach(app: AppNode, ports: number[]): Promise<string[]> {
    const ctx = this.ctx;
    const units = ports.map((port) => unitCmd.instanceUnit(this.name, port));
    const enabled = await Promise.all(units.map((u) => app.remote.run(unitCmd.enableUnit(priv(ctx), u, ctx.cmdOptions()), ctx.cfg.commandTimeoutMs)));
    return units.filter((_, k) => enabled[k].code !== 0);
  }

  async keepWarm(app: AppNode, unit: StopUnit | undefined, step: string): Promise<string> {
    const ctx = this.ctx;
    if (!unit) return 'kept running (warm standby)';
    await app.remote.must(step, unitCmd.stopUnit(priv(ctx), unit.name, 'disable', '', ctx.cmdOptions()), ctx.cfg.commandTimeoutMs);
    return `kept running (warm standby), ${unit.name} disabled`;
  }

  unitNames(ports: number[]): string[] {
    return ports.map((port) => unitCmd.instanceUnit(this.name, port)).filter((u, k, xs) => xs.indexOf(u) === k);
  }

  tookOver(unit: StopUnit | undefined, port: number): string | undefined {
    return unit && unit.name !== unitCmd.instanceUnit(this.name, port) ? unit.name : undefined;
  }

  /** NAME@PORT: a failed batch starts the release it ran again, from its kept jar; anything else as it was started. */
  async captureForRestart(app: AppNode, pid: number, port: number, step: string, own: StopUnit | undefined): Promise<RestartFrom> {
    if (!own) return this.detached.captureForRestart(app, pid, port, step);
    const ran = await releaseOn(this.ctx, [app], port);
    if (!ran) throw new DeployError(step, app.remote.label, `no record of the release ${own.name} runs (${this.ctx.cfg.remoteDir}/run/${port}.release), so a failed batch could not start it again: nothing was stopped`);
    return { backend: 'unit', release: ran };
  }

  /** A unit runs the release it ran with its recorded command. */
  async restartStart(app: AppNode, port: number, from: RestartFrom): Promise<ReleaseStart> {
    if (from.backend !== 'unit') return this.detached.restartStart(app, port, from);
    return this.releaseStart(from.release, port, (await keptRelease(this.ctx, [app], from.release, [])).cmd);
  }

  restartLog(port: number, from: RestartFrom): LogSource {
    return from.backend === 'unit' ? { unit: unitCmd.instanceUnit(this.name, port) } : this.detached.restartLog(port, from);
  }

  forgetRestart(app: AppNode, from: RestartFrom): Promise<void> {
    return this.detached.forgetRestart(app, from);
  }

  notes(): string[] {
    return [];
  }

  sudoersRule(user: string, ports: number[]): { rule: string; note: string } {
    return { rule: unitCmd.sudoersRule(user, this.name, ports), note: " (systemd-unit; a takeover of a team's unit adds its lines: docs/systemd.md)" };
  }

  describe(apps: AppNode[]): string[] {
    if (!apps[0]?.unitUser) return [];
    return [
      `systemd: each instance would run as ${unitCmd.instanceUnit(this.name, 0).replace('@0.', '@PORT.')}, from ${unitCmd.UNIT_DIR}/${this.name}@.service (written if it differs from this) on ${apps.map((a) => a.remote.label).join(', ')}:`,
      '',
      '```ini',
      ...this.template(apps[0]).trimEnd().split('\n'),
      '```',
      '',
    ];
  }
}

/** A rollback to the team's own unit: enables and starts it again; returns its MainPID and its log. */
export async function startTeamUnit(ctx: OpContext, app: AppNode, unit: string): Promise<{ pid: number; log: LogSource }> {
  const pid = Number((await app.remote.must('rollback', unitCmd.enableNowUnit(priv(ctx), unit, ctx.cmdOptions()), ctx.cfg.commandTimeoutMs)).trim());
  if (!Number.isInteger(pid) || pid <= 1) throw new DeployError('rollback', app.remote.label, `${unit} was started but has no main process: it exited at once`);
  return { pid, log: { unit } };
}

/** The undo of startTeamUnit: the team's unit stopped and disabled again; the command's exit code (0: done). */
export async function stopTeamUnit(ctx: OpContext, app: AppNode, unit: string): Promise<number | null> {
  const cfg = ctx.cfg;
  const r = await app.remote.run(unitCmd.stopUnit(priv(ctx), unit, 'disable-now', '', ctx.cmdOptions(false, cfg.stopTimeoutMs / 1000 + 30)), cfg.stopTimeoutMs + 2 * cfg.commandTimeoutMs);
  return r.code;
}
