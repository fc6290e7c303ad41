// The app's own start and stop on an app host, without the action: what a deploy's overhead is
// measured against (bench/bench.ts overhead, bench/farlink.ts).
import type { Testbed } from '../test/testbed/testbed.ts';

/** The test app's java options in the benchmarks: ready about 3.3 s after its exec, like a small Spring Boot app. */
export const JAVA_OPTS = '-Dstart.delay.ms=3000';
/** The first of the ports the app is started on directly (no deploy uses them): each start takes
 *  the next of ten, so that one cannot fail to bind where the last one has just exited. */
export const READY_PORT = 9090;
let started = 0;

const shq = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** The app's own start and stop: the jar started directly on the app host with the same java opts
 *  on one of the READY_PORT ports; ms from the exec call to the first 200 on /health (stamped on the host, same
 *  clock); then SIGTERM → gone, looked at every 10 ms on the host (undefined if it had to be killed). */
export async function appLifecycle(tb: Testbed, jar: string, app = tb.apps[0]): Promise<{ readyMs: number; exitMs?: number }> {
  const opts = JAVA_OPTS.split(/\s+/).filter(Boolean).map(shq).join(' ');
  const port = READY_PORT + (started++ % 10);
  const t0 = Date.now();
  const out = `${jar}.ready.log`;
  const st = await tb.exec(app, ['sh', '-c', `cd /tmp || exit 1; setsid nohup java ${opts} -Dserver.port=${port} -jar ${shq(jar)} >${shq(out)} 2>&1 </dev/null & echo $!`], { timeoutMs: 10_000 });
  const pid = Number(st.stdout.trim());
  if (st.code !== 0 || !pid) throw new Error(`starting java on port ${port}: ${st.stderr.trim() || st.stdout.trim()}`);
  let readyMs: number;
  let exitMs: number | undefined;
  try {
    const poll =
      `i=0; while [ $i -lt 1500 ] && kill -0 ${pid} 2>/dev/null; do ` +
      `if [ "$(curl -s -o /dev/null -m 1 -w '%{http_code}' http://127.0.0.1:${port}/health)" = 200 ]; then date +%s%3N; exit 0; fi; ` +
      'sleep 0.02; i=$((i+1)); done; exit 1';
    const r = await tb.exec(app, ['sh', '-c', poll], { timeoutMs: 60_000 });
    const readyAt = Number(r.stdout.trim());
    if (r.code !== 0 || !readyAt) {
      const said = (await tb.exec(app, ['tail', '-n', '12', out])).stdout.trim();
      throw new Error(`java on port ${port} never answered 200 on /health (exit ${r.code}) ${r.stderr.trim()}${said ? `; its output: ${said}` : ''}`);
    }
    readyMs = readyAt - t0;
  } finally {
    const stop = `kill ${pid} || exit 1; s=$(date +%s%3N); i=0; while kill -0 ${pid} 2>/dev/null && [ $i -lt 1000 ]; do sleep 0.01; i=$((i+1)); done; ` + `kill -0 ${pid} 2>/dev/null && exit 2; echo $(( $(date +%s%3N) - s ))`;
    const r = await tb.exec(app, ['sh', '-c', stop], { timeoutMs: 30_000 });
    if (r.code !== 0) await tb.exec(app, ['kill', '-9', String(pid)]);
    exitMs = r.code === 0 ? Number(r.stdout.trim()) : undefined;
  }
  return { readyMs, exitMs };
}

