// Draining: before a process nginx no longer names is stopped, wait until every old nginx worker
// (of the master that serves the include) has exited and no connection to its port is left.
import * as A from '../commands/app.ts';
import * as N from '../commands/nginx.ts';
import type { Remote } from '../ssh/remote.ts';
import { type Ctx, sleep } from '../strategies/context.ts';

export interface DrainTarget {
  /** nginx hosts and the old workers to wait for */
  nginx: { remote: Remote; oldWorkers: number[] }[];
  /** app ports whose established connections must reach 0 */
  ports: { remote: Remote; port: number }[];
}

/** Waits up to drain-timeout; returns what was still left when it gave up (empty: drained). */
export async function drain(ctx: Ctx, t: DrainTarget, what: string): Promise<string> {
  const cfg = ctx.cfg;
  const deadline = Date.now() + cfg.drainTimeoutMs;
  const nginx = t.nginx.filter((n) => n.oldWorkers.length > 0);
  for (;;) {
    const [workers, conns] = await Promise.all([
      Promise.all(
        nginx.map(async (n) => {
          const r = await n.remote.run(N.nginxWorkers(ctx.o()), cfg.commandTimeoutMs);
          if (r.code !== 0) return 0; // a lost nginx host cannot hold connections to the app for us
          const alive = new Set(N.parseWorkers(r.stdout).map((w) => w.pid));
          return n.oldWorkers.filter((p) => alive.has(p)).length;
        }),
      ),
      Promise.all(t.ports.map(async (p) => Number((await p.remote.run(A.connectionCount(p.port, ctx.o()), cfg.commandTimeoutMs)).stdout.trim()) || 0)),
    ]);
    const w = workers.reduce((x, y) => x + y, 0);
    const c = conns.reduce((x, y) => x + y, 0);
    if (w === 0 && c === 0) return '';
    const left = `${w} old nginx worker(s), ${c} connection(s) to ${what}`;
    if (Date.now() >= deadline) {
      ctx.ui.warn(`drain-timeout (${cfg.drainTimeoutMs / 1000}s) reached with ${left} left; going on`);
      return left;
    }
    await sleep(100);
  }
}
