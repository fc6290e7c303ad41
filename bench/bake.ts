// Benchmark: what a bake costs and what it saves, under wrk load through nginx on the
// network-namespace testbed. Usage (as root): node bench/bake.ts [--runs N] [--bake S]
//   bad:  a release answering 20 % 5xx once it takes traffic, deployed with bake-time S and,
//         side by side, without a bake (watched for the same time, then rolled back by hand): the
//         5xx clients saw, when they happened (from nginx's access log), and how long after the
//         verdict nginx was switched back.
//   good: the same good release with and without bake-time S: the wall time a bake adds.
// Writes bench/results/bake.{json,md} and prints the report.
import * as fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { createTestbed, cleanupStale, type Testbed } from '../test/testbed/testbed.ts';
import { ROOT, baseInputs, startAction, type ActionRun } from '../test/e2e/harness.ts';
import { startLoad } from '../test/e2e/load.ts';

const { values: opt } = parseArgs({ options: { runs: { type: 'string', default: '3' }, bake: { type: 'string', default: '10' } } });
const RUNS = Number(opt.runs);
const BAKE_S = Number(opt.bake);
const LOG = '/var/log/nginx/access.log';

interface Timed {
  run: ActionRun;
  wallMs: number;
  /** when each stdout line arrived, ms since the spawn */
  lines: { t: number; text: string }[];
  t0: number;
}

async function timedAction(tb: Testbed, inputs: Record<string, string>): Promise<Timed> {
  const t0 = Date.now();
  const a = startAction(tb, inputs, { timeoutMs: 300_000 });
  const lines: Timed['lines'] = [];
  let buf = '';
  a.child.stdout?.on('data', (c: Buffer) => {
    buf += c.toString();
    const parts = buf.split('\n');
    buf = parts.pop()!;
    for (const text of parts) lines.push({ t: Date.now() - t0, text });
  });
  const run = await a.done;
  return { run, wallMs: Date.now() - t0, lines, t0 };
}

const at = (x: Timed, re: RegExp) => x.lines.find((l) => re.test(l.text))?.t;

/** 5xx in nginx's log from byte offset on, split by whether they fell inside [from, to] (epoch ms). */
async function fivexx(tb: Testbed, offset: number, from: number, to: number): Promise<{ inside: number; outside: number; requests: number }> {
  const r = await tb.exec(tb.nginx, ['tail', '-c', `+${offset + 1}`, LOG], { timeoutMs: 60_000 });
  const c = { inside: 0, outside: 0, requests: 0 };
  for (const line of r.stdout.split('\n')) {
    const tok = line.trim().split(/ +/);
    if (tok.length < 6 || !/^\d+\.\d+$/.test(tok[0])) continue;
    c.requests++;
    if (Number(tok[1]) < 500) continue;
    const t = Number(tok[0]) * 1000;
    if (t >= from && t <= to) c.inside++;
    else c.outside++;
  }
  return c;
}

const logSize = async (tb: Testbed) => Number((await tb.exec(tb.nginx, ['stat', '-c', '%s', LOG])).stdout.trim());
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main(): Promise<void> {
  await cleanupStale('zddbbake');
  const tb = await createTestbed({ prefix: 'zddbbake', subnet: 215, appHosts: 1, form: 'set' });
  const out: Record<string, unknown> = { bakeS: BAKE_S, runs: RUNS };
  try {
    await tb.startSeedApp(tb.apps[0], 8080, 'v0');
    const good = await tb.makeJar('good');
    const bad = await tb.makeJar('bad');
    const LOGIN = { 'access-log': LOG, 'min-requests': '20' };
    // Keep a known-good version live between runs (rolled back to, or deployed again).
    const settle = async () => {
      const r = await startAction(tb, baseInputs(tb, good, { release: 'good' })).done;
      if (r.code !== 0) throw new Error(`settle deploy failed: ${r.stdout.slice(-2000)}`);
    };
    await settle();

    const badRuns: Record<string, unknown>[] = [];
    for (let i = 0; i < RUNS; i++) {
      for (const baked of [true, false]) {
        const load = startLoad(tb, 300);
        await new Promise((r) => setTimeout(r, 500));
        const offset = await logSize(tb);
        const x = await timedAction(tb, baseInputs(tb, bad, { ...LOGIN, release: `bad${i}${baked ? 'b' : ''}`, 'java-opts': '-Dfail.share=0.2', ...(baked ? { 'bake-time': String(BAKE_S) } : {}) }));
        const switched = at(x, /now sends traffic to port/);
        let verdict: number | undefined;
        let back: number | undefined;
        if (baked) {
          verdict = at(x, /rolling back: \[bake\]/);
          back = at(x, /restored .* and reloaded nginx/);
        } else {
          // Without a bake the bad release stays; watched as long as a bake would have, then rolled back.
          await new Promise((r) => setTimeout(r, BAKE_S * 1000));
          const rb = await timedAction(tb, baseInputs(tb, '', { mode: 'rollback' }));
          back = x.wallMs + BAKE_S * 1000 + (at(rb, /now sends traffic to port/) ?? rb.wallMs);
        }
        await new Promise((r) => setTimeout(r, 1000));
        const l = await load.stop();
        const window = { from: x.t0 + (switched ?? 0) - 50, to: x.t0 + (back ?? x.wallMs) + 1000 };
        const counted = await fivexx(tb, offset, window.from, window.to);
        badRuns.push({
          baked,
          code: x.run.code,
          clientRequests: l.requests,
          client5xx: l.non2xx,
          log5xxInside: counted.inside,
          log5xxOutside: counted.outside,
          newLiveMs: switched !== undefined && back !== undefined ? back - switched : null,
          verdictToBackMs: verdict !== undefined && back !== undefined ? back - verdict : null,
          error: x.run.error.slice(0, 300),
        });
        if (x.run.code === 0 && baked) throw new Error(`a bad release passed its bake: ${x.run.stdout.slice(-3000)}`);
        await settle();
      }
    }
    out.bad = badRuns;

    const goodRuns: { baked: boolean; wallMs: number; bakeStepMs?: number; steps: Record<string, number> }[] = [];
    for (let i = 0; i < RUNS; i++) {
      for (const baked of [false, true]) {
        const load = startLoad(tb, 300);
        const x = await timedAction(tb, baseInputs(tb, good, { ...LOGIN, release: `g${i}${baked ? 'b' : ''}`, ...(baked ? { 'bake-time': String(BAKE_S) } : {}) }));
        const l = await load.stop();
        if (x.run.code !== 0 || l.non2xx !== 0) throw new Error(`good deploy: exit ${x.run.code}, ${l.non2xx} non-2xx\n${x.run.stdout.slice(-3000)}`);
        const steps: Record<string, number> = {};
        for (const m of x.run.summary.matchAll(/^\| ([^|]+) \| ([\d.]+) s \|$/gm)) steps[m[1]] = Math.round(Number(m[2]) * 1000);
        goodRuns.push({ baked, wallMs: x.wallMs, bakeStepMs: steps[`Bake ${BAKE_S}s`], steps });
      }
    }
    out.good = goodRuns;
  } finally {
    await tb.teardown();
  }

  const bad = out.bad as { baked: boolean; client5xx: number; clientRequests: number; log5xxOutside: number; newLiveMs: number | null; verdictToBackMs: number | null }[];
  const good = out.good as { baked: boolean; wallMs: number; bakeStepMs?: number; steps: Record<string, number> }[];
  // What the bake itself costs beyond bake-time: its step past the window, and the log check before the start.
  const extra = good.filter((g) => g.baked).map((g) => (g.bakeStepMs ?? 0) - BAKE_S * 1000 + (g.steps[`Check ${LOG}`] ?? 0));
  const plain = median(good.filter((g) => !g.baked).map((g) => g.wallMs));
  const baked = median(good.filter((g) => g.baked).map((g) => g.wallMs));
  const L: string[] = [
    `# Bake benchmark (bake-time ${BAKE_S} s, ${RUNS} runs each, \`node bench/bake.ts --runs ${RUNS} --bake ${BAKE_S}\`)`,
    '',
    'A release answering 20 % 5xx once it takes traffic, under wrk load (4 connections, one request each):',
    '',
    '| deploy | runs | client 5xx (median) | of requests | 5xx outside the judged window | bad release live (median) | verdict → switched back (max) |',
    '|---|---|---|---|---|---|---|',
  ];
  for (const b of [true, false]) {
    const rs = bad.filter((r) => r.baked === b);
    L.push(
      `| ${b ? `bake-time ${BAKE_S}` : `no bake (rolled back by hand after ${BAKE_S} s)`} | ${rs.length} | ${median(rs.map((r) => r.client5xx))} | ${median(rs.map((r) => r.clientRequests))} | ${Math.max(...rs.map((r) => r.log5xxOutside))} | ${(median(rs.map((r) => r.newLiveMs ?? 0)) / 1000).toFixed(1)} s | ${b ? `${Math.max(...rs.map((r) => r.verdictToBackMs ?? Infinity))} ms` : 'n/a'} |`,
    );
  }
  L.push(
    '',
    `A good release: wall time without a bake ${(plain / 1000).toFixed(2)} s, with bake-time ${BAKE_S} ${(baked / 1000).toFixed(2)} s (medians; the difference also holds the JVM's start, which varies by a few hundred ms under this load). ` +
      `The bake's own cost beyond its ${BAKE_S} s (its step past the window, plus the access-log check before the start): median ${median(extra)} ms, max ${Math.max(...extra)} ms.`,
    '',
  );
  const md = L.join('\n');
  fs.mkdirSync(path.join(ROOT, 'bench/results'), { recursive: true });
  fs.writeFileSync(path.join(ROOT, 'bench/results/bake.json'), JSON.stringify(out, null, 2));
  fs.writeFileSync(path.join(ROOT, 'bench/results/bake.md'), md);
  process.stdout.write(`${md}\n`);
}

await main();
