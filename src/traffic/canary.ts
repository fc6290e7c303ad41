// Canary traffic on plain nginx: old and new entries side by side in the upstream with weights,
// and what nginx's own access log says about each. Pure.
import type { UpstreamForm } from './include.ts';
import { hostPort } from '../config/hosts.ts';
import { median, quantile, rankTest } from './stats.ts';

/**
 * The upstream with `weight` percent of requests going to the new port: every entry keeps its
 * place with weight=(100 - weight) (its other parameters kept), and a twin on the new port with
 * weight=weight follows it on its own line. Everything else in the file stays byte for byte.
 */
export function renderCanary(text: string, form: UpstreamForm, newPort: number, weight: number): string {
  const edits: { at: number; end: number; text: string }[] = [];
  for (const s of form.servers) {
    const params = text.slice(s.params.start, s.params.end);
    const others = params.replace(/(^|\s)weight=\d+/g, '').trim();
    const rest = others ? ` ${others}` : '';
    const lineStart = text.lastIndexOf('\n', s.addr.start) + 1;
    const indent = /^[ \t]*/.exec(text.slice(lineStart))![0];
    const twin = `\n${indent}server ${hostPort(s.host, newPort)} weight=${weight}${rest};`;
    edits.push({ at: s.params.start, end: s.params.end + 1, text: ` weight=${100 - weight}${rest};${twin}` });
  }
  let out = text;
  for (const e of edits.sort((a, b) => b.at - a.at)) out = out.slice(0, e.at) + e.text + out.slice(e.end);
  return out;
}

/** The log_format the canary analysis reads (documented in the README). */
export const CANARY_LOG_FORMAT = "log_format canary '$msec $status $upstream_addr $upstream_status $upstream_response_time $request_time';";

/** One upstream attempt from the access log. */
export interface Attempt {
  addr: string;
  status: number;
  seconds: number;
}

/**
 * Parses one line in the canary format. The upstream fields are lists when nginx tried several
 * upstreams (`a, b`, or `a : b` across an internal redirect); each try is one attempt. Returns
 * null for a line in another format.
 */
export function parseLogLine(line: string): Attempt[] | null {
  const t = line.trim().split(/ +/);
  if (t.length < 6 || !/^\d+\.\d+$/.test(t[0]) || !/^\d{3}$/.test(t[1]) || !/^[\d.]+$|^-$/.test(t[t.length - 1])) return null;
  // Re-join list items: a token ending in ',' continues, ':' alone joins its neighbours.
  const groups: string[][] = [];
  let cur: string[] = [];
  const mid = t.slice(2, -1);
  for (let i = 0; i < mid.length; i++) {
    const tok = mid[i];
    if (tok === ':') continue;
    cur.push(tok.replace(/,$/, ''));
    if (!tok.endsWith(',') && mid[i + 1] !== ':') {
      groups.push(cur);
      cur = [];
    }
  }
  if (cur.length) groups.push(cur);
  if (groups.length !== 3) return null;
  const [addrs, statuses, times] = groups;
  const out: Attempt[] = [];
  addrs.forEach((addr, i) => {
    if (addr === '-' || !/:\d+$/.test(addr)) return;
    out.push({ addr, status: Number(statuses[i]) || 0, seconds: Number(times[i]) || 0 });
  });
  return out;
}

export interface ReleaseFigures {
  requests: number;
  errors: number;
  /** 5xx share, percent */
  errorRate: number;
  /** median upstream response time, ms */
  p50: number;
  /** p99 upstream response time, ms */
  p99: number;
}

/** Both releases' figures in one window, and every attempt's upstream time (ms, ascending) for the judge. */
export interface Window {
  old: ReleaseFigures;
  new: ReleaseFigures;
  ms: { old: number[]; new: number[] };
}

/**
 * Splits attempts by the exact `address:port` they went to: the old (live) instances and the new
 * ones. Another service that logs to the same access log (another host's port 8081) counts for
 * neither.
 */
export function figures(attempts: Attempt[], oldAddrs: readonly string[], newAddrs: readonly string[]): Window {
  const by = (addrs: readonly string[]): { f: ReleaseFigures; ms: number[] } => {
    const set = new Set(addrs);
    const a = attempts.filter((x) => set.has(x.addr));
    const errors = a.filter((x) => x.status >= 500 || x.status === 0).length;
    const ms = a.map((x) => x.seconds * 1000).sort((x, y) => x - y);
    return { f: { requests: a.length, errors, errorRate: a.length ? (100 * errors) / a.length : 0, p50: median(ms), p99: quantile(ms, 0.99) }, ms };
  };
  const o = by(oldAddrs);
  const n = by(newAddrs);
  return { old: o.f, new: n.f, ms: { old: o.ms, new: n.ms } };
}

/** One judged canary step, for the summary. */
export interface CanaryStep {
  weight: number;
  /** the row's name when it is not a canary weight (a bake) */
  label?: string;
  old: ReleaseFigures;
  new: ReleaseFigures;
  verdict: string;
  /** the verdict's reason, in a few words */
  why?: string;
}

export interface Gates {
  maxErrorRate: number;
  /** undefined: the p99 ratio is not judged */
  maxP99Ratio?: number;
  /** a new p99 at or under this never fails on latency: at a few ms a ratio measures JIT and scheduling, not the release */
  p99FloorMs: number;
  /**
   * the rise of the median (ms) over which, when the rank test finds the new release's requests
   * slower than the old one's by more than it, the step fails; undefined: not judged
   */
  maxMedianShiftMs?: number;
  minRequests: number;
}

/** The rank test's significance level: a step fails on the median only when p is under it. */
export const RANK_P = 0.001;
/** Fewer requests than this on either side: the normal approximation is too rough to fail a step on. */
export const RANK_MIN = 10;

/** `note`: the reason in a few words, for the summary's table. */
export type Verdict = { kind: 'pass'; note: string } | { kind: 'wait'; why: string; note: string } | { kind: 'fail'; why: string; note: string };

const msText = (v: number) => `${v.toFixed(0)} ms`;
const signed = (v: number) => `${v < 0 ? '−' : '+'}${Math.abs(v).toFixed(0)} ms`;
export const pText = (p: number) => (p < RANK_P ? `p < ${RANK_P}` : `p ${p < 0.01 ? p.toFixed(4) : p.toFixed(2)}`);

/**
 * The verdict of one window. Pure. In order: too few requests to the new release wait; its 5xx
 * share fails over max-error-rate; then latency, old against new over the same window:
 *
 * - the median: the step fails when the new median is more than maxMedianShiftMs above the old
 *   one *and* a one-sided Mann-Whitney U test over every request of both finds the new release's
 *   requests slower than the old one's moved up by that same margin (p < RANK_P). The margin is
 *   the practical floor (a 2 ms rise on a 3 ms median is not a regression, however certain); the
 *   test is what keeps noise, few requests and a median that jumps between two modes from
 *   failing a good release (with fewer than RANK_MIN requests on a side it is not trusted). A
 *   uniform slowdown moves every request, so it fails whatever the baseline's queueing does to
 *   its tail;
 * - the tail: the p99 ratio over maxP99Ratio fails when the new p99 is above p99FloorMs, which
 *   catches a release slower only on its slowest requests.
 */
export function judgeStep(f: Window, g: Gates): Verdict {
  if (f.new.requests < g.minRequests) {
    return { kind: 'wait', why: `${f.new.requests} requests to the new release, fewer than min-requests (${g.minRequests})`, note: `${f.new.requests} requests, under min-requests ${g.minRequests}` };
  }
  if (f.new.errorRate > g.maxErrorRate) {
    return {
      kind: 'fail',
      why: `the new release answered ${f.new.errors} of ${f.new.requests} requests with 5xx (${f.new.errorRate.toFixed(1)} %, max-error-rate ${g.maxErrorRate} %)`,
      note: `5xx ${f.new.errorRate.toFixed(1)} % > ${g.maxErrorRate} %`,
    };
  }
  if (g.maxMedianShiftMs === undefined && g.maxP99Ratio === undefined) return { kind: 'pass', note: 'latency not judged' };
  if (f.old.requests === 0) return { kind: 'pass', note: 'no request to the old release: latency not compared' };
  const notes: string[] = [];
  if (g.maxMedianShiftMs !== undefined) {
    const margin = g.maxMedianShiftMs;
    const shift = f.new.p50 - f.old.p50;
    const t = rankTest(f.ms.old, f.ms.new, margin);
    const few = Math.min(f.old.requests, f.new.requests) < RANK_MIN;
    if (shift > margin && t.p < RANK_P && !few) {
      return {
        kind: 'fail',
        why:
          `the new release is slower on most requests: its median is ${msText(f.new.p50)} against ${msText(f.old.p50)} for the old one (${signed(shift)}, max-median-shift-ms ${margin}), ` +
          `and a rank test over all ${f.old.requests} + ${f.new.requests} requests finds it slower by more than ${margin} ms (in ${(100 * t.share).toFixed(0)} % of pairs; Mann-Whitney U, ${pText(t.p)})`,
        note: `median ${signed(shift)} > ${margin} ms (rank test ${pText(t.p)})`,
      };
    }
    notes.push(
      shift <= margin ? `median ${signed(shift)}` : few ? `median ${signed(shift)}, too few requests for the rank test (${Math.min(f.old.requests, f.new.requests)})` : `median ${signed(shift)}, not significant (${pText(t.p)})`,
    );
  }
  if (g.maxP99Ratio !== undefined && f.old.p99 === 0) notes.push('no p99 ratio (old p99 0 ms)');
  if (g.maxP99Ratio !== undefined && f.old.p99 > 0) {
    const ratio = f.new.p99 / f.old.p99;
    if (ratio > g.maxP99Ratio && f.new.p99 > g.p99FloorMs) {
      return {
        kind: 'fail',
        why: `the new release's p99 is ${msText(f.new.p99)} against ${msText(f.old.p99)} for the old one (${ratio.toFixed(1)}×, max-p99-ratio ${g.maxP99Ratio})`,
        note: `p99 ${ratio.toFixed(1)}× > ${g.maxP99Ratio}×`,
      };
    }
    notes.push(`p99 ${ratio.toFixed(1)}×${ratio > g.maxP99Ratio ? `, under p99-floor-ms ${g.p99FloorMs}` : ''}`);
  }
  return { kind: 'pass', note: notes.join('; ') };
}
