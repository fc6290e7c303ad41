// Warm-up: a JVM's first requests are slow (class loading, lazy initialisation, JIT). Before the
// switch, each new process gets warmup-requests GETs of warmup-path, through the same channel as
// its health checks, a few at a time; any answer that is not 2xx stops the deploy as unhealthy.
import * as httpCmd from '../commands/http.ts';
import { DeployError, errorText } from '../errors.ts';
import type { OpContext } from '../run/context.ts';
import type { AppNode } from './node.ts';
import { loadHttpClient, viaChannel } from './health.ts';
import { forwardingRefused } from './probe.ts';

const CONCURRENCY = 8;

/** Latency percentiles in ms, for the log. Pure. */
export function percentiles(ms: number[]): { p50: number; p90: number; p99: number; max: number } {
  const s = [...ms].sort((a, b) => a - b);
  const at = (q: number) => (s.length ? s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)] : 0);
  return { p50: at(0.5), p90: at(0.9), p99: at(0.99), max: s.length ? s[s.length - 1] : 0 };
}

export async function warmUp(ctx: OpContext, app: AppNode, port: number): Promise<void> {
  const cfg = ctx.cfg;
  if (!cfg.warmupPath) return;
  const label = app.remote.label;
  const n = cfg.warmupRequests;
  const fail = (what: string) => {
    throw new DeployError('warm-up', label, `GET ${cfg.warmupPath} on port ${port} ${what}: the new version does not serve it, so it is treated as unhealthy`);
  };
  const ms: number[] = [];
  if (forwardingRefused(app.remote)) {
    const r = await app.remote.run(httpCmd.httpGetMany(`http://127.0.0.1:${port}${cfg.warmupPath}`, n, 10, ctx.cmdOptions(false, 10 * n + 30)), 10_000 * n + 30_000);
    if (r.stdout.trim() === 'zdd-no-client') fail('could not be sent: curl is not installed on the host');
    for (const line of r.stdout.trim().split('\n')) {
      const [code, secs] = line.split(' ');
      if (!/^2\d\d$/.test(code)) fail(`answered ${code === '000' ? 'nothing (connection failed)' : code}`);
      ms.push(Number(secs) * 1000);
    }
  } else {
    const { Pool } = await loadHttpClient();
    const pool = new Pool(`http://127.0.0.1:${port}`, {
      connections: CONCURRENCY,
      connect: viaChannel(() => app.remote.forward(port)),
    });
    let next = 0;
    let bad: string | undefined;
    try {
      await Promise.all(
        Array.from({ length: Math.min(CONCURRENCY, n) }, async () => {
          while (next < n && !bad) {
            next++;
            const t = performance.now();
            try {
              const res = await pool.request({ method: 'GET', path: cfg.warmupPath, headers: { 'user-agent': 'jar-bluegreen-deploy warm-up' }, signal: AbortSignal.timeout(10_000) });
              await res.body.dump();
              if (res.statusCode < 200 || res.statusCode > 299) bad = `answered ${res.statusCode}`;
            } catch (e) {
              bad = `failed: ${errorText(e)}`;
            }
            ms.push(performance.now() - t);
          }
        }),
      );
    } finally {
      await pool.destroy().catch(() => undefined);
    }
    if (bad) fail(bad);
  }
  const p = percentiles(ms);
  ctx.ui.info(`${label}: warm-up of port ${port}: ${ms.length} × GET ${cfg.warmupPath}, latency p50 ${p.p50.toFixed(0)} ms, p90 ${p.p90.toFixed(0)} ms, p99 ${p.p99.toFixed(0)} ms, max ${p.max.toFixed(0)} ms`);
}
