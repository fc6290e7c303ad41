// What the strategies and the frame they run in (frame.ts) pass each other: the deployment a strategy
// gets, what it reports, and the strategy itself. Types only.
import type { Artifact } from '../fleet/artifact.ts';
import type { AppNode } from '../fleet/node.ts';
import type { NginxSide } from '../traffic/nginx.ts';
import type { AuditEntry } from '../traffic/audit.ts';
import type { CanaryStep } from '../traffic/canary.ts';
import type { ReleaseCommand } from '../fleet/backend.ts';
import type { Locked } from '../fleet/lockreads.ts';
import type { DeployRun } from './deployrun.ts';
import type { OutcomeKind } from './outcome.ts';

/** What a strategy gets: connected hosts, the includes as read, the jar and the release label. */
export interface Deployment {
  nginx: NginxSide[];
  apps: AppNode[];
  /** the jar to upload; none when the release is already kept on the hosts (promote, rollback) */
  artifact?: Artifact;
  /** the release label; promote and rollback find theirs on the hosts */
  release: string;
  /** how the release is started */
  command: ReleaseCommand;
  /** what taking the deploy locks said: which reads made while they were taken still hold (fleet/lockreads.ts); none in a dry run */
  locks?: Locked;
  /** the release serving before, when the caller knew it already (a rollback: the release it leaves, marked bad) */
  previous?: string;
  /** systemd-unit: a rollback to the team's own unit (release `unit:NAME.service`) */
  teamUnit?: string;
  /** bake-time with access-log: each nginx host's log size when the deploy began (the old version's window starts there) */
  bakeFrom?: number[];
  /** the instances' reports as they fill in: a failed run's summary shows them */
  reports?: InstanceReport[];
}

export interface InstanceReport {
  host: string;
  target: string;
  port: number;
  batch?: number;
  upload?: string;
  oldPid?: number;
  /** the old pid's start time when it was read */
  oldStart?: string;
  newPid?: number;
  stopped?: string;
  ms?: number;
  /** systemd-unit: the unit on the live port before (not NAME@PORT) */
  oldUnit?: string;
  /** systemd-unit: the team's unit this deploy stopped and disabled */
  tookOver?: string;
}

export interface DeployResult {
  strategy: string;
  release: string;
  /** ports nginx points at now, and before (empty on a first deploy) */
  activePorts: number[];
  previousPorts: number[];
  durationMs: number;
  /** from the last new process passing its checks to nginx serving it */
  healthyToSwitchedMs?: number;
  timings: { step: string; ms: number }[];
  instances: InstanceReport[];
  nginxHosts: string[];
  /** systemd-unit: the instances enabled (a reboot starts them), e.g. shop@8081.service */
  units?: string[];
  artifact?: Artifact;
  headline: string;
  /** the release that served before */
  previousRelease?: string;
  /** stage: the port the staged release waits on */
  stagedPort?: number;
  /** the last entries of the audit log, this run's last */
  audit?: AuditEntry[];
  /** canary: the figures of each step */
  canary?: CanaryStep[];
  /** what the clean-up could not do (record, prune) */
  cleanupProblems?: string[];
  /** settings worth a line in the summary (health-port, log-max-size), in words */
  notes?: string[];
}

/** What a strategy would do, for a dry run: nothing in it changes a host. */
export interface DryRunPlan {
  /** the plan in words, one line each */
  lines: string[];
  /** the include each nginx host would get first */
  includes: { side: NginxSide; after: string | null }[];
  /** instances whose port nginx must reach (probed where something listens) */
  reach: { app: AppNode; port: number }[];
}

/** A runbook: how one strategy (blue-green, rolling, canary) carries out one mode, and what its dry run says. */
export interface Runbook {
  run(ctx: DeployRun, deployment: Deployment): Promise<DeployResult>;
  /** its start goes through startOnIdle: the app hosts can be read while the lock is taken (fleet/lockreads.ts) */
  readsWhileLocking?: boolean;
  /** the plan of a dry run: may read the hosts (which release, what runs where), changes nothing */
  describe(ctx: DeployRun, deployment: Deployment): DryRunPlan | Promise<DryRunPlan>;
}

export interface Outcome {
  result?: DeployResult;
  /** dry-run: the plan, as markdown */
  dryRun?: string;
  error?: unknown;
  rolledBack: boolean;
  rollbackProblem?: string;
  canary?: DeployResult['canary'];
  /** a failed run: what it means for the workflow (outcome.ts), where it failed, the hosts it changed or failed on */
  failure?: { outcome: OutcomeKind; step: string; host: string; hosts: string[] };
  /** a failed run: what its summary shows, as a success's does */
  timings?: DeployResult['timings'];
  instances?: InstanceReport[];
  nginxHosts?: string[];
}

