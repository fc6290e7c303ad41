// mode: rollback. Goes back to the previous release (or to release: LABEL), which must be kept on
// every app host, and marks the release it leaves as bad (a later plain rollback skips it).
//   blue/green: the previous release still running on the idle port (keep-previous) is checked
//   and switched to at once; otherwise its kept jar is started there with the command recorded
//   with it; then the current version is drained and stopped as in a deploy.
//   rolling: a rolling deploy of the previous release's kept jar with its recorded command.
import { DeployError } from '../errors.ts';
import { inspectPort } from '../fleet/port.ts';
import { waitHealthy } from '../fleet/healthy.ts';
import { type AppNode } from '../fleet/node.ts';
import { startTeamUnit as enableTeamUnit } from '../fleet/systemd.ts';
import { keptRelease, releaseOn, teamUnitOf } from '../fleet/releases.ts';
import { commandText } from '../fleet/backend.ts';
import { freshEarly } from '../fleet/early.ts';
import { auditPath, previousRelease, readAudit, servingRelease, type AuditEntry } from '../traffic/audit.ts';
import { type Ctx } from './context.ts';
import { mapLimit, PARALLEL } from '../util/async.ts';
import { describeSwitch, planBlueGreen, reportsFor, switchResult } from './plan.ts';
import { finishSwitch } from './retire.ts';
import { startOnIdle } from './idle.ts';
import { switchAll } from './switch.ts';
import type { SwitchPlan } from '../traffic/plan.ts';
import { rolling, instancesOf } from './rolling.ts';
import type { DeployResult, DryRunPlan, Fleet, InstanceReport, Strategy } from './types.ts';

/** The port a team's unit served on before the deploy that took it over (from that deploy's audit line). */
export function teamUnitPort(history: AuditEntry[], unit: string): number | undefined {
  const took = history.filter((e) => e.result === 'ok' && e.previous === unit).at(-1);
  const m = took && /^port (\d+)$/.exec(took.from);
  return m ? Number(m[1]) : undefined;
}

/** The release to go back to, and the kept jar and start command for it. Changes nothing. */
async function target(ctx: Ctx, fleet: Fleet, currentP: Promise<string | undefined>, ports: number[]): Promise<Awaited<ReturnType<typeof keptRelease>>['info']> {
  const cfg = ctx.cfg;
  // The current release (on the app hosts) and the history (on the nginx host): read together.
  const [current, history] = await Promise.all([currentP, cfg.release ? [] : readAudit(ctx, fleet.nginx[0].remote)]);
  const audited = servingRelease(history);
  if (current && audited && current !== audited) {
    ctx.ui.warn(`the live port records ${current}, the audit log's last switch went to ${audited}: neither is taken as the release to go back to`);
  }
  const to = cfg.release ?? previousRelease(history, current);
  if (!to) {
    throw new DeployError(
      'rollback',
      undefined,
      `no release to roll back to: ${auditPath(ctx)} names none that served before ${current ?? 'the current one'} and was not rolled back from; ` +
        'name a kept release with release: LABEL (nothing was changed)',
    );
  }
  if (to === current) throw new DeployError('rollback', undefined, `release ${to} is the one serving now: nothing to roll back (nothing was changed)`);
  const teamUnit = teamUnitOf(to);
  if (teamUnit !== undefined) {
    // Before the first deploy with systemd-unit, the team's own unit served: it is started again.
    if (!ctx.backend.takesOverUnits) throw new DeployError('rollback', undefined, `the release before ${current} is the unit ${teamUnit}, taken over by a deploy with systemd-unit: set systemd-unit to roll back to it (nothing was changed)`);
    // The team's unit listens where it always did: only while that port is idle can it start.
    const unitPort = teamUnitPort(history, to);
    if (unitPort !== undefined && ports.length === 1 && unitPort !== ports[0]) {
      throw new DeployError(
        'rollback',
        undefined,
        `the release before ${current ?? 'the current one'} is the team's own unit ${teamUnit}, which served on port ${unitPort} before the takeover; ${current ?? 'the current release'} holds port ${unitPort} now, so the unit could not bind it. ` +
          `It is a rollback target only while port ${unitPort} is idle (the live release on port ${ports[0]}): roll back to a kept release instead with release: LABEL, or start the unit by hand once port ${unitPort} is free (systemctl enable --now ${teamUnit}). Nothing was changed`,
      );
    }
    fleet.release = to;
    fleet.teamUnit = teamUnit;
    fleet.artifact = undefined;
    fleet.previous = current;
    Object.assign(ctx.audit, { release: to, previous: current, bad: current });
    if (!ctx.cfg.dryRun) ctx.ui.info(`rolling back from ${current ?? 'an unrecorded release'} to the team's own unit ${fleet.teamUnit}`);
    return new Map(fleet.apps.map((a) => [a, { jar: false, ports: new Map<number, string>() }]));
  }
  const kept = await keptRelease(ctx, fleet.apps, to, ports);
  fleet.release = to;
  fleet.command = kept.cmd;
  fleet.artifact = undefined;
  fleet.previous = current;
  ctx.audit.release = to;
  ctx.audit.previous = current;
  ctx.audit.bad = current;
  if (!ctx.cfg.dryRun) ctx.ui.info(`rolling back from ${current ?? 'an unrecorded release'} to ${to}`);
  return kept.info;
}

/**
 * Blue/green: the plan, the release to go back to, and the hosts where it still runs on the idle
 * port as a warm standby (its pid). Changes nothing.
 */
async function chooseBlueGreen(ctx: Ctx, fleet: Fleet): Promise<{ plans: SwitchPlan[]; reuse: Map<AppNode, number> }> {
  const plans = planBlueGreen(ctx, fleet);
  const p = plans[0];
  if (p.livePort === null) throw new DeployError('rollback', undefined, `${fleet.nginx[0].path} names no live port: nothing is deployed, nothing to roll back`);
  const live = fleet.apps.filter((a) => p.liveHosts.includes(a.host));
  // Who listens on the idle port is asked alongside: a warm standby is the target still running
  // there, started by this action.
  const idle = Promise.all(fleet.apps.map((a) => inspectPort(ctx, a, p.idlePort, 'rollback', freshEarly(fleet.locks, a)?.ports.get(p.idlePort))));
  idle.catch(() => undefined);
  const info = await target(ctx, fleet, releaseOn(ctx, live, p.livePort, fleet.locks), [p.idlePort]);
  const states = await idle;
  const reuse = new Map<AppNode, number>();
  fleet.apps.forEach((a, i) => {
    const st = states[i];
    if (info.get(a)!.ports.get(p.idlePort) === fleet.release && !st.free && st.pid !== undefined && st.pid === st.ours) reuse.set(a, st.pid);
  });
  return { plans, reuse };
}

const fromTo = (fleet: Fleet) => `roll back from ${fleet.previous ?? 'an unrecorded release'} to ${fleet.release} (and mark ${fleet.previous ?? 'the release left'} bad)`;

/** Enables and starts the team's unit again (journaled: a failure disables and stops it) and waits until it serves on port. */
async function startTeamUnit(ctx: Ctx, fleet: Fleet, a: AppNode, unit: string, port: number, r: InstanceReport): Promise<number> {
  ctx.record({ kind: 'unit-started', app: a.host.ssh, unit });
  const { pid, log } = await enableTeamUnit(ctx, a, unit);
  r.newPid = pid;
  r.upload = `${unit} enabled and started`;
  ctx.ui.info(`${a.remote.label}: ${unit} enabled and started again (pid ${pid})`);
  return waitHealthy(ctx, a, port, pid, { log, nginx: fleet.nginx.map((n) => n.remote) });
}

export const blueGreenRollback: Strategy = {
  // The ports, the release records and (behind the lock) the history: a warm rollback's checks
  // cost no round trip after the lock.
  readsEarly: true,
  async describe(ctx: Ctx, fleet: Fleet): Promise<DryRunPlan> {
    const { plans, reuse } = await chooseBlueGreen(ctx, fleet);
    const p = plans[0];
    const warm = fleet.apps.filter((a) => reuse.has(a));
    const cold = fleet.apps.filter((a) => !reuse.has(a));
    if (fleet.teamUnit) return describeSwitch(ctx, fleet, plans, [`would ${fromTo(fleet)}: enable and start ${fleet.teamUnit} again on ${fleet.apps.map((a) => a.remote.label).join(', ')}, and check it on port ${p.idlePort}`], false);
    return describeSwitch(
      ctx,
      fleet,
      plans,
      [
        `would ${fromTo(fleet)}`,
        ...(warm.length ? [`${fleet.release} still runs on port ${p.idlePort} on ${warm.map((a) => `${a.remote.label} (pid ${reuse.get(a)})`).join(', ')}: it would be checked and kept`] : []),
        ...(cold.length ? [`on ${cold.map((a) => a.remote.label).join(', ')}, ${fleet.release} would be started on port ${p.idlePort} from its kept jar with its recorded command: ${commandText(fleet.command, p.idlePort)}`] : []),
      ],
      false,
    );
  },

  async run(ctx: Ctx, fleet: Fleet): Promise<DeployResult> {
    const { plans, reuse } = await ctx.step('Choose the release', () => chooseBlueGreen(ctx, fleet));
    const p = plans[0];
    ctx.audit.from = `port ${p.livePort}`;
    ctx.audit.to = `port ${p.idlePort}`;
    const reports = reportsFor(fleet, p.idlePort);
    if (fleet.teamUnit) {
      const unit = fleet.teamUnit;
      const healthyAt = await ctx.step(`Start ${unit} again`, async () =>
        Math.max(...(await mapLimit(fleet.apps, PARALLEL, (a) => startTeamUnit(ctx, fleet, a, unit, p.idlePort, reports.get(a)!)))),
      );
      const switched = await switchAll(ctx, fleet, plans);
      const tookOver = await finishSwitch(ctx, fleet, p, reports, false, switched);
      const previousRelease = fleet.previous ?? tookOver;
      ctx.audit.previous = previousRelease;
      return switchResult(ctx, fleet, p, reports, {
        strategy: 'blue-green',
        previousRelease,
        healthyToSwitchedMs: switched.at - healthyAt,
        units: [unit],
        headline: `Rolled back to the team's own ${unit} (enabled and started again): nginx switched from port ${p.livePort} to ${p.idlePort}; ${fleet.previous ?? 'the release left'} is marked bad.`,
      });
    }
    const warm = reuse.size === fleet.apps.length;
    const healthyAt = await ctx.step(warm ? `Check ${fleet.release}, still running on port ${p.idlePort}` : `Start ${fleet.release} on port ${p.idlePort}`, () =>
      startOnIdle(ctx, fleet, p, reports, reuse),
    );
    const switched = await switchAll(ctx, fleet, plans);
    const tookOver = await finishSwitch(ctx, fleet, p, reports, false, switched);
    const previousRelease = fleet.previous ?? tookOver;
    ctx.audit.previous = previousRelease;
    return switchResult(ctx, fleet, p, reports, {
      strategy: 'blue-green',
      previousRelease,
      healthyToSwitchedMs: switched.at - healthyAt,
      headline: `Rolled back to ${fleet.release}${warm ? ' (from its warm standby)' : ' (started again from its kept jar)'}: nginx switched from port ${p.livePort} to ${p.idlePort}; ${fleet.previous ?? 'the release left'} is marked bad.`,
    });
  },
};

export const rollingRollback: Strategy = {
  async describe(ctx: Ctx, fleet: Fleet): Promise<DryRunPlan> {
    const all = instancesOf(ctx, fleet);
    await target(ctx, fleet, releaseOn(ctx, [all[0].app], all[0].port, fleet.locks), []);
    const plan = await rolling.describe(ctx, fleet);
    return { ...plan, lines: [`would ${fromTo(fleet)}, with its kept jar and recorded command, on ${all[0].key}: ${commandText(fleet.command, all[0].port)}`, ...plan.lines] };
  },

  async run(ctx: Ctx, fleet: Fleet): Promise<DeployResult> {
    const all = instancesOf(ctx, fleet);
    await ctx.step('Choose the release', async () => {
      await target(ctx, fleet, releaseOn(ctx, [all[0].app], all[0].port, fleet.locks), []);
    });
    const r = await rolling.run(ctx, fleet);
    return { ...r, headline: `Rolled back to ${fleet.release}: ${r.headline} ${fleet.previous ?? 'The release left'} is marked bad.` };
  },
};
