// bake-time: after the switch the new version takes all traffic while the old one still runs,
// warm, and is judged against it; verify-url, asked after a switch and at the end of a bake.
import { DeployError, detailText } from '../errors.ts';
import type { SwitchPlan } from '../traffic/plan.ts';
import { fetchStatus } from '../fleet/health.ts';
import { type DeployRun } from './deployrun.ts';
import { sleep } from '../util/async.ts';
import { hostPort } from '../config/hosts.ts';
import { figures, judgeStep, type Attempt } from '../traffic/canary.ts';
import { checkLog, gatesOf, logOffsets, readSince, show } from '../traffic/accesslog.ts';
import type { Deployment } from './types.ts';

/**
 * bake-time: the new version takes all traffic while the old one still runs, warm. After the
 * window, nginx's own log judges it against the old version's figures from before the switch,
 * with a canary step's gates, and verify-url is asked again. A failure throws before the switch
 * is final: the journal puts the include back in one change, then drains and stops the new one.
 */
export async function bake(ctx: DeployRun, deployment: Deployment, p: SwitchPlan, at: number[] | undefined): Promise<void> {
  const cfg = ctx.cfg;
  const began = Date.now();
  ctx.ui.info(`baking ${deployment.release} for ${cfg.bakeMs / 1000}s: it takes all traffic; the old version still runs on port ${p.livePort}`);
  const judged = deployment.bakeFrom && at;
  // The old version's window is read while the bake runs, and the new one's every second, so the
  // verdict waits only for the last second's lines: the bake adds its own length and little more.
  const before = judged ? readSince(ctx, deployment.nginx, deployment.bakeFrom!, at) : undefined;
  before?.catch(() => undefined);
  const during: Attempt[] = [];
  let cursor = at;
  let lastRead = Date.now();
  while (Date.now() - began < cfg.bakeMs) {
    ctx.checkpoint();
    if (cursor && Date.now() - lastRead >= 1000 && cfg.bakeMs - (Date.now() - began) > 1000) {
      lastRead = Date.now();
      const r = await readSince(ctx, deployment.nginx, cursor);
      during.push(...r.attempts);
      cursor = r.next;
      continue;
    }
    await sleep(Math.min(250, cfg.bakeMs - (Date.now() - began)));
  }
  const back = `nginx is switched back to port ${p.livePort}, where the previous version still runs`;
  if (judged) {
    const oldAddrs = p.liveHosts.map((h) => hostPort(h.target, p.livePort!));
    const newAddrs = deployment.apps.map((a) => hostPort(a.host.target, p.idlePort));
    const [old, last] = await Promise.all([before!, readSince(ctx, deployment.nginx, cursor!)]);
    during.push(...last.attempts);
    // The old version's window is before the switch, the new one's during the bake: the same
    // judge as a canary step, over the two distributions.
    const a = figures(old.attempts, oldAddrs, newAddrs);
    const b = figures(during, oldAddrs, newAddrs);
    const f = { old: a.old, new: b.new, ms: { old: a.ms.old, new: b.ms.new } };
    const v = judgeStep(f, gatesOf(ctx));
    const label = `bake ${cfg.bakeMs / 1000}s`;
    ctx.canarySteps.push({ weight: 100, label, old: f.old, new: f.new, verdict: v.kind === 'pass' ? 'pass' : v.kind === 'wait' ? 'inconclusive' : 'fail', why: v.note });
    const figs = `old, before the switch: ${show(f.old)}; new, baking: ${show(f.new)}`;
    if (v.kind !== 'pass') {
      throw new DeployError('bake', undefined, `${v.kind === 'wait' ? `inconclusive: ${v.why}; lower min-requests or lengthen bake-time` : v.why} (${figs}); ${back}`);
    }
    ctx.ui.info(`bake: ${figs}: pass (${v.note})`);
  }
  if (cfg.verifyUrl) {
    try {
      await verifyUrl(ctx);
    } catch (e) {
      throw new DeployError('bake', cfg.verifyUrl, `${detailText(e)} at the end of the bake; ${back}`);
    }
  }
}

/** bake-time with access-log: checks the log (before anything starts) and notes where it is. */
export async function bakeStart(ctx: DeployRun, deployment: Deployment): Promise<void> {
  if (ctx.cfg.bakeMs === 0 || ctx.cfg.canary.log === '') return;
  deployment.bakeFrom = await ctx.step(`Check ${ctx.cfg.canary.log}`, async () => {
    await checkLog(ctx, deployment.nginx, 'bake');
    return logOffsets(ctx, deployment.nginx);
  });
}

export async function verifyUrl(ctx: DeployRun): Promise<void> {
  const url = ctx.cfg.verifyUrl!;
  const deadline = Date.now() + Math.min(30_000, ctx.cfg.healthTimeoutMs);
  for (;;) {
    const r = await fetchStatus(url, 5000);
    if (r.ok) {
      ctx.ui.info(`verify-url ${url}: ${r.detail}`);
      return;
    }
    if (Date.now() > deadline) throw new DeployError('verify', url, `verify-url did not answer 2xx/3xx after the switch: ${r.detail}`);
    await sleep(250);
  }
}
