// Benchmark: blue/green deploys of the Spring Boot app (test/springboot/) side by side with the
// HttpServer test app, in one run: two identical testbeds (one app host, one nginx host), deploys
// alternating between them under the same wrk load through each one's nginx. For each app: the
// non-2xx answers, the deploy's wall time, and its overhead beyond the app's own start, measured
// the same way for both (the jar started directly on the app host, exec → its first 200 on its
// health path, polled there every 20 ms).
// Usage (as root): node bench/springboot.ts [--deploys N]. Writes bench/results/springboot.{json,md}.
import * as fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { buildSpringBootJar, cleanupStale, createTestbed, makeSpringJar, type Testbed } from '../test/testbed/testbed.ts';
import { ROOT, baseInputs, runAction } from '../test/e2e/harness.ts';
import { startLoad } from '../test/e2e/load.ts';

const { values: opt } = parseArgs({ options: { deploys: { type: 'string', default: '4' } } });
const N = Number(opt.deploys);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const shq = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

interface App {
  name: string;
  tb: Testbed;
  jar: (v: string) => Promise<string>;
  healthPath: string;
  javaOpts: string;
}

let ownPort = 9190;
/** The app's own start on its host: exec of `java … -jar` → its first 200 on the health path (stamped on the host); then stopped. */
async function ownStart(a: App): Promise<number> {
  const app = a.tb.apps[0];
  const port = ownPort++;
  const jar = await a.jar('own');
  const t0 = Date.now();
  const st = await a.tb.exec(app, ['sh', '-c', `cd /tmp || exit 1; setsid nohup java ${a.javaOpts} -Dserver.port=${port} -jar ${shq(jar)} >/tmp/own-${port}.log 2>&1 </dev/null & echo $!`], { timeoutMs: 10_000 });
  const pid = Number(st.stdout.trim());
  if (st.code !== 0 || !pid) throw new Error(`${a.name}: starting java: ${st.stderr}`);
  try {
    const poll =
      `i=0; while [ $i -lt 3000 ] && kill -0 ${pid} 2>/dev/null; do ` +
      `if [ "$(curl -s -o /dev/null -m 1 -w '%{http_code}' http://127.0.0.1:${port}${a.healthPath})" = 200 ]; then date +%s%3N; exit 0; fi; ` +
      'sleep 0.02; i=$((i+1)); done; exit 1';
    const r = await a.tb.exec(app, ['sh', '-c', poll], { timeoutMs: 90_000 });
    if (r.code !== 0) {
      const said = (await a.tb.exec(app, ['tail', '-n', '30', `/tmp/own-${port}.log`])).stdout;
      throw new Error(`${a.name}: java on port ${port} never answered 200 on ${a.healthPath} (exit ${r.code}): ${said}`);
    }
    return Number(r.stdout.trim()) - t0;
  } finally {
    await a.tb.exec(app, ['sh', '-c', `kill ${pid}; i=0; while kill -0 ${pid} 2>/dev/null && [ $i -lt 3000 ]; do sleep 0.01; i=$((i+1)); done; kill -9 ${pid} 2>/dev/null; true`], { timeoutMs: 60_000 });
  }
}

async function main(): Promise<void> {
  await buildSpringBootJar();
  await cleanupStale('zddsbbh');
  await cleanupStale('zddsbbs');
  const beds: Testbed[] = [];
  const out: { app: string; wallMs: number; non2xx: number; requests: number }[] = [];
  const own: Record<string, number[]> = {};
  let apps: App[] | undefined;
  try {
    const plain = await createTestbed({ prefix: 'zddsbbh', subnet: 83, appHosts: 1, form: 'set' });
    beds.push(plain);
    const spring = await createTestbed({ prefix: 'zddsbbs', subnet: 84, appHosts: 1, form: 'set' });
    beds.push(spring);
    // The same JVM flags for both, as the e2e tests give the Spring Boot app.
    apps = [
      { name: 'HttpServer app (test/app)', tb: plain, jar: (v) => plain.makeJar(v), healthPath: '/health', javaOpts: '-XX:TieredStopAtLevel=1' },
      { name: 'Spring Boot 3.5 app (test/springboot)', tb: spring, jar: (v) => makeSpringJar(spring.dir, v), healthPath: '/actuator/health', javaOpts: '-XX:TieredStopAtLevel=1' },
    ];
    const inputs = (a: App, jar: string) => baseInputs(a.tb, jar, { 'health-path': a.healthPath, 'java-opts': a.javaOpts, 'health-timeout': '90', 'stop-timeout': '30' });
    for (const a of apps) {
      await a.tb.startSeedApp(a.tb.apps[0], 8080, 'v0');
      const r = await runAction(a.tb, inputs(a, await a.jar('warm')), { timeoutMs: 300_000 }); // first deploy: template, release dirs
      if (r.code !== 0) throw new Error(`${a.name} warm-up: ${r.stdout.slice(-3000)}`);
    }
    for (let i = 0; i < N; i++) {
      for (const a of i % 2 === 0 ? apps : [...apps].reverse()) {
        (own[a.name] ??= []).push(await ownStart(a));
        const jar = await a.jar(`v${i}`);
        const load = startLoad(a.tb, 180);
        await new Promise((r) => setTimeout(r, 300));
        const t0 = Date.now();
        const r = await runAction(a.tb, inputs(a, jar), { timeoutMs: 300_000 });
        const wallMs = Date.now() - t0;
        const l = await load.stop();
        if (r.code !== 0) throw new Error(`${a.name} deploy ${i}: ${r.stdout.slice(-3000)}`);
        out.push({ app: a.name, wallMs, non2xx: l.non2xx + l.socketErrors, requests: l.requests });
        process.stderr.write(`${a.name} #${i}: own start ${own[a.name].at(-1)} ms, deploy ${wallMs} ms, ${l.non2xx} non-2xx of ${l.requests}\n`);
      }
    }
  } finally {
    for (const b of beds) await b.teardown();
  }
  const rows = (apps ?? []).map((a) => {
    const mine = out.filter((o) => o.app === a.name);
    const wall = median(mine.map((o) => o.wallMs));
    const start = median(own[a.name]);
    return `| ${a.name} | ${mine.length} | ${mine.reduce((s, o) => s + o.non2xx, 0)} of ${mine.reduce((s, o) => s + o.requests, 0)} | ${(start / 1000).toFixed(2)} s | ${(wall / 1000).toFixed(2)} s | ${((wall - start) / 1000).toFixed(2)} s |`;
  });
  const md = [
    `# Spring Boot benchmark (\`node bench/springboot.ts --deploys ${N}\`)`,
    '',
    `A blue/green deploy on one app host behind one nginx host, under wrk load (new connection per request); ${N} deploys of each app, alternating between two identical testbeds. The app's own start: the jar started directly on the app host with the same options, exec → first 200 on its health path (the median of one before each deploy). Overhead: the deploy's median wall time minus that.`,
    '',
    '| app | deploys | non-2xx (and socket errors) of requests | own start (median) | deploy wall time (median) | overhead beyond its own start |',
    '|---|---|---|---|---|---|',
    ...rows,
    '',
  ].join('\n');
  fs.mkdirSync(path.join(ROOT, 'bench/results'), { recursive: true });
  fs.writeFileSync(path.join(ROOT, 'bench/results/springboot.json'), JSON.stringify({ deploys: out, ownStartMs: own }, null, 2));
  fs.writeFileSync(path.join(ROOT, 'bench/results/springboot.md'), md);
  process.stdout.write(md);
}

await main();
