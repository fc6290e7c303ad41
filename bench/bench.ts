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
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { createTestbed, cleanupStale, type Testbed, type TestbedOptions } from '../test/testbed/testbed.ts';
import { ROOT, baseInputs, parseCommandFile } from '../test/e2e/harness.ts';
import { actionDefaults } from '../test/action-defaults.ts';
import { JAVA_OPTS, READY_PORT, appLifecycle } from './app.ts';
import { KINDS, WRK, longRequests, startLoads, type ClientKind, type LoadResult, type LongResult } from './load.ts';

const { values: opt } = parseArgs({
  options: {
    deploys: { type: 'string', default: '10' },
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    skip: { type: 'string' },
    out: { type: 'string' },
  },
});
// The unloaded fleet test: this many app hosts against one.
const FLEET = 16;
const PARTS = ['1host', '2hosts', 'fleet', 'rolling', '2nginx', 'rollback', 'overhead', 'latency', 'canary'] as const;
type Part = (typeof PARTS)[number];
const Q = opt.quick;
const N = Q ? 3 : Number(opt.deploys); // action deploys per form (client kinds alternate)
const SEED_PER_KIND = Q ? 1 : 3;
const FLOOR_PER_KIND = Q ? 1 : 3;
const UNLOADED = Q ? 1 : 2; // unloaded deploys for 1 host vs 8 hosts
const STARTUP_RUNS = Q ? 5 : 10;
// The rolling and two-nginx scenarios (client kinds alternate; rolling-4 is the slowest).
const ROLLING2_N = Q ? 2 : 4;
const ROLLING4_N = Q ? 1 : 4;
const NGINX2_N = Q ? 2 : 4;
const ACTION_INPUTS = { 'health-interval': '0.25', 'java-opts': JAVA_OPTS }; // + harness baseInputs
const ROLLING_INPUTS = { strategy: 'rolling', 'batch-size': '1' };
// Rollback: cycles of deploy A, deploy B keep-previous, rollback (warm standby, under load),
// deploy C (under load), rollback (A from its kept jar, under load).
const ROLLBACK_N = Q ? 1 : 3;
// Overhead: unloaded deploys of a jar already on the host, and as many direct starts of it.
const OVERHEAD_N = Q ? 2 : 5;
// Latency at the switch: deploys per variant (without / with the action's warm-up), alternating.
const LATENCY_N = Q ? 1 : 3;
const COLD_OPTS = `${JAVA_OPTS} -Dwarmup.requests=400 -Dwarmup.ms=40 -Dwarmup.path=/version`;
const WARMUP_INPUTS = { 'warmup-path': '/version', 'warmup-requests': '500' };
// the probe (bench/latency.ts): GET path through nginx, concurrency, total requests/s at most;
// windows of windowMs before and after the switch; the probe starts preMs before the action
const LAT = { path: '/version', concurrency: 8, rate: 400, windowMs: 5000, preMs: 2500 };
const LATENCY_SCRIPT = path.join(ROOT, 'bench/latency.ts');
// The long requests start when the deployer has seen the new process healthy (action: its
// `HOST: healthy (...)` line; seed: `> Health Check Success`), i.e. just before it switches nginx.
// Rolling: at the first batch's first healthy line, so they are in flight across that batch's
// put-back and the next batch's take-out, drain and stop.
// Every nginx host gets load (one wrk each, sharing WRK's threads and connections); the long
// requests alternate between the nginx hosts.

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = (m: string) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${m}\n`);
const median = (a: number[]) => {
  const s = [...a].sort((x, y) => x - y);
  return s.length ? (s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2) : NaN;
};
const mean = (a: number[]) => (a.length ? a.reduce((x, y) => x + y, 0) / a.length : NaN);

// ------------------------------------------------------------------------------------ records

interface Line {
  t: number;
  text: string;
}

const SCENARIOS = [
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
type Scenario = (typeof SCENARIOS)[number];

interface Run {
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

const runs: Run[] = [];
const errors: string[] = [];

// ------------------------------------------------------------------------------------ action

let MAIN = path.join(ROOT, 'dist/main.cjs');

interface ActionRun {
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
async function runAction(tb: Testbed, inputs: Record<string, string>, onLine?: (l: Line) => void, timeoutMs = 120_000): Promise<ActionRun> {
  const dir = fs.mkdtempSync(path.join(tb.dir, 'run-'));
  const env: Record<string, string> = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir, RUNNER_TEMP: dir, GITHUB_SHA: 'c0ffee1234567890' };
  for (const f of ['GITHUB_OUTPUT', 'GITHUB_STEP_SUMMARY', 'GITHUB_STATE']) fs.writeFileSync((env[f] = path.join(dir, f)), '');
  // Like the runner: action.yml's defaults for the inputs the step does not give.
  for (const [k, v] of Object.entries({ ...actionDefaults(), ...inputs })) env[`INPUT_${k.toUpperCase()}`] = v;
  const t0 = Date.now();
  const child = tb.spawnInRunner([process.execPath, MAIN], { env, cwd: ROOT });
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

function steps(summary: string): Record<string, number> {
  const out: Record<string, number> = {};
  // step names without the release/port/instances, e.g. 'Upload, start and health-check', 'Switch
  // nginx'; rolling: 'Upload', 'Batch 1/2'; rollback: 'Check the warm standby' or 'Start'
  for (const m of summary.matchAll(/^\| ([^|]+) \| ([\d.]+) s \|$/gm)) {
    out[m[1].replace(/^Check \S+, still running on port \d+$/, 'Check the warm standby').replace(/ \S+ on port \d+$| to port \d+$/, '').replace(/^Upload \S+$/, 'Upload').replace(/^(Batch \d+\/\d+): .*$/, '$1')] = Number(m[2]);
  }
  return out;
}

const at = (lines: Line[], re: RegExp) => lines.find((l) => re.test(l.text))?.t;
const errorOf = (a: ActionRun) => a.lines.filter((l) => l.text.startsWith('::error::')).map((l) => l.text).join(' ') || `exit ${a.code}`;
/** the blue/green switch line (one or several nginx hosts) */
const SWITCHED = /now sends traffic to port/;

// ------------------------------------------------------------------------------------ one measured run

/** Runs fn under wrk load of one client kind through every nginx host; fn may start the long
 *  requests once. */
async function underLoad(
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

async function record(scenario: Run['scenario'], kind: ClientKind, i: number, fn: () => Promise<Omit<Run, 'scenario' | 'kind' | 'i'>>): Promise<void> {
  try {
    const r = { scenario, kind, i, ...(await fn()) };
    runs.push(r);
    log(`${scenario} #${i} ${kind}: ok=${r.ok} 5xx=${r.load.s5xx} sockErr=${r.load.socketErrors} long=${r.long.ok}/${r.long.started} wall=${r.wallMs} h->s=${r.healthyToSwitchedMs}${r.note ? ` (${r.note})` : ''}`);
  } catch (e) {
    errors.push(`${scenario} #${i} ${kind}: ${String(e)}`);
    log(`ERROR ${scenario} #${i}: ${String(e)}`);
  }
}

function floorRun(tb: Testbed, kind: ClientKind) {
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
async function notServing(tb: Testbed, version: string, rolling: boolean): Promise<string[]> {
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
async function actionDeploy(tb: Testbed, kind: ClientKind, version: string, rolling = false) {
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

// ------------------------------------------------------------------------------------ seed

const SEED_SCRIPT = path.join(ROOT, 'bench/seed/deploy_no_stop.sh');

/** The seed's files on the app host, as its CodeDeploy setup had them (under /opt/app = /home/ubuntu). */
function setupSeed(tb: Testbed): void {
  const p = (f: string) => tb.localPath(tb.apps[0], `/opt/app/build/${f}`);
  fs.mkdirSync(p('build/libs'), { recursive: true });
  fs.mkdirSync(p('scripts'), { recursive: true });
  fs.writeFileSync(p('was_ip.env'), `${tb.apps[0].ip}\n`);
  fs.writeFileSync(p('nginx_ip.env'), `${tb.nginx.ip}\n`);
  fs.copyFileSync(tb.privateKeyPath, p('build/libs/hype-ec2-key.pem'));
  fs.chmodSync(p('build/libs/hype-ec2-key.pem'), 0o600);
  fs.copyFileSync(tb.knownHostsPath, p('known_hosts'));
  fs.copyFileSync(SEED_SCRIPT, p('scripts/deploy_no_stop.sh'));
}

async function seedDeploy(tb: Testbed, kind: ClientKind, version: string, i: number) {
  const jar = await tb.makeJar(version);
  const p = (f: string) => tb.localPath(tb.apps[0], `/opt/app/build/${f}`);
  // CodeDeploy's `files:` step, untimed: the new jar at the fixed path (rename: the running JVM keeps its inode)
  fs.copyFileSync(jar, p('build/libs/pearls-1.0.jar.new'));
  fs.renameSync(p('build/libs/pearls-1.0.jar.new'), p('build/libs/pearls-1.0.jar'));
  const logName = `seed-${i}.log`;
  // Timestamp every output line; stop reading at the sentinel (the java it starts keeps the pipe open).
  const cmd =
    `cd /opt/app/build && { bash scripts/deploy_no_stop.sh; echo "__EXIT $?"; } 2>&1 | ` +
    `while IFS= read -r l; do printf '%s %s\\n' "$(date +%s.%N)" "$l"; case "$l" in "__EXIT "*) break;; esac; done > ${logName}`;
  return underLoad(tb, kind, 45, async (startLong) => {
    const t0 = Date.now();
    const poll = setInterval(() => {
      if (fs.existsSync(p(logName)) && fs.readFileSync(p(logName), 'utf8').includes('> Health Check Success')) startLong();
    }, 20);
    const r = await tb.exec(tb.apps[0], ['bash', '-c', cmd], { timeoutMs: 150_000 });
    const wallMs = Date.now() - t0;
    clearInterval(poll);
    const lines: Line[] = fs
      .readFileSync(p(logName), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => ({ t: Math.round(Number(l.slice(0, l.indexOf(' '))) * 1000), text: l.slice(l.indexOf(' ') + 1) }));
    const healthy = at(lines, /^> Health Check Success/);
    const switched = at(lines, /^> kill -15 /); // right after the reload returns (and one lsof)
    const exit = lines.find((l) => l.text.startsWith('__EXIT '))?.text.slice(7);
    const served = (await tb.get('/version')).body.includes(`version=${version} `);
    return {
      ok: r.code === 0 && exit === '0' && served,
      wallMs,
      healthyToSwitchedMs: healthy && switched ? switched - healthy : null,
      switchAt: switched,
      note: exit === '0' ? (served ? undefined : 'new version not served') : `exit ${exit}: ${lines.map((l) => l.text).join(' | ').slice(-300)}`,
    };
  });
}

// ------------------------------------------------------------------------------------ extras

interface Upload {
  bytes: number;
  scpMs: number[];
  actionMs: number;
  actionReported: string;
  scpMBs: number;
  actionMBs: number;
  ratio: number;
  resolveArtifactS?: number;
  secondDeploy: string;
  secondDeployZeroBytes: boolean;
}

/** A valid jar padded with a 100 MB random stored entry; scp vs the action's upload; redeploy = 0 bytes. */
async function measureUpload(tb: Testbed): Promise<Upload> {
  const small = await tb.makeJar('big');
  const big = path.join(tb.dir, 'jars', 'big.jar');
  const pad = path.join(tb.dir, 'jars', 'pad.bin');
  fs.copyFileSync(small, big);
  const fd = fs.openSync(pad, 'w');
  for (let i = 0; i < 100; i++) fs.writeSync(fd, randomBytes(1_000_000));
  fs.closeSync(fd);
  const z = spawnSync('zip', ['-0', '-q', '-j', big, pad]);
  if (z.status !== 0) throw new Error(`zip: ${z.stderr}`);
  fs.rmSync(pad);
  const bytes = fs.statSync(big).size;
  const scp = async () => {
    const t0 = Date.now();
    const r = await tb.runInRunner(['scp', '-q', '-i', tb.privateKeyPath, '-o', `UserKnownHostsFile=${tb.knownHostsPath}`, big, `root@${tb.apps[0].ip}:/opt/app/scp-test.jar`], { env: {}, timeoutMs: 120_000 });
    const ms = Date.now() - t0;
    if (r.code !== 0) throw new Error(`scp: ${r.stderr}`);
    await tb.exec(tb.apps[0], ['rm', '-f', '/opt/app/scp-test.jar']);
    return ms;
  };
  const scpMs = [await scp()];
  const a1 = await runAction(tb, baseInputs(tb, big, ACTION_INPUTS));
  scpMs.push(await scp());
  const a2 = await runAction(tb, baseInputs(tb, big, ACTION_INPUTS));
  if (a1.code !== 0 || a2.code !== 0) throw new Error(`big-jar deploy failed: ${[...a1.lines, ...a2.lines].filter((l) => l.text.startsWith('::error::')).map((l) => l.text).join(' ')}`);
  // the action's upload: from the start of its upload step (port checks, prepare, sftp, remote sha256, mv) to its report line
  const from = at(a1.lines, /^::group::Upload/)!;
  const jarLine = a1.lines.find((l) => /: jar .*MiB in/.test(l.text))!;
  const actionMs = jarLine.t - from;
  const second = a2.lines.find((l) => /: jar /.test(l.text))?.text ?? '';
  const mbs = (ms: number) => bytes / 1e6 / (ms / 1000);
  return {
    bytes,
    scpMs,
    actionMs,
    actionReported: jarLine.text.replace(/^.*: jar /, ''),
    scpMBs: mbs(mean(scpMs)),
    actionMBs: mbs(actionMs),
    ratio: mbs(actionMs) / mbs(mean(scpMs)),
    resolveArtifactS: steps(a1.summary)['Resolve the artifact'],
    secondDeploy: second.replace(/^.*: jar /, ''),
    secondDeployZeroBytes: /already there \(0 bytes\)|copied on host \(0 bytes\)/.test(second),
  };
}

async function unloadedDeploys(tb: Testbed, label: string, n: number): Promise<{ wallMs: number[]; steps: Record<string, number>[] }> {
  const out = { wallMs: [] as number[], steps: [] as Record<string, number>[] };
  for (let i = 0; i < n; i++) {
    const a = await runAction(tb, baseInputs(tb, await tb.makeJar(`${label}-${i}`), ACTION_INPUTS));
    if (a.code !== 0) throw new Error(`${label} deploy ${i} failed: ${a.lines.map((l) => l.text).filter((t) => t.startsWith('::error::')).join(' ')}`);
    out.wallMs.push(a.wallMs);
    out.steps.push(steps(a.summary));
    log(`${label} unloaded deploy ${i}: ${a.wallMs} ms`);
  }
  return out;
}

/** Spawn of `node main.cjs` to the first TCP accept on its nginx-host (a listener, not sshd). */
async function measureStartup(tb: Testbed, n: number): Promise<number[]> {
  const js = `const s=require('net').createServer(c=>{process.stdout.write('ACCEPT '+Date.now()+'\\n');c.destroy()});` + `s.listen(2222,'127.0.0.1',()=>process.stdout.write('LISTEN\\n'));setTimeout(()=>process.exit(0),300000);`;
  const listener = tb.spawnInRunner([process.execPath, '-e', js], { cwd: '/' });
  const accepts: number[] = [];
  let ready!: () => void;
  const listening = new Promise<void>((r) => (ready = r));
  listener.stdout!.on('data', (d: Buffer) => {
    for (const l of d.toString().split('\n')) {
      if (l === 'LISTEN') ready();
      if (l.startsWith('ACCEPT ')) accepts.push(Number(l.slice(7)));
    }
  });
  const out: number[] = [];
  try {
    await Promise.race([listening, sleep(5000).then(() => Promise.reject(new Error('listener did not start')))]);
    const jar = await tb.makeJar('startup');
    const key = tb.knownHosts.split('\n')[0].split(' ').slice(1).join(' ');
    const inputs = { ...baseInputs(tb, jar), 'nginx-host': '127.0.0.1:2222', 'app-hosts': '127.0.0.1:2222', 'known-hosts': `[127.0.0.1]:2222 ${key}`, 'connect-timeout': '2' };
    for (let i = 0; i < n; i++) {
      accepts.length = 0;
      const t0 = Date.now();
      await runAction(tb, inputs, undefined, 15_000); // fails (no sshd there), which is fine
      if (accepts.length) out.push(accepts[0] - t0);
    }
  } finally {
    listener.kill('SIGTERM');
  }
  return out;
}

// ------------------------------------------------------------------------------------ rollback

interface RollbackCycle {
  i: number;
  kind: ClientKind;
  /** A (deployed), B (deployed with keep-previous; rolled back from to A's warm standby), C
   *  (deployed under load; rolled back from to A's kept jar) */
  releases: string[];
  /** the two unloaded deploys that set the cycle up (A, B) */
  setupWallMs: number[];
  /** where A stayed up as the warm standby after B (previous-port), and its pid there */
  standbyPort: number | null;
  warmPid: number | null;
}

/** One action run under wrk load, no long requests: ok when it exits 0, `version` is then served
 *  through nginx, it logged the switch, and check() finds nothing wrong. */
function loadedAction(tb: Testbed, kind: ClientKind, inputs: Record<string, string>, version: string, check?: (a: ActionRun) => Promise<string[]>) {
  return underLoad(tb, kind, 60, async () => {
    const a = await runAction(tb, inputs);
    const stale = await notServing(tb, version, false);
    const extra = check ? await check(a) : [];
    const switchAt = at(a.lines, SWITCHED);
    const h2s = /from healthy to switched (\d+) ms/.exec(a.summary);
    const problems = [
      ...(a.code === 0 ? [] : [errorOf(a)]),
      ...(stale.length ? [`${version} not served: ${stale.join('; ')}`] : []),
      ...(switchAt === undefined ? ['no "now sends traffic to port" line'] : []),
      ...extra,
    ];
    return {
      ok: problems.length === 0,
      wallMs: a.wallMs,
      healthyToSwitchedMs: h2s ? Number(h2s[1]) : null,
      steps: steps(a.summary),
      switchAt,
      switchedMs: switchAt === undefined ? null : switchAt - a.t0,
      note: problems.join(' | ') || undefined,
    };
  });
}

async function rollbackPart(tb: Testbed): Promise<RollbackCycle[]> {
  const app = tb.apps[0];
  const cycles: RollbackCycle[] = [];
  const deployInputs = async (release: string, extra: Record<string, string> = {}) => baseInputs(tb, await tb.makeJar(release), { ...ACTION_INPUTS, release, ...extra });
  const rollbackInputs = baseInputs(tb, '', { ...ACTION_INPUTS, mode: 'rollback' });
  for (let c = 0; c < ROLLBACK_N && !stopping; c++) {
    const kind = KINDS[c % 2];
    const [ra, rb, rc] = ['a', 'b', 'c'].map((x) => `rb${c}${x}`);
    try {
      const a = await runAction(tb, await deployInputs(ra));
      if (a.code !== 0) throw new Error(`deploy ${ra} failed: ${errorOf(a)}`);
      const b = await runAction(tb, await deployInputs(rb, { 'keep-previous': 'true' }));
      if (b.code !== 0) throw new Error(`deploy ${rb} (keep-previous) failed: ${errorOf(b)}`);
      const standbyPort = Number(b.outputs['previous-port']) || null;
      const warmPid = standbyPort === null ? null : await tb.pidOnPort(app, standbyPort);
      cycles.push({ i: c, kind, releases: [ra, rb, rc], setupWallMs: [a.wallMs, b.wallMs], standbyPort, warmPid });
      log(`rollback cycle ${c}: ${ra} ${a.wallMs} ms, ${rb} (keep-previous) ${b.wallMs} ms; ${ra} warm on port ${standbyPort ?? '–'} (pid ${warmPid ?? '–'})`);
      await record('rollback-warm', kind, c, () =>
        loadedAction(tb, kind, rollbackInputs, ra, async () => {
          if (standbyPort === null || warmPid === null) return [`no warm standby after the keep-previous deploy (previous-port '${b.outputs['previous-port'] ?? ''}')`];
          const now = await tb.pidOnPort(app, standbyPort);
          return now === warmPid ? [] : [`not served by the warm standby: port ${standbyPort} pid ${warmPid} → ${now ?? 'none'}`];
        }),
      );
      await record('rollback-deploy', kind, c, async () => loadedAction(tb, kind, await deployInputs(rc), rc));
      await record('rollback-kept', kind, c, () => loadedAction(tb, kind, rollbackInputs, ra));
    } catch (e) {
      errors.push(`rollback cycle ${c}: ${String(e)}`);
      log(`ERROR rollback cycle ${c}: ${String(e)}`);
    }
  }
  return cycles;
}

// ------------------------------------------------------------------------------------ overhead

interface Overhead {
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

async function overheadPart(tb: Testbed): Promise<Overhead> {
  const jar = await tb.makeJar('overhead');
  const inputs = baseInputs(tb, jar, ACTION_INPUTS);
  const first = await runAction(tb, inputs); // uploads the jar; not measured
  if (first.code !== 0) throw new Error(`first deploy failed: ${errorOf(first)}`);
  log(`overhead: first deploy (uploads the jar) ${first.wallMs} ms`);
  const o = { readinessMs: [] as number[], exitMs: [] as number[], noWaitWallMs: [] as number[], wallMs: [] as number[], switchedMs: [] as (number | null)[], steps: [] as Record<string, number>[], jar: [] as string[] };
  // alternate, so that drift on the machine hits both alike
  for (let i = 0; i < OVERHEAD_N && !stopping; i++) {
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

// ------------------------------------------------------------------------------------ latency

interface Sample {
  /** Date.now() when sent */
  t: number;
  ms: number;
  /** 0 = no HTTP answer */
  status: number;
  port: string;
}

interface Win {
  /** 2xx answers the percentiles are over */
  n: number;
  p50: number | null;
  p99: number | null;
  max: number | null;
  /** non-2xx answers and requests without an answer, sent in the window */
  non2xx: number;
  failed: number;
}

interface LatencyRun {
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
function startLatency(tb: Testbed, maxSeconds: number) {
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
function pct(sorted: number[], q: number): number | null {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] : null;
}

function win(ss: Sample[]): Win {
  const ok = ss.filter((s) => s.status >= 200 && s.status < 300).map((s) => s.ms).sort((x, y) => x - y);
  return { n: ok.length, p50: pct(ok, 0.5), p99: pct(ok, 0.99), max: ok.length ? ok[ok.length - 1] : null, non2xx: ss.filter((s) => s.status !== 0 && (s.status < 200 || s.status >= 300)).length, failed: ss.filter((s) => s.status === 0).length };
}

/** before: sent in the windowMs before the switch line and answered by the old process; after:
 *  sent in the windowMs after it, plus those before it already answered by the new process (the
 *  line reaches the bench a little after nginx switched). */
function windows(samples: Sample[], switchAt: number, newPort: string): { before: Win; after: Win } {
  const W = LAT.windowMs;
  const pre = samples.filter((s) => s.t >= switchAt - W && s.t < switchAt);
  return {
    before: win(pre.filter((s) => s.port !== newPort)),
    after: win([...pre.filter((s) => s.port === newPort), ...samples.filter((s) => s.t >= switchAt && s.t < switchAt + W)]),
  };
}

async function latencyDeploy(tb: Testbed, i: number, warmup: boolean): Promise<LatencyRun> {
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

async function latencyPart(tb: Testbed): Promise<LatencyRun[]> {
  const out: LatencyRun[] = [];
  // without, with, without, with, …: drift on the machine hits both alike
  for (let i = 0; i < 2 * LATENCY_N && !stopping; i++) {
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

// ------------------------------------------------------------------------------------ canary

interface BadCount {
  /** upstream tries that went to the port (a line naming it twice counts twice) */
  requests: number;
  /** of those, answered 5xx by it (its own $upstream_status; `-`/missing: the line's $status) */
  s5xx: number;
  /** every line read (all releases) */
  lines: number;
  /** $msec of the first and last try to the port, ms */
  firstT: number | null;
  lastT: number | null;
}

interface CanaryRun {
  i: number;
  scenario: 'canary' | 'blue-green';
  /** canary-steps ('' for blue/green) */
  steps: string;
  kind: ClientKind;
  /** canary: exited non-zero at its first step, the include byte-identical afterwards and nothing
   *  left on the new port; blue/green: it deployed (exit 0, active-port = the new port) */
  ok: boolean;
  /** canary only: its error names its first step (failed or inconclusive); null for blue/green */
  abortedAtFirst: boolean | null;
  code: number;
  wallMs: number;
  /** the live port before the run, and the idle one the bad release started on */
  oldPort: number;
  newPort: number;
  /** counted from nginx's access log over the window */
  bad: BadCount;
  /** what the log window covered: canary = the run (load from 1 s before to ~0.5 s after);
   *  blue/green = the run plus BG_AFTER_MS of load after it ended */
  windowMs: number;
  /** blue/green: spawn → its "now sends traffic to port" line */
  switchedMs: number | null;
  /** requests/s the bad release got from its first to its last try in the window */
  badRps: number | null;
  load: LoadResult;
  /** canary: the action's own figures for the failed step (`answered X of Y requests with 5xx`) */
  actionSaw?: string;
  error?: string;
  note?: string;
}

const ACCESS_LOG = '/var/log/nginx/access.log';
const CANARY_N = Q ? 1 : 2; // runs of each of the three scenarios
const BAD_OPTS = `${JAVA_OPTS} -Dfail.share=0.05`;
const CANARY_STEPS = ['5,50,100', '10,50,100'];
const CANARY_INPUTS = { strategy: 'canary', 'canary-log': ACCESS_LOG, 'canary-interval': '3', 'canary-min-requests': '20' };
const CANARY_KIND: ClientKind = 'close';
/** blue/green: the log window runs this long past the action's exit (under the same load) */
const BG_AFTER_MS = 5000;

/** One access-log line in the testbed's format ('$msec $status $upstream_addr $upstream_status
 *  $upstream_response_time $request_time'): the upstream fields are lists (`a, b`, or `a : b`
 *  across an internal redirect) when nginx tried several. null: not such a line. */
function parseAccess(line: string): { t: number; status: number; tries: { addr: string; status: number }[] } | null {
  const tok = line.trim().split(/ +/);
  if (tok.length < 6 || !/^\d+\.\d+$/.test(tok[0]) || !/^\d{3}$/.test(tok[1])) return null;
  const lists: string[][] = [];
  let cur: string[] = [];
  const mid = tok.slice(2, -1); // $upstream_addr $upstream_status $upstream_response_time
  for (let k = 0; k < mid.length; k++) {
    if (mid[k] === ':') continue;
    cur.push(mid[k].replace(/,$/, ''));
    if (!mid[k].endsWith(',') && mid[k + 1] !== ':') {
      lists.push(cur);
      cur = [];
    }
  }
  if (cur.length) lists.push(cur);
  if (lists.length !== 3) return null;
  const status = Number(tok[1]);
  const tries = lists[0].filter((a) => a !== '-').map((addr, k) => ({ addr, status: Number(lists[1][k]) || status }));
  return { t: Math.round(Number(tok[0]) * 1000), status, tries };
}

async function logSize(tb: Testbed): Promise<number> {
  const r = await tb.exec(tb.nginx, ['stat', '-c', '%s', ACCESS_LOG], { timeoutMs: 10_000 });
  const n = Number(r.stdout.trim());
  if (r.code !== 0 || !Number.isInteger(n)) throw new Error(`stat ${ACCESS_LOG} on ${tb.nginx.name}: ${(r.stderr || r.stdout).trim()}`);
  return n;
}

/** The access log from byte `offset` on (the nginx host), counted for `port`. */
async function countSince(tb: Testbed, offset: number, port: number): Promise<BadCount> {
  const r = await tb.exec(tb.nginx, ['tail', '-c', `+${offset + 1}`, ACCESS_LOG], { timeoutMs: 60_000 });
  if (r.code !== 0) throw new Error(`reading ${ACCESS_LOG} from byte ${offset}: ${r.stderr.trim()}`);
  const c: BadCount = { requests: 0, s5xx: 0, lines: 0, firstT: null, lastT: null };
  for (const line of r.stdout.split('\n')) {
    const p = parseAccess(line);
    if (!p) continue;
    c.lines++;
    for (const t of p.tries) {
      if (!t.addr.endsWith(`:${port}`)) continue;
      c.requests++;
      if (t.status >= 500) c.s5xx++;
      c.firstT ??= p.t;
      c.lastT = p.t;
    }
  }
  return c;
}

/** the live port the include names (upstream form: its first server line) */
async function livePort(tb: Testbed): Promise<{ include: string; live: number; idle: number }> {
  const include = (await tb.readInclude()) ?? '';
  const m = /:(\d+)[ ;]/.exec(include);
  if (!m) throw new Error(`no port in the include: ${include.trim()}`);
  const live = Number(m[1]);
  // the action's default ports, 8080,8081
  return { include, live, idle: live === 8080 ? 8081 : 8080 };
}

const rate = (c: BadCount) => (c.firstT !== null && c.lastT !== null && c.lastT > c.firstT ? (1000 * c.requests) / (c.lastT - c.firstT) : null);

/** One bad release under wrk load: `steps` = a canary with those canary-steps, '' = blue/green. */
async function badRun(tb: Testbed, i: number, steps: string): Promise<CanaryRun> {
  const isCanary = steps !== '';
  const version = isCanary ? `bad-c${steps.split(',')[0]}-${i}` : `bad-bg-${i}`;
  const jar = await tb.makeJar(version);
  const inputs = baseInputs(tb, jar, { ...ACTION_INPUTS, 'java-opts': BAD_OPTS, ...(isCanary ? { ...CANARY_INPUTS, 'canary-steps': steps } : {}) });
  const before = await livePort(tb);
  const offset = await logSize(tb);
  const tStart = Date.now();
  const load = startLoads(tb, CANARY_KIND, 120);
  let a: ActionRun;
  let l: LoadResult;
  try {
    await sleep(1000);
    a = await runAction(tb, inputs);
    await sleep(isCanary ? 500 : BG_AFTER_MS);
  } finally {
    l = await load.stop();
  }
  const windowMs = Date.now() - tStart;
  const bad = await countSince(tb, offset, before.idle);
  const error = a.lines.filter((x) => x.text.startsWith('::error::')).map((x) => x.text.replace(/^::error::/, '').replace(/%25/g, '%')).join(' ') || undefined;
  const problems: string[] = [];
  let abortedAtFirst: boolean | null = null;
  let actionSaw: string | undefined;
  if (isCanary) {
    const first = steps.split(',')[0];
    abortedAtFirst = a.code !== 0 && new RegExp(`step ${first} % (failed|is inconclusive)`).test(error ?? '');
    if (!abortedAtFirst) problems.push(a.code === 0 ? 'the bad release was promoted' : `not aborted at step ${first} %: ${error ?? `exit ${a.code}`}`);
    const saw = /the new release answered (\d+) of (\d+) requests with 5xx/.exec(error ?? '');
    if (saw) actionSaw = `${saw[2]} (${saw[1]})`;
    const after = (await tb.readInclude()) ?? '';
    if (after !== before.include) problems.push('the include did not end byte-identical');
    for (const app of tb.apps) {
      const pid = await tb.pidOnPort(app, before.idle);
      if (pid !== null) problems.push(`${app.ip}:${before.idle} still has pid ${pid}`);
    }
  } else {
    if (a.code !== 0) problems.push(`the deploy failed: ${error ?? `exit ${a.code}`}`);
    if (a.outputs['active-port'] !== String(before.idle)) problems.push(`active-port '${a.outputs['active-port'] ?? ''}', expected ${before.idle}`);
  }
  const sw = at(a.lines, SWITCHED);
  return {
    i,
    scenario: isCanary ? 'canary' : 'blue-green',
    steps,
    kind: CANARY_KIND,
    ok: problems.length === 0,
    abortedAtFirst,
    code: a.code,
    wallMs: a.wallMs,
    oldPort: before.live,
    newPort: before.idle,
    bad,
    windowMs,
    switchedMs: sw === undefined ? null : sw - a.t0,
    badRps: rate(bad),
    load: l,
    actionSaw,
    error,
    note: problems.join(' | ') || undefined,
  };
}

/** Per round: canary 5,50,100, canary 10,50,100, blue/green of the same bad release (then a good
 *  blue/green deploy, unloaded and not measured, so the next round starts from a clean release). */
async function canaryPart(tb: Testbed): Promise<CanaryRun[]> {
  const out: CanaryRun[] = [];
  const one = async (label: string, fn: () => Promise<CanaryRun>) => {
    try {
      const r = await fn();
      out.push(r);
      log(`${label}: ok=${r.ok} exit ${r.code}; bad release answered ${r.bad.requests} (${r.bad.s5xx} 5xx) of ${r.bad.lines} logged; clients non-2xx ${r.load.non2xx3xx} of ${r.load.requests}; wall ${r.wallMs} ms${r.note ? ` (${r.note})` : ''}`);
    } catch (e) {
      errors.push(`${label}: ${String(e)}`);
      log(`ERROR ${label}: ${String(e)}`);
    }
  };
  for (let i = 0; i < CANARY_N && !stopping; i++) {
    for (const steps of CANARY_STEPS) await one(`canary ${steps} #${i}`, () => badRun(tb, i, steps));
    await one(`blue/green bad #${i}`, () => badRun(tb, i, ''));
    // back to a good release (unloaded, not measured)
    try {
      const g = await runAction(tb, baseInputs(tb, await tb.makeJar(`good-${i}`), ACTION_INPUTS));
      if (g.code !== 0) throw new Error(errorOf(g));
      log(`good deploy #${i}: ${g.wallMs} ms`);
    } catch (e) {
      errors.push(`canary part, good deploy #${i} after the bad blue/green one: ${String(e)}`);
      log(`ERROR good deploy #${i}: ${String(e)}`);
    }
    await sleep(1000);
  }
  return out;
}

function reportCanary(L: string[], res: Results): void {
  const rs = res.canary;
  if (!rs) return;
  L.push('', '## Canary: what a bad release costs before it is stopped', '');
  L.push(`Two app hosts, one nginx host, upstream form. The bad release: java-opts \`${BAD_OPTS}\` (every 20th request other than /health answered 500). ` +
    `Canary: the action's inputs as above plus ${Object.entries(CANARY_INPUTS).map(([k, v]) => `${k}: ${v}`).join(', ')}, canary-steps as shown (canary-max-error-rate 1 %; no canary-max-p99-ratio given). ` +
    `Blue/green: the same bad release with the default strategy, then a good deploy (unloaded, not counted) back to a clean state. ` +
    `Load: wrk as above, ${CANARY_KIND} clients, from 1 s before each run to ~0.5 s after it (blue/green: ${BG_AFTER_MS / 1000} s after it). ` +
    `"Requests to the bad release" are counted in nginx's access log (${ACCESS_LOG}, the lines written from just before the run to the end of the window): every upstream try to the port the bad release started on (the idle port before the run), ` +
    `with those its own $upstream_status says were 5xx; "client non-2xx" is wrk's count over the same load. "action saw" = the figures in the action's abort message (the failed step's window only).`, '');
  L.push('| scenario | # | steps | requests to the bad release before abort (5xx) | client non-2xx (of requests) | wall s | note |');
  L.push('|---|---|---|---|---|---|---|');
  for (const r of rs) {
    const cell = `${r.bad.requests} (${r.bad.s5xx})`;
    const notes = r.scenario === 'canary'
      ? [r.abortedAtFirst ? `aborted at step ${r.steps.split(',')[0]} %` : 'NOT aborted at its first step', r.actionSaw ? `action saw ${r.actionSaw}` : '', r.error && !r.actionSaw ? r.error.slice(0, 200) : '']
      : [`no abort: counted over the run + ${BG_AFTER_MS / 1000} s (${fmt(r.windowMs / 1000, 1)} s of load); switched at ${fmt(r.switchedMs)} ms; then every request goes to the bad release (${fmt(r.badRps)} req/s here) until someone notices`];
    if (r.note) notes.push(`**${r.note}**`);
    L.push(`| ${r.scenario} | ${r.i} | ${r.steps || '– (blue/green)'} | ${cell} | ${r.load.non2xx3xx} (of ${r.load.requests}) | ${fmt(r.wallMs / 1000, 2)} | ${notes.filter(Boolean).join('; ')} |`);
  }
  L.push('', `- ${canaryComparison(rs)}`);
}

/** mean requests (5xx) to the bad release per scenario, and the one-sentence comparison */
function canaryComparison(rs: CanaryRun[]): string {
  const g = (steps: string) => rs.filter((r) => r.steps === steps);
  const m = (x: CanaryRun[]) => `${fmt(mean(x.map((r) => r.bad.requests)))} (${fmt(mean(x.map((r) => r.bad.s5xx)))} 5xx)`;
  const bg = g('');
  const rps = mean(bg.map((r) => r.badRps).filter((x): x is number => x !== null));
  const share = bg.reduce((n, r) => n + r.bad.s5xx, 0) / bg.reduce((n, r) => n + r.bad.requests, 0);
  return `Mean requests the bad release answered: canary ${CANARY_STEPS.map((s) => `${s} ${m(g(s))}`).join(', ')} before the abort; ` +
    `blue/green ${m(bg)} in the run + ${BG_AFTER_MS / 1000} s alone, and it does not stop there: after its switch every request goes to the bad release ` +
    `(${fmt(rps)} req/s here, ≈ ${fmt(rps * 60)} requests and ${fmt(rps * 60 * share)} 5xx per minute) until someone notices and deploys again.`;
}

function canaryTargets(res: Omit<Results, 'targets'>): Target[] {
  const rs = res.canary ?? [];
  const ran = res.parts.includes('canary');
  const c = rs.filter((r) => r.scenario === 'canary');
  const T: Target[] = [];
  T.push({
    name: 'every canary run aborted at its first step (bad release, 5 % 500; include restored, new processes gone)',
    value: c.length ? `${c.filter((r) => r.abortedAtFirst).length}/${c.length} aborted at the first step, ${c.filter((r) => r.ok).length}/${c.length} clean` : '–',
    limit: `all ${CANARY_STEPS.length * CANARY_N}`,
    pass: ran ? c.length === CANARY_STEPS.length * CANARY_N && c.every((r) => r.ok) : null,
  });
  for (const s of [...CANARY_STEPS, '']) {
    const g = rs.filter((r) => r.steps === s);
    T.push({
      name: s ? `(info) canary ${s}: requests to the bad release before the abort (5xx); client non-2xx` : `(info) blue/green of the bad release: requests to it in the run + ${BG_AFTER_MS / 1000} s (5xx); client non-2xx`,
      value: g.length ? g.map((r) => `${r.bad.requests} (${r.bad.s5xx}); ${r.load.non2xx3xx}`).join(', ') : '–',
      limit: s ? 'aborted at the first step' : 'no abort: all of it until someone notices',
      pass: null,
    });
  }
  return T;
}

// ------------------------------------------------------------------------------------ report

function fmt(n: number | null | undefined, d = 0): string {
  return n === null || n === undefined || Number.isNaN(n) ? '–' : n.toFixed(d);
}

function report(res: Results): string {
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

const stepText = (st: Record<string, number>) =>
  Object.entries(st)
    .map(([n, v]) => `${n} ${fmt(v, 2)}`)
    .join('; ');

function reportRollback(L: string[], res: Results): void {
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

function reportOverhead(L: string[], res: Results): void {
  const o = res.overhead;
  if (!o) return;
  L.push('', '## Overhead over the app\'s own start', '');
  L.push(`One app host, set form, no load, no long requests, ${JAVA_OPTS}. The same jar is deployed again and again (the first deploy, ${o.firstWallMs} ms, uploads it and is not counted). ` +
    `App readiness: the jar started directly on the app host (\`setsid nohup java ${JAVA_OPTS} -Dserver.port=${READY_PORT} -jar …\`), from the exec call to the first 200 on /health, polled every 20 ms on the host; then stopped. ` +
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

function reportLatency(L: string[], res: Results): void {
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

interface Summary {
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

interface Target {
  name: string;
  value: string;
  limit: string;
  pass: boolean | null;
}

interface Results {
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

function summarize(rs: Run[]): Summary[] {
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
const seedWallMs = (res: Pick<Results, 'runs'>) => mean(res.runs.filter((r) => r.scenario === 'seed' && r.wallMs !== null).map((r) => r.wallMs!));

function targets(res: Omit<Results, 'targets'>): Target[] {
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
function releaseTargets(res: Omit<Results, 'targets'>): Target[] {
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

// ------------------------------------------------------------------------------------ main

let current: Testbed | undefined;
let stopping = false;
let buildDir = '';

type Instance = { app: number; port: number };

interface BedOptions extends TestbedOptions {
  prefix: string;
  subnet: number;
  /** the v0 apps to start (app = 0-based app host index), with JAVA_OPTS; default the
   *  instances option if given, else one per app host at 8080 */
  seedApps?: Instance[];
}

async function withTestbed<T>(opts: BedOptions, fn: (tb: Testbed) => Promise<T>): Promise<T | undefined> {
  if (stopping) return undefined;
  const { seedApps, ...bed } = opts;
  const prefix = bed.prefix;
  await cleanupStale(prefix);
  const tb = await createTestbed(bed);
  current = tb;
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
    current = undefined;
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
  buildDir = fs.mkdtempSync(path.join(os.tmpdir(), 'zdd-bench-dist-'));
  log(`building the action into ${buildDir} (scripts/build.mjs; dist/ is left alone)`);
  const b = spawnSync(process.execPath, ['scripts/build.mjs', buildDir], { cwd: ROOT, stdio: 'inherit' });
  if (b.status !== 0) throw new Error('build failed');
  MAIN = path.join(buildDir, 'main.cjs');
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
    fs.rmSync(buildDir, { recursive: true, force: true });
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
    stopping = true;
    void (current?.teardown() ?? Promise.resolve()).finally(() => {
      if (buildDir) fs.rmSync(buildDir, { recursive: true, force: true });
      process.exit(130);
    });
  });
}

main().catch(async (e) => {
  log(`FAILED: ${e instanceof Error ? e.stack : String(e)}`);
  await current?.teardown().catch(() => undefined);
  process.exitCode = 1;
});
