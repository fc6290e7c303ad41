// The plan of a blue/green switch, shared by deploy, stage, promote and rollback: which port is
// live and which idle on every nginx host, the dry run's words for it, each app host's report, and
// what a switch from the live to the idle port did, for the outputs and the summary.
import { DeployError } from '../errors.ts';
import { planSwitch, PlanError, type SwitchPlan } from '../traffic/plan.ts';
import type { AppNode } from '../fleet/node.ts';
import { type DeployRun } from './deployrun.ts';
import type { DeployResult, DryRunPlan, Deployment, InstanceReport } from './types.ts';

export function planBlueGreen(ctx: DeployRun, deployment: Deployment): SwitchPlan[] {
  try {
    return deployment.nginx.map((n) => planSwitch(ctx.cfg, n.path, n.text));
  } catch (e) {
    if (e instanceof PlanError) throw new DeployError('read include', `nginx host ${deployment.nginx[0].remote.label}`, e.message);
    throw e;
  }
}

/**
 * A blue/green dry-run plan: the lines before the switch, then the switch of every nginx host to
 * the idle port and the drain of the live one (stop, or keep with keep-previous).
 */
export function describeSwitch(ctx: DeployRun, deployment: Deployment, plans: SwitchPlan[], before: string[], keep = ctx.cfg.keepPrevious): DryRunPlan {
  const p = plans[0];
  return {
    lines: [
      ...before,
      `then switch nginx on ${deployment.nginx.map((n) => n.remote.label).join(', ')} to port ${p.idlePort}` +
        (p.livePort === null ? '' : `, and drain and ${keep ? 'keep' : 'stop'} the version on port ${p.livePort}`),
    ],
    includes: deployment.nginx.map((side, i) => ({ side, after: plans[i].newText })),
    reach: deployment.apps.map((app) => ({ app, port: p.idlePort })),
  };
}

/** What happened to the old version after a switch, for a headline. */
export function retiredWords(ctx: DeployRun, keep: boolean): string {
  if (keep) return 'kept running as a warm standby';
  return ctx.cfg.waitForExit ? 'stopped' : 'sent SIGTERM (wait-for-exit: false: a watchdog on its host finishes the stop)';
}

/** Each app host's report, filled in as the run goes (also kept on the deployment for a failure's summary). */
export function reportsFor(deployment: Deployment, port: number): Map<AppNode, InstanceReport> {
  const m = new Map(deployment.apps.map((a): [AppNode, InstanceReport] => [a, { host: a.remote.label, target: a.host.target, port }]));
  deployment.reports = [...m.values()];
  return m;
}

/** What a switch from the live to the idle port did, for the outputs and the summary. */
export function switchResult(
  ctx: DeployRun,
  deployment: Deployment,
  p: SwitchPlan,
  reports: Map<AppNode, InstanceReport>,
  r: Pick<DeployResult, 'strategy' | 'headline' | 'previousRelease'> & Partial<DeployResult>,
): DeployResult {
  return {
    release: deployment.release,
    previousRelease: r.previousRelease,
    activePorts: [p.idlePort],
    previousPorts: p.livePort === null ? [] : [p.livePort],
    durationMs: Date.now() - ctx.t0,
    timings: ctx.timings,
    instances: [...reports.values()],
    nginxHosts: deployment.nginx.map((n) => n.remote.label),
    artifact: deployment.artifact,
    units: r.stagedPort === undefined ? ctx.backend.unitNames([p.idlePort]) : undefined,
    // a bake's row (a canary passes its steps and the bake together)
    canary: ctx.canarySteps.length > 0 ? ctx.canarySteps : undefined,
    ...r,
  };
}
