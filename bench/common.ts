// The benchmark's shared set-up: its options, the action run and timed, one measured deploy under load, the records.
import * as fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { type Testbed } from '../test/testbed/testbed.ts';
import { ROOT, baseInputs, parseCommandFile } from '../test/e2e/harness.ts';
import { actionDefaults } from '../test/action-defaults.ts';
import { JAVA_OPTS } from './app.ts';
import { longRequests, startLoads, type ClientKind, type LoadResult, type LongResult } from './load.ts';
export const { values: opt } = parseArgs({
  options: {
    deploys: { type: 'string', default: '10' },
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    skip: { type: 'string' },
    out: { type: 'string' },
  },
});
// The unloaded fleet test: this many app hosts against one.
export const FLEET = 16;
export const PARTS = ['1host', '2hosts', 'fleet', 'rolling', '2nginx', 'rollback', 'overhead', 'latency', 'canary'] as const;
export type Part = (typeof PARTS)[number];
export const Q = opt.quick;
export const N = Q ? 3 : Number(opt.deploys); // action deploys per form (client kinds alternate)
export const SEED_PER_KIND = Q ? 1 : 3;
export const FLOOR_PER_KIND = Q ? 1 : 3;
export const UNLOADED = Q ? 1 : 2; // unloaded deploys for 1 host vs 8 hosts
export const STARTUP_RUNS = Q ? 5 : 10;
// The rolling and two-nginx scenarios (client kinds alternate; rolling-4 is the slowest).
export const ROLLING2_N = Q ? 2 : 4;
export const ROLLING4_N = Q ? 1 : 4;
export const NGINX2_N = Q ? 2 : 4;
export const ACTION_INPUTS = { 'health-interval': '0.25', 'java-opts': JAVA_OPTS }; // + harness baseInputs
export const ROLLING_INPUTS = { strategy: 'rolling', 'batch-size': '1' };
// Rollback: cycles of deploy A, deploy B keep-previous, rollback (warm standby, under load),
// deploy C (under load), rollback (A from its kept jar, under load).
export const ROLLBACK_N = Q ? 1 : 3;
// Overhead: unloaded deploys of a jar already on the host, and as many direct starts of it.
export const OVERHEAD_N = Q ? 2 : 5;
// Latency at the switch: deploys per variant (without / with the action's warm-up), alternating.
export const LATENCY_N = Q ? 1 : 3;
export const COLD_OPTS = `${JAVA_OPTS} -Dwarmup.requests=400 -Dwarmup.ms=40 -Dwarmup.path=/version`;
export const WARMUP_INPUTS = { 'warmup-path': '/version', 'warmup-requests': '500' };
// the probe (bench/latency.ts): GET path through nginx, concurrency, total requests/s at most;
// windows of windowMs before and after the switch; the probe starts preMs before the action
export const LAT = { path: '/version', concurrency: 8, rate: 400, windowMs: 5000, preMs: 2500 };
export const LATENCY_SCRIPT = path.join(ROOT, 'bench/latency.ts');
// The long requests start when the deployer has seen the new process healthy (action: its
// `HOST: healthy (...)` line; seed: `> Health Check Success`), i.e. just before it switches nginx.
// Rolling: at the first batch's first healthy line, so they are in flight across that batch's
// put-back and the next batch's take-out, drain and stop.
// Every nginx host gets load (one wrk each, sharing WRK's threads and connections); the long
// requests alternate between the nginx hosts.

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
export const log = (m: string) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${m}\n`);
export const median = (a: number[]) => {
  const s = [...a].sort((x, y) => x - y);
  return s.length ? (s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2) : NaN;
};
export const mean = (a: number[]) => (a.length ? a.reduce((x, y) => x + y, 0) / a.length : NaN);

// ------------------------------------------------------------------------------------ records

export interface Line {
  t: number;
  text: string;
}

export const SCENARIOS = [
  'floor-1host',
  'seed',
  'action-1host',
  'floor-2hosts',
  'action-2hosts',
  'rolling-2',
  'rolling-4',
  'floor-2nginx',
  'action-2nginx',
  // rollback part: the two rollbacks and the plain deploy between them, all under load, no long requests
  'rollback-warm',
  'rollback-deploy',
  'rollback-kept',
] as const;
export type Scenario = (typeof SCENARIOS)[number];

export interface Run {
  scenario: Scenario;
  kind: ClientKind;
  i: number;
  ok: boolean;
  /** spawn to exit of the deploy (action: node dist/main.cjs; seed: bash deploy_no_stop.sh) */
  wallMs: number | null;
  healthyToSwitchedMs: number | null;
  load: LoadResult;
  /** leadMs: their start → the switch (rolling: → the first put-back) */
  long: { started: number; ok: number; statuses: number[]; leadMs: number | null };
  steps?: Record<string, number>;
  /** spawn of node main.cjs → its `now sends traffic to port` line (rollback part) */
  switchedMs?: number | null;
  note?: string;
}

export const runs: Run[] = [];
export const errors: string[] = [];

// ------------------------------------------------------------------------------------ action

export interface ActionRun {
  code: number;
  /** Date.now() just before the spawn */
  t0: number;
  wallMs: number;
  lines: Line[];
  outputs: Record<string, string>;
  summary: string;
}

/** `node main.cjs` in the runner namespace like the GitHub runner (see test/e2e/harness.ts), with
 *  every stdout line timestamped as it arrives. */
export async function runAction(tb: Testbed, inputs: Record<string, string>, onLine?: (l: Line) => void, timeoutMs = 120_000): Promise<ActionRun> {
  const dir = fs.mkdtempSync(path.join(tb.dir, 'run-'));
  const env: Record<string, string> = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir, RUNNER_TEMP: dir, GITHUB_SHA: 'c0ffee1234567890' };
  for (const f of ['GITHUB_OUTPUT', 'GITHUB_STEP_SUMMARY', 'GITHUB_STATE']) fs.writeFileSync((env[f] = path.join(dir, f)), '');
  // Like the runner: action.yml's defaults for the inputs the step does not give.
  for (const [k, v] of Object.entries({ ...actionDefaults(), ...inputs })) env[`INPUT_${k.toUpperCase()}`] = v;
  const t0 = Date.now();
  const child = tb.spawnInRunner([process.execPath, bench.main], { env, cwd: ROOT });
  const lines: Line[] = [];
  let buf = '';
  child.stdout!.on('data', (d: Buffer) => {
    const t = Date.now();
    buf += d.toString();
    const parts = buf.split('\n');
    buf = parts.pop()!;
    for (const text of parts) {
      lines.push({ t, text });
      onLine?.({ t, text });
    }
  });
  child.stderr!.on('data', (d: Buffer) => lines.push({ t: Date.now(), text: `stderr: ${d.toString().trimEnd()}` }));
  const timer = setTimeout(() => child.kill('SIGTERM'), timeoutMs);
  const code = await new Promise<number>((r) => child.on('close', (c) => r(c ?? -1)));
  clearTimeout(timer);
  const wallMs = Date.now() - t0;
  return { code, t0, wallMs, lines, outputs: parseCommandFile(fs.readFileSync(env.GITHUB_OUTPUT, 'utf8')), summary: fs.readFileSync(env.GITHUB_STEP_SUMMARY, 'utf8') };
}

export function steps(summary: string): Record<string, number> {
  const out: Record<string, number> = {};
  // step names without the release/port/instances, e.g. 'Upload, start and health-check', 'Switch
  // nginx'; rolling: 'Upload', 'Batch 1/2'; rollback: 'Check the warm standby' or 'Start'
  for (const m of summary.matchAll(/^\| ([^|]+) \| ([\d.]+) s \|$/gm)) {
    out[m[1].replace(/^Check \S+, still running on port \d+$/, 'Check the warm standby').replace(/ \S+ on port \d+$| to port \d+$/, '').replace(/^Upload \S+$/, 'Upload').replace(/^(Batch \d+\/\d+): .*$/, '$1')] = Number(m[2]);
  }
  return out;
}

export const at = (lines: Line[], re: RegExp) => lines.find((l) => re.test(l.text))?.t;
export const errorOf = (a: ActionRun) => a.lines.filter((l) => l.text.startsWith('::error::')).map((l) => l.text).join(' ') || `exit ${a.code}`;
/** the blue/green switch line (one or several nginx hosts) */
export const SWITCHED = /now sends traffic to port/;

// ------------------------------------------------------------------------------------ one measured run

/** Runs fn under wrk load of one client kind through every nginx host; fn may start the long
 *  requests once. */
export async function underLoad(
  tb: Testbed,
  kind: ClientKind,
  maxSeconds: number,
  fn: (startLong: () => void) => Promise<Omit<Run, 'scenario' | 'kind' | 'i' | 'load' | 'long'> & { switchAt?: number }>,
): Promise<Omit<Run, 'scenario' | 'kind' | 'i'>> {
  const load = startLoads(tb, kind, maxSeconds);
  let longP: Promise<LongResult> | undefined;
  try {
    await sleep(1000);
    const r = await fn(() => (longP ??= longRequests(tb)));
    const long = longP ? await longP : undefined;
    await sleep(500);
    const { switchAt, ...rest } = r;
    return {
      ...rest,
      load: await load.stop(),
      long: { started: long?.started ?? 0, ok: long?.ok ?? 0, statuses: long?.statuses ?? [], leadMs: long && switchAt ? switchAt - long.at : null },
    };
  } catch (e) {
    await load.stop().catch(() => undefined);
    await longP?.catch(() => undefined);
    throw e;
  }
}

export async function record(scenario: Run['scenario'], kind: ClientKind, i: number, fn: () => Promise<Omit<Run, 'scenario' | 'kind' | 'i'>>): Promise<void> {
  try {
    const r = { scenario, kind, i, ...(await fn()) };
    runs.push(r);
    log(`${scenario} #${i} ${kind}: ok=${r.ok} 5xx=${r.load.s5xx} sockErr=${r.load.socketErrors} long=${r.long.ok}/${r.long.started} wall=${r.wallMs} h->s=${r.healthyToSwitchedMs}${r.note ? ` (${r.note})` : ''}`);
  } catch (e) {
    errors.push(`${scenario} #${i} ${kind}: ${String(e)}`);
    log(`ERROR ${scenario} #${i}: ${String(e)}`);
  }
}

export function floorRun(tb: Testbed, kind: ClientKind) {
  return underLoad(tb, kind, 20, async (startLong) => {
    startLong();
    await sleep(500);
    const switchAt = Date.now();
    // every nginx host at once (one host: just that one)
    const rs = await Promise.all(tb.nginxes.map((n) => tb.reloadNginx(n)));
    const bad = rs.map((r, k) => (r.code === 0 ? '' : `reload ${tb.nginxes[k].ip}: ${r.stderr.trim()}`)).filter(Boolean);
    return { ok: bad.length === 0, wallMs: null, healthyToSwitchedMs: null, switchAt, note: bad.join('; ') || undefined };
  });
}

/** Where `version` is not served: through each nginx host (as many GETs as instances, so round
 *  robin reaches each), and with rolling on each instance directly (curl on its app host). */
export async function notServing(tb: Testbed, version: string, rolling: boolean): Promise<string[]> {
  const want = `version=${version} `;
  const bad: string[] = [];
  for (const nginx of tb.nginxes) {
    for (let k = 0; k < (rolling ? tb.instances.length : 1); k++) {
      const r = await tb.get('/version', { nginx });
      if (!r.body.includes(want)) {
        bad.push(`nginx ${nginx.ip}: ${r.status} ${r.body.slice(0, 60)}`);
        break;
      }
    }
  }
  if (rolling) {
    for (const i of tb.instances) {
      const r = await tb.exec(i.host, ['curl', '-sS', '-m', '5', `http://127.0.0.1:${i.port}/version`], { timeoutMs: 10_000 });
      if (!r.stdout.includes(want)) bad.push(`${i.host.ip}:${i.port}: ${(r.stdout || r.stderr).trim().slice(0, 60)}`);
    }
  }
  return bad;
}

/** One action deploy under load: blue/green (the default), or rolling with batch-size 1 over
 *  the testbed's instances. */
export async function actionDeploy(tb: Testbed, kind: ClientKind, version: string, rolling = false) {
  const jar = await tb.makeJar(version);
  const inputs = baseInputs(tb, jar, rolling ? { ...ACTION_INPUTS, ...ROLLING_INPUTS } : ACTION_INPUTS);
  // rolling: one batch per instance, each a drain plus a JVM start; a generous bound for wrk
  const maxSeconds = rolling ? 30 + 40 * tb.instances.length : 45;
  const ports = [...new Set(tb.instances.map((i) => i.port))].join(',');
  return underLoad(tb, kind, maxSeconds, async (startLong) => {
    const a = await runAction(
      tb,
      inputs,
      (l) => {
        if (/: healthy \(/.test(l.text)) startLong();
      },
      rolling ? maxSeconds * 1000 : undefined,
    );
    const stale = await notServing(tb, version, rolling);
    const portsOk = !rolling || a.outputs['active-port'] === ports;
    const h2s = /from healthy to switched (\d+) ms/.exec(a.summary);
    const failed = a.code === 0 ? [] : [a.lines.filter((l) => l.text.startsWith('::error::')).map((l) => l.text).join(' ') || `exit ${a.code}`];
    const problems = [
      ...failed,
      ...(stale.length ? [`new version not served: ${stale.join('; ')}`] : []),
      ...(portsOk ? [] : [`active-port '${a.outputs['active-port'] ?? ''}', expected '${ports}'`]),
    ];
    return {
      ok: a.code === 0 && stale.length === 0 && portsOk,
      wallMs: a.wallMs,
      healthyToSwitchedMs: h2s ? Number(h2s[1]) : null,
      steps: steps(a.summary),
      // blue/green: 'nginx now sends traffic …' or 'nginx on 2 hosts now sends traffic …'
      switchAt: at(a.lines, rolling ? /put back into nginx/ : /now sends traffic/),
      note: problems.join(' | ') || undefined,
    };
  });
}

/** What the parts and main share and change: the bundle run, the testbed up now, a stop asked for. */
export const bench = { main: path.join(ROOT, 'dist/main.cjs'), current: undefined as Testbed | undefined, stopping: false, buildDir: '' };
