// mode: promote. Switches nginx to the staged release after checking again that every staged
// process is the one that was staged (pid and start time), healthy and reachable from nginx;
// then drains and stops the old version as a deploy does. Nothing staged, or a staged process
// gone: it fails and changes nothing.
import { layout } from '../commands/app.ts';
import type { ReleaseInfo } from '../commands/releases.ts';
import { DeployError } from '../errors.ts';
import { processStart } from '../fleet/port.ts';
import { waitHealthy } from '../fleet/healthy.ts';
import { type AppNode } from '../fleet/node.ts';
import type { SwitchPlan } from '../traffic/plan.ts';
import { warmUp } from '../fleet/warmup.ts';
import { clearStaged, keptRelease, readReleaseInfo } from '../fleet/releases.ts';
import { type DeployRun } from './deployrun.ts';
import { mapLimit, PARALLEL } from '../util/async.ts';
import { describeSwitch, planBlueGreen, reportsFor, retiredWords, switchResult } from './plan.ts';
import { finishSwitch } from './retire.ts';
import { switchAll } from './switch.ts';
import { releaseOn } from '../fleet/releases.ts';
import type { DeployResult, DryRunPlan, Deployment, Runbook } from './types.ts';

type Staged = { a: AppNode; s: NonNullable<ReleaseInfo['staged']> }[];

/**
 * What is staged on the idle port of every app host, checked without changing anything: the
 * same release everywhere, and each staged process still the one staged (same pid, same start
 * time). Sets the deployment's release and start command from its records.
 */
async function checkStaged(ctx: DeployRun, deployment: Deployment, p: SwitchPlan): Promise<Staged> {
  const info = await readReleaseInfo(ctx, deployment.apps, '', []);
  const found = deployment.apps.map((a) => ({ a, s: info.get(a)!.staged }));
  const none = found.filter((x) => !x.s).map((x) => x.a.remote.label);
  if (none.length > 0) throw new DeployError('promote', none.join(', '), 'nothing is staged there: run mode: stage first (nothing was changed)');
  const staged = found as Staged;
  const releases = [...new Set(staged.map((x) => `${x.s.release} on port ${x.s.port}`))];
  if (releases.length > 1) throw new DeployError('promote', undefined, `the app hosts have different staged releases (${releases.join('; ')}): stage again (nothing was changed)`);
  const { release, port } = staged[0].s;
  if (port !== p.idlePort) {
    throw new DeployError('promote', undefined, `${release} is staged on port ${port}, but nginx already points at port ${port}: nothing to promote (nothing was changed)`);
  }
  deployment.release = release;
  deployment.command = (await keptRelease(ctx, deployment.apps, release, [])).cmd;
  await mapLimit(staged, PARALLEL, async ({ a, s }) => {
    const { dead, start } = await processStart(ctx, a, s.pid, 'promote');
    if (dead || start !== s.start) {
      throw new DeployError('promote', a.remote.label, `the staged process (pid ${s.pid}) of ${release} on port ${port} is gone${start ? ' (that pid is now another process)' : ''}: stage again (nothing was changed)`);
    }
  });
  return staged;
}

export const promote: Runbook = {
  async describe(ctx: DeployRun, deployment: Deployment): Promise<DryRunPlan> {
    const plans = planBlueGreen(ctx, deployment);
    const p = plans[0];
    const staged = await checkStaged(ctx, deployment, p);
    return describeSwitch(ctx, deployment, plans, [
      `would promote the staged ${deployment.release} on port ${p.idlePort} (${staged.map(({ a, s }) => `${a.remote.label} pid ${s.pid}`).join(', ')}), after checking again that it is healthy and reachable from nginx`,
    ]);
  },

  async run(ctx: DeployRun, deployment: Deployment): Promise<DeployResult> {
    const cfg = ctx.cfg;
    const plans = planBlueGreen(ctx, deployment);
    const p = plans[0];
    const reports = reportsFor(deployment, p.idlePort);
    const healthyAt = await ctx.step('Check the staged release', async () => {
      const staged = await checkStaged(ctx, deployment, p);
      const { release, port } = staged[0].s;
      ctx.audit.release = release;
      ctx.audit.from = p.livePort === null ? '-' : `port ${p.livePort}`;
      ctx.audit.to = `port ${port}`;
      for (const { a, s } of staged) {
        reports.get(a)!.newPid = s.pid;
        reports.get(a)!.upload = 'staged';
      }
      ctx.ui.info(`${release} is staged on port ${port} on every app host`);
      const times = await mapLimit(staged, PARALLEL, async ({ a, s }) => {
        const healthy = await waitHealthy(ctx, a, port, s.pid, { log: { file: layout(cfg.remoteDir, release, port).log }, nginx: deployment.nginx.map((n) => n.remote) });
        await warmUp(ctx, a, port);
        return healthy;
      });
      return Math.max(...times);
    });
    const previous = releaseOn(ctx, deployment.apps.filter((a) => p.liveHosts.includes(a.host)), p.livePort, deployment.locks).catch(() => undefined);
    const switched = await switchAll(ctx, deployment, plans);
    await finishSwitch(ctx, deployment, p, reports, cfg.keepPrevious, switched, () => clearStaged(ctx, deployment.apps));
    const previousRelease = await previous;
    ctx.audit.previous = previousRelease;
    return switchResult(ctx, deployment, p, reports, {
      strategy: 'blue-green',
      previousRelease,
      healthyToSwitchedMs: switched.at - healthyAt,
      artifact: undefined,
      headline: `Promoted the staged ${deployment.release}: nginx switched from port ${p.livePort ?? 'none'} to ${p.idlePort}; the old version was drained and ${retiredWords(ctx, cfg.keepPrevious)}.`,
    });
  },
};
