// What a host-level operation (fleet/, traffic/) gets from the run: the settings, the runner's
// output, the options of its remote commands, cancellation, and the journal it records its
// changes in. What the deploy run owns besides (the connections, the steps and their timings, the
// report) is the strategies' DeployRun, which extends this.
import type { Config } from '../config/settings.ts';
import type { CmdOptions } from '../commands/shell.ts';
import type { UndoEntry } from './undo.ts';

export interface Ui {
  info(msg: string): void;
  warn(msg: string): void;
  /** the step-debug log (shown when the workflow runs with debug logging) */
  debug?(msg: string): void;
  group<T>(title: string, fn: () => Promise<T>): Promise<T>;
  /** persists what the post step needs to finish a rollback if this process dies */
  saveState(state: RecoveryState): void;
}

/** What the post step needs to undo a run cut short. */
export interface RecoveryState {
  /** past the point of no return (blue/green after the switch): nothing to undo */
  committed: boolean;
  done: boolean;
  journal: UndoEntry[];
  locks: { nginx: string; dir: string; info: string }[];
}

/** A phase of the deploy on one host, for the summary's timeline (connect ... stop). */
export interface Span {
  /** the host's label, host:port */
  host: string;
  phase: string;
  /** runner time, ms */
  start: number;
  end: number;
  failed?: boolean;
}

/** The timeline's "host" of the run's own steps (DeployRun.step): the whole deploy at a glance. */
export const RUN = '';

export class Cancelled extends Error {
  constructor(signal: string) {
    super(`the workflow was cancelled (${signal})`);
  }
}

export class OpContext {
  readonly cfg: Config;
  readonly ui: Ui;
  readonly state: RecoveryState = { committed: false, done: false, journal: [], locks: [] };
  private cancelled?: string;
  /** set while undoing: nothing cancels a rollback, and what it does is not journaled again */
  undoing = false;
  /** what the clean-up after a switch could not do (the deploy still succeeded): log and summary */
  readonly cleanupProblems: string[] = [];
  /** per host, when each phase ran (connect, upload, start, health, switch, drain, stop): the timeline */
  readonly spans: Span[] = [];

  constructor(cfg: Config, ui: Ui) {
    this.cfg = cfg;
    this.ui = ui;
  }

  /** Called on SIGINT/SIGTERM: the run stops at the next safe point and rolls back. */
  cancel(signal: string): void {
    this.cancelled ??= signal;
  }

  checkpoint(): void {
    if (this.cancelled && !this.state.committed && !this.undoing) throw new Cancelled(this.cancelled);
  }

  /** The options of a remote command: its timeout, and sudo (only with sudo: true) for a root step. */
  cmdOptions(sudo = false, timeoutSec = this.cfg.commandTimeoutMs / 1000): CmdOptions {
    return { sudo: sudo && this.cfg.sudo, timeoutSec };
  }

  /**
   * sudo: true: port inspection lists sockets through sudo (the exact ss command of the sudoers
   * rule), so that a process of another user (a team's unit of root, an app root started) is
   * named, and can be taken over.
   */
  get privPorts(): boolean {
    return this.cfg.sudo;
  }

  /**
   * Times a phase of one host for the timeline (a rollback's phases are marked so); the result
   * and any error pass through unchanged.
   */
  async span<T>(host: string, phase: string, fn: () => Promise<T>): Promise<T> {
    const start = Date.now();
    try {
      const v = await fn();
      this.mark([host], phase, start);
      return v;
    } catch (e) {
      this.mark([host], phase, start, true);
      throw e;
    }
  }

  /** A phase of several hosts that began at `start` and ends now, for the timeline. */
  mark(hosts: string[], phase: string, start: number, failed = false): void {
    const p = this.undoing ? `${phase} (rollback)` : phase;
    const end = Date.now();
    for (const host of hosts) this.spans.push({ host, phase: p, start, end, ...(failed ? { failed } : {}) });
  }

  /** Records a change before it is made (its outcome may never be known), and saves the state. */
  record(e: UndoEntry): void {
    if (this.undoing) return;
    this.state.journal.push(e);
    this.save();
  }

  cleanupProblem(msg: string): void {
    this.cleanupProblems.push(msg);
    this.ui.warn(msg);
  }

  save(): void {
    this.ui.saveState(this.state);
  }
}
