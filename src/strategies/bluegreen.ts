// Blue/green: the new release starts on the idle port of every app host, and nginx switches all
// of them at once.
//   upload + start (each host on its own timeline) -> healthy + reachable from nginx -> switch
//   every nginx host -> drain -> stop the old version -> clean up
// Undo: each start records "stop it"; the switch records "put every include back".
import { DeployError, errorText } from '../errors.ts';
import * as A from '../commands/app.ts';
import { appCommand } from '../config/inputs.ts';
import { planSwitch, PlanError, type SwitchPlan } from '../traffic/plan.ts';
import { applyChanges } from '../traffic/nginx.ts';
import { drain } from '../traffic/drain.ts';
import { inspectPort, refuseUnit, releaseSpec, startProcess, stopProcess, uploadJar, waitHealthy, type AppNode } from '../fleet/instance.ts';
import { cleanupReleases } from '../fleet/releases.ts';
import { preflightApp } from '../fleet/preflight.ts';
import { type Ctx, mapLimit, PARALLEL } from './context.ts';
import type { DeployResult, DryRunPlan, Fleet, InstanceReport, Strategy } from './run.ts';

function plan(ctx: Ctx, fleet: Fleet): SwitchPlan[] {
  try {
    return fleet.nginx.map((n) => planSwitch(ctx.cfg, n.text));
  } catch (e) {
    if (e instanceof PlanError) throw new DeployError('read include', `nginx host ${fleet.nginx[0].remote.label}`, e.message);
    throw e;
  }
}

/** Frees the idle port (only a process this action left there may be stopped) and checks the live one. */
async function checkPorts(ctx: Ctx, a: AppNode, p: SwitchPlan, r: InstanceReport): Promise<void> {
  const cfg = ctx.cfg;
  const step = 'upload and start';
  const hasLive = p.livePort !== null && p.liveHosts.includes(a.host);
  const [live, idle] = await Promise.all([hasLive ? inspectPort(ctx, a, p.livePort!, step) : undefined, inspectPort(ctx, a, p.idlePort, step)]);
  if (live) {
    refuseUnit(a, p.livePort!, live, step);
    if (!live.free && live.pid === undefined) {
      throw new DeployError(step, a.remote.label, `port ${p.livePort} (live) is held by a process user '${cfg.sshUser}' cannot see, so it could not be stopped after the switch; set sudo: true or run the app as '${cfg.sshUser}'`);
    }
    r.oldPid = live.pid;
    if (live.free) ctx.ui.warn(`${a.remote.label}: nothing listens on the live port ${p.livePort}; nginx was pointing at a dead port`);
  }
  if (idle.free) return;
  refuseUnit(a, p.idlePort, idle, step);
  if (idle.pid === undefined) {
    throw new DeployError(step, a.remote.label, `port ${p.idlePort} is in use by a process user '${cfg.sshUser}' cannot see; free it, or set sudo: true so the action can identify it`);
  }
  if (idle.pid !== idle.ours) {
    throw new DeployError(
      step,
      a.remote.label,
      `port ${p.idlePort} is in use by pid ${idle.pid} (${idle.cmd || 'unknown command'}), which this action did not start and nginx does not point to; stop it or choose other ports`,
    );
  }
  ctx.ui.info(`${a.remote.label}: stopping pid ${idle.pid}, left on idle port ${p.idlePort} by an earlier deploy`);
  await stopProcess(ctx, a, idle.pid, p.idlePort, step);
}

export const blueGreen: Strategy = {
  describe(ctx: Ctx, fleet: Fleet): DryRunPlan {
    const plans = plan(ctx, fleet);
    const p = plans[0];
    return {
      lines: [
        p.livePort === null ? `first deploy: nginx would point at port ${p.idlePort}` : `live port ${p.livePort}; would start ${fleet.release} on port ${p.idlePort} on every app host`,
        `then switch nginx on ${fleet.nginx.map((n) => n.remote.label).join(', ')} and drain and stop the old version`,
      ],
      includes: fleet.nginx.map((side, i) => ({ side, after: plans[i].newText })),
      reach: fleet.apps.map((app) => ({ app, port: p.idlePort })),
    };
  },

  async run(ctx: Ctx, fleet: Fleet): Promise<DeployResult> {
    const cfg = ctx.cfg;
    const plans = plan(ctx, fleet);
    const p = plans[0];
    if (p.livePort === null) ctx.ui.info(`${cfg.includeFile} ${p.oldText === null ? 'does not exist' : 'is empty'}: first deploy, to port ${p.idlePort}`);
    else ctx.ui.info(`live port ${p.livePort} on ${p.liveHosts.map((h) => h.target).join(', ')}; deploying to port ${p.idlePort}`);
    const nginx = fleet.nginx.map((n) => n.remote);
    const reports = new Map<AppNode, InstanceReport>(fleet.apps.map((a) => [a, { host: a.remote.label, target: a.host.target, port: p.idlePort }]));

    // Each host runs its own pipeline, so a slow upload elsewhere never eats into this host's
    // start guard or health timeout.
    const healthyAt = await ctx.step(`Upload, start and health-check ${fleet.release} on port ${p.idlePort}`, async () => {
      const times = await mapLimit(fleet.apps, PARALLEL, async (a) => {
        const r = reports.get(a)!;
        await Promise.all([checkPorts(ctx, a, p, r), preflightApp(ctx, a, fleet.artifact)]);
        ctx.checkpoint();
        const up = await uploadJar(ctx, a, fleet.artifact, fleet.release, 'upload and start');
        r.upload = up.upload;
        ctx.ui.info(`${a.remote.label}: jar ${up.upload}`);
        ctx.checkpoint();
        const spec = releaseSpec(ctx, fleet.release, p.idlePort, appCommand(cfg, p.idlePort, A.layout(cfg.remoteDir, fleet.release).jar));
        r.newPid = await startProcess(ctx, a, p.idlePort, spec, 'upload and start');
        return waitHealthy(ctx, a, p.idlePort, r.newPid, { log: spec.log, nginx, verify: up.verify });
      });
      return Math.max(...times);
    });

    const switchedAt = await ctx.step(`Switch nginx to port ${p.idlePort}`, async () => {
      const at = await applyChanges(
        ctx,
        'switch',
        fleet.nginx.map((n, i) => ({ side: n, after: plans[i].newText })),
      );
      ctx.ui.info(`nginx${nginx.length > 1 ? ` on ${nginx.length} hosts` : ''} now sends traffic to port ${p.idlePort}`);
      return at;
    });
    ctx.state.committed = true;
    ctx.save();
    if (cfg.verifyUrl) await ctx.step('Verify', () => verifyUrl(ctx));

    await ctx.step('Drain and stop the old version', async () => {
      if (p.livePort === null) return;
      const livePort = p.livePort;
      const old = fleet.apps.filter((a) => p.liveHosts.includes(a.host));
      try {
        await drain(ctx, { nginx: fleet.nginx, ports: old.map((a) => ({ remote: a.remote, port: livePort })) }, `port ${livePort}`);
        await mapLimit(old, PARALLEL, async (a) => {
          const r = reports.get(a)!;
          const now = await inspectPort(ctx, a, livePort, 'stop old');
          const pid = now.pid ?? r.oldPid;
          if (pid === undefined) {
            r.stopped = 'nothing was running';
            return;
          }
          r.stopped = await stopProcess(ctx, a, pid, livePort, 'stop old');
          ctx.ui.info(`${a.remote.label}: old pid ${pid} ${r.stopped}`);
        });
      } catch (e) {
        // Past the switch there is nothing to roll back: say what serves and what is left.
        const d = e instanceof DeployError ? e : new DeployError('stop old', undefined, errorText(e));
        throw new DeployError(d.step, d.host, `${errorText(d).replace(/^\[[^\]]*\]\s*(\S+:\s)?/, '')} -- nginx already serves the new version on port ${p.idlePort}; the old process on port ${livePort} may still need stopping`);
      }
    });
    await ctx.step('Clean up', () => cleanupReleases(ctx, fleet.apps, fleet.release, [p.idlePort]));

    return {
      strategy: 'blue-green',
      release: fleet.release,
      activePorts: [p.idlePort],
      previousPorts: p.livePort === null ? [] : [p.livePort],
      durationMs: Date.now() - ctx.t0,
      healthyToSwitchedMs: switchedAt - healthyAt,
      timings: ctx.timings,
      instances: [...reports.values()],
      nginxHosts: nginx.map((n) => n.label),
      artifact: fleet.artifact,
      headline:
        p.livePort === null
          ? `First deploy: nginx now points at port ${p.idlePort}.`
          : `nginx switched from port ${p.livePort} to ${p.idlePort}; the old version was drained and stopped.`,
    };
  },
};

async function verifyUrl(ctx: Ctx): Promise<void> {
  const { fetchStatus } = await import('../fleet/health.ts');
  const url = ctx.cfg.verifyUrl!;
  const deadline = Date.now() + Math.min(30_000, ctx.cfg.healthTimeoutMs);
  for (;;) {
    const r = await fetchStatus(url, 5000);
    if (r.ok) {
      ctx.ui.info(`verify-url ${url}: ${r.detail}`);
      return;
    }
    if (Date.now() > deadline) throw new DeployError('verify', url, `verify-url did not answer 2xx/3xx after the switch: ${r.detail}`);
    await new Promise((res) => setTimeout(res, 250));
  }
}
