// Benchmark: what a far-away runner and a slow login shell cost, this bundle against a baseline
// bundle (default: the last one before commands shared one shell per connection), side by side in
// one run. The same one-host blue/green deploy under wrk load (--idle: none), rotating through:
//   link: direct, or a user-space relay adding RTT in front of every sshd (test/testbed/relay.ts);
//   login: a plain one, or a ~/.bashrc that takes 90 ms (bash sources it for every sshd command);
//   bundle: this one (dist/) or the baseline (git show REV:dist/*).
// Each deploy's overhead is its wall time minus the app's own readiness (the same jar started
// directly on the host right before, under the same load: exec to its first healthy answer); the far link's
// extra time divided by the RTT is the number of sequential round trips on the critical path
// (connecting included); the debug trace's command count is printed next to it. Usage (as root):
//   node bench/farlink.ts [--deploys N] [--rtt MS] [--baseline REV] [--idle]
// Writes bench/results/farlink.{json,md} (--idle: farlink-idle.{json,md}).
import * as fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { createTestbed, cleanupStale, type Testbed } from '../test/testbed/testbed.ts';
import { startRelays } from '../test/testbed/relay.ts';
import { ROOT, baseInputs, startAction } from '../test/e2e/harness.ts';
import { startLoad } from '../test/e2e/load.ts';
import { JAVA_OPTS, appLifecycle } from './app.ts';
import { writeBaselineDist } from './baseline.ts';

const { values: opt } = parseArgs({
  options: { deploys: { type: 'string', default: '3' }, rtt: { type: 'string', default: '100' }, baseline: { type: 'string', default: 'e538ec8' }, 'no-baseline': { type: 'boolean', default: false }, idle: { type: 'boolean', default: false } },
});
const N = Number(opt.deploys);
const RTT = Number(opt.rtt);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

interface Variant {
  bundle: 'this' | 'baseline';
  far: boolean;
  bashrc: boolean;
  /** wait-for-exit: false */
  detach: boolean;
}
interface Run extends Variant {
  wallMs: number;
  /** the app's own readiness, measured right before: its exec to its first healthy answer, on the host */
  appMs: number;
  /** the app's own exit, measured right after that: SIGTERM to gone, on the host */
  exitMs?: number;
  /** the app's start as the deploy saw it: from the start command's answer to the answer that its
   *  port opened (both arrive half a round trip after the host's moment, so no round trip is in it) */
  seenAppMs?: number;
  commands: number;
  non2xx: number;
  steps: Record<string, number>;
}

const name = (v: Variant) => `${v.bundle === 'this' ? 'this bundle' : `baseline ${opt.baseline}`}, ${v.far ? `${RTT} ms RTT` : 'direct'}, ${v.bashrc ? '90 ms .bashrc' : 'plain login'}${v.detach ? ', wait-for-exit: false' : ''}`;

async function setBashrc(tb: Testbed, on: boolean): Promise<void> {
  for (const h of [...tb.nginxes, ...tb.apps]) {
    const r = await tb.exec(h, ['sh', '-c', on ? 'printf "sleep 0.09\\n" > /root/.bashrc' : 'rm -f /root/.bashrc']);
    if (r.code !== 0) throw new Error(`bashrc on ${h.ip}: ${r.stderr}`);
  }
}

async function main(): Promise<void> {
  await cleanupStale('zddbfar');
  const tb = await createTestbed({ prefix: 'zddbfar', subnet: 218, appHosts: 1, form: 'set' });
  const runs: Run[] = [];
  const failures: (Variant & { error: string })[] = [];
  const variants: Variant[] = [];
  for (const bundle of opt['no-baseline'] ? (['this'] as const) : (['this', 'baseline'] as const)) {
    for (const far of [false, true]) for (const bashrc of [false, true]) variants.push({ bundle, far, bashrc, detach: false });
    variants.push({ bundle, far: true, bashrc: false, detach: true });
  }
  try {
    const baseDir = path.join(tb.dir, 'baseline-dist');
    if (!opt['no-baseline']) writeBaselineDist(opt.baseline, baseDir);
    await tb.startSeedApp(tb.apps[0], 8080, 'v0');
    const relay = await startRelays(tb, RTT);
    let bashrc = false;
    for (let i = 0; i < N; i++) {
      // Each round in another order, so that drift over the run touches every variant alike.
      const order = i % 2 === 0 ? variants : [...variants].reverse();
      for (const v of order) {
        if (v.bashrc !== bashrc) await setBashrc(tb, (bashrc = v.bashrc));
        const jar = await tb.makeJar(`f${runs.length}`);
        // The app's own readiness under the same load as the deploy: a JVM starting next to wrk,
        // nginx and the serving version is slower than on an idle host, and that is not overhead.
        const load = opt.idle ? undefined : startLoad(tb, 150);
        let appMs: number;
        let exitMs: number | undefined;
        try {
          ({ readyMs: appMs, exitMs } = await appLifecycle(tb, jar));
        } catch (e) {
          await load?.stop();
          const why = `the app's own readiness could not be measured: ${String(e).slice(0, 300)}`;
          process.stderr.write(`${name(v)}: ${why}\n`);
          failures.push({ ...v, error: why });
          continue;
        }
        const t0 = Date.now();
        const extra = { 'java-opts': JAVA_OPTS, ...(v.far ? relay.inputs : {}), ...(v.detach ? { 'wait-for-exit': 'false' } : {}) };
        const started = startAction(tb, baseInputs(tb, jar, extra), v.bundle === 'baseline' ? { dist: baseDir } : {});
        const seen = lineTimes(started.child.stdout!);
        const r = await started.done;
        const wallMs = Date.now() - t0;
        const l = await load?.stop();
        if (r.code !== 0) {
          // Counted, shown, and left out of the medians; the run goes on.
          const why = r.error.replace(/^::error::/, '').slice(0, 300);
          process.stderr.write(`${name(v)}: deploy failed: ${why}\n`);
          failures.push({ ...v, error: why });
          // A failed deploy may leave the old version serving: the next one starts from there.
          continue;
        }
        const steps: Record<string, number> = {};
        // Step names without the release and the port, so runs compare.
        const norm = (n: string) => n.replace(/health-check \S+ on port \d+/, 'health-check the release on the idle port').replace(/to port \d+/, 'to the idle port');
        for (const m of r.summary.matchAll(/^\| ([^|]+) \| ([\d.]+) s \|$/gm)) steps[norm(m[1])] = Math.round(Number(m[2]) * 1000);
        runs.push({ ...v, wallMs, appMs, exitMs, seenAppMs: seenApp(seen), commands: r.stdout.split('\n').filter((x) => /^::debug::\S+: .*: exit \S+ in \d+ ms$/.test(x)).length, non2xx: l?.non2xx ?? 0, steps });
      }
    }
    await setBashrc(tb, false);
    relay.stop();
  } finally {
    await tb.teardown();
  }
  const md = report(runs, variants, failures);
  fs.mkdirSync(path.join(ROOT, 'bench/results'), { recursive: true });
  const out = path.join(ROOT, `bench/results/farlink${opt.idle ? '-idle' : ''}`);
  fs.writeFileSync(`${out}.json`, JSON.stringify({ runs, failures }, null, 2));
  fs.writeFileSync(`${out}.md`, md);
  process.stdout.write(md);
}

/** When each line of the action's output arrived (ms since epoch). */
function lineTimes(out: NodeJS.ReadableStream): { at: number; line: string }[] {
  const lines: { at: number; line: string }[] = [];
  let buf = '';
  out.on('data', (c) => {
    buf += String(c);
    for (let k = buf.indexOf('\n'); k >= 0; k = buf.indexOf('\n')) {
      lines.push({ at: Date.now(), line: buf.slice(0, k) });
      buf = buf.slice(k + 1);
    }
  });
  return lines;
}

/** From the debug trace: the start command's answer to the answer that the new port opened. */
function seenApp(lines: { at: number; line: string }[]): number | undefined {
  const start = lines.find((l) => /^::debug::\S+: start the app on port \d+: exit 0 in \d+ ms$/.test(l.line));
  const open = lines.find((l) => /^::debug::\S+: wait for port \d+ to open: exit 0 in \d+ ms$/.test(l.line));
  return start && open ? open.at - start.at : undefined;
}

function report(runs: Run[], variants: Variant[], failures: (Variant & { error: string })[]): string {
  const of = (v: Variant) => runs.filter((r) => r.bundle === v.bundle && r.far === v.far && r.bashrc === v.bashrc && r.detach === v.detach);
  const med = (v: Variant, f: (r: Run) => number) => median(of(v).map(f));
  const over = (r: Run) => r.wallMs - r.appMs;
  const sec = (ms: number | undefined) => (ms === undefined || Number.isNaN(ms) ? '-' : `${(ms / 1000).toFixed(2)} s`);
  const exits = (v: Variant) => of(v).filter((r) => r.exitMs !== undefined);
  // The old JVM's exit is in a deploy that waits for it (wait-for-exit: true): the app's own, not the action's.
  const beyond = (v: Variant) => (v.detach ? med(v, over) : exits(v).length ? median(exits(v).map((r) => over(r) - r.exitMs!)) : undefined);
  const row = (v: Variant) =>
    `| ${name(v)} | ${of(v).length} | ${sec(med(v, (r) => r.wallMs))} | ${sec(med(v, (r) => r.appMs))} | ${v.detach ? 'not waited for' : sec(exits(v).length ? median(exits(v).map((r) => r.exitMs!)) : undefined)} | **${sec(med(v, over))}** | ${sec(beyond(v))} | ${med(v, (r) => r.commands)} | ${of(v).reduce((a, r) => a + r.non2xx, 0)} |`;
  const rtts = (b: Variant['bundle'], cost: (r: Run) => number | undefined = over) => {
    const near = { bundle: b, far: false, bashrc: false, detach: false };
    const far = { ...near, far: true };
    const m = (v: Variant) => median(of(v).map(cost).filter((x): x is number => x !== undefined));
    const d = (m(far) - m(near)) / RTT;
    return Number.isFinite(d) ? d.toFixed(1) : '-';
  };
  // Wall time minus the app's start as this deploy saw it: without the JVM's start-to-start spread.
  const seenOver = (r: Run) => (r.seenAppMs === undefined ? undefined : r.wallMs - r.seenAppMs);
  const spread = (b: Variant['bundle'], far: boolean, cost: (r: Run) => number | undefined) => {
    const xs = of({ bundle: b, far, bashrc: false, detach: false }).map(cost).filter((x): x is number => x !== undefined);
    return xs.length ? `${Math.min(...xs)} – ${Math.max(...xs)} ms` : '-';
  };
  const near0 = variants.find((v) => v.bundle === 'this' && !v.far && !v.bashrc)!;
  const far0 = variants.find((v) => v.bundle === 'this' && v.far && !v.bashrc && !v.detach)!;
  const steps = Object.keys(of(far0)[0].steps);
  return [
    `# Far-away runner benchmark (\`node bench/farlink.ts --deploys ${N} --rtt ${RTT}${opt['no-baseline'] ? ' --no-baseline' : ` --baseline ${opt.baseline}`}${opt.idle ? ' --idle' : ''}\`)`,
    '',
    `One app host, one nginx host, a blue/green deploy ${opt.idle ? 'on idle hosts (no load)' : 'under wrk load'}, default inputs but health-interval 0.2 s, the app ${JAVA_OPTS} (ready about 3.3 s after its start); ${N} deploys per variant, rotating through them in one run. Overhead: wall time (node start to exit) minus the app's own readiness (the same jar started directly on the host right before, under the same conditions, from its exec to its first 200 on /health, polled every 20 ms there).${opt.idle ? ' The non-2xx column counts nothing here: no load runs.' : ''}`,
    '',
    '| variant | deploys (ok) | wall time (median) | app readiness | app exit | overhead | overhead beyond the app\'s exit | remote commands | non-2xx (total) |',
    '|---|---|---|---|---|---|---|---|---|',
    ...variants.map(row),
    '',
    ...(failures.length ? [`Failed deploys (left out of the medians): ${failures.map((f) => `${name(f)}: ${f.error}`).join('; ')}`, ''] : []),
    `App exit: the same jar's SIGTERM to gone, measured directly on the host right after its readiness (the old version's exit, which a deploy waiting for it includes). The last overhead column is the overhead minus that exit where the deploy waits for it.`,
    '',
    `Sequential round trips on the critical path (the far link's extra overhead / ${RTT} ms, connecting included): this bundle ${rtts('this')}${opt['no-baseline'] ? '' : `, baseline ${rtts('baseline')}`}.`,
    `Counted without the JVM's start-to-start spread (each deploy's wall time minus the app's start as its own trace saw it: from the start command's answer to the answer that the port opened, both half a round trip after the host's moment): this bundle ${rtts('this', seenOver)}${opt['no-baseline'] ? '' : `, baseline ${rtts('baseline', seenOver)}`}; that cost ranged ${spread('this', false, seenOver)} direct and ${spread('this', true, seenOver)} far for this bundle, against ${spread('this', false, over)} and ${spread('this', true, over)} for the overhead.`,
    '',
    `Per step, this bundle (plain login):`,
    '',
    '| step | direct (median) | far (median) | extra RTTs |',
    '|---|---|---|---|',
    ...steps.map((s) => {
      const a = med(near0, (r) => r.steps[s] ?? 0);
      const b = med(far0, (r) => r.steps[s] ?? 0);
      return `| ${s} | ${a} ms | ${b} ms | ${((b - a) / RTT).toFixed(1)} |`;
    }),
    '',
  ].join('\n');
}

await main();
