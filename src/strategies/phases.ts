// The phases of a blue/green switch, shared by deploy, stage, promote and rollback:
//   plan -> start on the idle port (each host on its own timeline) -> switch every nginx host
//   -> drain -> retire the old version (stop it, or keep it as a warm standby)
import { DeployError, detailText, errorText } from '../errors.ts';
import { layout, type PortState } from '../commands/app.ts';
import { planSwitch, PlanError, type SwitchPlan } from '../traffic/plan.ts';
import { applyChanges } from '../traffic/nginx.ts';
import { drain, drainLeft, drainPort, drainWorkers } from '../traffic/drain.ts';
import { inspectPort, openUpload, takeoverNeedsRoot, toSeePort, startProcess, uploadJar, waitHealthy, type AppNode, type Uploaded } from '../fleet/instance.ts';
import { adoptProcess, cleanupReleases, recordPortOnly, teamUnitLabel } from '../fleet/releases.ts';
import { fetchStatus } from '../fleet/health.ts';
import { preflightApp } from '../fleet/preflight.ts';
import { freshEarly, take } from '../fleet/early.ts';
import { warmUp } from '../fleet/warmup.ts';
import { type Ctx } from './context.ts';
import { mapLimit, PARALLEL, sleep } from '../util/async.ts';
import { hostPort } from '../config/hosts.ts';
import { figures, judgeStep, type Attempt } from '../traffic/canary.ts';
import { checkLog, gatesOf, logOffsets, readSince, show } from '../traffic/accesslog.ts';
import { smokeTest } from '../fleet/smoke.ts';
import type { DeployResult, DryRunPlan, Fleet, InstanceReport } from './types.ts';

export function planBlueGreen(ctx: Ctx, fleet: Fleet): SwitchPlan[] {
  try {
    return fleet.nginx.map((n) => planSwitch(ctx.cfg, n.path, n.text));
  } catch (e) {
    if (e instanceof PlanError) throw new DeployError('read include', `nginx host ${fleet.nginx[0].remote.label}`, e.message);
    throw e;
  }
}

/**
 * A blue/green dry-run plan: the lines before the switch, then the switch of every nginx host to
 * the idle port and the drain of the live one (stop, or keep with keep-previous).
 */
export function describeSwitch(ctx: Ctx, fleet: Fleet, plans: SwitchPlan[], before: string[], keep = ctx.cfg.keepPrevious): DryRunPlan {
  const p = plans[0];
  return {
    lines: [
      ...before,
      `then switch nginx on ${fleet.nginx.map((n) => n.remote.label).join(', ')} to port ${p.idlePort}` +
        (p.livePort === null ? '' : `, and drain and ${keep ? 'keep' : 'stop'} the version on port ${p.livePort}`),
    ],
    includes: fleet.nginx.map((side, i) => ({ side, after: plans[i].newText })),
    reach: fleet.apps.map((app) => ({ app, port: p.idlePort })),
  };
}

/** What happened to the old version after a switch, for a headline. */
export function retiredWords(ctx: Ctx, keep: boolean): string {
  if (keep) return 'kept running as a warm standby';
  return ctx.cfg.waitForExit ? 'stopped' : 'sent SIGTERM (wait-for-exit: false: a watchdog on its host finishes the stop)';
}

/** Each app host's report, filled in as the run goes (also kept on the fleet for a failure's summary). */
export function reportsFor(fleet: Fleet, port: number): Map<AppNode, InstanceReport> {
  const m = new Map(fleet.apps.map((a): [AppNode, InstanceReport] => [a, { host: a.remote.label, target: a.host.target, port }]));
  fleet.reports = [...m.values()];
  return m;
}

/** Frees the idle port (only a process this action left there may be stopped) and checks the live one. */
async function checkPorts(ctx: Ctx, fleet: Fleet, a: AppNode, p: SwitchPlan, r: InstanceReport, reuse?: number): Promise<void> {
  const cfg = ctx.cfg;
  const step = 'upload and start';
  const hasLive = p.livePort !== null && p.liveHosts.includes(a.host);
  // Read while the lock was taken, if nobody could have changed them since (fleet/early.ts).
  const early = freshEarly(fleet.locks, a)?.ports;
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
export async function startOnIdle(ctx: Ctx, fleet: Fleet, p: SwitchPlan, reports: Map<AppNode, InstanceReport>, reuse = new Map<AppNode, number>()): Promise<number> {
  const cfg = ctx.cfg;
  const nginx = fleet.nginx.map((n) => n.remote);
  const times = await mapLimit(fleet.apps, PARALLEL, async (a) => {
    const r = reports.get(a)!;
    const warm = reuse.get(a);
    // The channel that may receive the jar opens while the host is checked (or the lock taken).
    const ahead = take(a, 'upload');
    if (warm !== undefined) ahead?.channel.skip();
    const opened = fleet.artifact && warm === undefined ? (ahead ?? openUpload(ctx, a, fleet.artifact, fleet.release)) : undefined;
    try {
      // A warm standby needs no preflight: its java already runs.
      await Promise.all([checkPorts(ctx, fleet, a, p, r, warm), warm === undefined ? preflightApp(ctx, ctx.backend, a, fleet.artifact) : undefined]);
      ctx.checkpoint();
    } catch (e) {
      opened?.channel.skip();
      throw e;
    }
    if (warm !== undefined) {
      r.newPid = warm;
      r.upload = 'warm standby';
      ctx.ui.info(`${a.remote.label}: ${fleet.release} still runs on port ${p.idlePort} (pid ${warm}): checking it`);
      return waitHealthy(ctx, a, p.idlePort, warm, { log: { file: layout(cfg.remoteDir, fleet.release, p.idlePort).log }, nginx, ahead: freshEarly(fleet.locks, a)?.health?.get(p.idlePort) });
    }
    // The timeline's upload: until the jar is in place (a gated upload returns while it travels).
    const upAt = Date.now();
    const uploaded = (failed = false) => fleet.artifact && ctx.mark([a.remote.label], 'upload', upAt, failed);
    let up: Uploaded;
    try {
      up = fleet.artifact ? await uploadJar(ctx, a, fleet.artifact, fleet.release, 'upload and start', opened, freshEarly(fleet.locks, a)?.jar, true) : { upload: 'kept on the host (0 bytes)' };
    } catch (e) {
      uploaded(true);
      throw e;
    }
    if (!up.pending) uploaded();
    ctx.checkpoint();
    const spec = ctx.backend.releaseStart(fleet.release, p.idlePort, fleet.command);
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
export async function switchAll(ctx: Ctx, fleet: Fleet, plans: SwitchPlan[]): Promise<Switched> {
  const p = plans[0];
  const cfg = ctx.cfg;
  // Who holds the old port is read while nginx switches (retireOld takes it; the stop checks the
  // pid's start time again): the stop then waits for nothing but the drain. Not with a bake: its
  // window may be long, and the reading is best fresh.
  let oldHolders: Switched['oldHolders'];
  if (p.livePort !== null && cfg.bakeMs === 0) {
    const livePort = p.livePort;
    oldHolders = new Map(fleet.apps.filter((a) => p.liveHosts.includes(a.host)).map((a) => [a, inspectPort(ctx, a, livePort, 'stop old')] as const));
    for (const pr of oldHolders.values()) pr.catch(() => undefined);
  }
  // The bake judges the new version from where the log is at the switch.
  const bakeAt = cfg.bakeMs > 0 && fleet.bakeFrom ? await logOffsets(ctx, fleet.nginx) : undefined;
  const at = await ctx.step(`Switch nginx to port ${p.idlePort}`, async () => {
    const t = await applyChanges(
      ctx,
      'switch',
      fleet.nginx.map((n, i) => ({ side: n, after: plans[i].newText })),
    );
    ctx.ui.info(`nginx${fleet.nginx.length > 1 ? ` on ${fleet.nginx.length} hosts` : ''} now sends traffic to port ${p.idlePort}`);
    return t;
  });
  if (ctx.cfg.verifyUrl) {
    await ctx.step('Verify', async () => {
      // Right after a reload, old workers still answer (from the old version) what they accepted.
      // Drained here, they are not waited for again before the old version stops.
      if ((await drain(ctx, { nginx: fleet.nginx, ports: [] }, 'the old version')) === '') for (const n of fleet.nginx) n.oldWorkers = [];
      try {
        await verifyUrl(ctx);
      } catch (e) {
        const back = p.livePort === null ? 'nginx is put back as it was (first deploy: nothing served before)' : `nginx is switched back to port ${p.livePort}, where the previous version still runs`;
        throw new DeployError('verify', ctx.cfg.verifyUrl, `${detailText(e)}; ${back}`);
      }
    });
  }
  if (cfg.bakeMs > 0 && p.livePort !== null) await ctx.step(`Bake ${cfg.bakeMs / 1000}s`, () => bake(ctx, fleet, p, bakeAt));
  ctx.state.committed = true;
  ctx.save();
  return { at, oldHolders };
}

/**
 * Drains the old port and stops what listens there; with keep, leaves it running as a warm
 * standby (recorded as this action's, so the next deploy may replace it). early: who held the old
 * port during the switch (switchAll). Returns the team's own unit it took over, if any.
 */
export async function retireOld(ctx: Ctx, fleet: Fleet, p: SwitchPlan, reports: Map<AppNode, InstanceReport>, keep: boolean, early?: Switched['oldHolders']): Promise<string | undefined> {
  const cfg = ctx.cfg;
  let tookOver: string | undefined;
  await ctx.step(keep ? 'Drain and keep the old version as a warm standby' : 'Drain and stop the old version', async () => {
    if (p.livePort === null) {
      // A first deploy stops nothing; but until the old nginx workers are gone, one of them may
      // still take a connection and answer it from the configuration as it was (no app). The step
      // ends when only workers with the new include are left.
      drainLeft(ctx, await drainWorkers(ctx, fleet.nginx, Date.now() + cfg.drainTimeoutMs), 0, 'nginx');
      return;
    }
    const livePort = p.livePort;
    const old = fleet.apps.filter((a) => p.liveHosts.includes(a.host));
    // Which process holds the old port is read while the drain runs, if not during the switch (it
    // is only read, and the stop checks its pid again): no round trip between the drain and the stop.
    const inspected = new Map(old.map((a) => [a, early?.get(a) ?? inspectPort(ctx, a, livePort, 'stop old')]));
    for (const pr of inspected.values()) pr.catch(() => undefined);
    try {
      // First the old nginx workers exit; then each app host waits for the connections to its old
      // port to end, with the stop sent right behind that wait in the same shell: it runs on the
      // host the moment the drain is done, not a round trip later.
      const deadline = Date.now() + cfg.drainTimeoutMs;
      const workers = await drainWorkers(ctx, fleet.nginx, deadline);
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
        const enable = !fleet.teamUnit ? ctx.backend.enableAtBoot(a, p.idlePort, 'enable') : undefined;
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
 * bake-time: the new version takes all traffic while the old one still runs, warm. After the
 * window, nginx's own log judges it against the old version's figures from before the switch,
 * with a canary step's gates, and verify-url is asked again. A failure throws before the switch
 * is final: the journal puts the include back in one change, then drains and stops the new one.
 */
async function bake(ctx: Ctx, fleet: Fleet, p: SwitchPlan, at: number[] | undefined): Promise<void> {
  const cfg = ctx.cfg;
  const began = Date.now();
  ctx.ui.info(`baking ${fleet.release} for ${cfg.bakeMs / 1000}s: it takes all traffic; the old version still runs on port ${p.livePort}`);
  const judged = fleet.bakeFrom && at;
  // The old version's window is read while the bake runs, and the new one's every second, so the
  // verdict waits only for the last second's lines: the bake adds its own length and little more.
  const before = judged ? readSince(ctx, fleet.nginx, fleet.bakeFrom!, at) : undefined;
  before?.catch(() => undefined);
  const during: Attempt[] = [];
  let cursor = at;
  let lastRead = Date.now();
  while (Date.now() - began < cfg.bakeMs) {
    ctx.checkpoint();
    if (cursor && Date.now() - lastRead >= 1000 && cfg.bakeMs - (Date.now() - began) > 1000) {
      lastRead = Date.now();
      const r = await readSince(ctx, fleet.nginx, cursor);
      during.push(...r.attempts);
      cursor = r.next;
      continue;
    }
    await sleep(Math.min(250, cfg.bakeMs - (Date.now() - began)));
  }
  const back = `nginx is switched back to port ${p.livePort}, where the previous version still runs`;
  if (judged) {
    const oldAddrs = p.liveHosts.map((h) => hostPort(h.target, p.livePort!));
    const newAddrs = fleet.apps.map((a) => hostPort(a.host.target, p.idlePort));
    const [old, last] = await Promise.all([before!, readSince(ctx, fleet.nginx, cursor!)]);
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
export async function bakeStart(ctx: Ctx, fleet: Fleet): Promise<void> {
  if (ctx.cfg.bakeMs === 0 || ctx.cfg.canary.log === '') return;
  fleet.bakeFrom = await ctx.step(`Check ${ctx.cfg.canary.log}`, async () => {
    await checkLog(ctx, fleet.nginx, 'bake');
    return logOffsets(ctx, fleet.nginx);
  });
}

/** smoke-test (deploy and stage): the team's check of the new instances, before any traffic. */
export async function smoke(ctx: Ctx, fleet: Fleet, targets: { app: AppNode; port: number }[], previous: Promise<string | undefined>): Promise<void> {
  const cfg = ctx.cfg;
  if (!cfg.smokeTest || (cfg.mode !== 'deploy' && cfg.mode !== 'stage')) return;
  const prev = await previous.catch(() => undefined);
  await ctx.step('Smoke test', () => smokeTest(ctx, targets, fleet.release, prev));
}

export async function verifyUrl(ctx: Ctx): Promise<void> {
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

/**
 * Everything after the switch: the release is recorded and old ones pruned (plus any extra
 * clean-up) while the old version drains; then it is stopped, or kept as a warm standby. Returns
 * the release label of the team's own unit it took over (what served before), if any.
 */
export async function finishSwitch(ctx: Ctx, fleet: Fleet, p: SwitchPlan, reports: Map<AppNode, InstanceReport>, keep: boolean, switched: Switched, extra?: () => Promise<unknown>): Promise<string | undefined> {
  // The team's own unit is no kept release: only its port is recorded (teamUnitLabel).
  const record = fleet.teamUnit ? recordPortOnly(ctx, fleet.apps, p.idlePort, fleet.release) : cleanupReleases(ctx, fleet.apps, fleet.release, [p.idlePort], fleet.command);
  // The new version serves now: its OOM score back to a normal service's (raised while it ran next to the old one).
  const oom = ctx.backend.resetOomScores(
    fleet.apps.flatMap((a) => {
      const pid = reports.get(a)?.newPid;
      return pid === undefined ? [] : [{ app: a, port: p.idlePort, pid }];
    }),
  );
  const cleanup = Promise.all([record, extra?.(), oom]);
  cleanup.catch(() => undefined);
  const tookOver = await retireOld(ctx, fleet, p, reports, keep, switched.oldHolders);
  await ctx.step('Clean up', () => cleanup);
  return tookOver;
}

/** What a switch from the live to the idle port did, for the outputs and the summary. */
export function switchResult(
  ctx: Ctx,
  fleet: Fleet,
  p: SwitchPlan,
  reports: Map<AppNode, InstanceReport>,
  r: Pick<DeployResult, 'strategy' | 'headline' | 'previousRelease'> & Partial<DeployResult>,
): DeployResult {
  return {
    release: fleet.release,
    previousRelease: r.previousRelease,
    activePorts: [p.idlePort],
    previousPorts: p.livePort === null ? [] : [p.livePort],
    durationMs: Date.now() - ctx.t0,
    timings: ctx.timings,
    instances: [...reports.values()],
    nginxHosts: fleet.nginx.map((n) => n.remote.label),
    artifact: fleet.artifact,
    units: r.stagedPort === undefined ? ctx.backend.unitNames([p.idlePort]) : undefined,
    // a bake's row (a canary passes its steps and the bake together)
    canary: ctx.canarySteps.length > 0 ? ctx.canarySteps : undefined,
    ...r,
  };
}
