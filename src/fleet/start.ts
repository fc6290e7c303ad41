// The start of a release on an app host, through the run backend (fleet/backend.ts): journaled
// before it is sent, guarded (the host stops it unless its health is confirmed in time), and
// followed in the same shell by the host's wait for its port to open (fleet/healthy.ts takes it).
import { DeployError } from '../errors.ts';
import * as appCmd from '../commands/app.ts';
import type { Cmd } from '../commands/shell.ts';
import { gatedStart } from '../commands/shell.ts';
import type { Lane, RunResult } from '../ssh/remote.ts';
import type { OpContext } from '../run/context.ts';
import { logText, type ReleaseStart, type RunBackend } from './backend.ts';
import { healthRequestMs, hostHealthUrl, type AppNode } from './node.ts';

/**
 * How long a started process may live undisarmed: the longest a healthy start can take to be
 * confirmed (health-timeout, one more probe, the ownership check) plus a margin.
 */
export function guardSec(ctx: OpContext): number {
  const c = ctx.cfg;
  return Math.ceil((c.healthTimeoutMs + 10_000 + 2 * c.commandTimeoutMs + c.connectTimeoutMs) / 1000) + 10;
}

/**
 * Starts a process; its undo (stop it) is recorded before the start is sent. Returns its pid.
 * gate: the start waits on the host behind it (a gated upload's, uploadJar), for up to limitMs more.
 */
export const startProcess = (...a: Parameters<typeof startOn>): Promise<number> => a[0].span(a[2].remote.label, 'start', () => startOn(...a));

async function startOn(ctx: OpContext, backend: RunBackend, app: AppNode, port: number, spec: ReleaseStart, step: string, guard = true, gate?: { cmd: Cmd; rcFile: string; limitMs: number }, oomScoreAdj = 0): Promise<number> {
  // A gated start may still run on the host after the runner gave up on it: its undo closes the gate first.
  const entry = { kind: 'started' as const, app: app.host.ssh, port, pid: undefined as number | undefined, ...(gate ? { gate: gate.rcFile } : {}), backend: backend.kind };
  ctx.record(entry);
  const cfg = ctx.cfg;
  let cmd = await backend.startCommand(app, port, spec, guard ? guardSec(ctx) : 0, oomScoreAdj);
  if (gate) cmd = gatedStart(gate.cmd, cmd, gate.rcFile);
  const lane = app.remote.lane();
  const started = app.remote.must(step, cmd, cfg.commandTimeoutMs + (gate?.limitMs ?? 0), lane);
  // Right behind the start, in its shell (waitHealthy takes it).
  app.remote.ahead.set(readyKey(port), listenWait(ctx, app, port, lane));
  const out = await started.catch((e: unknown) => {
    app.remote.ahead.delete(readyKey(port));
    throw e;
  });
  const pid = Number(out.trim());
  if (!Number.isInteger(pid) || pid <= 1) throw new DeployError(step, app.remote.label, `start printed no pid: '${out.trim()}'`);
  entry.pid = pid;
  ctx.save();
  ctx.ui.info(`${app.remote.label}: started pid ${pid} on port ${port} (${logText(spec.log)})`);
  return pid;
}

export const readyKey = (port: number) => `open ${port}`;
/** One wait on the host for a port to open: at most 5 s, so a cancel is seen between them. */
export const openWaitMs = (ctx: OpContext) => Math.min(5000, ctx.cfg.healthTimeoutMs);

/**
 * The host waits for the port to open (every 20 ms, one answer), in the lane given, and GETs the
 * health path once as it opens: the first health check, whose answer the runner judges
 * (hostCheck), made without the round trips of opening a channel to a port that just opened.
 */
export function listenWait(ctx: OpContext, app: AppNode, port: number, lane: Lane | undefined, ms = openWaitMs(ctx)): Promise<RunResult> {
  const cfg = ctx.cfg;
  const pidFile = appCmd.layout(cfg.remoteDir, '', port).pidFile;
  const reqMs = healthRequestMs(ctx);
  const check = { url: hostHealthUrl(ctx, port), timeoutSec: reqMs / 1000 };
  return app.remote.run(appCmd.waitListen(pidFile, port, ms, ctx.cmdOptions(false, (ms + reqMs) / 1000 + 10), check), ms + reqMs + cfg.commandTimeoutMs, lane);
}
