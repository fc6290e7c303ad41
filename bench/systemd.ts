// Benchmark: a one-host blue/green deploy with systemd-unit against the same deploy as a detached
// process, side by side in one run: two testbeds whose app host runs systemd as PID 1, deploys
// alternating between them, under the same wrk load through each one's nginx.
// Usage (as root): node bench/systemd.ts [--deploys N]. Writes bench/results/systemd.{json,md}.
import * as fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { createTestbed, cleanupStale, type Testbed } from '../test/testbed/testbed.ts';
import { ROOT, baseInputs, runAction } from '../test/e2e/harness.ts';
import { startLoad } from '../test/e2e/load.ts';

const { values: opt } = parseArgs({ options: { deploys: { type: 'string', default: '10' } } });
const N = Number(opt.deploys);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main(): Promise<void> {
  await cleanupStale('zddbsda');
  await cleanupStale('zddbsdb');
  const beds: Testbed[] = [];
  const out: { mode: string; wallMs: number; non2xx: number; requests: number }[] = [];
  try {
    const detached = await createTestbed({ prefix: 'zddbsda', subnet: 216, appHosts: 1, form: 'set', systemd: true });
    beds.push(detached);
    const unit = await createTestbed({ prefix: 'zddbsdb', subnet: 217, appHosts: 1, form: 'set', systemd: true });
    beds.push(unit);
    for (const tb of beds) await tb.startSeedApp(tb.apps[0], 8080, 'v0');
    const modes: { name: string; tb: Testbed; inputs: Record<string, string> }[] = [
      { name: 'detached', tb: detached, inputs: {} },
      { name: 'systemd-unit', tb: unit, inputs: { 'systemd-unit': 'shop' } },
    ];
    // One warm-up deploy each (the first systemd deploy writes the template and daemon-reloads).
    for (const m of modes) {
      const r = await runAction(m.tb, baseInputs(m.tb, await m.tb.makeJar('w'), m.inputs));
      if (r.code !== 0) throw new Error(`${m.name} warm-up: ${r.stdout.slice(-3000)}`);
    }
    for (let i = 0; i < N; i++) {
      for (const m of i % 2 === 0 ? modes : [...modes].reverse()) {
        const jar = await m.tb.makeJar(`v${i}`);
        const load = startLoad(m.tb, 120);
        await new Promise((r) => setTimeout(r, 300));
        const t0 = Date.now();
        const r = await runAction(m.tb, baseInputs(m.tb, jar, m.inputs));
        const wallMs = Date.now() - t0;
        const l = await load.stop();
        if (r.code !== 0) throw new Error(`${m.name} deploy ${i}: ${r.stdout.slice(-3000)}`);
        out.push({ mode: m.name, wallMs, non2xx: l.non2xx, requests: l.requests });
      }
    }
  } finally {
    for (const b of beds) await b.teardown();
  }
  const d = median(out.filter((o) => o.mode === 'detached').map((o) => o.wallMs));
  const u = median(out.filter((o) => o.mode === 'systemd-unit').map((o) => o.wallMs));
  const md = [
    `# systemd-unit benchmark (\`node bench/systemd.ts --deploys ${N}\`)`,
    '',
    `One app host whose PID 1 is systemd, one nginx host, a blue/green deploy under wrk load; ${N} deploys each, alternating between two identical testbeds.`,
    '',
    '| mode | deploys | wall time (median) | non-2xx (total) |',
    '|---|---|---|---|',
    `| detached process | ${N} | ${(d / 1000).toFixed(2)} s | ${out.filter((o) => o.mode === 'detached').reduce((a, o) => a + o.non2xx, 0)} |`,
    `| systemd-unit | ${N} | ${(u / 1000).toFixed(2)} s | ${out.filter((o) => o.mode === 'systemd-unit').reduce((a, o) => a + o.non2xx, 0)} |`,
    '',
    `systemd-unit / detached: ${(u / d).toFixed(2)}× (target ≤ 1.1×).`,
    '',
  ].join('\n');
  fs.mkdirSync(path.join(ROOT, 'bench/results'), { recursive: true });
  fs.writeFileSync(path.join(ROOT, 'bench/results/systemd.json'), JSON.stringify(out, null, 2));
  fs.writeFileSync(path.join(ROOT, 'bench/results/systemd.md'), md);
  process.stdout.write(md);
}

await main();
