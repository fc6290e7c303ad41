// mode: stage. The new release starts on the idle port of every app host and passes its health
// and reachability checks, and stays up (its guard disarmed) while nginx keeps serving the old
// one, so people can try it before mode: promote switches to it. Staging again replaces it.
import { cleanupReleases, markStaged } from '../fleet/releases.ts';
import { type Ctx } from './context.ts';
import { planBlueGreen, reportsFor } from './plan.ts';
import { smoke, startOnIdle } from './idle.ts';
import { releaseOn } from '../fleet/releases.ts';
import type { DeployResult, DryRunPlan, Fleet, Strategy } from './types.ts';

export const stage: Strategy = {
  readsEarly: true,
  describe(ctx: Ctx, fleet: Fleet): DryRunPlan {
    const p = planBlueGreen(ctx, fleet)[0];
    return {
      lines: [`would start ${fleet.release} on port ${p.idlePort} on every app host and leave nginx as it is (port ${p.livePort ?? 'none'})`],
      includes: [],
      reach: fleet.apps.map((app) => ({ app, port: p.idlePort })),
    };
  },

  async run(ctx: Ctx, fleet: Fleet): Promise<DeployResult> {
    const p = planBlueGreen(ctx, fleet)[0];
    ctx.audit.from = p.livePort === null ? '-' : `port ${p.livePort}`;
    ctx.audit.to = `port ${p.idlePort} (staged)`;
    const reports = reportsFor(fleet, p.idlePort);
    await ctx.step(`Upload, start and health-check ${fleet.release} on port ${p.idlePort}`, () => startOnIdle(ctx, fleet, p, reports));
    // A staged release that fails the team's smoke test is stopped: promote only ever sees one that passed.
    await smoke(ctx, fleet, fleet.apps.map((app) => ({ app, port: p.idlePort })), releaseOn(ctx, fleet.apps, p.livePort, fleet.locks));
    await ctx.step('Record the staged release', async () => {
      await markStaged(ctx, fleet.apps, p.idlePort, fleet.release);
      // From here the staged processes stay, whatever happens next.
      ctx.state.committed = true;
      ctx.save();
      await cleanupReleases(ctx, fleet.apps, fleet.release, [p.idlePort], fleet.command);
    });
    const previousRelease = await releaseOn(ctx, fleet.apps, p.livePort, fleet.locks).catch(() => undefined);
    ctx.audit.previous = previousRelease;
    return {
      strategy: 'blue-green',
      release: fleet.release,
      activePorts: p.livePort === null ? [] : [p.livePort],
      previousPorts: p.livePort === null ? [] : [p.livePort],
      stagedPort: p.idlePort,
      previousRelease,
      durationMs: Date.now() - ctx.t0,
      timings: ctx.timings,
      instances: [...reports.values()],
      nginxHosts: fleet.nginx.map((n) => n.remote.label),
      artifact: fleet.artifact,
      headline: `Staged ${fleet.release} on port ${p.idlePort}; nginx still serves ${p.livePort === null ? 'nothing' : `port ${p.livePort}`}. Switch to it with mode: promote.`,
    };
  },
};
