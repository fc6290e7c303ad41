// The switch of every nginx host to the idle port, with verify-url and bake-time after it: from
// its end on, finishing beats rolling back.
import { DeployError, detailText } from '../errors.ts';
import type { PortState } from '../commands/app.ts';
import type { SwitchPlan } from '../traffic/plan.ts';
import { applyChanges } from '../traffic/nginx.ts';
import { drain } from '../traffic/drain.ts';
import { inspectPort } from '../fleet/port.ts';
import type { AppNode } from '../fleet/node.ts';
import { logOffsets } from '../traffic/accesslog.ts';
import { type DeployRun } from './deployrun.ts';
import { bake, verifyUrl } from './bake.ts';
import type { Deployment } from './types.ts';

/** What a switch did: when nginx served the new version, and who held the old port then (for retireOld). */
export interface Switched {
  at: number;
  /** the old port's holders, read while nginx switched (not with a bake) */
  oldHolders?: Map<AppNode, Promise<PortState>>;
}

/**
 * Switches every nginx host to the idle port; with verify-url, checks it once the old workers are
 * gone (only then does every answer come from the new version), and a failure switches back to the
 * old version, which still runs. From the end of this on, finishing beats rolling back.
 */
export async function switchAll(ctx: DeployRun, deployment: Deployment, plans: SwitchPlan[]): Promise<Switched> {
  const p = plans[0];
  const cfg = ctx.cfg;
  // Who holds the old port is read while nginx switches (retireOld takes it; the stop checks the
  // pid's start time again): the stop then waits for nothing but the drain. Not with a bake: its
  // window may be long, and the reading is best fresh.
  let oldHolders: Switched['oldHolders'];
  if (p.livePort !== null && cfg.bakeMs === 0) {
    const livePort = p.livePort;
    oldHolders = new Map(deployment.apps.filter((a) => p.liveHosts.includes(a.host)).map((a) => [a, inspectPort(ctx, a, livePort, 'stop old')] as const));
    for (const pr of oldHolders.values()) pr.catch(() => undefined);
  }
  // The bake judges the new version from where the log is at the switch.
  const bakeAt = cfg.bakeMs > 0 && deployment.bakeFrom ? await logOffsets(ctx, deployment.nginx) : undefined;
  const at = await ctx.step(`Switch nginx to port ${p.idlePort}`, async () => {
    const t = await applyChanges(
      ctx,
      'switch',
      deployment.nginx.map((n, i) => ({ side: n, after: plans[i].newText })),
    );
    ctx.ui.info(`nginx${deployment.nginx.length > 1 ? ` on ${deployment.nginx.length} hosts` : ''} now sends traffic to port ${p.idlePort}`);
    return t;
  });
  if (ctx.cfg.verifyUrl) {
    await ctx.step('Verify', async () => {
      // Right after a reload, old workers still answer (from the old version) what they accepted.
      // Drained here, they are not waited for again before the old version stops.
      if ((await drain(ctx, { nginx: deployment.nginx, ports: [] }, 'the old version')) === '') for (const n of deployment.nginx) n.oldWorkers = [];
      try {
        await verifyUrl(ctx);
      } catch (e) {
        const back = p.livePort === null ? 'nginx is put back as it was (first deploy: nothing served before)' : `nginx is switched back to port ${p.livePort}, where the previous version still runs`;
        throw new DeployError('verify', ctx.cfg.verifyUrl, `${detailText(e)}; ${back}`);
      }
    });
  }
  if (cfg.bakeMs > 0 && p.livePort !== null) await ctx.step(`Bake ${cfg.bakeMs / 1000}s`, () => bake(ctx, deployment, p, bakeAt));
  ctx.state.committed = true;
  ctx.save();
  return { at, oldHolders };
}
