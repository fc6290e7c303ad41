// Bounded load through nginx from the runner namespace, for "0 5xx during the whole attempt".
import assert from 'node:assert/strict';
import type { Host, Testbed } from '../testbed/testbed.ts';
import { baseInputs, explain, runAction, type ActionRun } from './harness.ts';

export interface LoadResult {
  requests: number;
  non2xx: number;
  socketErrors: number;
  raw: string;
}

/** How hard wrk pushes (default: 1 thread, 4 connections). */
export interface LoadShape {
  threads: number;
  connections: number;
}

/**
 * Starts wrk (new connection per request: `Connection: close`) against nginx for at most
 * maxSeconds; stop() ends it early (SIGINT makes wrk print its totals) and parses them.
 */
export function startLoad(tb: Testbed, maxSeconds = 120, path = '/version', nginx: Host = tb.nginx, shape: LoadShape = { threads: 1, connections: 4 }) {
  const p = tb.spawnInRunner(['wrk', `-t${shape.threads}`, `-c${shape.connections}`, `-d${maxSeconds}s`, '--timeout', '10s', '-H', 'Connection: close', `http://${nginx.ip}${path}`], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  p.stdout?.on('data', (c) => (out += c));
  p.stderr?.on('data', (c) => (out += c));
  const closed = new Promise<void>((r) => p.on('close', () => r()));
  return {
    async stop(): Promise<LoadResult> {
      if (p.exitCode === null) p.kill('SIGINT');
      await Promise.race([closed, new Promise((r) => setTimeout(r, 5000))]);
      if (p.exitCode === null) p.kill('SIGKILL');
      const num = (re: RegExp) => Number(re.exec(out)?.[1] ?? 0);
      const se = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
      return {
        requests: num(/(\d+) requests in/),
        non2xx: num(/Non-2xx or 3xx responses: (\d+)/),
        socketErrors: se ? se.slice(1).map(Number).reduce((a, b) => a + b, 0) : 0,
        raw: out,
      };
    },
  };
}

/**
 * Long requests through nginx while a deploy runs: one every `everyMs` (alternating nginx hosts),
 * at most `max`, until stop(); stop() waits for all of them and returns their statuses.
 */
export function longRequests(tb: Testbed, ms = 3000, everyMs = 700, max = 40) {
  const pending: Promise<number>[] = [];
  let n = 0;
  const timer = setInterval(() => {
    if (n >= max) return;
    const nginx = tb.nginxes[n++ % tb.nginxes.length];
    pending.push(tb.get(`/slow?ms=${ms}`, { nginx, timeoutMs: ms + 15_000 }).then((r) => r.status));
  }, everyMs);
  return {
    async stop(): Promise<number[]> {
      clearInterval(timer);
      return Promise.all(pending);
    },
  };
}

/**
 * Runs an attempt under wrk load through nginx (started 300 ms before it; `shape` as startLoad): the load must have run
 * and seen no connection error; what it counted is returned with the attempt's result for the
 * test to judge (0 non-2xx, or a bound).
 */
export async function underLoad<T>(tb: Testbed, attempt: () => Promise<T>, shape?: LoadShape): Promise<{ run: T; load: LoadResult }> {
  const load = startLoad(tb, 120, '/version', tb.nginx, shape);
  await new Promise((r) => setTimeout(r, 300));
  const run = await attempt();
  const l = await load.stop();
  assert.ok(l.requests > 50, `load ran: ${l.raw}`);
  assert.equal(l.socketErrors, 0, `no connection errors: ${l.raw}`);
  return { run, load: l };
}

/**
 * Runs the action under wrk load (inputs over baseInputs, a jar of version if given); every run,
 * failed or not, must leave clients unharmed: 0 non-2xx, no connection errors.
 */
export async function actUnderLoad(tb: Testbed, inputs: Record<string, string>, version?: string): Promise<ActionRun> {
  const load = startLoad(tb, 120);
  const r = await runAction(tb, baseInputs(tb, version ? await tb.makeJar(version) : '', inputs));
  const l = await load.stop();
  assert.ok(l.requests > 20, `load ran: ${l.raw}`);
  assert.equal(l.non2xx, 0, `no 5xx: ${l.raw}\n${explain(r)}`);
  assert.equal(l.socketErrors, 0, `no connection errors: ${l.raw}`);
  return r;
}
