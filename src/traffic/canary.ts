// Canary traffic on plain nginx: old and new entries side by side in the upstream with weights,
// and what nginx's own access log says about each. Pure.
import type { UpstreamForm } from './include.ts';
import { hostPort } from '../config/hosts.ts';

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
  /** p99 upstream response time, ms */
  p99: number;
  /** median upstream response time, ms (the summary's chart) */
  p50?: number;
}

export function p99(ms: number[]): number {
  if (ms.length === 0) return 0;
  const s = [...ms].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(0.99 * s.length) - 1)];
}

/**
 * Splits attempts by the exact `address:port` they went to: the old (live) instances and the new
 * ones. Another service that logs to the same access log (another host's port 8081) counts for
 * neither.
 */
export function figures(attempts: Attempt[], oldAddrs: readonly string[], newAddrs: readonly string[]): { old: ReleaseFigures; new: ReleaseFigures } {
  const by = (addrs: readonly string[]): ReleaseFigures => {
    const set = new Set(addrs);
    const a = attempts.filter((x) => set.has(x.addr));
    const errors = a.filter((x) => x.status >= 500 || x.status === 0).length;
    const ms = a.map((x) => x.seconds * 1000).sort((x, y) => x - y);
    return { requests: a.length, errors, errorRate: a.length ? (100 * errors) / a.length : 0, p99: p99(ms), p50: ms.length ? ms[Math.ceil(0.5 * ms.length) - 1] : 0 };
  };
  return { old: by(oldAddrs), new: by(newAddrs) };
}

/** One judged canary step, for the summary. */
export interface CanaryStep {
  weight: number;
  /** the row's name when it is not a canary weight (a bake) */
  label?: string;
  old: ReleaseFigures;
  new: ReleaseFigures;
  verdict: string;
}

export interface Gates {
  maxErrorRate: number;
  /** undefined: latency is not judged */
  maxP99Ratio?: number;
  /** a new p99 at or under this never fails on latency: at a few ms a ratio measures JIT and scheduling, not the release */
  p99FloorMs: number;
  minRequests: number;
}

export type Verdict = { kind: 'pass' } | { kind: 'wait'; why: string } | { kind: 'fail'; why: string };

/** The verdict of one step's figures. Pure. */
export function judgeStep(f: { old: ReleaseFigures; new: ReleaseFigures }, g: Gates): Verdict {
  if (f.new.requests < g.minRequests) return { kind: 'wait', why: `${f.new.requests} requests to the new release, fewer than min-requests (${g.minRequests})` };
  if (f.new.errorRate > g.maxErrorRate) {
    return { kind: 'fail', why: `the new release answered ${f.new.errors} of ${f.new.requests} requests with 5xx (${f.new.errorRate.toFixed(1)} %, max-error-rate ${g.maxErrorRate} %)` };
  }
  if (g.maxP99Ratio !== undefined && f.old.requests > 0 && f.old.p99 > 0 && f.new.p99 > g.p99FloorMs) {
    const ratio = f.new.p99 / f.old.p99;
    if (ratio > g.maxP99Ratio) {
      return { kind: 'fail', why: `the new release's p99 is ${f.new.p99.toFixed(0)} ms against ${f.old.p99.toFixed(0)} ms for the old one (${ratio.toFixed(1)}×, max-p99-ratio ${g.maxP99Ratio})` };
    }
  }
  return { kind: 'pass' };
}
