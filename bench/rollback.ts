// Benchmark: a warm rollback under wrk load, this bundle against a baseline bundle, side by side in
// one run. Each rollback is set up the same way, with this bundle and no load: deploy A, then B
// with keep-previous (A stays up on the idle port as the warm standby). 3 s later the rollback
// (mode: rollback) runs under wrk load (bench/load.ts, clients alternating close and keepalive by
// round), with this bundle or the baseline, which goes first alternating by round. Measured: node's
// spawn to its "now sends traffic to port" line (switched), and to its exit (wall). A rollback is
// ok when it exits 0 and A's standby pid serves afterwards. Usage (as root):
//   node bench/rollback.ts [--rounds N] [--baseline REV]
// Writes bench/results/rollback.{json,md}.
import * as fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { createTestbed, cleanupStale } from '../test/testbed/testbed.ts';
import { ROOT, baseInputs, runAction, startAction } from '../test/e2e/harness.ts';
import { KINDS, startLoads, type ClientKind } from './load.ts';
import { JAVA_OPTS } from './app.ts';
import { writeBaselineDist } from './baseline.ts';

const { values: opt } = parseArgs({ options: { rounds: { type: 'string', default: '5' }, baseline: { type: 'string', default: 'ea18b6d' } } });
const ROUNDS = Number(opt.rounds);
const INPUTS = { 'health-interval': '0.25', 'java-opts': JAVA_OPTS };
const SWITCHED = /now sends traffic to port/;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

type Bundle = 'this' | 'baseline';
interface Run {
  bundle: Bundle;
  round: number;
  kind: ClientKind;
  ok: boolean;
  /** spawn → "now sends traffic to port" */
  switchedMs?: number;
  wallMs: number;
  non2xx: number;
  socketErrors: number;
  steps: Record<string, number>;
  /** every remote command of the debug trace, with its time (ms) */
  commands: { what: string; ms: number }[];
  note?: string;
}

async function main(): Promise<void> {
  await cleanupStale('zddbrb');
  const tb = await createTestbed({ prefix: 'zddbrb', subnet: 214, appHosts: 1, form: 'set' });
  const app = tb.apps[0];
  const runs: Run[] = [];
  try {
    const baseDir = writeBaselineDist(opt.baseline, path.join(tb.dir, 'baseline-dist'));
    await tb.startSeedApp(app, 8080, 'v0');
    let n = 0;
    const deploy = async (release: string, extra: Record<string, string> = {}) => {
      const r = await runAction(tb, baseInputs(tb, await tb.makeJar(release), { ...INPUTS, release, ...extra }));
      if (r.code !== 0) throw new Error(`deploy ${release} failed: ${r.error}`);
      return r;
    };
    for (let round = 0; round < ROUNDS; round++) {
      const kind = KINDS[round % 2];
      for (const bundle of (round % 2 === 0 ? ['this', 'baseline'] : ['baseline', 'this']) as Bundle[]) {
        const [a, b] = [`rb${n}a`, `rb${n}b`];
        n++;
        await deploy(a);
        const kept = await deploy(b, { 'keep-previous': 'true' });
        const port = Number(kept.outputs['previous-port']);
        const warm = port ? await tb.pidOnPort(app, port) : null;
        if (!warm) throw new Error(`no warm standby of ${a} after ${b} (previous-port '${kept.outputs['previous-port'] ?? ''}')`);
        // A rollback comes later than a second after a deploy: what it reads while it takes the
        // lock holds only when the lock says that no deploy ended in the ~2 s before.
        await new Promise((r) => setTimeout(r, 2000));
        const load = startLoads(tb, kind, 60);
        await new Promise((r) => setTimeout(r, 1000));
        const t0 = Date.now();
        const started = startAction(tb, baseInputs(tb, '', { ...INPUTS, mode: 'rollback' }), bundle === 'baseline' ? { dist: baseDir } : {});
        let switchedAt: number | undefined;
        let buf = '';
        started.child.stdout!.on('data', (c) => {
          buf += String(c);
          if (switchedAt === undefined && SWITCHED.test(buf)) switchedAt = Date.now();
          buf = buf.slice(buf.lastIndexOf('\n') + 1);
        });
        const r = await started.done;
        const wallMs = Date.now() - t0;
        await new Promise((res) => setTimeout(res, 500));
        const l = await load.stop();
        const now = await tb.pidOnPort(app, port);
        const problems = [...(r.code === 0 ? [] : [r.error.slice(0, 300)]), ...(now === warm ? [] : [`port ${port}: pid ${warm} → ${now ?? 'none'}, not the warm standby`])];
        const steps: Record<string, number> = {};
        for (const m of r.summary.matchAll(/^\| ([^|]+) \| ([\d.]+) s \|$/gm)) steps[m[1].replace(/^Check \S+, still running on port \d+$/, 'Check the warm standby').replace(/to port \d+$/, 'to the idle port')] = Math.round(Number(m[2]) * 1000);
        const run: Run = { bundle, round, kind, ok: problems.length === 0, switchedMs: switchedAt && switchedAt - t0, wallMs, non2xx: l.s5xx + l.non2xx3xx, socketErrors: l.socketErrors, steps, commands: [...r.stdout.matchAll(/^::debug::\S+: (.*): exit \S+ in (\d+) ms$/gm)].map((m) => ({ what: m[1], ms: Number(m[2]) })), note: problems.join(' | ') || undefined };
        runs.push(run);
        process.stderr.write(`round ${round} ${bundle} ${kind}: ok=${run.ok} switched ${run.switchedMs} ms wall ${wallMs} ms non-2xx ${run.non2xx}${run.note ? ` (${run.note})` : ''}\n`);
      }
    }
  } finally {
    await tb.teardown();
  }
  const md = report(runs);
  fs.mkdirSync(path.join(ROOT, 'bench/results'), { recursive: true });
  fs.writeFileSync(path.join(ROOT, 'bench/results/rollback.json'), JSON.stringify({ runs }, null, 2));
  fs.writeFileSync(path.join(ROOT, 'bench/results/rollback.md'), md);
  process.stdout.write(md);
}

function report(runs: Run[]): string {
  const name = (b: Bundle) => (b === 'this' ? 'this bundle' : `baseline ${opt.baseline}`);
  const ok = (b: Bundle) => runs.filter((r) => r.bundle === b && r.ok && r.switchedMs !== undefined);
  const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
  const row = (b: Bundle) => {
    const xs = ok(b).map((r) => r.switchedMs!);
    const all = runs.filter((r) => r.bundle === b);
    return xs.length
      ? `| ${name(b)} | ${xs.length} of ${all.length} | **${s(median(xs))}** | ${s(Math.min(...xs))} – ${s(Math.max(...xs))} | ${xs.filter((x) => x <= 1500).length} | ${s(median(ok(b).map((r) => r.wallMs)))} | ${all.reduce((a, r) => a + r.non2xx, 0)} | ${all.reduce((a, r) => a + r.socketErrors, 0)} |`
      : `| ${name(b)} | 0 of ${all.length} | - | - | - | - | - | - |`;
  };
  const steps = [...new Set(ok('this').flatMap((r) => Object.keys(r.steps)))];
  const failed = runs.filter((r) => !r.ok);
  return [
    `# Warm rollback benchmark (\`node bench/rollback.ts --rounds ${ROUNDS} --baseline ${opt.baseline}\`)`,
    '',
    `One app host, one nginx host. Each rollback: deploy A, deploy B with keep-previous (both with this bundle, no load), then, 3 s after B (2 s idle, 1 s of load), mode: rollback to A's warm standby under wrk load (bench/load.ts: 2 threads, 20 connections through nginx, clients alternating close and keepalive by round), by this bundle or the baseline, alternating which goes first. Inputs: health-interval 0.25 s, health-passes 2 (default), the app ${JAVA_OPTS}. Switched: node's spawn to its "now sends traffic to port" line. Ok: exit 0, and the standby's pid serves afterwards.`,
    '',
    '| bundle | ok | spawn → switched (median) | min – max | ≤ 1.5 s | wall (median) | non-2xx | socket errors |',
    '|---|---|---|---|---|---|---|---|',
    row('this'),
    row('baseline'),
    '',
    ...(failed.length ? [`Failed: ${failed.map((r) => `round ${r.round} ${name(r.bundle)}: ${r.note}`).join('; ')}`, ''] : []),
    'Per step (median):',
    '',
    `| step | this bundle | baseline ${opt.baseline} |`,
    '|---|---|---|',
    ...steps.map((st) => `| ${st} | ${median(ok('this').map((r) => r.steps[st] ?? 0))} ms | ${ok('baseline').length ? `${median(ok('baseline').map((r) => r.steps[st] ?? 0))} ms` : '-'} |`),
    '',
  ].join('\n');
}

await main();
