// mode: stage. The new release starts on the idle port of every app host and passes its health
// and reachability checks, and stays up (its guard disarmed) while nginx keeps serving the old
// one, so people can try it before mode: promote switches to it. Staging again replaces it.
import { cleanupReleases, markStaged } from '../fleet/releases.ts';
import { type DeployRun } from './deployrun.ts';
import { planBlueGreen, reportsFor } from './plan.ts';
import { smoke, startOnIdle } from './idle.ts';
import { releaseOn } from '../fleet/releases.ts';
import type { DeployResult, DryRunPlan, Deployment, Runbook } from './types.ts';

export const stage: Runbook = {
  readsWhileLocking: true,
  describe(ctx: DeployRun, deployment: Deployment): DryRunPlan {
    const p = planBlueGreen(ctx, deployment)[0];
    return {
      lines: [`would start ${deployment.release} on port ${p.idlePort} on every app host and leave nginx as it is (port ${p.livePort ?? 'none'})`],
      includes: [],
      reach: deployment.apps.map((app) => ({ app, port: p.idlePort })),
    };
  },

  async run(ctx: DeployRun, deployment: Deployment): Promise<DeployResult> {
    const p = planBlueGreen(ctx, deployment)[0];
    ctx.audit.from = p.livePort === null ? '-' : `port ${p.livePort}`;
    ctx.audit.to = `port ${p.idlePort} (staged)`;
    const reports = reportsFor(deployment, p.idlePort);
    await ctx.step(`Upload, start and health-check ${deployment.release} on port ${p.idlePort}`, () => startOnIdle(ctx, deployment, p, reports));
    // A staged release that fails the team's smoke test is stopped: promote only ever sees one that passed.
    await smoke(ctx, deployment, deployment.apps.map((app) => ({ app, port: p.idlePort })), releaseOn(ctx, deployment.apps, p.livePort, deployment.locks));
    await ctx.step('Record the staged release', async () => {
      await markStaged(ctx, deployment.apps, p.idlePort, deployment.release);
      // From here the staged processes stay, whatever happens next.
      ctx.state.committed = true;
      ctx.save();
      await cleanupReleases(ctx, deployment.apps, deployment.release, [p.idlePort], deployment.command);
    });
    const previousRelease = await releaseOn(ctx, deployment.apps, p.livePort, deployment.locks).catch(() => undefined);
    ctx.audit.previous = previousRelease;
    return {
      strategy: 'blue-green',
      release: deployment.release,
      activePorts: p.livePort === null ? [] : [p.livePort],
      previousPorts: p.livePort === null ? [] : [p.livePort],
      stagedPort: p.idlePort,
      previousRelease,
      durationMs: Date.now() - ctx.t0,
      timings: ctx.timings,
      instances: [...reports.values()],
      nginxHosts: deployment.nginx.map((n) => n.remote.label),
      artifact: deployment.artifact,
      headline: `Staged ${deployment.release} on port ${p.idlePort}; nginx still serves ${p.livePort === null ? 'nothing' : `port ${p.livePort}`}. Switch to it with mode: promote.`,
    };
  },
};
