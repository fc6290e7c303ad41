// Latency probe for the bench (run in the testbed's runner namespace by bench/bench.ts):
//   node bench/latency.ts URL SECONDS [CONCURRENCY=8] [RATE=400]
// GETs URL with CONCURRENCY workers over keep-alive connections (undici), paced so that all of
// them together send at most RATE requests per second (a worker that falls behind does not
// burst to catch up), for at most SECONDS; stops early on SIGTERM / SIGINT. Prints one line per
// finished request, flushed every 100 ms:
//   t_ms latency_ms status port
// t_ms: Date.now() when the request was sent; status 0 = no HTTP answer (connection error or
// 5 s timeout); port: the `port=N` the test app puts in its body ('-' when none).
import { Agent, request } from 'undici';

const [url, secondsArg, concArg = '8', rateArg = '400'] = process.argv.slice(2);
const seconds = Number(secondsArg);
const concurrency = Number(concArg);
const rate = Number(rateArg);
if (!url || !(seconds > 0) || !(concurrency >= 1) || !(rate > 0)) {
  process.stderr.write('usage: node bench/latency.ts URL SECONDS [CONCURRENCY=8] [RATE=400]\n');
  process.exit(2);
}

const agent = new Agent({ connections: concurrency, keepAliveTimeout: 30_000 });
const periodMs = (1000 * concurrency) / rate; // per worker
const deadline = Date.now() + seconds * 1000;
let out: string[] = [];
const flush = () => {
  if (out.length) process.stdout.write(out.join(''));
  out = [];
};
const flusher = setInterval(flush, 100);
for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  process.on(sig, () => {
    // requests still in flight are dropped: they started after the window the bench looks at
    flush();
    process.exit(0);
  });
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function worker(k: number): Promise<void> {
  let next = performance.now() + (k * periodMs) / concurrency; // staggered starts
  while (Date.now() < deadline) {
    const wait = next - performance.now();
    if (wait > 0) await sleep(wait);
    next = Math.max(next + periodMs, performance.now());
    const t = Date.now();
    const p0 = performance.now();
    let status = 0;
    let port = '-';
    try {
      const res = await request(url, { dispatcher: agent, signal: AbortSignal.timeout(5000) });
      const body = await res.body.text();
      status = res.statusCode;
      port = /port=(\d+)/.exec(body)?.[1] ?? '-';
    } catch {
      // no HTTP answer: status stays 0
    }
    out.push(`${t} ${(performance.now() - p0).toFixed(2)} ${status} ${port}\n`);
  }
}

await Promise.all(Array.from({ length: concurrency }, (_, k) => worker(k)));
clearInterval(flusher);
flush();
await agent.destroy().catch(() => undefined);
process.exit(0);
