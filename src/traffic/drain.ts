// Draining: before a process nginx no longer names is stopped, wait until every old nginx worker
// (of the master that serves the include) has exited and no connection to its port is left.
import * as appCmd from '../commands/app.ts';
import * as nginxCmd from '../commands/nginx.ts';
import { type Cmd, type CmdOptions, parseCount } from '../commands/shell.ts';
import type { Lane, Remote, RunResult } from '../ssh/remote.ts';
import { type OpContext } from '../run/context.ts';
import { sleep } from '../util/async.ts';

export interface DrainTarget {
  /** nginx hosts and the old workers to wait for (workersGone: a wait already sent for them) */
  nginx: { remote: Remote; oldWorkers: number[]; workersGone?: Promise<RunResult> }[];
  /** app ports whose established connections must reach 0 */
  ports: { remote: Remote; port: number }[];
}

/**
 * Waits on every host at once, each on its own side, until the total left is 0 or the deadline
 * passes (in rounds of at most 5 s, so a cancel is seen); returns the total left. A host whose
 * connection is lost counts as drained (it cannot hold anything for us); a failed or unreadable
 * answer as 1, after a pause, so that a broken command is retried at a calm pace.
 */
async function untilNone<T extends { remote: Remote }>(ctx: OpContext, items: T[], deadline: number, cmd: (x: T, waitMs: number, o: CmdOptions) => Cmd): Promise<number> {
  for (;;) {
    ctx.checkpoint();
    const ms = Math.max(0, Math.min(5000, deadline - Date.now()));
    const o = ctx.cmdOptions(false, ms / 1000 + 10);
    const left = await Promise.all(
      items.map(async (x) => {
        const r = await x.remote.run(cmd(x, ms, o), ms + ctx.cfg.commandTimeoutMs);
        if (r.code === null && !x.remote.connected) return 0;
        const n = r.code === 0 ? parseCount(r.stdout) : undefined;
        if (n === undefined) await sleep(Math.min(250, ms));
        return n ?? 1;
      }),
    );
    const total = left.reduce((a, b) => a + b, 0);
    if (total === 0 || Date.now() >= deadline) return total;
  }
}

/** The first half of a drain: until the old nginx workers are gone; returns how many are left. */
export async function drainWorkers(ctx: OpContext, nginx: DrainTarget['nginx'], deadline: number): Promise<number> {
  const start = Date.now();
  const left = await workersLeft(ctx, nginx, deadline);
  ctx.mark(nginx.map((n) => n.remote.label), 'drain', start);
  return left;
}

async function workersLeft(ctx: OpContext, nginx: DrainTarget['nginx'], deadline: number): Promise<number> {
  // The waits sent behind the switch answer first: a host they saw drained needs no other.
  const waiting = nginx.filter((n) => n.oldWorkers.length > 0);
  const first = await Promise.all(
    waiting.map(async (n) => {
      const sent = n.workersGone;
      n.workersGone = undefined;
      const r = sent ? await sent : undefined;
      return r?.code === 0 ? parseCount(r.stdout) : undefined;
    }),
  );
  return untilNone(
    ctx,
    waiting.filter((_, i) => first[i] !== 0),
    deadline,
    (n, ms, o) => nginxCmd.waitWorkersGone(n.oldWorkers, ms, o),
  );
}

/**
 * The second half, for one app port, as one wait up to the deadline in the lane given: what is
 * sent behind it there (the stop) runs on the host the moment the connections are gone, with no
 * round trip between. Returns the connections left (0 also when the connection was lost).
 */
export async function drainPort(ctx: OpContext, remote: Remote, port: number, deadline: number, lane: Lane): Promise<number> {
  return ctx.span(remote.label, 'drain', () => portDrained(ctx, remote, port, deadline, lane));
}

async function portDrained(ctx: OpContext, remote: Remote, port: number, deadline: number, lane: Lane): Promise<number> {
  const ms = Math.max(0, deadline - Date.now());
  const r = await remote.run(appCmd.waitNoConnections(port, ms, ctx.cmdOptions(false, ms / 1000 + 10)), ms + ctx.cfg.commandTimeoutMs, lane);
  if (r.code === null && !remote.connected) return 0;
  return (r.code === 0 ? parseCount(r.stdout) : undefined) ?? 1;
}

/** The warning of a drain that gave up; '' when nothing was left. */
export function drainLeft(ctx: OpContext, workers: number, conns: number, what: string): string {
  if (workers === 0 && conns === 0) return '';
  const left = workers > 0 ? `${workers} old nginx worker(s) still running` : `${conns} connection(s) to ${what}`;
  ctx.ui.warn(`drain-timeout (${ctx.cfg.drainTimeoutMs / 1000}s) reached with ${left} left; going on`);
  return left;
}

/**
 * Waits up to drain-timeout; returns what was still left when it gave up (empty: drained).
 * First the old nginx workers exit (then nothing can open a new connection to the old port),
 * then the connections to it end; each host waits on its own side and answers when done, so a
 * drain with nothing in flight costs two round trips, not a poll period.
 */
export async function drain(ctx: OpContext, t: DrainTarget, what: string): Promise<string> {
  const cfg = ctx.cfg;
  const deadline = Date.now() + cfg.drainTimeoutMs;
  const w = await drainWorkers(ctx, t.nginx, deadline);
  const start = Date.now();
  const c = w === 0 ? await untilNone(ctx, t.ports, deadline, (p, ms, o) => appCmd.waitNoConnections(p.port, ms, o)) : 0;
  if (w === 0) ctx.mark([...new Set(t.ports.map((p) => p.remote.label))], 'drain', start);
  return drainLeft(ctx, w, c, what);
}
