// Benchmark: what a far-away runner costs. The same one-host blue/green deploy, alternating
// between a direct link and a user-space relay that adds RTT (test/testbed/relay.ts) in front of
// every sshd, under wrk load. The extra time divided by the RTT is the number of sequential round
// trips on the deploy's critical path (connecting included); the debug trace's command count is
// printed next to it. Usage (as root): node bench/farlink.ts [--deploys N] [--rtt MS]
// Writes bench/results/farlink.{json,md}.
import * as fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { createTestbed, cleanupStale } from '../test/testbed/testbed.ts';
import { startRelays } from '../test/testbed/relay.ts';
import { ROOT, baseInputs, runAction } from '../test/e2e/harness.ts';
import { startLoad } from '../test/e2e/load.ts';

const { values: opt } = parseArgs({ options: { deploys: { type: 'string', default: '6' }, rtt: { type: 'string', default: '100' } } });
const N = Number(opt.deploys);
const RTT = Number(opt.rtt);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main(): Promise<void> {
  await cleanupStale('zddbfar');
  const tb = await createTestbed({ prefix: 'zddbfar', subnet: 218, appHosts: 1, form: 'set' });
  const runs: { far: boolean; wallMs: number; commands: number; non2xx: number; steps: Record<string, number> }[] = [];
  try {
    await tb.startSeedApp(tb.apps[0], 8080, 'v0');
    const relay = await startRelays(tb, RTT);
    for (let i = 0; i < N; i++) {
      for (const far of i % 2 === 0 ? [false, true] : [true, false]) {
        const load = startLoad(tb, 120);
        const t0 = Date.now();
        const r = await runAction(tb, baseInputs(tb, await tb.makeJar(`f${i}${far ? 'x' : ''}`), far ? relay.inputs : {}));
        const wallMs = Date.now() - t0;
        const l = await load.stop();
        if (r.code !== 0) throw new Error(`deploy ${i} (${far ? 'far' : 'near'}): ${r.stdout.slice(-3000)}`);
        const steps: Record<string, number> = {};
        // Step names without the release and the port, so runs compare.
        const norm = (n: string) => n.replace(/health-check \S+ on port \d+/, 'health-check the release on the idle port').replace(/to port \d+/, 'to the idle port');
        for (const m of r.summary.matchAll(/^\| ([^|]+) \| ([\d.]+) s \|$/gm)) steps[norm(m[1])] = Math.round(Number(m[2]) * 1000);
        runs.push({ far, wallMs, commands: r.stdout.split('\n').filter((x) => /^::debug::\S+: .*: exit \S+ in \d+ ms$/.test(x)).length, non2xx: l.non2xx, steps });
      }
    }
    relay.stop();
  } finally {
    await tb.teardown();
  }
  const near = runs.filter((r) => !r.far);
  const far = runs.filter((r) => r.far);
  const dn = median(near.map((r) => r.wallMs));
  const df = median(far.map((r) => r.wallMs));
  const stepNames = Object.keys(far[0].steps);
  const md = [
    `# Far-away runner benchmark (\`node bench/farlink.ts --deploys ${N} --rtt ${RTT}\`)`,
    '',
    `One app host, one nginx host, a blue/green deploy under wrk load; ${N} deploys each, alternating between a direct link and a relay adding ${RTT} ms RTT in front of every sshd.`,
    '',
    '| link | deploys | wall time (median) | remote commands (median) | non-2xx (total) |',
    '|---|---|---|---|---|',
    `| direct | ${N} | ${(dn / 1000).toFixed(2)} s | ${median(near.map((r) => r.commands))} | ${near.reduce((a, r) => a + r.non2xx, 0)} |`,
    `| ${RTT} ms RTT | ${N} | ${(df / 1000).toFixed(2)} s | ${median(far.map((r) => r.commands))} | ${far.reduce((a, r) => a + r.non2xx, 0)} |`,
    '',
    `The far link added ${((df - dn) / 1000).toFixed(2)} s: about ${((df - dn) / RTT).toFixed(1)} sequential round trips of ${RTT} ms on the critical path (connecting included).`,
    '',
    '| step | direct (median) | far (median) | extra RTTs |',
    '|---|---|---|---|',
    ...stepNames.map((s) => {
      const a = median(near.map((r) => r.steps[s] ?? 0));
      const b = median(far.map((r) => r.steps[s] ?? 0));
      return `| ${s} | ${a} ms | ${b} ms | ${((b - a) / RTT).toFixed(1)} |`;
    }),
    '',
  ].join('\n');
  fs.mkdirSync(path.join(ROOT, 'bench/results'), { recursive: true });
  fs.writeFileSync(path.join(ROOT, 'bench/results/farlink.json'), JSON.stringify(runs, null, 2));
  fs.writeFileSync(path.join(ROOT, 'bench/results/farlink.md'), md);
  process.stdout.write(md);
}

await main();
