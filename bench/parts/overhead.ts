// Benchmark part: overhead (bench/bench.ts runs it in its own testbed).
import { type Testbed } from '../../test/testbed/testbed.ts';
import { baseInputs } from '../../test/e2e/harness.ts';
import { appLifecycle } from '../app.ts';
import { ACTION_INPUTS, OVERHEAD_N, SWITCHED, at, bench, errorOf, log, median, runAction, sleep, steps } from '../common.ts';
// ------------------------------------------------------------------------------------ overhead

export interface Overhead {
  /** exec of `java … -jar` on the app host → its first 200 on /health (polled every 20 ms there) */
  readinessMs: number[];
  /** then its own stop: SIGTERM → the process is gone (looked at every 10 ms there) */
  exitMs: number[];
  /** unloaded deploys of the jar already on the host (the first deploy, which uploads it, left out) */
  wallMs: number[];
  switchedMs: (number | null)[];
  steps: Record<string, number>[];
  /** the action's `jar …` report of each measured deploy */
  jar: string[];
  firstWallMs: number;
  readinessMedianMs: number;
  wallMedianMs: number;
  /** wallMedianMs − readinessMedianMs */
  overheadMs: number;
  /** per step: the median over the measured deploys, s */
  stepMedians: Record<string, number>;
  /** the same deploys with wait-for-exit: false, alternating with the others */
  noWaitWallMs: number[];
  noWaitMedianMs: number;
  /** noWaitMedianMs − readinessMedianMs */
  noWaitOverheadMs: number;
}

export async function overheadPart(tb: Testbed): Promise<Overhead> {
  const jar = await tb.makeJar('overhead');
  const inputs = baseInputs(tb, jar, ACTION_INPUTS);
  const first = await runAction(tb, inputs); // uploads the jar; not measured
  if (first.code !== 0) throw new Error(`first deploy failed: ${errorOf(first)}`);
  log(`overhead: first deploy (uploads the jar) ${first.wallMs} ms`);
  const o = { readinessMs: [] as number[], exitMs: [] as number[], noWaitWallMs: [] as number[], wallMs: [] as number[], switchedMs: [] as (number | null)[], steps: [] as Record<string, number>[], jar: [] as string[] };
  // alternate, so that drift on the machine hits both alike
  for (let i = 0; i < OVERHEAD_N && !bench.stopping; i++) {
    await sleep(500);
    const own = await appLifecycle(tb, jar);
    o.readinessMs.push(own.readyMs);
    if (own.exitMs !== undefined) o.exitMs.push(own.exitMs);
    await sleep(500);
    const a = await runAction(tb, inputs);
    if (a.code !== 0) throw new Error(`deploy ${i} of the same jar failed: ${errorOf(a)}`);
    const s = at(a.lines, SWITCHED);
    o.wallMs.push(a.wallMs);
    o.switchedMs.push(s === undefined ? null : s - a.t0);
    o.steps.push(steps(a.summary));
    o.jar.push(a.lines.find((l) => /: jar /.test(l.text))?.text.replace(/^.*: jar /, '') ?? '');
    if (process.env.BENCH_TRACE) for (const l of a.lines) log(`  +${l.t - a.t0} ms ${l.text}`);
    log(`overhead #${i}: app ready in ${o.readinessMs.at(-1)} ms; deploy ${a.wallMs} ms (switched at ${o.switchedMs.at(-1) ?? '–'} ms; jar ${o.jar.at(-1)})`);
    // The same deploy with wait-for-exit: false (the step ends at the old JVM's SIGTERM); the
    // pause lets that JVM finish its exit before the next measurement.
    await sleep(500);
    const n = await runAction(tb, { ...inputs, 'wait-for-exit': 'false' });
    if (n.code !== 0) throw new Error(`deploy ${i} with wait-for-exit: false failed: ${errorOf(n)}`);
    o.noWaitWallMs.push(n.wallMs);
    log(`overhead #${i}: deploy with wait-for-exit: false ${n.wallMs} ms`);
    await sleep(1000);
  }
  const readinessMedianMs = median(o.readinessMs);
  const wallMedianMs = median(o.wallMs);
  const stepMedians: Record<string, number> = {};
  for (const n of Object.keys(o.steps[0] ?? {})) stepMedians[n] = median(o.steps.map((x) => x[n] ?? 0));
  const noWaitMedianMs = median(o.noWaitWallMs);
  return { ...o, firstWallMs: first.wallMs, readinessMedianMs, wallMedianMs, overheadMs: wallMedianMs - readinessMedianMs, stepMedians, noWaitMedianMs, noWaitOverheadMs: noWaitMedianMs - readinessMedianMs };
}
