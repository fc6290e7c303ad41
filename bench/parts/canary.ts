// Benchmark part: canary (bench/bench.ts runs it in its own testbed).
import { type Testbed } from '../../test/testbed/testbed.ts';
import { baseInputs } from '../../test/e2e/harness.ts';
import { JAVA_OPTS } from '../app.ts';
import { startLoads, type ClientKind, type LoadResult } from '../load.ts';
import { ACTION_INPUTS, type ActionRun, Q, SWITCHED, at, bench, errorOf, errors, log, mean, runAction, sleep } from '../common.ts';
import { type Results, type Target, fmt } from '../report.ts';
// ------------------------------------------------------------------------------------ canary

export interface BadCount {
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

export interface CanaryRun {
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

export const ACCESS_LOG = '/var/log/nginx/access.log';
export const CANARY_N = Q ? 1 : 2; // runs of each of the three scenarios
export const BAD_OPTS = `${JAVA_OPTS} -Dfail.share=0.05`;
export const CANARY_STEPS = ['5,50,100', '10,50,100'];
export const CANARY_INPUTS = { strategy: 'canary', 'canary-log': ACCESS_LOG, 'canary-interval': '3', 'canary-min-requests': '20' };
export const CANARY_KIND: ClientKind = 'close';
/** blue/green: the log window runs this long past the action's exit (under the same load) */
export const BG_AFTER_MS = 5000;

/** One access-log line in the testbed's format ('$msec $status $upstream_addr $upstream_status
 *  $upstream_response_time $request_time'): the upstream fields are lists (`a, b`, or `a : b`
 *  across an internal redirect) when nginx tried several. null: not such a line. */
export function parseAccess(line: string): { t: number; status: number; tries: { addr: string; status: number }[] } | null {
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

export async function logSize(tb: Testbed): Promise<number> {
  const r = await tb.exec(tb.nginx, ['stat', '-c', '%s', ACCESS_LOG], { timeoutMs: 10_000 });
  const n = Number(r.stdout.trim());
  if (r.code !== 0 || !Number.isInteger(n)) throw new Error(`stat ${ACCESS_LOG} on ${tb.nginx.name}: ${(r.stderr || r.stdout).trim()}`);
  return n;
}

/** The access log from byte `offset` on (the nginx host), counted for `port`. */
export async function countSince(tb: Testbed, offset: number, port: number): Promise<BadCount> {
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
export async function livePort(tb: Testbed): Promise<{ include: string; live: number; idle: number }> {
  const include = (await tb.readInclude()) ?? '';
  const m = /:(\d+)[ ;]/.exec(include);
  if (!m) throw new Error(`no port in the include: ${include.trim()}`);
  const live = Number(m[1]);
  // the action's default ports, 8080,8081
  return { include, live, idle: live === 8080 ? 8081 : 8080 };
}

export const rate = (c: BadCount) => (c.firstT !== null && c.lastT !== null && c.lastT > c.firstT ? (1000 * c.requests) / (c.lastT - c.firstT) : null);

/** One bad release under wrk load: `steps` = a canary with those canary-steps, '' = blue/green. */
export async function badRun(tb: Testbed, i: number, steps: string): Promise<CanaryRun> {
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
export async function canaryPart(tb: Testbed): Promise<CanaryRun[]> {
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
  for (let i = 0; i < CANARY_N && !bench.stopping; i++) {
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

export function reportCanary(L: string[], res: Results): void {
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
export function canaryComparison(rs: CanaryRun[]): string {
  const g = (steps: string) => rs.filter((r) => r.steps === steps);
  const m = (x: CanaryRun[]) => `${fmt(mean(x.map((r) => r.bad.requests)))} (${fmt(mean(x.map((r) => r.bad.s5xx)))} 5xx)`;
  const bg = g('');
  const rps = mean(bg.map((r) => r.badRps).filter((x): x is number => x !== null));
  const share = bg.reduce((n, r) => n + r.bad.s5xx, 0) / bg.reduce((n, r) => n + r.bad.requests, 0);
  return `Mean requests the bad release answered: canary ${CANARY_STEPS.map((s) => `${s} ${m(g(s))}`).join(', ')} before the abort; ` +
    `blue/green ${m(bg)} in the run + ${BG_AFTER_MS / 1000} s alone, and it does not stop there: after its switch every request goes to the bad release ` +
    `(${fmt(rps)} req/s here, ≈ ${fmt(rps * 60)} requests and ${fmt(rps * 60 * share)} 5xx per minute) until someone notices and deploys again.`;
}

export function canaryTargets(res: Omit<Results, 'targets'>): Target[] {
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
