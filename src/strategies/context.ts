// What every strategy's run shares: the config, the runner's UI, the SSH pool, step timings,
// cancellation, and the journal of what was changed (each entry knows its undo).
import type { Config } from '../config/inputs.ts';
import type { CmdOptions } from '../commands/shell.ts';
import { Pool } from '../ssh/pool.ts';
import { sshOptions } from '../ssh/remote.ts';
import type { UndoEntry } from './journal.ts';
import type { AuditEntry } from '../traffic/audit.ts';
import type { CanaryStep } from '../traffic/canary.ts';

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

export class Cancelled extends Error {
  constructor(signal: string) {
    super(`the workflow was cancelled (${signal})`);
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function mapLimit<T, U>(items: T[], limit: number, fn: (item: T) => Promise<U>): Promise<U[]> {
  const out: U[] = new Array(items.length);
  let next = 0;
  let failed: unknown;
  let hasFailed = false;
  const worker = async () => {
    while (next < items.length && !hasFailed) {
      const i = next++;
      try {
        out[i] = await fn(items[i]);
      } catch (e) {
        if (!hasFailed) {
          hasFailed = true;
          failed = e;
        }
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (hasFailed) throw failed;
  return out;
}

export const PARALLEL = 16;

export class Ctx {
  readonly cfg: Config;
  readonly ui: Ui;
  readonly pool: Pool;
  readonly t0 = Date.now();
  readonly timings: { step: string; ms: number }[] = [];
  readonly state: RecoveryState = { committed: false, done: false, journal: [], locks: [] };
  private cancelled?: string;
  /** canary: each judged step's figures, for the summary (also of a failed run) */
  canarySteps: CanaryStep[] = [];
  /** what the audit line of this run will say, filled in as it goes */
  readonly audit: Partial<AuditEntry> = {};
  /** set while undoing: nothing cancels a rollback, and what it does is not journaled again */
  undoing = false;
  /** what the clean-up after a switch could not do (the deploy still succeeded): log and summary */
  readonly cleanupProblems: string[] = [];
  /**
   * Runner time (ms) up to which another deploy may have changed the hosts, as the locks told
   * (takeLocks): what was read on a host after it still holds once the locks are ours.
   */
  othersUntil = Infinity;

  constructor(cfg: Config, ui: Ui) {
    this.cfg = cfg;
    this.ui = ui;
    this.pool = new Pool(sshOptions(cfg, (m) => ui.warn(m), ui.debug?.bind(ui)));
  }

  /** Called on SIGINT/SIGTERM: the run stops at the next safe point and rolls back. */
  cancel(signal: string): void {
    this.cancelled ??= signal;
  }

  checkpoint(): void {
    if (this.cancelled && !this.state.committed && !this.undoing) throw new Cancelled(this.cancelled);
  }

  o(sudo = false, timeoutSec = this.cfg.commandTimeoutMs / 1000): CmdOptions {
    return { sudo: sudo && this.cfg.sudo, timeoutSec };
  }

  /**
   * A command about a process on an app host (stop it, keep how it was started). It runs as the
   * deploy user, whose processes the releases are; with sudo: true and without systemd-unit, a
   * process of another user (the one-time takeover of an app the seed scripts started as root)
   * goes through `sudo -n sh -c` (commands/shell.ts wrapForPid), which only a broad rule
   * allows. With systemd-unit, a team's unit is stopped by the exact systemctl commands instead.
   */
  oApp(timeoutSec = this.cfg.commandTimeoutMs / 1000): CmdOptions {
    return { sudo: this.cfg.sudo && this.cfg.systemdUnit === undefined, timeoutSec };
  }

  /**
   * sudo: true: port inspection lists sockets through sudo (the exact ss command of the sudoers
   * rule), so that a process of another user (a team's unit of root, an app root started) is
   * named, and can be taken over.
   */
  get privPorts(): boolean {
    return this.cfg.sudo;
  }

  /** systemd-unit: whether the unit commands' systemctl and tee run through sudo. */
  get privUnit(): boolean {
    return this.cfg.sudo;
  }

  async step<T>(name: string, fn: () => Promise<T>): Promise<T> {
    this.checkpoint();
    const s = Date.now();
    try {
      return await this.ui.group(name, fn);
    } finally {
      this.timings.push({ step: name, ms: Date.now() - s });
    }
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
