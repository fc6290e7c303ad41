// Blue/green: the new release starts on the idle port of every app host, and nginx switches all
// of them at once.
//   upload + start (each host on its own timeline) -> healthy + reachable from nginx -> switch
//   every nginx host -> drain -> stop the old version (or keep it warm) -> clean up
// Undo: each start records "stop it"; the switch records "put every include back".
import type { DeployRun } from './deployrun.ts';
import { bakeStart } from './bake.ts';
import { describeSwitch, planBlueGreen, reportsFor, retiredWords, switchResult } from './plan.ts';
import { finishSwitch } from './retire.ts';
import { smoke, startOnIdle } from './idle.ts';
import { switchAll } from './switch.ts';
import { releaseOn } from '../fleet/releases.ts';
import type { DeployResult, DryRunPlan, Deployment, Runbook } from './types.ts';

export const blueGreen: Runbook = {
  readsWhileLocking: true,
  describe(ctx: DeployRun, deployment: Deployment): DryRunPlan {
    const plans = planBlueGreen(ctx, deployment);
    const p = plans[0];
    return describeSwitch(ctx, deployment, plans, [
      p.livePort === null ? `first deploy: would start ${deployment.release} on port ${p.idlePort} on every app host` : `live port ${p.livePort}; would start ${deployment.release} on port ${p.idlePort} on every app host`,
    ]);
  },

  async run(ctx: DeployRun, deployment: Deployment): Promise<DeployResult> {
    const cfg = ctx.cfg;
    const plans = planBlueGreen(ctx, deployment);
    const p = plans[0];
    if (p.livePort === null) ctx.ui.info(`${deployment.nginx[0].path} ${p.oldText === null ? 'does not exist' : 'is empty'}: first deploy, to port ${p.idlePort}`);
    else ctx.ui.info(`live port ${p.livePort} on ${p.liveHosts.map((h) => h.target).join(', ')}; deploying to port ${p.idlePort}`);
    ctx.audit.from = p.livePort === null ? '-' : `port ${p.livePort}`;
    ctx.audit.to = `port ${p.idlePort}`;
    const reports = reportsFor(deployment, p.idlePort);
    const previous = releaseOn(ctx, deployment.apps.filter((a) => p.liveHosts.includes(a.host)), p.livePort, deployment.locks).catch(() => undefined);
    await bakeStart(ctx, deployment);
    const healthyAt = await ctx.step(`Upload, start and health-check ${deployment.release} on port ${p.idlePort}`, () => startOnIdle(ctx, deployment, p, reports));
    await smoke(ctx, deployment, deployment.apps.map((app) => ({ app, port: p.idlePort })), previous);
    const switched = await switchAll(ctx, deployment, plans);
    const tookOver = await finishSwitch(ctx, deployment, p, reports, cfg.keepPrevious, switched);
    const previousRelease = (await previous) ?? tookOver;
    ctx.audit.previous = previousRelease;
    return switchResult(ctx, deployment, p, reports, {
      strategy: 'blue-green',
      previousRelease,
      healthyToSwitchedMs: switched.at - healthyAt,
      headline:
        p.livePort === null
          ? `First deploy: nginx now points at port ${p.idlePort}.`
          : `nginx switched from port ${p.livePort} to ${p.idlePort}; the old version was drained and ${retiredWords(ctx, cfg.keepPrevious)}.`,
    });
  },
};
