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
import { readsStillValid } from '../fleet/lockreads.ts';
import { auditPath, previousRelease, readAudit, servingRelease, type AuditEntry } from '../traffic/audit.ts';
import { type DeployRun } from './deployrun.ts';
import { mapLimit, PARALLEL } from '../util/async.ts';
import { describeSwitch, planBlueGreen, reportsFor, switchResult } from './plan.ts';
import { finishSwitch } from './retire.ts';
import { startOnIdle } from './idle.ts';
import { switchAll } from './switch.ts';
import type { SwitchPlan } from '../traffic/plan.ts';
import { rolling, instancesOf } from './rolling.ts';
import type { DeployResult, DryRunPlan, Deployment, InstanceReport, Runbook } from './types.ts';

/** The port a team's unit served on before the deploy that took it over (from that deploy's audit line). */
export function teamUnitPort(history: AuditEntry[], unit: string): number | undefined {
  const took = history.filter((e) => e.result === 'ok' && e.previous === unit).at(-1);
  const m = took && /^port (\d+)$/.exec(took.from);
  return m ? Number(m[1]) : undefined;
}

/** The release to go back to, and the kept jar and start command for it. Changes nothing. */
async function target(ctx: DeployRun, deployment: Deployment, currentP: Promise<string | undefined>, ports: number[]): Promise<Awaited<ReturnType<typeof keptRelease>>['info']> {
  const cfg = ctx.cfg;
  // The current release (on the app hosts) and the history (on the nginx host): read together.
  const [current, history] = await Promise.all([currentP, cfg.release ? [] : readAudit(ctx, deployment.nginx[0].remote)]);
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
    deployment.release = to;
    deployment.teamUnit = teamUnit;
    deployment.artifact = undefined;
    deployment.previous = current;
    Object.assign(ctx.audit, { release: to, previous: current, bad: current });
    if (!ctx.cfg.dryRun) ctx.ui.info(`rolling back from ${current ?? 'an unrecorded release'} to the team's own unit ${deployment.teamUnit}`);
    return new Map(deployment.apps.map((a) => [a, { jar: false, ports: new Map<number, string>() }]));
  }
  const kept = await keptRelease(ctx, deployment.apps, to, ports);
  deployment.release = to;
  deployment.command = kept.cmd;
  deployment.artifact = undefined;
  deployment.previous = current;
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
async function chooseBlueGreen(ctx: DeployRun, deployment: Deployment): Promise<{ plans: SwitchPlan[]; reuse: Map<AppNode, number> }> {
  const plans = planBlueGreen(ctx, deployment);
  const p = plans[0];
  if (p.livePort === null) throw new DeployError('rollback', undefined, `${deployment.nginx[0].path} names no live port: nothing is deployed, nothing to roll back`);
  const live = deployment.apps.filter((a) => p.liveHosts.includes(a.host));
  // Who listens on the idle port is asked alongside: a warm standby is the target still running
  // there, started by this action.
  const idle = Promise.all(deployment.apps.map((a) => inspectPort(ctx, a, p.idlePort, 'rollback', readsStillValid(deployment.locks, a)?.ports.get(p.idlePort))));
  idle.catch(() => undefined);
  const info = await target(ctx, deployment, releaseOn(ctx, live, p.livePort, deployment.locks), [p.idlePort]);
  const states = await idle;
  const reuse = new Map<AppNode, number>();
  deployment.apps.forEach((a, i) => {
    const st = states[i];
    if (info.get(a)!.ports.get(p.idlePort) === deployment.release && !st.free && st.pid !== undefined && st.pid === st.ours) reuse.set(a, st.pid);
  });
  return { plans, reuse };
}

const fromTo = (deployment: Deployment) => `roll back from ${deployment.previous ?? 'an unrecorded release'} to ${deployment.release} (and mark ${deployment.previous ?? 'the release left'} bad)`;

/** Enables and starts the team's unit again (journaled: a failure disables and stops it) and waits until it serves on port. */
async function startTeamUnit(ctx: DeployRun, deployment: Deployment, a: AppNode, unit: string, port: number, r: InstanceReport): Promise<number> {
  ctx.record({ kind: 'unit-started', app: a.host.ssh, unit });
  const { pid, log } = await enableTeamUnit(ctx, a, unit);
  r.newPid = pid;
  r.upload = `${unit} enabled and started`;
  ctx.ui.info(`${a.remote.label}: ${unit} enabled and started again (pid ${pid})`);
  return waitHealthy(ctx, a, port, pid, { log, nginx: deployment.nginx.map((n) => n.remote) });
}

export const blueGreenRollback: Runbook = {
  // The ports, the release records and (behind the lock) the history: a warm rollback's checks
  // cost no round trip after the lock.
  readsWhileLocking: true,
  async describe(ctx: DeployRun, deployment: Deployment): Promise<DryRunPlan> {
    const { plans, reuse } = await chooseBlueGreen(ctx, deployment);
    const p = plans[0];
    const warm = deployment.apps.filter((a) => reuse.has(a));
    const cold = deployment.apps.filter((a) => !reuse.has(a));
    if (deployment.teamUnit) return describeSwitch(ctx, deployment, plans, [`would ${fromTo(deployment)}: enable and start ${deployment.teamUnit} again on ${deployment.apps.map((a) => a.remote.label).join(', ')}, and check it on port ${p.idlePort}`], false);
    return describeSwitch(
      ctx,
      deployment,
      plans,
      [
        `would ${fromTo(deployment)}`,
        ...(warm.length ? [`${deployment.release} still runs on port ${p.idlePort} on ${warm.map((a) => `${a.remote.label} (pid ${reuse.get(a)})`).join(', ')}: it would be checked and kept`] : []),
        ...(cold.length ? [`on ${cold.map((a) => a.remote.label).join(', ')}, ${deployment.release} would be started on port ${p.idlePort} from its kept jar with its recorded command: ${commandText(deployment.command, p.idlePort)}`] : []),
      ],
      false,
    );
  },

  async run(ctx: DeployRun, deployment: Deployment): Promise<DeployResult> {
    const { plans, reuse } = await ctx.step('Choose the release', () => chooseBlueGreen(ctx, deployment));
    const p = plans[0];
    ctx.audit.from = `port ${p.livePort}`;
    ctx.audit.to = `port ${p.idlePort}`;
    const reports = reportsFor(deployment, p.idlePort);
    if (deployment.teamUnit) {
      const unit = deployment.teamUnit;
      const healthyAt = await ctx.step(`Start ${unit} again`, async () =>
        Math.max(...(await mapLimit(deployment.apps, PARALLEL, (a) => startTeamUnit(ctx, deployment, a, unit, p.idlePort, reports.get(a)!)))),
      );
      const switched = await switchAll(ctx, deployment, plans);
      const tookOver = await finishSwitch(ctx, deployment, p, reports, false, switched);
      const previous = deployment.previous ?? tookOver;
      ctx.audit.previous = previous;
      return switchResult(ctx, deployment, p, reports, {
        strategy: 'blue-green',
        previousRelease: previous,
        healthyToSwitchedMs: switched.at - healthyAt,
        units: [unit],
        headline: `Rolled back to the team's own ${unit} (enabled and started again): nginx switched from port ${p.livePort} to ${p.idlePort}; ${deployment.previous ?? 'the release left'} is marked bad.`,
      });
    }
    const warm = reuse.size === deployment.apps.length;
    const healthyAt = await ctx.step(warm ? `Check ${deployment.release}, still running on port ${p.idlePort}` : `Start ${deployment.release} on port ${p.idlePort}`, () =>
      startOnIdle(ctx, deployment, p, reports, reuse),
    );
    const switched = await switchAll(ctx, deployment, plans);
    const tookOver = await finishSwitch(ctx, deployment, p, reports, false, switched);
    const previous = deployment.previous ?? tookOver;
    ctx.audit.previous = previous;
    return switchResult(ctx, deployment, p, reports, {
      strategy: 'blue-green',
      previousRelease: previous,
      healthyToSwitchedMs: switched.at - healthyAt,
      headline: `Rolled back to ${deployment.release}${warm ? ' (from its warm standby)' : ' (started again from its kept jar)'}: nginx switched from port ${p.livePort} to ${p.idlePort}; ${deployment.previous ?? 'the release left'} is marked bad.`,
    });
  },
};

export const rollingRollback: Runbook = {
  async describe(ctx: DeployRun, deployment: Deployment): Promise<DryRunPlan> {
    const all = instancesOf(ctx, deployment);
    await target(ctx, deployment, releaseOn(ctx, [all[0].app], all[0].port, deployment.locks), []);
    const plan = await rolling.describe(ctx, deployment);
    return { ...plan, lines: [`would ${fromTo(deployment)}, with its kept jar and recorded command, on ${all[0].key}: ${commandText(deployment.command, all[0].port)}`, ...plan.lines] };
  },

  async run(ctx: DeployRun, deployment: Deployment): Promise<DeployResult> {
    const all = instancesOf(ctx, deployment);
    await ctx.step('Choose the release', async () => {
      await target(ctx, deployment, releaseOn(ctx, [all[0].app], all[0].port, deployment.locks), []);
    });
    const r = await rolling.run(ctx, deployment);
    return { ...r, headline: `Rolled back to ${deployment.release}: ${r.headline} ${deployment.previous ?? 'The release left'} is marked bad.` };
  },
};
