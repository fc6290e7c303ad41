// Benchmark (issue 33): what a slow login shell costs a deploy, this bundle against a baseline
// bundle (default: 4fdffed, the last one that opened a shell per command in flight), side by side
// in one run. A non-root deploy user with sudo whose login shell is bash (which reads ~/.bashrc for
// every command sshd runs), one app host, one nginx host, a blue/green deploy with
// `wait-for-exit: false` and health-interval 0.2 s, rotating through:
//   login: a light ~/.bashrc, or one that burns ~0.5 s of CPU first (pyenv init costs about that);
//   link: direct, or a user-space relay adding RTT in front of every sshd (test/testbed/relay.ts);
//   bundle: this one (dist/) or the baseline (git show REV:dist/*).
// Each .bashrc appends a line to ~/.login-shells: the login shells each host started per deploy.
// Overhead: the deploy's wall time (node's start to its exit) minus the app's own readiness (the
// same jar started directly on the host right before, exec to its first healthy answer). Usage
// (as root):
//   node bench/loginshell.ts [--deploys N] [--rtt MS] [--baseline REV] [--burn MS] [--load]
// Writes bench/results/loginshell.{json,md}.
import * as fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { createTestbed, cleanupStale, DEPLOY_USER, type Testbed } from '../test/testbed/testbed.ts';
import { startRelays } from '../test/testbed/relay.ts';
import { ROOT, baseInputs, startAction } from '../test/e2e/harness.ts';
import { startLoad } from '../test/e2e/load.ts';
import { JAVA_OPTS, appLifecycle } from './app.ts';
import { writeBaselineDist } from './baseline.ts';

const { values: opt } = parseArgs({
  options: {
    deploys: { type: 'string', default: '3' },
    rtt: { type: 'string', default: '100' },
    baseline: { type: 'string', default: '4fdffed' },
    burn: { type: 'string', default: '500' },
    load: { type: 'boolean', default: false },
  },
});
const N = Number(opt.deploys);
const RTT = Number(opt.rtt);
const BURN = Number(opt.burn);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

interface Variant {
  bundle: 'this' | 'baseline';
  far: boolean;
  slow: boolean;
}
interface Run extends Variant {
  wallMs: number;
  appMs: number;
  /** login shells per host in this deploy: [nginx, app] */
  shells: number[];
  commands: number;
  non2xx: number;
}

const HOME = `/home/${DEPLOY_USER}`;
const name = (v: Variant) => `${v.bundle === 'this' ? 'this bundle' : `baseline ${opt.baseline}`}, ${v.far ? `${RTT} ms RTT` : 'direct'}, ${v.slow ? `${BURN} ms .bashrc` : 'light .bashrc'}`;

/** Loop turns of bash that take BURN ms of CPU on an idle host (measured there once). */
let turns = 0;
async function calibrate(tb: Testbed): Promise<void> {
  const probe = 300_000;
  const ms: number[] = [];
  for (let i = 0; i < 3; i++) {
    const t0 = process.hrtime.bigint();
    const r = await tb.exec(tb.apps[0], ['bash', '-c', `i=0; while [ $i -lt ${probe} ]; do i=$((i+1)); done`]);
    if (r.code !== 0) throw new Error(`calibration: ${r.stderr}`);
    ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  turns = Math.round((probe * BURN) / median(ms));
  process.stderr.write(`${probe} turns took ${median(ms).toFixed(0)} ms: ${turns} turns for ${BURN} ms\n`);
}

/**
 * The deploy user's ~/.bashrc on every host: it counts itself, and when slow it burns BURN ms of
 * CPU (a fixed amount of work, like an init script: shells that start together share the cores).
 */
async function setBashrc(tb: Testbed, slow: boolean): Promise<void> {
  const burn = slow ? `i=0; while [ $i -lt ${turns} ]; do i=$((i+1)); done\n` : '';
  const text = `echo "$$" >> ${HOME}/.login-shells\n${burn}`;
  for (const h of [...tb.nginxes, ...tb.apps]) {
    const r = await tb.exec(h, ['sh', '-c', `printf %s "$1" > ${HOME}/.bashrc`, 'sh', text]);
    if (r.code !== 0) throw new Error(`bashrc on ${h.ip}: ${r.stderr}`);
  }
}

/** The login shells each host started since the last call: [nginx, app]. */
async function countShells(tb: Testbed): Promise<number[]> {
  const n: number[] = [];
  for (const h of [tb.nginx, tb.apps[0]]) {
    const r = await tb.exec(h, ['sh', '-c', `f=${HOME}/.login-shells; if [ -f "$f" ]; then wc -l < "$f"; rm -f "$f"; else echo 0; fi`]);
    n.push(Number(r.stdout.trim()));
  }
  return n;
}

async function main(): Promise<void> {
  await cleanupStale('zddbsh');
  const tb = await createTestbed({ prefix: 'zddbsh', subnet: 219, appHosts: 1, form: 'set', deployUser: true, deployUserShell: '/bin/bash' });
  const runs: Run[] = [];
  const failures: (Variant & { error: string })[] = [];
  const variants: Variant[] = [];
  for (const bundle of ['this', 'baseline'] as const) for (const far of [false, true]) for (const slow of [false, true]) variants.push({ bundle, far, slow });
  try {
    const baseDir = path.join(tb.dir, 'baseline-dist');
    writeBaselineDist(opt.baseline, baseDir);
    await tb.startSeedApp(tb.apps[0], 8080, 'v0');
    await calibrate(tb);
    const relay = await startRelays(tb, RTT);
    let slow: boolean | undefined;
    for (let i = 0; i < N; i++) {
      // Each round in another order, so that drift over the run touches every variant alike.
      const order = i % 2 === 0 ? variants : [...variants].reverse();
      for (const v of order) {
        if (v.slow !== slow) await setBashrc(tb, (slow = v.slow));
        const jar = await tb.makeJar(`s${runs.length}`);
        const load = opt.load ? startLoad(tb, 150) : undefined;
        let appMs: number;
        try {
          ({ readyMs: appMs } = await appLifecycle(tb, jar));
        } catch (e) {
          await load?.stop();
          failures.push({ ...v, error: `the app's own readiness could not be measured: ${String(e).slice(0, 300)}` });
          continue;
        }
        await countShells(tb);
        const t0 = Date.now();
        const extra = { 'java-opts': JAVA_OPTS, sudo: 'true', 'wait-for-exit': 'false', ...(v.far ? relay.inputs : {}) };
        const r = await startAction(tb, baseInputs(tb, jar, extra), { ...(v.bundle === 'baseline' ? { dist: baseDir } : {}), post: false }).done;
        const wallMs = Date.now() - t0;
        const l = await load?.stop();
        const shells = await countShells(tb);
        if (r.code !== 0) {
          const why = r.error.replace(/^::error::/, '').slice(0, 300);
          process.stderr.write(`${name(v)}: deploy failed: ${why}\n`);
          failures.push({ ...v, error: why });
          continue;
        }
        runs.push({ ...v, wallMs, appMs, shells, commands: r.stdout.split('\n').filter((x) => /^::debug::\S+: .*: exit \S+ in \d+ ms$/.test(x)).length, non2xx: l?.non2xx ?? 0 });
        process.stderr.write(`${name(v)}: wall ${wallMs} ms, app ${appMs} ms, shells ${shells.join('/')}\n`);
      }
    }
    relay.stop();
  } finally {
    await tb.teardown();
  }
  const md = report(runs, variants, failures);
  fs.mkdirSync(path.join(ROOT, 'bench/results'), { recursive: true });
  const out = path.join(ROOT, 'bench/results/loginshell');
  fs.writeFileSync(`${out}.json`, JSON.stringify({ runs, failures }, null, 2));
  fs.writeFileSync(`${out}.md`, md);
  process.stdout.write(md);
}

function report(runs: Run[], variants: Variant[], failures: (Variant & { error: string })[]): string {
  const of = (v: Variant) => runs.filter((r) => r.bundle === v.bundle && r.far === v.far && r.slow === v.slow);
  const over = (v: Variant) => median(of(v).map((r) => r.wallMs - r.appMs));
  const sec = (ms: number | undefined) => (ms === undefined || Number.isNaN(ms) ? '-' : `${(ms / 1000).toFixed(2)} s`);
  const shells = (v: Variant, i: number) => {
    const xs = of(v).map((r) => r.shells[i]);
    return xs.length ? `${Math.min(...xs)}${Math.max(...xs) !== Math.min(...xs) ? ` – ${Math.max(...xs)}` : ''}` : '-';
  };
  const row = (v: Variant) =>
    `| ${name(v)} | ${of(v).length} | ${sec(median(of(v).map((r) => r.wallMs)))} | ${sec(median(of(v).map((r) => r.appMs)))} | **${sec(over(v))}** | ${shells(v, 0)} | ${shells(v, 1)} | ${median(of(v).map((r) => r.commands))} | ${of(v).reduce((a, r) => a + r.non2xx, 0)} |`;
  const cost = (bundle: Variant['bundle'], far: boolean) => sec(over({ bundle, far, slow: true }) - over({ bundle, far, slow: false }));
  const rtts = (bundle: Variant['bundle']) => ((over({ bundle, far: true, slow: false }) - over({ bundle, far: false, slow: false })) / RTT).toFixed(1);
  return [
    `# Login shell benchmark (\`node bench/loginshell.ts --deploys ${N} --rtt ${RTT} --baseline ${opt.baseline} --burn ${BURN}${opt.load ? ' --load' : ''}\`)`,
    '',
    `A non-root deploy user with sudo, login shell bash; one app host, one nginx host, a blue/green deploy ${opt.load ? 'under wrk load' : 'on idle hosts'}, health-interval 0.2 s, wait-for-exit: false, the app ${JAVA_OPTS}; ${N} deploys per variant, rotating through them in one run. Overhead: wall time (node start to exit, no post step) minus the app's own readiness (the same jar started directly on the host right before: exec to its first 200 on /health, polled every 20 ms there). Login shells: lines the ~/.bashrc appended during the deploy. The slow .bashrc runs a bash loop measured to take ${BURN} ms of CPU on the idle app host (${turns} turns): a fixed amount of work, so shells that start together share the 2 cores.`,
    '',
    '| variant | deploys (ok) | wall time (median) | app readiness | overhead | login shells, nginx host | login shells, app host | remote commands | non-2xx |',
    '|---|---|---|---|---|---|---|---|---|',
    ...variants.map(row),
    '',
    ...(failures.length ? [`Failed deploys (left out of the medians): ${failures.map((f) => `${name(f)}: ${f.error}`).join('; ')}`, ''] : []),
    `What the ${BURN} ms .bashrc costs a deploy (slow minus light overhead): this bundle ${cost('this', false)} direct, ${cost('this', true)} at ${RTT} ms; baseline ${cost('baseline', false)} direct, ${cost('baseline', true)} at ${RTT} ms.`,
    '',
    `Sequential round trips on the critical path (the far link's extra overhead / ${RTT} ms, light .bashrc): this bundle ${rtts('this')}, baseline ${rtts('baseline')}.`,
    '',
  ].join('\n');
}

await main();
