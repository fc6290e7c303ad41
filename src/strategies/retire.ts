// After the switch: the old version drained and stopped (or kept as a warm standby, or its team
// unit taken over), while the release is recorded and old ones pruned.
import { DeployError, errorText } from '../errors.ts';
import type { SwitchPlan } from '../traffic/plan.ts';
import { drainLeft, drainPort, drainWorkers } from '../traffic/drain.ts';
import { inspectPort } from '../fleet/port.ts';
import type { AppNode } from '../fleet/node.ts';
import { adoptProcess, cleanupReleases, recordPortOnly, teamUnitLabel } from '../fleet/releases.ts';
import { type DeployRun } from './deployrun.ts';
import { mapLimit, PARALLEL } from '../util/async.ts';
import type { Switched } from './switch.ts';
import type { Deployment, InstanceReport } from './types.ts';

/**
 * Drains the old port and stops what listens there; with keep, leaves it running as a warm
 * standby (recorded as this action's, so the next deploy may replace it). early: who held the old
 * port during the switch (switchAll). Returns the team's own unit it took over, if any.
 */
export async function retireOld(ctx: DeployRun, deployment: Deployment, p: SwitchPlan, reports: Map<AppNode, InstanceReport>, keep: boolean, early?: Switched['oldHolders']): Promise<string | undefined> {
  const cfg = ctx.cfg;
  let tookOver: string | undefined;
  await ctx.step(keep ? 'Drain and keep the old version as a warm standby' : 'Drain and stop the old version', async () => {
    if (p.livePort === null) {
      // A first deploy stops nothing; but until the old nginx workers are gone, one of them may
      // still take a connection and answer it from the configuration as it was (no app). The step
      // ends when only workers with the new include are left.
      drainLeft(ctx, await drainWorkers(ctx, deployment.nginx, Date.now() + cfg.drainTimeoutMs), 0, 'nginx');
      return;
    }
    const livePort = p.livePort;
    const old = deployment.apps.filter((a) => p.liveHosts.includes(a.host));
    // Which process holds the old port is read while the drain runs, if not during the switch (it
    // is only read, and the stop checks its pid again): no round trip between the drain and the stop.
    const inspected = new Map(old.map((a) => [a, early?.get(a) ?? inspectPort(ctx, a, livePort, 'stop old')]));
    for (const pr of inspected.values()) pr.catch(() => undefined);
    try {
      // First the old nginx workers exit; then each app host waits for the connections to its old
      // port to end, with the stop sent right behind that wait in the same shell: it runs on the
      // host the moment the drain is done, not a round trip later.
      const deadline = Date.now() + cfg.drainTimeoutMs;
      const workers = await drainWorkers(ctx, deployment.nginx, deadline);
      const conns: Promise<number>[] = [];
      await mapLimit(old, PARALLEL, async (a) => {
        const r = reports.get(a)!;
        const lane = a.remote.lane();
        if (!keep && workers === 0) conns.push(drainPort(ctx, a.remote, livePort, deadline, lane));
        const now = await inspected.get(a)!;
        const pid = now.pid ?? r.oldPid;
        // Minutes may have passed since the pid was read: its start time says whether it is still it.
        const start = now.pid !== undefined ? now.start : r.oldStart;
        if (pid === undefined) {
          r.stopped = 'nothing was running';
          return;
        }
        // systemd-unit: a reboot starts the version nginx points at, and only that one.
        const unit = ctx.backend.unitOf({ unit: now.unit ?? r.oldUnit }, true);
        const enable = !deployment.teamUnit ? ctx.backend.enableAtBoot(a, p.idlePort, 'enable') : undefined;
        enable?.catch(() => undefined);
        if (keep) {
          if (now.ours !== pid) await adoptProcess(ctx, a, livePort, pid, 'keep old');
          r.stopped = await ctx.backend.keepWarm(a, unit, 'keep old');
        } else {
          // nginx no longer needs it, and nothing will start on its port in this run: with
          // wait-for-exit: false the step does not wait for the JVM's own exit.
          r.stopped = await ctx.backend.stop(a, pid, livePort, 'stop old', { detach: !cfg.waitForExit, start, unit, lane });
        }
        await enable;
        const took = ctx.backend.tookOver(unit, livePort);
        if (took !== undefined) {
          r.tookOver = took;
          // A later mode: rollback goes back to it: the release that served before is that unit.
          tookOver ??= teamUnitLabel(took);
          ctx.ui.info(`${a.remote.label}: took over from ${took}: it was ${keep ? 'disabled and kept running' : 'stopped and disabled'}; nothing else in it was changed`);
        }
        ctx.ui.info(`${a.remote.label}: old pid ${pid} ${r.stopped}`);
      });
      drainLeft(ctx, workers, (await Promise.all(conns)).reduce((x, y) => x + y, 0), `port ${livePort}`);
    } catch (e) {
      // Past the switch there is nothing to roll back: say what serves and what is left.
      const d = e instanceof DeployError ? e : new DeployError('stop old', undefined, errorText(e));
      throw new DeployError(d.step, d.host, `${d.detail} -- nginx already serves the new version on port ${p.idlePort}; the old process on port ${livePort} may still need stopping`);
    }
  });
  return tookOver;
}

/**
 * Everything after the switch: the release is recorded and old ones pruned (plus any extra
 * clean-up) while the old version drains; then it is stopped, or kept as a warm standby. Returns
 * the release label of the team's own unit it took over (what served before), if any.
 */
export async function finishSwitch(ctx: DeployRun, deployment: Deployment, p: SwitchPlan, reports: Map<AppNode, InstanceReport>, keep: boolean, switched: Switched, extra?: () => Promise<unknown>): Promise<string | undefined> {
  // The team's own unit is no kept release: only its port is recorded (teamUnitLabel).
  const record = deployment.teamUnit ? recordPortOnly(ctx, deployment.apps, p.idlePort, deployment.release) : cleanupReleases(ctx, deployment.apps, deployment.release, [p.idlePort], deployment.command);
  // The new version serves now: its OOM score back to a normal service's (raised while it ran next to the old one).
  const oom = ctx.backend.resetOomScores(
    deployment.apps.flatMap((a) => {
      const pid = reports.get(a)?.newPid;
      return pid === undefined ? [] : [{ app: a, port: p.idlePort, pid }];
    }),
  );
  const cleanup = Promise.all([record, extra?.(), oom]);
  cleanup.catch(() => undefined);
  const tookOver = await retireOld(ctx, deployment, p, reports, keep, switched.oldHolders);
  await ctx.step('Clean up', () => cleanup);
  return tookOver;
}
