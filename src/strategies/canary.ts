// Canary: the new release starts on the idle port of every app host (health, reachability,
// warm-up as in blue/green), then traffic moves in steps (canary-steps, percentages) with
// weight= on old and new upstream entries side by side. Each step is held canary-interval while
// nginx's own access log says how each release answers; a failed gate aborts (the journal puts
// the upstream back, drains, stops the new processes). After the last step the old entries leave
// and the old version is drained and stopped, as a blue/green switch ends.
import { DeployError } from '../errors.ts';
import { hostPort } from '../config/hosts.ts';
import { applyChanges } from '../traffic/nginx.ts';
import { figures, judgeStep, renderCanary, type CanaryStep } from '../traffic/canary.ts';
import { attemptsSince, checkLog, gatesOf, logOffsets, show } from '../traffic/accesslog.ts';
import type { UpstreamForm } from '../traffic/include.ts';
import { type DeployRun } from './deployrun.ts';
import { sleep } from '../util/async.ts';
import { finishSwitch } from './retire.ts';
import { planBlueGreen, reportsFor, retiredWords, switchResult } from './plan.ts';
import { smoke, startOnIdle } from './idle.ts';
import { switchAll } from './switch.ts';
import { releaseOn } from '../fleet/releases.ts';
import type { DeployResult, DryRunPlan, Deployment, Runbook } from './types.ts';

function requireUpstream(deployment: Deployment): void {
  const form = deployment.nginx[0].form;
  const where = `nginx host ${deployment.nginx[0].remote.label}`;
  if (form === null) throw new DeployError('read include', where, `${deployment.nginx[0].path} names no running version: a canary needs one to compare with; make the first deploy with strategy: blue-green`);
  if (form.kind !== 'upstream') {
    throw new DeployError(
      'read include',
      where,
      `strategy: canary needs the upstream form of ${deployment.nginx[0].path}; it has 'set $${form.variable}'. Convert it: 'upstream app { server ${form.host}:${form.port}; }' included at http {} level, and proxy_pass http://app; (docs/server-setup.md, "The nginx include")`,
    );
  }
}

export const canary: Runbook = {
  readsWhileLocking: true,
  describe(ctx: DeployRun, deployment: Deployment): DryRunPlan {
    requireUpstream(deployment);
    const p = planBlueGreen(ctx, deployment)[0];
    const first = ctx.cfg.canary.steps[0];
    return {
      lines: [
        `would start ${deployment.release} on port ${p.idlePort} on every app host, then move ${ctx.cfg.canary.steps.join(' → ')} % of requests to it, each step held ${ctx.cfg.canary.intervalMs / 1000}s and judged from ${ctx.cfg.canary.log}`,
      ],
      includes: deployment.nginx.map((side) => ({ side, after: first === 100 ? planBlueGreen(ctx, deployment)[0].newText : renderCanary(side.text!, side.form as UpstreamForm, p.idlePort, first) })),
      reach: deployment.apps.map((app) => ({ app, port: p.idlePort })),
    };
  },

  async run(ctx: DeployRun, deployment: Deployment): Promise<DeployResult> {
    const cfg = ctx.cfg;
    const c = cfg.canary;
    requireUpstream(deployment);
    const plans = planBlueGreen(ctx, deployment);
    const p = plans[0];
    const livePort = p.livePort!;
    const original = deployment.nginx.map((n) => ({ text: n.text!, form: n.form as UpstreamForm }));
    ctx.audit.from = `port ${livePort}`;
    ctx.audit.to = `port ${p.idlePort} (canary ${c.steps.join(',')})`;
    await ctx.step(`Check ${c.log}`, () => checkLog(ctx, deployment.nginx));
    const reports = reportsFor(deployment, p.idlePort);
    const previous = releaseOn(ctx, deployment.apps.filter((a) => p.liveHosts.includes(a.host)), livePort, deployment.locks).catch(() => undefined);
    if (cfg.bakeMs > 0) deployment.bakeFrom = await logOffsets(ctx, deployment.nginx);
    await ctx.step(`Upload, start and health-check ${deployment.release} on port ${p.idlePort}`, () => startOnIdle(ctx, deployment, p, reports));
    await smoke(ctx, deployment, deployment.apps.map((app) => ({ app, port: p.idlePort })), previous);

    const steps: CanaryStep[] = ctx.canarySteps;
    // nginx logs the address it connected to: the instances' own, never a port alone.
    const oldAddrs = p.liveHosts.map((h) => hostPort(h.target, livePort));
    const newAddrs = deployment.apps.map((a) => hostPort(a.host.target, p.idlePort));
    const gates = gatesOf(ctx);
    for (const weight of c.steps.filter((w) => w < 100)) {
      await ctx.step(`Canary ${weight} %`, async () => {
        const offsets = await logOffsets(ctx, deployment.nginx);
        await applyChanges(
          ctx,
          `canary ${weight} %`,
          deployment.nginx.map((side, i) => ({ side, after: renderCanary(original[i].text, original[i].form, p.idlePort, weight) })),
        );
        const began = Date.now();
        ctx.ui.info(`${weight} % of requests now go to ${deployment.release} (port ${p.idlePort}); holding ${c.intervalMs / 1000}s`);
        let hold = c.intervalMs;
        for (;;) {
          while (Date.now() - began < hold) {
            ctx.checkpoint();
            await sleep(Math.min(250, hold - (Date.now() - began)));
          }
          const f = figures(await attemptsSince(ctx, deployment.nginx, offsets), oldAddrs, newAddrs);
          const v = judgeStep(f, gates);
          const line = `step ${weight} %: old ${show(f.old)}; new ${show(f.new)}`;
          if (v.kind === 'pass') {
            steps.push({ weight, old: f.old, new: f.new, verdict: 'pass', why: v.note });
            ctx.ui.info(`${line}: pass (${v.note})`);
            return;
          }
          if (v.kind === 'wait' && hold < 2 * c.intervalMs) {
            ctx.ui.info(`${line}: ${v.why}; holding longer (up to ${(2 * c.intervalMs) / 1000}s)`);
            hold = Math.min(2 * c.intervalMs, hold + Math.max(1000, c.intervalMs / 4));
            continue;
          }
          steps.push({ weight, old: f.old, new: f.new, verdict: v.kind === 'wait' ? 'inconclusive' : 'fail', why: v.note });
          throw new DeployError(
            'canary',
            undefined,
            v.kind === 'wait'
              ? `step ${weight} % is inconclusive after ${(2 * c.intervalMs) / 1000}s: ${v.why}. Lower min-requests or lengthen canary-interval (old: ${show(f.old)}; new: ${show(f.new)})`
              : `step ${weight} % failed: ${v.why} (old: ${show(f.old)}; new: ${show(f.new)})`,
          );
        }
      });
    }
    const switched = await switchAll(ctx, deployment, plans);
    const tookOver = await finishSwitch(ctx, deployment, p, reports, cfg.keepPrevious, switched);
    const previousRelease = (await previous) ?? tookOver;
    ctx.audit.previous = previousRelease;
    return switchResult(ctx, deployment, p, reports, {
      strategy: 'canary',
      previousRelease,
      canary: steps,
      headline: `Canary ${c.steps.join(' → ')} %: every step passed; nginx now sends all traffic to port ${p.idlePort} (switched ${new Date(switched.at).toISOString().slice(11, 19)}), the old version was drained and ${retiredWords(ctx, cfg.keepPrevious)}.`,
    });
  },
};
