// The frame every strategy runs in: resolve the jar, connect, lock every nginx host, read the
// includes; run the strategy; on failure undo its journal; always unlock and disconnect.
import { errorText } from '../errors.ts';
import { defaultRelease, resolveArtifact } from '../fleet/artifact.ts';
import { dropEarlyTcp } from '../ssh/early-tcp.ts';
import type { AppNode } from '../fleet/node.ts';
import { hostPort, type SshAddress } from '../config/hosts.ts';
import type { Lane, Remote } from '../ssh/remote.ts';
import { readBehind } from '../traffic/nginx.ts';
import { DeployLocks } from '../traffic/lock.ts';
import type { DeployRun } from './deployrun.ts';
import { undoJournal } from './journal.ts';
import { dryRun } from './dryrun.ts';
import { readNginx } from './read.ts';
import type { Deployment, Outcome, Runbook } from './types.ts';
import { deploymentLabel, releaseForLabel } from '../fleet/releases.ts';
import { commandOf, type RunBackend } from '../fleet/backend.ts';
import { appendAudit, readAuditBehind, runUrl, type AuditEntry } from '../traffic/audit.ts';
import { dropLockReads, readWhileLocking } from '../fleet/lockreads.ts';
import { failedHost, failedStepOf, failureOutcome, hostsInvolved } from './outcome.ts';

/** The summary's lines about settings that change where things go: health-port, log-max-size. */
export function settingNotes(cfg: Pick<DeployRun['cfg'], 'healthPort' | 'healthPath'>, backend: RunBackend): string[] {
  const out: string[] = [];
  if (cfg.healthPort) out.push(`Health checks: GET ${cfg.healthPath} on port ${cfg.healthPort} (health-port; {port} is the instance's port).`);
  out.push(...backend.notes());
  return out;
}

/** Appends this run's line to every nginx host's audit log; returns the last five entries. */
async function audit(ctx: DeployRun, nginx: Remote[], result: AuditEntry['result'], lanes?: Map<Remote, Lane>): Promise<AuditEntry[]> {
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

export async function runStrategy(ctx: DeployRun, strategy: Runbook): Promise<Outcome> {
  const cfg = ctx.cfg;
  const nginxRemotes: { addr: SshAddress; remote: Remote }[] = [];
  let deployment: Deployment | undefined;
  let apps: AppNode[] | undefined;
  const locks = new DeployLocks(ctx);
  try {
    // Connections open while the jar is hashed.
    const connecting = Promise.allSettled([
      ...cfg.nginxHosts.map(async (addr) => nginxRemotes.push({ addr, remote: await ctx.span(hostPort(addr.host, addr.port), 'connect', () => ctx.pool.get(addr, 'nginx host')) })),
      ...cfg.appHosts.map(async (host) => ({ host, remote: await ctx.span(hostPort(host.ssh.host, host.ssh.port), 'connect', () => ctx.pool.get(host.ssh, 'app host')) })),
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
    if (strategy.readsWhileLocking) readWhileLocking(ctx, ctx.backend, apps, artifact, release);
    // A rollback reads the history on the first nginx host: behind its lock too.
    const history = cfg.mode === 'rollback' && !cfg.release ? nginxRemotes[0]?.remote : undefined;
    await ctx.step('Lock', () =>
      locks.take(
        nginxRemotes.map((n) => n.remote),
        (remote, lane) => {
          readBehind(ctx, remote, lane);
          if (remote === history) readAuditBehind(ctx, remote, lane);
        },
      ),
    );
    const nginx = await readNginx(ctx, nginxRemotes);
    // The same jar with another command is a deployment of its own (read while the lock was taken).
    if (artifact) ctx.audit.release = release = await deploymentLabel(ctx, apps, release, commandOf(cfg), locks);
    deployment = { nginx, apps, artifact, release, command: commandOf(cfg), locks };
    const result = await strategy.run(ctx, deployment);
    if (ctx.cleanupProblems.length > 0) result.cleanupProblems = [...ctx.cleanupProblems];
    result.notes = settingNotes(cfg, ctx.backend);
    ctx.state.done = true;
    ctx.save();
    // The audit line and the unlock go out together, one behind the other in one shell per host:
    // the line is written while the lock is held, and both cost one round trip.
    const remotes = nginxRemotes.map((n) => n.remote);
    const lanes = new Map(remotes.map((r) => [r, r.lane()]));
    const auditing = audit(ctx, remotes, 'ok', lanes);
    const unlocking = locks.release(remotes, lanes);
    result.audit = await auditing;
    await unlocking;
    return { result, rolledBack: false };
  } catch (e) {
    const out: Outcome = { error: e, rolledBack: false, canary: ctx.canarySteps, timings: ctx.timings, instances: deployment?.reports, nginxHosts: nginxRemotes.map((n) => n.remote.label) };
    const journal = [...ctx.state.journal];
    const committed = ctx.state.committed;
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
    const host = failedHost(e);
    out.failure = { outcome: failureOutcome({ committed, journal, rollbackProblem: out.rollbackProblem }), step: failedStepOf(e, ctx.failedStep), host, hosts: hostsInvolved(journal, host) };
    // A run that reached the hosts leaves its line in the audit log, whatever happened.
    if (deployment && !cfg.dryRun) await audit(ctx, nginxRemotes.map((n) => n.remote), out.rolledBack ? 'rolled back' : 'failed').catch(() => undefined);
    return out;
  } finally {
    if (apps) dropLockReads(apps);
    await locks.release(nginxRemotes.map((n) => n.remote)).catch(() => undefined);
    await ctx.pool.dispose();
  }
}
