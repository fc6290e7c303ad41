// How a release runs on an app host: the run backend, one interface with two implementations,
// chosen once per run (backends.ts): a detached process (detached.ts) or a systemd unit
// (systemd.ts). Everything that differs between the two is a method here; nothing else in src/
// asks which one runs. Also what both share: the command line a release is started with, and
// where its log is.
import type { Config } from '../config/settings.ts';
import * as appCmd from '../commands/app.ts';
import { journalTail } from '../commands/unit.ts';
import type { Cmd, CmdOptions } from '../commands/shell.ts';
import type { Lane } from '../ssh/remote.ts';
import type { OpContext } from '../run/context.ts';
import type { BackendKind, RestartFrom } from '../run/undo.ts';
import type { AppNode } from './node.ts';

export type { BackendKind, RestartFrom } from '../run/undo.ts';

/** How a release is started: recorded with it on every app host (start.json, mode 600). */
export interface ReleaseCommand {
  java: string;
  javaOpts: string[];
  appArgs: string[];
  env: [string, string][];
}

export function commandOf(cfg: Pick<Config, 'java' | 'javaOpts' | 'appArgs' | 'env'>): ReleaseCommand {
  return { java: cfg.java, javaOpts: cfg.javaOpts, appArgs: cfg.appArgs, env: cfg.env };
}

/** The app's argv on a given port: java -Dserver.port=<port> <java-opts> -jar <jar> <app-args>. */
export function appCommand(cfg: Pick<Config, 'java' | 'javaOpts' | 'appArgs'>, port: number, jar: string): string[] {
  const sub = (w: string) => w.split('{port}').join(String(port));
  return [cfg.java, `-Dserver.port=${port}`, ...cfg.javaOpts.map(sub), '-jar', jar, ...cfg.appArgs.map(sub)];
}

/** A release's start command on port in words, for a plan: env names only (values may be secrets). */
export function commandText(cmd: ReleaseCommand, port: number): string {
  const env = cmd.env.length ? ` (env ${cmd.env.map(([k]) => k).join(', ')})` : '';
  return appCommand(cmd, port, 'app.jar').join(' ') + env;
}

/** Where a process's output goes: a log file on its host, or the journal of its systemd unit. */
export type LogSource = { file: string } | { unit: string };

/** How to start one app process (a new release, or an old process restored), and where it logs. */
export type ReleaseStart = Omit<appCmd.StartSpec, 'log'> & { log: LogSource };

/** A process's log in words, for the log line of its start. */
export function logText(log: LogSource): string {
  return 'unit' in log ? `${log.unit}, its log in the journal` : `log ${log.file}`;
}

/** The command that reads the last lines of a log (300: enough for Spring Boot's failure report whole). */
export function tailCommand(ctx: OpContext, log: LogSource): { cmd: Cmd; what: string } {
  return 'unit' in log ? { cmd: journalTail(ctx.cfg.sudo, log.unit, ctx.cmdOptions()), what: `the journal of ${log.unit}` } : { cmd: appCmd.tailLog(log.file, 300, ctx.cmdOptions()), what: log.file };
}

/** systemd-unit: the service a process to stop belongs to; disable: a reboot must not start it again. */
export interface StopUnit {
  name: string;
  disable: boolean;
}

export interface StopOptions {
  /** SIGKILL after this (default stop-timeout) */
  waitSec?: number;
  /** return right after SIGTERM (wait-for-exit: false) */
  detach?: boolean;
  /** the pid's start time when it was chosen: a pid that has become another process is never signalled */
  start?: string;
  /** the unit to stop instead of the pid (unitOf, ownInstance) */
  unit?: StopUnit;
  /** the stop goes behind what runs in this lane (the drain's wait) */
  lane?: Lane;
}

export interface RunBackend {
  readonly kind: BackendKind;
  /** The backend an undo entry was recorded by (`undefined`: a detached process). */
  of(kind: BackendKind | undefined): RunBackend;

  // start
  /** what the host is asked ahead about this backend (fleet/lockreads.ts), if anything */
  preflightCmd(): Cmd | undefined;
  /** checks the host can run releases so (throws naming what to change) */
  preflight(app: AppNode): Promise<void>;
  /** the start of a release on a port: its command line from its release directory, its log */
  releaseStart(release: string, port: number, cmd: ReleaseCommand): ReleaseStart;
  /** the command that starts spec on port (and arms the start guard when guardSec > 0) */
  startCommand(app: AppNode, port: number, spec: ReleaseStart, guardSec: number, oomScoreAdj: number): Promise<Cmd>;
  /** the OOM score a new version takes while it runs next to the live one (0: the host's default) */
  overlapOomScoreAdj(): number;
  /** after the switch: the new live processes' OOM scores back to 0; a failure is a warning */
  resetOomScores(started: { app: AppNode; port: number; pid: number }[]): Promise<void>;

  // stop
  /** stops pid (or opts.unit); returns what happened, in words */
  stop(app: AppNode, pid: number, port: number, step: string, opts?: StopOptions): Promise<string>;
  /** the options of a command about a process (stop it, keep how it was started) */
  pidOptions(timeoutSec?: number): CmdOptions;

  // who owns a port
  /** refuses a port held by a unit this backend cannot replace; live: the port nginx points at */
  refuseUnit(app: AppNode, port: number, st: appCmd.PortState, step: string, live?: boolean): void;
  /** the unit of the process on a port, to stop instead of its pid (disable: at boot too) */
  unitOf(st: Pick<appCmd.PortState, 'unit'>, disable: boolean): StopUnit | undefined;
  /**
   * this action's own instance on port, to stop (not disable) instead of its pid, when the process
   * there (st) is it; without st, the one a start on port made
   */
  ownInstance(st: Pick<appCmd.PortState, 'unit'> | undefined, port: number): StopUnit | undefined;
  /** the live process is another user's, which only a broad sudo rule lets this backend take over */
  needsBroadSudo(st: appCmd.PortState): boolean;
  /** where the docs say how to let the deploy user see who holds a port */
  readonly sudoersDoc: string;

  // enable at boot, keep warm
  /** a reboot starts the instance on port (undefined: nothing to do) */
  enableAtBoot(app: AppNode, port: number, step: string): Promise<void> | undefined;
  /** each instance on ports enabled at boot; returns the names that could not be */
  enableEach(app: AppNode, ports: number[]): Promise<string[]>;
  /** the old version is kept running as a warm standby: what that needs besides, in words */
  keepWarm(app: AppNode, unit: StopUnit | undefined, step: string): Promise<string>;
  /** the instances' names as the outputs list them (systemd-unit), or undefined */
  unitNames(ports: number[]): string[] | undefined;
  /** the team's own unit a stop of `unit` on port took over, if it was one */
  tookOver(unit: StopUnit | undefined, port: number): string | undefined;
  /** a team's own unit can be started again (a rollback to the release before the takeover) */
  readonly takesOverUnits: boolean;

  // capture for a restart, and what a rollback needs
  /** before the process on port is stopped: what starts it again as it was */
  captureForRestart(app: AppNode, pid: number, port: number, step: string, own: StopUnit | undefined): Promise<RestartFrom>;
  /** how a process captureForRestart kept is started again, and where it logs */
  restartStart(app: AppNode, port: number, from: RestartFrom): Promise<ReleaseStart>;
  /** where the process restarted from `from` logs, when it was found restarting already */
  restartLog(port: number, from: RestartFrom): LogSource;
  /** forgets what captureForRestart kept (it may hold secrets) */
  forgetRestart(app: AppNode, from: RestartFrom): Promise<void>;

  // what a plan and the summary say
  /** the summary's lines about where the releases' logs go */
  notes(): string[];
  /** the exact sudoers rule of an app host, and what its title adds */
  sudoersRule(user: string, ports: number[]): { rule: string; note: string };
  /** what a dry run shows of how the instances would run on these hosts */
  describe(apps: AppNode[]): string[];
}
