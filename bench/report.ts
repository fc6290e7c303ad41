// The benchmark's report: the markdown tables and the targets each part is held to.
import { JAVA_OPTS, READY_PORT } from './app.ts';
import { KINDS, WRK, type ClientKind } from './load.ts';
import { COLD_OPTS, FLEET, LAT, LATENCY_N, OVERHEAD_N, PARTS, type Part, Q, ROLLBACK_N, type Run, SCENARIOS, type Scenario, WARMUP_INPUTS, mean, median } from './common.ts';
import { type Upload } from './parts/extras.ts';
import { type RollbackCycle } from './parts/rollback.ts';
import { type Overhead } from './parts/overhead.ts';
import { type LatencyRun } from './parts/latency.ts';
import { type CanaryRun, canaryTargets, reportCanary } from './parts/canary.ts';
// ------------------------------------------------------------------------------------ report

export function fmt(n: number | null | undefined, d = 0): string {
  return n === null || n === undefined || Number.isNaN(n) ? '–' : n.toFixed(d);
}

export function report(res: Results): string {
  const L: string[] = [];
  L.push(`# Deploy benchmark (${res.meta.date}${Q ? ', --quick' : ''})`, '');
  if (res.parts.length < PARTS.length) L.push(`Parts run: ${res.parts.join(', ')} (of ${PARTS.join(', ')}); targets of the others are n/a.`, '');
  L.push(`Load: wrk ${WRK.threads} threads, ${WRK.connections} connections, GET ${WRK.path} through nginx from the runner ns, running from 1 s before to ~0.5 s after each deploy/reload (no rate limit). ` +
    `3 × GET /slow?ms=4000 started when the deployer sees the new process healthy (floor: 0.5 s before the reload); "lead" = their start → switch. App: ${JAVA_OPTS}. Action: health-interval 0.25, health-passes 2 (default), drain-timeout 10, stop-timeout 10. ` +
    `close = new connection per request (Connection: close); keepalive = wrk default. Host: ${res.meta.cpus} CPUs, load avg at start ${res.meta.loadavg}, at end ${String(res.meta.loadavgEnd)}. ` +
    'Testbed: tcp_tw_reuse=1 in every namespace, a clean /root per host (test/testbed/testbed.ts).', '');
  L.push(`Rolling (strategy: rolling, batch-size 1, same inputs): rolling-2 = 1 app host with instances :8080 and :8081, rolling-4 = 2 app hosts × (:8080, :8081), one nginx host, upstream form; ` +
    'the long requests start at the first batch\'s healthy line, so they cross its put-back and the next batch (take-out, drain, stop); lead = their start → the first put-back; healthy→switched = the action\'s max over batches. ' +
    `Two nginx hosts (floor-2nginx, action-2nginx; 1 app host, upstream form): the floor reloads both at once, the action (blue/green) switches both; one wrk per nginx host with half the threads and connections each (the same total load), counts added; the long requests alternate between them.`, '');
  L.push('## Summary per scenario and client kind', '');
  L.push('| scenario | clients | runs | ok | 5xx total (max/run) | socket errors/run mean (max) | long ok/started | wall s mean (min–max) | healthy→switched ms mean (max) | req/s |');
  L.push('|---|---|---|---|---|---|---|---|---|---|');
  for (const s of res.summary) {
    L.push(`| ${s.scenario} | ${s.kind} | ${s.runs} | ${s.ok} | ${s.s5xx} (${s.s5xxMax}) | ${fmt(s.sockMean, 1)} (${s.sockMax}) | ${s.longOk}/${s.longStarted} | ${s.wallMean === null ? '–' : `${fmt(s.wallMean / 1000, 2)} (${fmt(s.wallMin! / 1000, 2)}–${fmt(s.wallMax! / 1000, 2)})`} | ${fmt(s.h2sMean)} (${fmt(s.h2sMax)}) | ${fmt(s.rps)} |`);
  }
  L.push('', '## Every run', '');
  L.push('| scenario | # | clients | ok | requests | 5xx | connect/read/write/timeout | long ok/started (lead ms) | wall s | healthy→switched ms | note |');
  L.push('|---|---|---|---|---|---|---|---|---|---|---|');
  for (const r of res.runs) {
    const e = r.load;
    L.push(`| ${r.scenario} | ${r.i} | ${r.kind} | ${r.ok ? 'yes' : 'NO'} | ${e.requests} | ${e.s5xx} | ${e.connect}/${e.read}/${e.write}/${e.timeout} | ${r.long.ok}/${r.long.started} (${fmt(r.long.leadMs)}) | ${fmt(r.wallMs === null ? null : r.wallMs / 1000, 2)} | ${fmt(r.healthyToSwitchedMs)} | ${r.note ?? ''} |`);
  }
  const u = res.upload;
  L.push('', '## Extras', '');
  if (u) {
    L.push(`- Upload of a ${(u.bytes / 1e6).toFixed(1)} MB jar to 1 host: action ${fmt(u.actionMBs, 1)} MB/s (${u.actionMs} ms from its upload step start to its report "${u.actionReported}"), ` +
      `scp ${fmt(u.scpMBs, 1)} MB/s (${u.scpMs.join(', ')} ms incl. its SSH handshake); ratio ${fmt(u.ratio, 2)}. Hashing the jar on the runner before connecting: ${fmt(u.resolveArtifactS, 2)} s. ` +
      `Same jar again: "${u.secondDeploy}".`);
  }
  if (res.scale) {
    L.push(`- Unloaded deploy wall time, 1 host: ${res.scale.one.wallMs.join(', ')} ms; ${FLEET} hosts: ${res.scale.eight.wallMs.join(', ')} ms; ratio of medians ${fmt(res.scale.ratio, 2)}.`);
    L.push(`  ${FLEET}-host steps (s): ${JSON.stringify(res.scale.eight.steps.at(-1))}`);
  }
  if (res.startupMs.length) L.push(`- Startup, spawn of node main.cjs → first TCP accept on nginx-host: ${res.startupMs.join(', ')} ms; median ${fmt(median(res.startupMs))} ms.`);
  const stepGroups: [string, Scenario[]][] = [
    ['Action', ['action-1host', 'action-2hosts']],
    ['action-2nginx', ['action-2nginx']],
    ['rolling-2', ['rolling-2']],
    ['rolling-4', ['rolling-4']],
  ];
  for (const [label, scenarios] of stepGroups) {
    const withSteps = res.runs.filter((r) => scenarios.includes(r.scenario) && r.steps);
    if (!withSteps.length) continue;
    const names = Object.keys(withSteps[0].steps!);
    L.push(`- ${label} step times under load, mean s: ${names.map((n) => `${n} ${fmt(mean(withSteps.map((r) => r.steps![n] ?? 0)), 2)}`).join('; ')}.`);
  }
  reportRollback(L, res);
  reportOverhead(L, res);
  reportLatency(L, res);
  reportCanary(L, res);
  L.push('', '## Targets', '');
  L.push('| target | measured | limit | result |', '|---|---|---|---|');
  for (const t of res.targets) L.push(`| ${t.name} | ${t.value} | ${t.limit} | ${t.pass === null ? 'n/a' : t.pass ? 'PASS' : '**FAIL**'} |`);
  if (res.errors.length) L.push('', '## Errors', '', ...res.errors.map((e) => `- ${e.replace(/\n/g, ' ')}`));
  return L.join('\n') + '\n';
}

export const stepText = (st: Record<string, number>) =>
  Object.entries(st)
    .map(([n, v]) => `${n} ${fmt(v, 2)}`)
    .join('; ');

export function reportRollback(L: string[], res: Results): void {
  const rs = res.runs.filter((r) => r.scenario.startsWith('rollback-'));
  if (!res.rollback && !rs.length) return;
  L.push('', '## Rollback', '');
  L.push(`One app host, set form, ${JAVA_OPTS}, the action's inputs as above. Each cycle: deploy A, deploy B with keep-previous (A stays up on the idle port; both unloaded), ` +
    "**rollback** (mode rollback, no artifact; back to A's warm standby), deploy C (no keep-previous), **rollback** (back to A, started again from its kept jar with its recorded command). " +
    'The two rollbacks and deploy C run under wrk load as above (from 1 s before to ~0.5 s after; no long requests); clients alternate per cycle. ' +
    '"switched" = spawn of node main.cjs → its "now sends traffic to port" line; wall = spawn → exit. Warm rollback: ok only if the standby\'s pid serves afterwards.', '');
  L.push('| cycle | clients | run | ok | wall s | switched ms | requests | non-2xx (5xx) | connect/read/write/timeout | steps s | note |');
  L.push('|---|---|---|---|---|---|---|---|---|---|---|');
  const what: Record<string, string> = { 'rollback-warm': 'rollback, warm standby', 'rollback-deploy': 'deploy C', 'rollback-kept': 'rollback, kept jar' };
  for (const r of rs) {
    const e = r.load;
    L.push(`| ${r.i} | ${r.kind} | ${what[r.scenario]} | ${r.ok ? 'yes' : 'NO'} | ${fmt(r.wallMs === null ? null : r.wallMs / 1000, 2)} | ${fmt(r.switchedMs)} | ${e.requests} | ${e.non2xx3xx} (${e.s5xx}) | ${e.connect}/${e.read}/${e.write}/${e.timeout} | ${stepText(r.steps ?? {})} | ${r.note ?? ''} |`);
  }
  for (const c of res.rollback ?? []) {
    L.push('', `- Cycle ${c.i}: releases ${c.releases.join(', ')}; unloaded setup deploys ${c.setupWallMs.join(', ')} ms; A's warm standby on port ${c.standbyPort ?? '–'} (pid ${c.warmPid ?? '–'}).`);
  }
}

export function reportOverhead(L: string[], res: Results): void {
  const o = res.overhead;
  if (!o) return;
  L.push('', '## Overhead over the app\'s own start', '');
  L.push(`One app host, set form, no load, no long requests, ${JAVA_OPTS}. The same jar is deployed again and again (the first deploy, ${o.firstWallMs} ms, uploads it and is not counted). ` +
    `App readiness: the jar started directly on the app host (\`setsid nohup java ${JAVA_OPTS} -Dserver.port=${READY_PORT}…${READY_PORT + 9} -jar …\`), from the exec call to the first 200 on /health, polled every 20 ms on the host; then stopped. ` +
    'Readiness and deploys alternate.', '');
  L.push(`- App readiness: ${o.readinessMs.join(', ')} ms; median ${fmt(o.readinessMedianMs)} ms.`);
  L.push(`- The app's own stop, measured the same way (SIGTERM → process gone, looked at every 10 ms on the host): ${o.exitMs.join(', ')} ms; median ${fmt(median(o.exitMs))} ms. By default (\`wait-for-exit: true\`) a deploy waits for this too, for the old version: the step says "stopped" only for a process that is gone.`);
  L.push(`- Deploy wall (jar already there): ${o.wallMs.join(', ')} ms; median ${fmt(o.wallMedianMs)} ms. Spawn → switched: ${o.switchedMs.map((x) => fmt(x)).join(', ')} ms.`);
  L.push(`- **Overhead = ${fmt(o.wallMedianMs)} − ${fmt(o.readinessMedianMs)} = ${fmt(o.overheadMs)} ms**; less the old version's own stop (median above): ${fmt(o.overheadMs - median(o.exitMs))} ms.`);
  L.push(`- Step times, median s: ${stepText(o.stepMedians)}.`);
  L.push(`- The same deploy with \`wait-for-exit: false\` (the step ends once the old JVM has its SIGTERM; a watchdog on the host finishes its stop), alternating with the above: ${o.noWaitWallMs.join(', ')} ms; median ${fmt(o.noWaitMedianMs)} ms; **overhead ${fmt(o.noWaitOverheadMs)} ms**.`);
  L.push(`- The action's jar report: ${[...new Set(o.jar)].map((j) => `"${j}"`).join(', ')}.`);
  const seed = seedWallMs(res);
  L.push(`- Seed ratio (deploy wall median / seed wall mean, the seed under load from part 1host): ${Number.isNaN(seed) ? '– (the 1host part did not run)' : `${fmt(o.wallMedianMs)} / ${fmt(seed)} = ${fmt(o.wallMedianMs / seed, 2)}`}.`);
}

export function reportLatency(L: string[], res: Results): void {
  const rs = res.latency;
  if (!rs) return;
  L.push('', '## Latency at the switch', '');
  L.push(`One app host, set form. New versions start as a cold JVM: java-opts \`${COLD_OPTS}\` (the first 400 GETs of /version take 40 ms longer). ` +
    `Probe (bench/latency.ts, undici, keep-alive, in the runner ns): GET ${LAT.path} through nginx, ${LAT.concurrency} at a time, at most ${LAT.rate} requests/s in all, from ${LAT.preMs / 1000} s before the action to ${LAT.windowMs / 1000} s after its switch. ` +
    `Before = sent in the ${LAT.windowMs / 1000} s before the "now sends traffic" line and answered by the old process; after = sent in the ${LAT.windowMs / 1000} s after it, plus those before it the new process already answered. ` +
    `Percentiles (nearest rank) over 2xx answers. With warm-up: inputs ${Object.entries(WARMUP_INPUTS).map(([k, v]) => `${k}: ${v}`).join(', ')}. Deploys without and with alternate.`, '');
  L.push('| # | warm-up | ok | p50 before ms | p99 before ms | p50 after ms | p99 after ms | p99 after/before | max after ms | n before/after | non-2xx, failed (before/after) | req/s | wall s | switched ms | action warm-up | note |');
  L.push('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const r of rs) {
    const b = r.before;
    const a = r.after;
    L.push(`| ${r.i} | ${r.warmup ? 'yes' : 'no'} | ${r.ok ? 'yes' : 'NO'} | ${fmt(b.p50, 1)} | ${fmt(b.p99, 1)} | ${fmt(a.p50, 1)} | ${fmt(a.p99, 1)} | ${fmt(r.ratio, 2)} | ${fmt(a.max, 1)} | ${b.n}/${a.n} | ${b.non2xx}, ${b.failed} / ${a.non2xx}, ${a.failed} | ${fmt(r.rps)} | ${fmt(r.wallMs === null ? null : r.wallMs / 1000, 2)} | ${fmt(r.switchedMs)} | ${r.actionWarmup ?? ''} | ${r.note ?? ''} |`);
  }
}

export interface Summary {
  scenario: Scenario;
  kind: ClientKind;
  runs: number;
  ok: number;
  s5xx: number;
  s5xxMax: number;
  sockMean: number;
  sockMax: number;
  longOk: number;
  longStarted: number;
  wallMean: number | null;
  wallMin: number | null;
  wallMax: number | null;
  h2sMean: number | null;
  h2sMax: number | null;
  rps: number;
}

export interface Target {
  name: string;
  value: string;
  limit: string;
  pass: boolean | null;
}

export interface Results {
  meta: Record<string, unknown> & { date: string; cpus: number; loadavg: string };
  summary: Summary[];
  runs: Run[];
  upload?: Upload;
  scale?: { one: { wallMs: number[] }; eight: { wallMs: number[]; steps: Record<string, number>[] }; ratio: number; fleetReadyMs?: number; oneReadyMs?: number };
  startupMs: number[];
  /** the parts that ran (--only / --skip) */
  parts: Part[];
  rollback?: RollbackCycle[];
  overhead?: Overhead;
  latency?: LatencyRun[];
  canary?: CanaryRun[];
  targets: Target[];
  errors: string[];
}

export function summarize(rs: Run[]): Summary[] {
  const out: Summary[] = [];
  for (const scenario of SCENARIOS) {
    for (const kind of KINDS) {
      const g = rs.filter((r) => r.scenario === scenario && r.kind === kind);
      if (!g.length) continue;
      const wall = g.map((r) => r.wallMs).filter((x): x is number => x !== null);
      const h2s = g.map((r) => r.healthyToSwitchedMs).filter((x): x is number => x !== null);
      out.push({
        scenario,
        kind,
        runs: g.length,
        ok: g.filter((r) => r.ok).length,
        s5xx: g.reduce((s, r) => s + r.load.s5xx, 0),
        s5xxMax: Math.max(...g.map((r) => r.load.s5xx)),
        sockMean: mean(g.map((r) => r.load.socketErrors)),
        sockMax: Math.max(...g.map((r) => r.load.socketErrors)),
        longOk: g.reduce((s, r) => s + r.long.ok, 0),
        longStarted: g.reduce((s, r) => s + r.long.started, 0),
        wallMean: wall.length ? mean(wall) : null,
        wallMin: wall.length ? Math.min(...wall) : null,
        wallMax: wall.length ? Math.max(...wall) : null,
        h2sMean: h2s.length ? mean(h2s) : null,
        h2sMax: h2s.length ? Math.max(...h2s) : null,
        rps: mean(g.map((r) => r.load.requests / r.load.seconds)),
      });
    }
  }
  return out;
}

/** the seed's mean wall (part 1host, under load); NaN when it did not run */
export const seedWallMs = (res: Pick<Results, 'runs'>) => mean(res.runs.filter((r) => r.scenario === 'seed' && r.wallMs !== null).map((r) => r.wallMs!));

export function targets(res: Omit<Results, 'targets'>): Target[] {
  const T: Target[] = [];
  const of = (s: string) => res.runs.filter((r) => r.scenario === s);
  for (const s of ['action-1host', 'action-2hosts']) {
    const g = of(s);
    const bad = g.reduce((n, r) => n + r.load.s5xx, 0);
    const clean = bad === 0 && g.every((r) => r.ok);
    const value = `${bad} 5xx in ${g.length} deploys (${g.filter((r) => r.ok).length} ok)${g.length < 10 ? ', too few deploys to judge' : ''}`;
    T.push({ name: `0 5xx over consecutive ${s} deploys`, value, limit: '0 over ≥10', pass: g.length === 0 || (clean && g.length < 10) ? null : clean });
  }
  // the rolling and two-nginx deploys: few of them, so judged on what ran
  for (const s of ['rolling-2', 'rolling-4', 'action-2nginx']) {
    const g = of(s);
    const bad = g.reduce((n, r) => n + r.load.s5xx, 0);
    T.push({ name: `0 5xx over ${s} deploys`, value: `${bad} 5xx in ${g.length} deploys (${g.filter((r) => r.ok).length} ok)`, limit: '0, every deploy ok', pass: g.length ? bad === 0 && g.every((r) => r.ok) : null });
  }
  for (const form of ['1host', '2hosts', '2nginx']) {
    for (const kind of KINDS) {
      const floor = res.runs.filter((r) => r.scenario === `floor-${form}` && r.kind === kind).map((r) => r.load.socketErrors);
      const act = res.runs.filter((r) => r.scenario === `action-${form}` && r.kind === kind).map((r) => r.load.socketErrors);
      T.push({ name: `action-${form} socket errors/deploy ≤ floor-${form} (${kind})`, value: `mean ${fmt(mean(act), 1)} (max ${act.length ? Math.max(...act) : '–'})`, limit: `floor mean ${fmt(mean(floor), 1)} (max ${floor.length ? Math.max(...floor) : '–'})`, pass: act.length && floor.length ? mean(act) <= mean(floor) : null });
    }
  }
  // A rolling deploy reloads nginx twice per batch (take out, put back), a reload floor once; the
  // floor with the same nginx setup (one host, upstream form) is floor-2hosts. Context only.
  for (const s of ['rolling-2', 'rolling-4']) {
    for (const kind of KINDS) {
      const floor = res.runs.filter((r) => r.scenario === 'floor-2hosts' && r.kind === kind).map((r) => r.load.socketErrors);
      const act = res.runs.filter((r) => r.scenario === s && r.kind === kind).map((r) => r.load.socketErrors);
      const reloads = 2 * Number(s.slice(-1));
      T.push({ name: `(info) ${s} socket errors/deploy (${kind}; ${reloads} reloads each)`, value: `mean ${fmt(mean(act), 1)} (max ${act.length ? Math.max(...act) : '–'})`, limit: `floor-2hosts mean ${fmt(mean(floor), 1)} per reload, ×${reloads} = ${fmt(mean(floor) * reloads, 1)}`, pass: null });
    }
  }
  const act = res.runs.filter((r) => r.scenario === 'action-1host' || r.scenario === 'action-2hosts');
  const lo = act.reduce((n, r) => n + r.long.ok, 0);
  const ls = act.reduce((n, r) => n + r.long.started, 0);
  T.push({ name: 'every long request completes 200 (action)', value: `${lo}/${ls}`, limit: 'all', pass: ls ? lo === ls : null });
  for (const s of ['rolling-2', 'rolling-4', 'action-2nginx']) {
    const g = of(s);
    const o = g.reduce((n, r) => n + r.long.ok, 0);
    const st = g.reduce((n, r) => n + r.long.started, 0);
    const missing = g.filter((r) => r.long.started === 0).length;
    T.push({ name: `every long request completes 200 (${s})`, value: `${o}/${st}${missing ? `; none started in ${missing} deploys` : ''}`, limit: 'all, in every deploy', pass: g.length ? o === st && missing === 0 : null });
  }
  const seedWall = mean(of('seed').map((r) => r.wallMs!).filter(Boolean));
  const actWall = mean(of('action-1host').map((r) => r.wallMs!).filter(Boolean));
  T.push({ name: 'action wall ≤ 0.4 × seed wall (1 host, under load)', value: `${fmt(actWall / 1000, 2)} s vs ${fmt(seedWall / 1000, 2)} s = ${fmt(actWall / seedWall, 2)}×`, limit: '0.40×', pass: Number.isNaN(actWall / seedWall) ? null : actWall <= 0.4 * seedWall });
  // for context: the same without load and without long requests to drain (not a target)
  const quiet = median(res.scale?.one.wallMs ?? []);
  T.push({ name: '(info) action wall, unloaded and no long requests, vs seed', value: `${fmt(quiet / 1000, 2)} s = ${fmt(quiet / seedWall, 2)}×`, limit: '0.40×', pass: null });
  const h2s = act.map((r) => r.healthyToSwitchedMs).filter((x): x is number => x !== null);
  T.push({ name: 'healthy→switched (action, max)', value: `${h2s.length ? Math.max(...h2s) : '–'} ms (mean ${fmt(mean(h2s))})`, limit: '≤ 500 ms', pass: h2s.length ? Math.max(...h2s) <= 500 : null });
  for (const s of ['rolling-2', 'rolling-4', 'action-2nginx']) {
    const x = of(s).map((r) => r.healthyToSwitchedMs).filter((v): v is number => v !== null);
    T.push({ name: `(info) healthy→switched (${s}, max${s.startsWith('rolling') ? ' over batches' : ''})`, value: `${x.length ? Math.max(...x) : '–'} ms (mean ${fmt(mean(x))})`, limit: '≤ 500 ms', pass: null });
  }
  T.push({ name: 'upload ≥ 0.8 × scp', value: res.upload ? `${fmt(res.upload.ratio, 2)}× (${fmt(res.upload.actionMBs, 1)} vs ${fmt(res.upload.scpMBs, 1)} MB/s)` : '–', limit: '≥ 0.80×', pass: res.upload ? res.upload.ratio >= 0.8 : null });
  T.push({ name: 'redeploy of the same jar uploads 0 bytes', value: res.upload?.secondDeploy ?? '–', limit: '0 bytes', pass: res.upload ? res.upload.secondDeployZeroBytes : null });
  if (res.scale?.fleetReadyMs !== undefined && res.scale.oneReadyMs !== undefined) {
    const f = res.scale;
    T.push({
      name: `(info) ${FLEET} JVMs started at once on this machine, without the action: until all answer`,
      value: `${fmt(f.fleetReadyMs! / 1000, 2)} s (1 JVM: ${fmt(f.oneReadyMs! / 1000, 2)} s); the action's ${FLEET}-host wall − that = ${fmt((median(f.eight.wallMs) - f.fleetReadyMs!) / 1000, 2)} s, 1 host: ${fmt((median(f.one.wallMs) - f.oneReadyMs!) / 1000, 2)} s`,
      limit: 'the apps share 2 cores here; on real hosts they do not',
      pass: null,
    });
  }
  T.push({ name: `${FLEET} hosts ≤ 1.5 × 1 host (wall, unloaded)`, value: res.scale ? `${fmt(res.scale.ratio, 2)}×` : '–', limit: '≤ 1.50×', pass: res.scale ? res.scale.ratio <= 1.5 : null });
  const sm = median(res.startupMs);
  T.push({ name: 'startup: spawn → first SSH connect (median)', value: `${fmt(sm)} ms`, limit: '< 300 ms', pass: Number.isNaN(sm) ? null : sm < 300 });
  T.push(...releaseTargets(res));
  T.push(...canaryTargets(res));
  return T;
}

/** rollback, overhead and latency at the switch: n/a when the part did not run */
export function releaseTargets(res: Omit<Results, 'targets'>): Target[] {
  const T: Target[] = [];
  const of = (s: string) => res.runs.filter((r) => r.scenario === s);
  const ran = res.parts.includes('rollback');
  const warm = of('rollback-warm');
  const kept = of('rollback-kept');
  const deploys = of('rollback-deploy');
  const sw = warm.map((r) => r.switchedMs ?? NaN);
  const swOk = warm.length > 0 && warm.length === ROLLBACK_N && warm.every((r) => r.ok) && sw.every((x) => x <= 1500);
  T.push({
    name: 'rollback from the warm standby: spawn → switched (max)',
    value: warm.length ? `${fmt(Math.max(...sw))} ms (${sw.map((x) => fmt(x)).join(', ')}; ${warm.filter((r) => r.ok).length}/${warm.length} ok)` : '–',
    limit: `≤ 1500 ms, every one ok (${ROLLBACK_N})`,
    pass: ran ? swOk : null,
  });
  const both = [...warm, ...kept];
  const bad = both.reduce((n, r) => n + r.load.non2xx3xx, 0);
  T.push({
    name: '0 non-2xx during every rollback (under load)',
    value: `${bad} non-2xx (${both.reduce((n, r) => n + r.load.s5xx, 0)} 5xx) in ${both.length} rollbacks (${both.filter((r) => r.ok).length} ok); socket errors ${both.map((r) => r.load.socketErrors).join(', ') || '–'}`,
    limit: `0, all ${2 * ROLLBACK_N} ok`,
    pass: ran ? both.length === 2 * ROLLBACK_N && bad === 0 && both.every((r) => r.ok) : null,
  });
  const wall = (g: Run[]) => g.map((r) => r.wallMs).filter((x): x is number => x !== null);
  T.push({
    name: '(info) rollback from a kept jar vs a deploy (walls, under load)',
    value: `rollback ${wall(kept).map((x) => fmt(x / 1000, 2)).join(', ') || '–'} s (switched ${kept.map((r) => fmt(r.switchedMs)).join(', ') || '–'} ms); warm rollback ${wall(warm).map((x) => fmt(x / 1000, 2)).join(', ') || '–'} s`,
    limit: `deploy ${wall(deploys).map((x) => fmt(x / 1000, 2)).join(', ') || '–'} s (switched ${deploys.map((r) => fmt(r.switchedMs)).join(', ') || '–'} ms)`,
    pass: null,
  });
  const o = res.overhead;
  T.push({
    name: "deploy overhead over the app's own start (medians, unloaded, jar already there)",
    value: o ? `${fmt(o.overheadMs / 1000, 2)} s (${fmt(o.wallMedianMs / 1000, 2)} − ${fmt(o.readinessMedianMs / 1000, 2)}), of which the old JVM's own exit after SIGTERM ${fmt(median(o.exitMs) / 1000, 2)} s` : '–',
    limit: '≤ 0.80 s',
    pass: res.parts.includes('overhead') ? !!o && o.wallMs.length === OVERHEAD_N && o.overheadMs <= 800 : null,
  });
  T.push({
    name: 'deploy overhead with wait-for-exit: false (same run, same jar)',
    value: o ? `${fmt(o.noWaitOverheadMs / 1000, 2)} s (${fmt(o.noWaitMedianMs / 1000, 2)} − ${fmt(o.readinessMedianMs / 1000, 2)})` : '–',
    limit: '≤ 0.80 s',
    pass: res.parts.includes('overhead') ? !!o && o.noWaitWallMs.length === OVERHEAD_N && o.noWaitOverheadMs <= 800 : null,
  });
  const seed = seedWallMs(res);
  const ratio = o ? o.wallMedianMs / seed : NaN;
  T.push({
    name: 'action wall (unloaded, jar already there) ≤ 0.25 × seed wall',
    value: Number.isNaN(ratio)
      ? `–${o && Number.isNaN(seed) ? ' (needs the 1host part for the seed)' : ''}`
      : `${fmt(o!.wallMedianMs / 1000, 2)} s vs ${fmt(seed / 1000, 2)} s = ${fmt(ratio, 3)}×; with wait-for-exit: false ${fmt(o!.noWaitMedianMs / 1000, 2)} s = ${fmt(o!.noWaitMedianMs / seed, 3)}×`,
    limit: '≤ 0.25×',
    pass: Number.isNaN(ratio) ? null : ratio <= 0.25,
  });
  const lat = res.latency ?? [];
  const withW = lat.filter((r) => r.warmup);
  const without = lat.filter((r) => !r.warmup);
  const ratios = (g: LatencyRun[]) => g.map((r) => `${fmt(r.before.p99, 1)}→${fmt(r.after.p99, 1)} ms (×${fmt(r.ratio, 2)})`).join(', ') || '–';
  T.push({
    name: 'latency at the switch, with warm-up: p99 after ≤ 1.5 × p99 before (every deploy)',
    value: `${ratios(withW)}; ${withW.filter((r) => r.ok).length}/${withW.length} ok`,
    limit: `≤ 1.50×, all ${LATENCY_N} ok`,
    pass: res.parts.includes('latency') ? withW.length === LATENCY_N && withW.every((r) => r.ok && r.ratio !== null && r.ratio <= 1.5) : null,
  });
  T.push({ name: '(info) latency at the switch, without warm-up: p99 before → after', value: ratios(without), limit: '(contrast)', pass: null });
  return T;
}
