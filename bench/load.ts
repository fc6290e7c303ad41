// Load through nginx from the runner namespace: wrk (bounded by -d, stopped early with SIGINT)
// and a few long requests (curl /slow) that should stay in flight across a switch.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Host, Testbed } from '../test/testbed/testbed.ts';

const LUA = path.join(path.dirname(fileURLToPath(import.meta.url)), 'lua/status.lua');
export const WRK = { threads: 2, connections: 20, path: '/version' };

/** close: a new connection per request (Connection: close); keepalive: wrk's default */
export type ClientKind = 'close' | 'keepalive';
export const KINDS: ClientKind[] = ['close', 'keepalive'];

export interface LoadResult {
  requests: number;
  s5xx: number;
  non2xx3xx: number;
  connect: number;
  read: number;
  write: number;
  timeout: number;
  /** connect + read + write + timeout */
  socketErrors: number;
  seconds: number;
  p99Ms: number;
  /** several nginx hosts: one wrk each; the fields above add them up (seconds, p99Ms: the max) */
  perNginx?: LoadResult[];
}

export interface Load {
  /** SIGINT wrk (it prints its stats and runs done()), wait for it, parse. */
  stop(): Promise<LoadResult>;
}

/** Starts wrk against one nginx host (default the first); it stops by itself after maxSeconds at
 *  the latest. share: this wrk's share of WRK's threads and connections (1 = all of them). */
export function startLoad(tb: Testbed, kind: ClientKind, maxSeconds: number, nginx: Host = tb.nginx, share = 1): Load {
  const threads = Math.max(1, Math.round(WRK.threads * share));
  const connections = Math.max(threads, Math.round(WRK.connections * share));
  const argv = ['wrk', `-t${threads}`, `-c${connections}`, `-d${Math.ceil(maxSeconds)}s`, '--timeout', '5s', '-s', LUA];
  if (kind === 'close') argv.push('-H', 'Connection: close');
  argv.push(`http://${nginx.ip}${WRK.path}`);
  // nsenter execs wrk without forking, so child.pid is wrk's pid
  const child = tb.spawnInRunner(argv);
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((resolve) => child.on('close', () => resolve()));
  return {
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGINT');
      const hard = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(hard);
      const m = /^BENCH_WRK (\{.*\})$/m.exec(out);
      if (!m) throw new Error(`wrk (${nginx.ip}) printed no result:\n${out}`);
      const j = JSON.parse(m[1]) as Record<string, number>;
      return {
        requests: j.requests,
        s5xx: j.s5xx,
        non2xx3xx: j.non2xx3xx,
        connect: j.connect,
        read: j.read,
        write: j.write,
        timeout: j.timeout,
        socketErrors: j.connect + j.read + j.write + j.timeout,
        seconds: Math.round(j.durationUs / 1e4) / 100,
        p99Ms: Math.round(j.p99Us / 100) / 10,
      };
    },
  };
}

/** Load through every given nginx host at once: one wrk per host, WRK's threads and connections
 *  split evenly between them (the same total load as one host gets alone); stop() adds the
 *  counts up. With one host this is startLoad. */
export function startLoads(tb: Testbed, kind: ClientKind, maxSeconds: number, nginxes: Host[] = tb.nginxes): Load {
  if (nginxes.length === 1) return startLoad(tb, kind, maxSeconds, nginxes[0]);
  const loads = nginxes.map((n) => startLoad(tb, kind, maxSeconds, n, 1 / nginxes.length));
  return {
    async stop() {
      const settled = await Promise.allSettled(loads.map((l) => l.stop()));
      const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
      const rs = settled.map((r) => (r as PromiseFulfilledResult<LoadResult>).value);
      const sum = (k: 'requests' | 's5xx' | 'non2xx3xx' | 'connect' | 'read' | 'write' | 'timeout' | 'socketErrors') => rs.reduce((n, r) => n + r[k], 0);
      return {
        requests: sum('requests'),
        s5xx: sum('s5xx'),
        non2xx3xx: sum('non2xx3xx'),
        connect: sum('connect'),
        read: sum('read'),
        write: sum('write'),
        timeout: sum('timeout'),
        socketErrors: sum('socketErrors'),
        seconds: Math.max(...rs.map((r) => r.seconds)),
        p99Ms: Math.max(...rs.map((r) => r.p99Ms)),
        perNginx: rs,
      };
    },
  };
}

export interface LongResult {
  started: number;
  ok: number;
  /** when they were started (Date.now()) */
  at: number;
  statuses: number[];
}

/** n parallel GET /slow?ms=… through nginx (curl, each bounded); resolves when all have ended.
 *  With several nginx hosts the requests alternate between them (the k-th to nginxes[k % len]). */
export async function longRequests(tb: Testbed, n = 3, ms = 4000, nginxes: Host[] = tb.nginxes): Promise<LongResult> {
  const at = Date.now();
  const statuses = await Promise.all(
    Array.from({ length: n }, async (_, k) => {
      const r = await tb.get(`/slow?ms=${ms}`, { timeoutMs: ms + 11_000, nginx: nginxes[k % nginxes.length] });
      return r.status;
    }),
  );
  return { started: n, ok: statuses.filter((s) => s === 200).length, at, statuses };
}
