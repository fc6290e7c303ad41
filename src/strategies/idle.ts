// The start of a release on the idle port of every app host, each host on its own timeline:
// preflight and ports, upload, start, health and reachability (and warm-up); then the team's smoke
// test of the new instances, before any traffic.
import { DeployError } from '../errors.ts';
import { layout } from '../commands/app.ts';
import type { SwitchPlan } from '../traffic/plan.ts';
import { inspectPort, takeoverNeedsRoot, toSeePort } from '../fleet/port.ts';
import { openUpload, type AppNode } from '../fleet/node.ts';
import { startProcess } from '../fleet/start.ts';
import { uploadJar, type Uploaded } from '../fleet/upload.ts';
import { waitHealthy } from '../fleet/healthy.ts';
import { preflightApp } from '../fleet/preflight.ts';
import { readsStillValid, takeRead } from '../fleet/lockreads.ts';
import { warmUp } from '../fleet/warmup.ts';
import { smokeTest } from '../fleet/smoke.ts';
import { type DeployRun } from './deployrun.ts';
import { mapLimit, PARALLEL } from '../util/async.ts';
import type { Deployment, InstanceReport } from './types.ts';

/** Frees the idle port (only a process this action left there may be stopped) and checks the live one. */
async function checkPorts(ctx: DeployRun, deployment: Deployment, a: AppNode, p: SwitchPlan, r: InstanceReport, reuse?: number): Promise<void> {
  const cfg = ctx.cfg;
  const step = 'upload and start';
  const hasLive = p.livePort !== null && p.liveHosts.includes(a.host);
  // Read while the lock was taken, if nobody could have changed them since (fleet/lockreads.ts).
  const early = readsStillValid(deployment.locks, a)?.ports;
  const [live, idle] = await Promise.all([hasLive ? inspectPort(ctx, a, p.livePort!, step, early?.get(p.livePort!)) : undefined, inspectPort(ctx, a, p.idlePort, step, early?.get(p.idlePort))]);
  if (live) {
    ctx.backend.refuseUnit(a, p.livePort!, live, step, true);
    r.oldUnit = live.unit;
    if (!live.free && live.pid === undefined) {
      throw new DeployError(step, a.remote.label, `port ${p.livePort} (live) is held by a process user '${cfg.sshUser}' cannot see, so it could not be stopped after the switch; ${toSeePort(ctx, p.livePort!, live, ctx.backend.sudoersDoc)}`);
    }
    // Another user's process (an app the seed scripts started as root): taken over only through a
    // broad sudo rule. Under the exact rule this is said before anything starts.
    if (live.pid !== undefined && live.broad?.ok === false && ctx.backend.needsBroadSudo(live)) {
      throw new DeployError(step, a.remote.label, takeoverNeedsRoot(ctx, live.pid, p.livePort!, live.broad.owner, live.broad.user, '. Nothing was switched'));
    }
    r.oldPid = live.pid;
    r.oldStart = live.start;
    if (live.free) ctx.ui.warn(`${a.remote.label}: nothing listens on the live port ${p.livePort}; nginx was pointing at a dead port (as expected on a first deploy, from an include created pointing at one of ports)`);
  }
  if (idle.free || (reuse !== undefined && idle.pid === reuse)) return;
  ctx.backend.refuseUnit(a, p.idlePort, idle, step);
  const ourUnit = ctx.backend.ownInstance(idle, p.idlePort) !== undefined;
  if (idle.pid === undefined) {
    throw new DeployError(step, a.remote.label, `port ${p.idlePort} is in use by a process user '${cfg.sshUser}' cannot see; free it, or let the action identify it: ${toSeePort(ctx, p.idlePort, idle, ctx.backend.sudoersDoc)}`);
  }
  if (idle.pid !== idle.ours && !ourUnit) {
    throw new DeployError(
      step,
      a.remote.label,
      `port ${p.idlePort} is in use by pid ${idle.pid} (${idle.cmd || 'unknown command'}), which this action did not start and nginx does not point to; stop it or choose other ports`,
    );
  }
  ctx.ui.info(`${a.remote.label}: stopping pid ${idle.pid}, left on idle port ${p.idlePort} by an earlier deploy`);
  await ctx.backend.stop(a, idle.pid, p.idlePort, step, { start: idle.start, unit: ctx.backend.unitOf(idle, true) });
}

/**
 * Starts the release on the idle port of every app host and waits until each is healthy and
 * reachable from every nginx host; each host runs its own pipeline (preflight + ports, upload,
 * start, health), so a slow upload elsewhere never eats into this host's start guard. A host
 * with a warm process of the release (reuse) only has it checked. Returns when the last one
 * became healthy.
 */
export async function startOnIdle(ctx: DeployRun, deployment: Deployment, p: SwitchPlan, reports: Map<AppNode, InstanceReport>, reuse = new Map<AppNode, number>()): Promise<number> {
  const cfg = ctx.cfg;
  const nginx = deployment.nginx.map((n) => n.remote);
  const times = await mapLimit(deployment.apps, PARALLEL, async (a) => {
    const r = reports.get(a)!;
    const warm = reuse.get(a);
    // The channel that may receive the jar opens while the host is checked (or the lock taken).
    const ahead = takeRead(a, 'upload');
    if (warm !== undefined) ahead?.channel.skip();
    const opened = deployment.artifact && warm === undefined ? (ahead ?? openUpload(ctx, a, deployment.artifact, deployment.release)) : undefined;
    try {
      // A warm standby needs no preflight: its java already runs.
      await Promise.all([checkPorts(ctx, deployment, a, p, r, warm), warm === undefined ? preflightApp(ctx, ctx.backend, a, deployment.artifact) : undefined]);
      ctx.checkpoint();
    } catch (e) {
      opened?.channel.skip();
      throw e;
    }
    if (warm !== undefined) {
      r.newPid = warm;
      r.upload = 'warm standby';
      ctx.ui.info(`${a.remote.label}: ${deployment.release} still runs on port ${p.idlePort} (pid ${warm}): checking it`);
      return waitHealthy(ctx, a, p.idlePort, warm, { log: { file: layout(cfg.remoteDir, deployment.release, p.idlePort).log }, nginx, ahead: readsStillValid(deployment.locks, a)?.health?.get(p.idlePort) });
    }
    // The timeline's upload: until the jar is in place (a gated upload returns while it travels).
    const upAt = Date.now();
    const uploaded = (failed = false) => deployment.artifact && ctx.mark([a.remote.label], 'upload', upAt, failed);
    let up: Uploaded;
    try {
      up = deployment.artifact ? await uploadJar(ctx, a, deployment.artifact, deployment.release, 'upload and start', opened, readsStillValid(deployment.locks, a)?.jar, true) : { upload: 'kept on the host (0 bytes)' };
    } catch (e) {
      uploaded(true);
      throw e;
    }
    if (!up.pending) uploaded();
    ctx.checkpoint();
    const spec = ctx.backend.releaseStart(deployment.release, p.idlePort, deployment.command);
    // A jar on its way: the start goes right behind it and waits on the host for its arrival.
    const pend = up.pending;
    const starting = startProcess(ctx, ctx.backend, a, p.idlePort, spec, 'upload and start', true, pend && { cmd: pend.gate, rcFile: pend.rcFile, limitMs: pend.limitMs }, ctx.backend.overlapOomScoreAdj());
    if (pend) {
      starting.catch(() => undefined);
      try {
        await pend.prepared;
        up.upload = await pend.arrived;
        uploaded();
      } catch (e) {
        uploaded(true);
        // The start must not run after this deploy gave up: the gate is told so, and if it could
        // still pass (the host had the jar first), the start's pid is recorded for the rollback.
        if (await pend.abort().catch(() => false)) await starting.catch(() => undefined);
        throw e;
      }
    }
    r.upload = up.upload;
    ctx.ui.info(`${a.remote.label}: jar ${up.upload}`);
    r.newPid = await starting;
    const healthy = await waitHealthy(ctx, a, p.idlePort, r.newPid, { log: spec.log, nginx, verify: up.verify });
    if (cfg.warmupPath) await ctx.span(a.remote.label, 'warm-up', () => warmUp(ctx, a, p.idlePort));
    return healthy;
  });
  return Math.max(...times);
}

/** smoke-test (deploy and stage): the team's check of the new instances, before any traffic. */
export async function smoke(ctx: DeployRun, deployment: Deployment, targets: { app: AppNode; port: number }[], previous: Promise<string | undefined>): Promise<void> {
  const cfg = ctx.cfg;
  if (!cfg.smokeTest || (cfg.mode !== 'deploy' && cfg.mode !== 'stage')) return;
  const prev = await previous.catch(() => undefined);
  await ctx.step('Smoke test', () => smokeTest(ctx, targets, deployment.release, prev));
}
