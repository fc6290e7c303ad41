// The frame every strategy runs in: resolve the jar, connect, lock every nginx host, read the
// includes; run the strategy; on failure undo its journal; always unlock and disconnect.
import { errorText } from '../errors.ts';
import { type Artifact, defaultRelease, resolveArtifact } from '../fleet/artifact.ts';
import { dropEarlyTcp } from '../ssh/early-tcp.ts';
import type { AppNode } from '../fleet/instance.ts';
import type { SshAddress } from '../config/hosts.ts';
import type { Lane, Remote } from '../ssh/remote.ts';
import { readBehind, readIncludes, type NginxSide } from '../traffic/nginx.ts';
import { releaseLocks, takeLocks } from '../traffic/lock.ts';
import type { Ctx } from './context.ts';
import { undoJournal } from './journal.ts';
import { dryRun } from './dryrun.ts';
import { commandOf, releaseForLabel, type ReleaseCommand } from '../fleet/releases.ts';
import { appendAudit, readAuditBehind, runUrl, type AuditEntry } from '../traffic/audit.ts';
import { dropEarly, readEarly } from '../fleet/early.ts';
import type { CanaryStep } from '../traffic/canary.ts';

/** Appends this run's line to every nginx host's audit log; returns the last five entries. */
async function audit(ctx: Ctx, nginx: Remote[], result: AuditEntry['result'], lanes?: Map<Remote, Lane>): Promise<AuditEntry[]> {
  const a = ctx.audit;
  const entry: AuditEntry = {
    time: new Date().toISOString(),
    actor: process.env.GITHUB_ACTOR ?? '-',
    repository: process.env.GITHUB_REPOSITORY ?? '-',
    run: runUrl(),
    mode: ctx.cfg.mode,
    strategy: ctx.cfg.strategy,
    release: a.release ?? '-',
    ...(a.previous ? { previous: a.previous } : {}),
    from: a.from ?? '-',
    to: a.to ?? '-',
    result,
    duration_s: Math.round((Date.now() - ctx.t0) / 100) / 10,
    ...(a.bad && result === 'ok' ? { bad: a.bad } : {}),
  };
  return appendAudit(ctx, nginx, entry, 5, lanes);
}

/** The summary's lines about settings that change where things go: health-port, log-max-size. */
export function settingNotes(cfg: Pick<Ctx['cfg'], 'healthPort' | 'healthPath' | 'logMaxBytes' | 'systemdUnit' | 'remoteDir'>): string[] {
  const out: string[] = [];
  if (cfg.healthPort) out.push(`Health checks: GET ${cfg.healthPath} on port ${cfg.healthPort} (health-port; {port} is the instance's port).`);
  if (cfg.systemdUnit === undefined) {
    const mib = cfg.logMaxBytes / 1048576;
    out.push(
      cfg.logMaxBytes > 0
        ? `Logs: ${cfg.remoteDir}/logs/RELEASE.PORT.log, capped at ${mib >= 1 ? `${+mib.toFixed(1)} MiB` : `${Math.round(cfg.logMaxBytes / 1024)} KiB`} (log-max-size; the older part in .log.1).`
        : `Logs: ${cfg.remoteDir}/logs/RELEASE.PORT.log, not capped (log-max-size: 0).`,
    );
  }
  return out;
}

/** What a strategy gets: connected hosts, the includes as read, the jar and the release label. */
export interface Fleet {
  nginx: NginxSide[];
  apps: AppNode[];
  /** the jar to upload; none when the release is already kept on the hosts (promote, rollback) */
  artifact?: Artifact;
  /** the release label; promote and rollback find theirs on the hosts */
  release: string;
  /** how the release is started */
  command: ReleaseCommand;
  /** systemd-unit: a rollback to the team's own unit (release `unit:NAME.service`) */
  teamUnit?: string;
  /** bake-time with access-log: each nginx host's log size when the deploy began (the old version's window starts there) */
  bakeFrom?: number[];
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

export interface Strategy {
  run(ctx: Ctx, fleet: Fleet): Promise<DeployResult>;
  /** its start goes through startOnIdle: the app hosts can be read while the lock is taken (fleet/early.ts) */
  readsEarly?: boolean;
  /** the plan of a dry run: may read the hosts (which release, what runs where), changes nothing */
  describe(ctx: Ctx, fleet: Fleet): DryRunPlan | Promise<DryRunPlan>;
}

export interface Outcome {
  result?: DeployResult;
  /** dry-run: the plan, as markdown */
  dryRun?: string;
  error?: unknown;
  rolledBack: boolean;
  rollbackProblem?: string;
  canary?: DeployResult['canary'];
}

/** The step that finds and reads the include on every nginx host (its preflight included). */
export function readNginx(ctx: Ctx, remotes: { addr: SshAddress; remote: Remote }[]): Promise<NginxSide[]> {
  return ctx.step('Read the nginx include', () => readIncludes(ctx, remotes));
}

export async function runStrategy(ctx: Ctx, strategy: Strategy): Promise<Outcome> {
  const cfg = ctx.cfg;
  const nginxRemotes: { addr: SshAddress; remote: Remote }[] = [];
  let fleet: Fleet | undefined;
  let apps: AppNode[] | undefined;
  try {
    // Connections open while the jar is hashed.
    const connecting = Promise.allSettled([
      ...cfg.nginxHosts.map(async (addr) => nginxRemotes.push({ addr, remote: await ctx.pool.get(addr, 'nginx host') })),
      ...cfg.appHosts.map(async (host) => ({ host, remote: await ctx.pool.get(host.ssh, 'app host') })),
    ]);
    // deploy and stage bring a jar; promote and rollback use one already on the hosts.
    const artifact =
      cfg.mode === 'deploy' || cfg.mode === 'stage'
        ? await ctx.step('Resolve the artifact', async () => {
            const a = await resolveArtifact(cfg.artifact);
            ctx.ui.info(`${a.path} (${(a.size / 1048576).toFixed(1)} MiB, sha256 ${a.sha256})`);
            return a;
          })
        : undefined;
    let release = artifact ? (cfg.release ?? defaultRelease(artifact.sha256, process.env.GITHUB_SHA)) : '';
    ctx.audit.release = release || cfg.release;
    apps = await ctx.step('Connect', async () => {
      const all = await connecting;
      // Sockets opened at start-up for an address no connection asked for (early-tcp.ts).
      dropEarlyTcp();
      const failed = all.find((r) => r.status === 'rejected');
      if (failed) throw (failed as PromiseRejectedResult).reason;
      nginxRemotes.sort((a, b) => cfg.nginxHosts.indexOf(a.addr) - cfg.nginxHosts.indexOf(b.addr));
      const nodes = all.slice(cfg.nginxHosts.length).map((r) => (r as PromiseFulfilledResult<AppNode>).value);
      ctx.ui.info(`connected: nginx ${nginxRemotes.map((n) => n.remote.label).join(', ')}; app ${nodes.map((a) => a.remote.label).join(', ')}`);
      return nodes;
    });
    if (artifact && cfg.release) ctx.audit.release = release = await releaseForLabel(ctx, apps, cfg.release, artifact);
    if (cfg.dryRun) {
      const md = await dryRun(ctx, strategy, nginxRemotes, apps, artifact, release);
      ctx.state.done = true;
      return { dryRun: md, rolledBack: false };
    }
    // While the locks are taken, the app hosts are asked what the start on the idle port will
    // need to know (all reads; the upload channel opens and waits).
    if (strategy.readsEarly) readEarly(ctx, apps, artifact, release);
    // A rollback reads the history on the first nginx host: behind its lock too.
    const history = cfg.mode === 'rollback' && !cfg.release ? nginxRemotes[0]?.remote : undefined;
    await ctx.step('Lock', () =>
      takeLocks(
        ctx,
        nginxRemotes.map((n) => n.remote),
        (remote, lane) => {
          readBehind(ctx, remote, lane);
          if (remote === history) readAuditBehind(ctx, remote, lane);
        },
      ),
    );
    const nginx = await readNginx(ctx, nginxRemotes);
    fleet = { nginx, apps, artifact, release, command: commandOf(cfg) };
    const result = await strategy.run(ctx, fleet);
    if (ctx.cleanupProblems.length > 0) result.cleanupProblems = [...ctx.cleanupProblems];
    result.notes = settingNotes(cfg);
    ctx.state.done = true;
    ctx.save();
    // The audit line and the unlock go out together, one behind the other in one shell per host:
    // the line is written while the lock is held, and both cost one round trip.
    const remotes = nginxRemotes.map((n) => n.remote);
    const lanes = new Map(remotes.map((r) => [r, r.lane()]));
    const auditing = audit(ctx, remotes, 'ok', lanes);
    const unlocking = releaseLocks(ctx, remotes, lanes);
    result.audit = await auditing;
    await unlocking;
    return { result, rolledBack: false };
  } catch (e) {
    const out: Outcome = { error: e, rolledBack: false, canary: ctx.canarySteps };
    if (!ctx.state.committed && ctx.state.journal.length > 0) {
      ctx.ui.warn(`rolling back: ${errorText(e)}`);
      try {
        const problems = await undoJournal(ctx, ctx.state.journal);
        if (problems.length === 0) {
          out.rolledBack = true;
          ctx.state.journal = [];
          ctx.save();
        } else {
          out.rollbackProblem = problems.join('; ');
        }
      } catch (re) {
        out.rollbackProblem = errorText(re);
      }
      if (out.rollbackProblem) ctx.ui.warn(`rollback incomplete: ${out.rollbackProblem}`);
      // Rolled back here, completely or not: the post step must not do it a second time.
      ctx.state.done = true;
      ctx.save();
    }
    if (!(e instanceof Error)) out.error = new Error(String(e));
    // A run that reached the hosts leaves its line in the audit log, whatever happened.
    if (fleet && !cfg.dryRun) await audit(ctx, nginxRemotes.map((n) => n.remote), out.rolledBack ? 'rolled back' : 'failed').catch(() => undefined);
    return out;
  } finally {
    if (apps) dropEarly(apps);
    await releaseLocks(ctx, nginxRemotes.map((n) => n.remote)).catch(() => undefined);
    await ctx.pool.dispose();
  }
}
