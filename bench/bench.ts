// Benchmark: this action vs the 003 seed script vs a bare nginx reload, under load through nginx,
// on the network-namespace testbed; also rolling deploys (2 and 4 instances) and blue/green with
// two nginx hosts switched together (vs both reloaded at once); rollback timing (warm standby, kept
// jar), the deploy's overhead over the app's own start, latency at the switch (with and without
// the action's warm-up), and what a bad release costs under canary vs blue/green. Usage (as root):
//   node bench/bench.ts [--deploys N] [--quick] [--only PART,...] [--skip PART,...] [--out FILE]
// Parts (each in its own testbed): 1host (startup, floor, action, seed, upload, unloaded 1 host),
// 2hosts, fleet (16 app hosts, unloaded), rolling (2 and 4 instances), 2nginx, rollback, overhead, latency,
// canary (a bad release: canary 5,50,100 and 10,50,100 aborted at the first step vs blue/green).
// Writes the JSON to --out (default bench/results/latest.json; with --only/--skip
// bench/results/partial-PART+PART.json, so a partial run leaves the full results alone), a
// markdown report next to it (.md), and prints the report.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import path from 'node:path';
import { createTestbed, cleanupStale, type Testbed, type TestbedOptions } from '../test/testbed/testbed.ts';
import { ROOT } from '../test/e2e/harness.ts';
import { JAVA_OPTS, appLifecycle } from './app.ts';
import { KINDS, WRK } from './load.ts';
import { ACTION_INPUTS, COLD_OPTS, FLEET, FLOOR_PER_KIND, LAT, LATENCY_N, N, NGINX2_N, OVERHEAD_N, PARTS, type Part, Q, ROLLBACK_N, ROLLING2_N, ROLLING4_N, ROLLING_INPUTS, SEED_PER_KIND, STARTUP_RUNS, UNLOADED, WARMUP_INPUTS, actionDeploy, bench, errors, floorRun, log, median, opt, record, runs } from './common.ts';
import { seedDeploy, setupSeed } from './parts/seed.ts';
import { type Upload, measureStartup, measureUpload, unloadedDeploys } from './parts/extras.ts';
import { type RollbackCycle, rollbackPart } from './parts/rollback.ts';
import { type Overhead, overheadPart } from './parts/overhead.ts';
import { type LatencyRun, latencyPart } from './parts/latency.ts';
import { BAD_OPTS, CANARY_INPUTS, CANARY_N, CANARY_STEPS, type CanaryRun, canaryPart } from './parts/canary.ts';
import { type Results, report, summarize, targets } from './report.ts';
// ------------------------------------------------------------------------------------ main

type Instance = { app: number; port: number };

interface BedOptions extends TestbedOptions {
  prefix: string;
  subnet: number;
  /** the v0 apps to start (app = 0-based app host index), with JAVA_OPTS; default the
   *  instances option if given, else one per app host at 8080 */
  seedApps?: Instance[];
}

async function withTestbed<T>(opts: BedOptions, fn: (tb: Testbed) => Promise<T>): Promise<T | undefined> {
  if (bench.stopping) return undefined;
  const { seedApps, ...bed } = opts;
  const prefix = bed.prefix;
  await cleanupStale(prefix);
  const tb = await createTestbed(bed);
  bench.current = tb;
  try {
    // The testbed sets tcp_tw_reuse in every namespace and gives each host a clean /root.
    const seeds = seedApps ?? bed.instances ?? tb.apps.map((_, app) => ({ app, port: 8080 }));
    await Promise.all(seeds.map((s) => tb.startSeedApp(tb.apps[s.app], s.port, 'v0', [JAVA_OPTS], { waitMs: 30_000 })));
    return await fn(tb);
  } catch (e) {
    errors.push(`${prefix}: ${String(e)}`);
    log(`ERROR ${prefix}: ${String(e)}`);
    return undefined;
  } finally {
    bench.current = undefined;
    await tb.teardown();
  }
}

/** --only / --skip: comma-separated part names */
function selectParts(): Part[] {
  const list = (v: string | undefined) => (v ?? '').split(',').map((x) => x.trim()).filter(Boolean);
  const only = list(opt.only);
  const skip = list(opt.skip);
  const unknown = [...only, ...skip].filter((x) => !(PARTS as readonly string[]).includes(x));
  if (unknown.length) throw new Error(`unknown part(s) ${unknown.join(', ')}; the parts are ${PARTS.join(', ')}`);
  const parts = PARTS.filter((p) => (only.length === 0 || only.includes(p)) && !skip.includes(p));
  if (!parts.length) throw new Error('--only/--skip leave no part to run');
  return parts;
}

async function main(): Promise<void> {
  const parts = selectParts();
  const want = (p: Part) => parts.includes(p);
  const outRel = opt.out ?? (parts.length === PARTS.length ? 'bench/results/latest.json' : `bench/results/partial-${parts.join('+')}.json`);
  if (process.getuid?.() !== 0) throw new Error('run as root (the testbed needs network namespaces)');
  const t0 = Date.now();
  bench.buildDir = fs.mkdtempSync(path.join(os.tmpdir(), 'zdd-bench-dist-'));
  log(`building the action into ${bench.buildDir} (scripts/build.mjs; dist/ is left alone)`);
  const b = spawnSync(process.execPath, ['scripts/build.mjs', bench.buildDir], { cwd: ROOT, stdio: 'inherit' });
  if (b.status !== 0) throw new Error('build failed');
  bench.main = path.join(bench.buildDir, 'main.cjs');
  const meta = {
    date: new Date().toISOString(),
    cpus: os.cpus().length,
    loadavg: os.loadavg().map((x) => x.toFixed(2)).join(' '),
    quick: Q,
    deploysPerForm: N,
    seedPerKind: SEED_PER_KIND,
    floorPerKind: FLOOR_PER_KIND,
    rolling2Deploys: ROLLING2_N,
    rolling4Deploys: ROLLING4_N,
    nginx2Deploys: NGINX2_N,
    parts,
    rollbackCycles: ROLLBACK_N,
    overheadDeploys: OVERHEAD_N,
    latencyDeploysPerVariant: LATENCY_N,
    canaryRunsPerScenario: CANARY_N,
    canaryInputs: CANARY_INPUTS,
    canarySteps: CANARY_STEPS,
    badJavaOpts: BAD_OPTS,
    latencyProbe: LAT,
    coldJavaOpts: COLD_OPTS,
    warmupInputs: WARMUP_INPUTS,
    wrk: WRK,
    javaOpts: JAVA_OPTS,
    actionInputs: ACTION_INPUTS,
    rollingInputs: ROLLING_INPUTS,
    nginx: spawnSync('nginx', ['-v'], { encoding: 'utf8' }).stderr.trim(),
  };
  let upload: Upload | undefined;
  let one: { wallMs: number[]; steps: Record<string, number>[] } | undefined;
  let eight: { wallMs: number[]; steps: Record<string, number>[] } | undefined;
  let fleetReadyMs: number | undefined;
  let oneReadyMs: number | undefined;
  let startupMs: number[] = [];
  let rollback: RollbackCycle[] | undefined;
  let overhead: Overhead | undefined;
  let latency: LatencyRun[] | undefined;
  let canary: CanaryRun[] | undefined;
  try {
    if (want('1host')) await withTestbed({ prefix: 'zddbench201', subnet: 201, appHosts: 1, form: 'set' }, async (tb) => {
      log('startup');
      startupMs = await measureStartup(tb, STARTUP_RUNS);
      for (let i = 0; i < FLOOR_PER_KIND * 2; i++) await record('floor-1host', KINDS[i % 2], i, () => floorRun(tb, KINDS[i % 2]));
      for (let i = 0; i < N; i++) await record('action-1host', KINDS[i % 2], i, () => actionDeploy(tb, KINDS[i % 2], `one-${i}`));
      setupSeed(tb);
      for (let i = 0; i < SEED_PER_KIND * 2; i++) await record('seed', KINDS[i % 2], i, () => seedDeploy(tb, KINDS[i % 2], `seed-${i}`, i));
      log('upload');
      upload = await measureUpload(tb).catch((e) => (errors.push(`upload: ${String(e)}`), undefined));
      one = await unloadedDeploys(tb, '1host', UNLOADED);
    });
    if (want('2hosts')) await withTestbed({ prefix: 'zddbench202', subnet: 202, appHosts: 2, form: 'upstream' }, async (tb) => {
      for (let i = 0; i < FLOOR_PER_KIND * 2; i++) await record('floor-2hosts', KINDS[i % 2], i, () => floorRun(tb, KINDS[i % 2]));
      for (let i = 0; i < N; i++) await record('action-2hosts', KINDS[i % 2], i, () => actionDeploy(tb, KINDS[i % 2], `two-${i}`));
    });
    if (want('fleet')) await withTestbed({ prefix: 'zddbench203', subnet: 203, appHosts: FLEET, form: 'upstream' }, async (tb) => {
      eight = await unloadedDeploys(tb, `${FLEET}hosts`, UNLOADED);
      // The fleet's own floor on this machine: the same jar started directly on every app host at
      // once (all their JVMs share the 2 cores), until the last one answers.
      const jar = await tb.makeJar('fleet-readiness');
      fleetReadyMs = Math.max(...(await Promise.all(tb.apps.map(async (a) => (await appLifecycle(tb, jar, a)).readyMs))));
      oneReadyMs = (await appLifecycle(tb, jar)).readyMs;
    });
    // rolling: one app host with two instances; two app hosts with two each (batch-size 1)
    const two: Instance[] = [
      { app: 0, port: 8080 },
      { app: 0, port: 8081 },
    ];
    if (want('rolling')) await withTestbed({ prefix: 'zddbench204', subnet: 204, appHosts: 1, form: 'upstream', instances: two, seedApps: two }, async (tb) => {
      for (let i = 0; i < ROLLING2_N; i++) await record('rolling-2', KINDS[i % 2], i, () => actionDeploy(tb, KINDS[i % 2], `roll2-${i}`, true));
    });
    const four: Instance[] = [...two, { app: 1, port: 8080 }, { app: 1, port: 8081 }];
    if (want('rolling')) await withTestbed({ prefix: 'zddbench205', subnet: 205, appHosts: 2, form: 'upstream', instances: four, seedApps: four }, async (tb) => {
      for (let i = 0; i < ROLLING4_N; i++) await record('rolling-4', KINDS[i % 2], i, () => actionDeploy(tb, KINDS[i % 2], `roll4-${i}`, true));
    });
    // two nginx hosts, one app host: both reloaded at once vs blue/green switching both
    if (want('2nginx')) await withTestbed({ prefix: 'zddbench206', subnet: 206, appHosts: 1, nginxHosts: 2, form: 'upstream' }, async (tb) => {
      for (let i = 0; i < FLOOR_PER_KIND * 2; i++) await record('floor-2nginx', KINDS[i % 2], i, () => floorRun(tb, KINDS[i % 2]));
      for (let i = 0; i < NGINX2_N; i++) await record('action-2nginx', KINDS[i % 2], i, () => actionDeploy(tb, KINDS[i % 2], `ngx2-${i}`));
    });
    // releases: rollback timing under load; the overhead over the app's own start (unloaded);
    // latency at the switch, without and with the action's warm-up (one app host each, set form)
    if (want('rollback')) await withTestbed({ prefix: 'zddbench207', subnet: 207, appHosts: 1, form: 'set' }, async (tb) => {
      log('rollback');
      rollback = await rollbackPart(tb);
    });
    if (want('overhead')) await withTestbed({ prefix: 'zddbench208', subnet: 208, appHosts: 1, form: 'set' }, async (tb) => {
      log('overhead');
      overhead = await overheadPart(tb);
    });
    if (want('latency')) await withTestbed({ prefix: 'zddbench209', subnet: 209, appHosts: 1, form: 'set' }, async (tb) => {
      log('latency at the switch');
      latency = await latencyPart(tb);
    });
    // a bad release (5 % 500) under load: canary 5,50,100 and 10,50,100 vs blue/green (2 app hosts)
    if (want('canary')) await withTestbed({ prefix: 'zddbench210', subnet: 210, appHosts: 2, form: 'upstream' }, async (tb) => {
      log('canary');
      canary = await canaryPart(tb);
    });
  } finally {
    fs.rmSync(bench.buildDir, { recursive: true, force: true });
  }
  const partial: Omit<Results, 'targets'> = {
    meta: { ...meta, loadavgEnd: os.loadavg().map((x) => x.toFixed(2)).join(' '), totalSeconds: Math.round((Date.now() - t0) / 1000) },
    summary: summarize(runs),
    runs,
    upload,
    scale: one && eight ? { one, eight, ratio: median(eight.wallMs) / median(one.wallMs), fleetReadyMs, oneReadyMs } : undefined,
    startupMs,
    parts,
    rollback,
    overhead,
    latency,
    canary,
    errors,
  };
  const res: Results = { ...partial, targets: targets(partial) };
  const out = path.resolve(ROOT, outRel);
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, JSON.stringify(res, null, 2) + '\n');
  const md = report(res);
  fs.writeFileSync(out.replace(/\.json$/, '') + '.md', md);
  process.stdout.write(md);
  log(`done in ${res.meta.totalSeconds} s; wrote ${path.relative(ROOT, out)} and .md`);
}

for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    log(`${sig}: tearing down`);
    bench.stopping = true;
    void (bench.current?.teardown() ?? Promise.resolve()).finally(() => {
      if (bench.buildDir) fs.rmSync(bench.buildDir, { recursive: true, force: true });
      process.exit(130);
    });
  });
}

main().catch(async (e) => {
  log(`FAILED: ${e instanceof Error ? e.stack : String(e)}`);
  await bench.current?.teardown().catch(() => undefined);
  process.exitCode = 1;
});
