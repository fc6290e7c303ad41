// Benchmark part: latency (bench/bench.ts runs it in its own testbed).
import { type Testbed } from '../../test/testbed/testbed.ts';
import { ROOT, baseInputs } from '../../test/e2e/harness.ts';
import { ACTION_INPUTS, type ActionRun, COLD_OPTS, LAT, LATENCY_N, LATENCY_SCRIPT, SWITCHED, WARMUP_INPUTS, at, bench, errorOf, errors, log, notServing, runAction, sleep } from '../common.ts';
import { fmt } from '../report.ts';
// ------------------------------------------------------------------------------------ latency

export interface Sample {
  /** Date.now() when sent */
  t: number;
  ms: number;
  /** 0 = no HTTP answer */
  status: number;
  port: string;
}

export interface Win {
  /** 2xx answers the percentiles are over */
  n: number;
  p50: number | null;
  p99: number | null;
  max: number | null;
  /** non-2xx answers and requests without an answer, sent in the window */
  non2xx: number;
  failed: number;
}

export interface LatencyRun {
  i: number;
  warmup: boolean;
  ok: boolean;
  wallMs: number | null;
  /** spawn → the switch line */
  switchedMs: number | null;
  oldPort: string;
  newPort: string;
  before: Win;
  after: Win;
  /** p99 after / p99 before */
  ratio: number | null;
  /** requests sent over the whole probe, and its rate */
  requests: number;
  rps: number;
  /** the action's `warm-up of port …` line */
  actionWarmup?: string;
  note?: string;
}

/** The probe (bench/latency.ts) in the runner namespace, through nginx, bounded by maxSeconds. */
export function startLatency(tb: Testbed, maxSeconds: number) {
  const url = `http://${tb.nginx.ip}${LAT.path}`;
  const child = tb.spawnInRunner([process.execPath, LATENCY_SCRIPT, url, String(maxSeconds), String(LAT.concurrency), String(LAT.rate)], { cwd: ROOT });
  const samples: Sample[] = [];
  let buf = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    const parts = buf.split('\n');
    buf = parts.pop()!;
    for (const l of parts) {
      const [t, ms, status, port] = l.split(' ');
      if (Number(t) > 0 && ms !== undefined) samples.push({ t: Number(t), ms: Number(ms), status: Number(status), port: port ?? '-' });
    }
  });
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((r) => child.on('close', (c) => r(c)));
  return {
    async stop(): Promise<Sample[]> {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const hard = setTimeout(() => child.kill('SIGKILL'), 5000);
      const code = await exited;
      clearTimeout(hard);
      if (!samples.length) throw new Error(`latency probe printed nothing (exit ${code}): ${err.trim().slice(-500)}`);
      return samples;
    },
  };
}

/** nearest rank, like the action's warm-up log */
export function pct(sorted: number[], q: number): number | null {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] : null;
}

export function win(ss: Sample[]): Win {
  const ok = ss.filter((s) => s.status >= 200 && s.status < 300).map((s) => s.ms).sort((x, y) => x - y);
  return { n: ok.length, p50: pct(ok, 0.5), p99: pct(ok, 0.99), max: ok.length ? ok[ok.length - 1] : null, non2xx: ss.filter((s) => s.status !== 0 && (s.status < 200 || s.status >= 300)).length, failed: ss.filter((s) => s.status === 0).length };
}

/** before: sent in the windowMs before the switch line and answered by the old process; after:
 *  sent in the windowMs after it, plus those before it already answered by the new process (the
 *  line reaches the bench a little after nginx switched). */
export function windows(samples: Sample[], switchAt: number, newPort: string): { before: Win; after: Win } {
  const W = LAT.windowMs;
  const pre = samples.filter((s) => s.t >= switchAt - W && s.t < switchAt);
  return {
    before: win(pre.filter((s) => s.port !== newPort)),
    after: win([...pre.filter((s) => s.port === newPort), ...samples.filter((s) => s.t >= switchAt && s.t < switchAt + W)]),
  };
}

export async function latencyDeploy(tb: Testbed, i: number, warmup: boolean): Promise<LatencyRun> {
  const version = `lat${i}`;
  const jar = await tb.makeJar(version);
  const inputs = baseInputs(tb, jar, { ...ACTION_INPUTS, 'java-opts': COLD_OPTS, ...(warmup ? WARMUP_INPUTS : {}) });
  const probe = startLatency(tb, 120);
  let a: ActionRun;
  let switchAt: number | undefined;
  try {
    await sleep(LAT.preMs);
    a = await runAction(tb, inputs);
    switchAt = at(a.lines, SWITCHED);
    const until = (switchAt ?? Date.now()) + LAT.windowMs + 300;
    if (until > Date.now()) await sleep(until - Date.now());
  } catch (e) {
    await probe.stop().catch(() => undefined);
    throw e;
  }
  const samples = await probe.stop();
  const stale = await notServing(tb, version, false);
  const oldPort = a.outputs['previous-port'] ?? '';
  const newPort = a.outputs['active-port'] ?? '';
  const S = switchAt ?? NaN;
  const { before, after } = windows(samples, S, newPort);
  const first = samples[0].t;
  const last = samples[samples.length - 1].t;
  const actionWarmup = a.lines.find((l) => /warm-up of port \d+/.test(l.text))?.text.replace(/^.*?warm-up of port/, 'port');
  const problems = [
    ...(a.code === 0 ? [] : [errorOf(a)]),
    ...(stale.length ? [`${version} not served: ${stale.join('; ')}`] : []),
    ...(switchAt === undefined ? ['no "now sends traffic to port" line'] : []),
    ...(first > S - LAT.windowMs + 250 ? [`the probe began only ${fmt((S - first) / 1000, 1)} s before the switch`] : []),
    ...(last < S + LAT.windowMs - 250 ? [`the probe ended ${fmt((last - S) / 1000, 1)} s after the switch`] : []),
    ...(warmup && !actionWarmup ? ['no "warm-up of port" line from the action'] : []),
  ];
  return {
    i,
    warmup,
    ok: problems.length === 0,
    wallMs: a.wallMs,
    switchedMs: switchAt === undefined ? null : switchAt - a.t0,
    oldPort,
    newPort,
    before,
    after,
    ratio: before.p99 && after.p99 !== null ? after.p99 / before.p99 : null,
    requests: samples.length,
    rps: samples.length / Math.max(0.001, (last - first) / 1000),
    actionWarmup,
    note: problems.join(' | ') || undefined,
  };
}

export async function latencyPart(tb: Testbed): Promise<LatencyRun[]> {
  const out: LatencyRun[] = [];
  // without, with, without, with, …: drift on the machine hits both alike
  for (let i = 0; i < 2 * LATENCY_N && !bench.stopping; i++) {
    const warmup = i % 2 === 1;
    try {
      const r = await latencyDeploy(tb, i, warmup);
      out.push(r);
      const w = (x: Win) => `p50 ${fmt(x.p50, 1)} p99 ${fmt(x.p99, 1)} ms (n ${x.n}, non-2xx ${x.non2xx}, failed ${x.failed})`;
      log(`latency #${i} ${warmup ? 'with' : 'without'} warm-up: ok=${r.ok} before ${w(r.before)}; after ${w(r.after)}; ×${fmt(r.ratio, 2)}${r.note ? ` (${r.note})` : ''}`);
    } catch (e) {
      errors.push(`latency #${i}: ${String(e)}`);
      log(`ERROR latency #${i}: ${String(e)}`);
    }
    await sleep(1000);
  }
  return out;
}
