// The latency judge of a canary step and a bake (judgeStep over two distributions) and its rank
// test, on recorded testbed windows (test/unit/fixtures/latency/) and on queues simulated with a
// seeded PRNG, so every run sees the same numbers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { judgeStep, RANK_P, type Gates, type Window } from '../../src/traffic/canary.ts';
import { median, quantile, rankTest } from '../../src/traffic/stats.ts';
import { failureMarkdown, summaryMarkdown } from '../../src/summary.ts';

/** The action's defaults (action.yml), at min-requests 20 as the e2e tests run. */
const G: Gates = { maxErrorRate: 1, maxP99Ratio: 2, p99FloorMs: 50, maxMedianShiftMs: 30, minRequests: 20 };
/** The judge as it was before the median and rank test: the p99 ratio alone. */
const P99_ONLY: Gates = { ...G, maxMedianShiftMs: undefined };

function windowOf(oldMs: readonly number[], newMs: readonly number[]): Window {
  const side = (v: readonly number[]) => {
    const ms = [...v].sort((a, b) => a - b);
    return { f: { requests: ms.length, errors: 0, errorRate: 0, p50: median(ms), p99: quantile(ms, 0.99) }, ms };
  };
  const o = side(oldMs);
  const n = side(newMs);
  return { old: o.f, new: n.f, ms: { old: o.ms, new: n.ms } };
}

// ------------------------------------------------------------------------------ the rank test

test('rankTest: U, share, z and p by hand, with and without ties', () => {
  // No ties: every y above every x. U = 9 of 9, z = (9 - 4.5 - 0.5) / sqrt(5.25).
  const a = rankTest([1, 2, 3], [4, 5, 6]);
  assert.equal(a.u, 9);
  assert.equal(a.share, 1);
  assert.ok(Math.abs(a.z - 1.74574) < 1e-4, String(a.z));
  assert.ok(Math.abs(a.p - 0.04043) < 1e-4, String(a.p));
  // Ties: ranks 1 | 3 3 3 | 6.5 ×4 | 9 | 10, R_y = 35, U = 20; Σ(t³ - t) = 24 + 60 = 84,
  // var = 25/12 × (11 - 84/90), z = 7 / 4.5795 = 1.5286, p = 0.0632.
  const b = rankTest([1, 2, 2, 3, 3], [2, 3, 3, 4, 7]);
  assert.equal(b.u, 20);
  assert.ok(Math.abs(b.z - 1.5286) < 1e-3, String(b.z));
  assert.ok(Math.abs(b.p - 0.0632) < 1e-3, String(b.p));
  // The other way round the p-value is large, and all ties say nothing.
  assert.ok(rankTest([4, 5, 6], [1, 2, 3]).p > 0.95);
  assert.equal(rankTest([5, 5, 5], [5, 5]).p, 1);
  assert.equal(rankTest([], [1]).p, 1);
});

test('rankTest: U is the count of pairs with y above x + shift (ties half), at a microsecond resolution', () => {
  const rnd = prng(7);
  for (let k = 0; k < 40; k++) {
    const x = Array.from({ length: 1 + Math.floor(rnd() * 60) }, () => Math.floor(rnd() * 40) * 0.5);
    const y = Array.from({ length: 1 + Math.floor(rnd() * 60) }, () => Math.floor(rnd() * 40) * 0.5 + 0.007 * Math.floor(rnd() * 3));
    const shift = [0, 3, 7.007][k % 3];
    let pairs = 0;
    for (const xi of x) for (const yi of y) pairs += Math.abs(yi - (xi + shift)) < 5e-4 ? 0.5 : yi > xi + shift ? 1 : 0;
    assert.equal(rankTest(x, y, shift).u, pairs);
  }
});

// ------------------------------------------------------------------- simulated queues (seeded)

/** mulberry32: a small seeded PRNG, [0, 1). */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * One window of a busy host: requests arrive at random (Poisson) and queue for one server (the
 * host's cores) with exponential service times of `serviceMs` on average, at utilisation `load`
 * (Lindley's recursion: the wait is the queue). A share `canary` of them is routed to the new
 * release, which adds `extra(rnd)` ms after the queue (a slower call of its own). Both releases
 * share the queue, so their times are correlated in time as on a real host, and under heavy load
 * the old release's tail is made of queueing alone. Times are rounded to nginx's 1 ms.
 */
function busyHost(o: { seed: number; n: number; load: number; serviceMs?: number; canary?: number; extra?: (rnd: () => number) => number }) {
  const rnd = prng(o.seed);
  const s = o.serviceMs ?? 3;
  const exp = (mean: number) => -Math.log(1 - rnd()) * mean;
  const oldMs: number[] = [];
  const newMs: number[] = [];
  let wait = 0;
  let prevService = 0;
  for (let i = 0; i < o.n; i++) {
    wait = Math.max(0, wait + prevService - exp(s / o.load));
    const service = exp(s);
    prevService = service;
    const base = 1 + wait + service;
    if (rnd() < (o.canary ?? 0.1)) newMs.push(Math.round(base + (o.extra ? o.extra(rnd) : 0)));
    else oldMs.push(Math.round(base));
  }
  return windowOf(oldMs, newMs);
}

const LOADS = [0.3, 0.7, 0.9, 0.95, 0.98];

test('a uniform +100 ms fails on the median at every load, while the p99 ratio alone lets it through once the old tail is queueing', () => {
  const blind: string[] = [];
  for (const load of LOADS) {
    for (let seed = 1; seed <= 20; seed++) {
      const w = busyHost({ seed, n: 6000, load, extra: () => 100 });
      const v = judgeStep(w, G);
      assert.equal(v.kind, 'fail', `load ${load} seed ${seed}: ${JSON.stringify(v)} old p50 ${w.old.p50} p99 ${w.old.p99}, new p50 ${w.new.p50} p99 ${w.new.p99}`);
      assert.match((v as { why: string }).why, /^the new release is slower on most requests: its median is \d+ ms against \d+ ms for the old one \(\+\d+ ms, max-median-shift-ms 30\), and a rank test over all \d+ \+ \d+ requests finds it slower by more than 30 ms \(in \d+ % of pairs; Mann-Whitney U, p < 0\.001\)$/);
      if (judgeStep(w, P99_ONLY).kind === 'pass') blind.push(`${load}`);
    }
  }
  // The report in issue 30: at a heavy load the old p99 is queueing, and 100 ms more is under 2×.
  assert.ok(blind.filter((l) => Number(l) >= 0.95).length >= 30, `the p99 ratio alone passed the +100 ms release at loads ${blind.join(', ')}`);
});

test('the same distributions under heavy queueing never fail: 100 windows per load, good releases at 10 % and 50 %', () => {
  for (const load of LOADS) {
    for (let seed = 1; seed <= 100; seed++) {
      for (const canary of [0.1, 0.5]) {
        const w = busyHost({ seed: seed * 31 + Math.round(load * 100), n: 4000, load, canary });
        const v = judgeStep(w, G);
        assert.equal(v.kind, 'pass', `load ${load} seed ${seed} canary ${canary}: ${JSON.stringify(v)}`);
      }
    }
  }
});

test('a tail-only slowdown (3 % of requests 400 ms slower) passes the median and fails on the p99 ratio', () => {
  for (const load of [0.3, 0.7]) {
    const w = busyHost({ seed: 5, n: 8000, load, extra: (rnd) => (rnd() < 0.03 ? 400 : 0) });
    const v = judgeStep(w, G);
    assert.equal(v.kind, 'fail');
    assert.match((v as { why: string }).why, /^the new release's p99 is \d+ ms against \d+ ms for the old one \(\d+\.\d×, max-p99-ratio 2\)$/);
    assert.equal(judgeStep(w, { ...G, maxP99Ratio: undefined }).kind, 'pass', 'the median alone does not see it');
  }
});

test('a 2 ms rise on a 3 ms median is real but not practical: the floor passes it, a floor of 0 fails it', () => {
  const w = busyHost({ seed: 11, n: 20000, load: 0.3, serviceMs: 1.5, canary: 0.5, extra: () => 2 });
  assert.ok(w.old.p50 <= 4 && w.new.p50 - w.old.p50 >= 1, `${w.old.p50} → ${w.new.p50}`);
  assert.ok(rankTest(w.ms.old, w.ms.new).p < RANK_P, 'the rank test is certain it is slower');
  const v = judgeStep(w, G);
  assert.equal(v.kind, 'pass');
  assert.match(v.note, /^median \+\d ms; p99 \d\.\d×$/);
  assert.equal(judgeStep(w, { ...G, maxMedianShiftMs: 0 }).kind, 'fail');
});

test('few requests: 20 to the new release still fail at +100 ms, and noise or +5 ms passes', () => {
  for (let seed = 1; seed <= 30; seed++) {
    const shifted = busyHost({ seed, n: 220, load: 0.9, canary: 20 / 220, extra: () => 100 });
    if (shifted.new.requests < 20) continue;
    assert.equal(judgeStep(shifted, G).kind, 'fail', `seed ${seed}`);
    for (const extra of [0, 5]) {
      const w = busyHost({ seed, n: 220, load: 0.9, canary: 20 / 220, extra: () => extra });
      assert.equal(judgeStep(w, G).kind, 'pass', `seed ${seed} +${extra} ms: ${JSON.stringify(judgeStep(w, G))}`);
    }
  }
  // Under min-requests nothing is judged. Under RANK_MIN old requests the normal approximation is
  // not trusted (2 old below 20 new: z = 4.5, p = 4e-6, where the exact p is 1/231); at 10 it is.
  assert.equal(judgeStep(windowOf([3, 4, 5], Array(19).fill(200)), G).kind, 'wait');
  const v = judgeStep(windowOf([3, 4], Array(20).fill(200)), { ...G, maxP99Ratio: undefined });
  assert.equal(v.kind, 'pass');
  assert.equal(v.note, 'median +197 ms, too few requests for the rank test (2)');
  assert.equal(judgeStep(windowOf([3, 4, 5, 3, 4, 5, 3, 4, 5, 3], Array(20).fill(200)), { ...G, maxP99Ratio: undefined }).kind, 'fail');
});

test('a median between two modes jumps with the mix; the rank test sees a 2 % change in the mix, not a slowdown', () => {
  // Cache hits at 2 ms, misses at 100 ms: old 51 % hits, new 49 %. The median moves by ~98 ms.
  const rnd = prng(3);
  const mode = (hits: number) => (rnd() < hits ? 2 : 100) + Math.round(rnd() * 2);
  const w = windowOf(Array.from({ length: 20000 }, () => mode(0.51)), Array.from({ length: 20000 }, () => mode(0.49)));
  assert.ok(w.new.p50 - w.old.p50 > 90, `${w.old.p50} → ${w.new.p50}`);
  const v = judgeStep(w, G);
  assert.equal(v.kind, 'pass');
  assert.match(v.note, /^median \+\d+ ms, not significant \(p [\d.]+\); p99 1\.0×$/);
});

test('a faster release passes with a negative shift; errors and off gates', () => {
  const w = busyHost({ seed: 2, n: 5000, load: 0.5, extra: () => -2 });
  assert.match((judgeStep(w, G) as { note: string }).note, /^median [−+]\d ms; p99 \d\.\d×$/);
  assert.deepEqual(judgeStep(w, { ...G, maxMedianShiftMs: undefined, maxP99Ratio: undefined }), { kind: 'pass', note: 'latency not judged' });
  // nginx logs 0.000 for an answer under a millisecond: no ratio of 0 ms is taken.
  assert.deepEqual(judgeStep(windowOf(Array(30).fill(0), Array(30).fill(1)), G), { kind: 'pass', note: 'median +1 ms; no p99 ratio (old p99 0 ms)' });
  const noOld = judgeStep(windowOf([], Array(30).fill(5)), G);
  assert.deepEqual(noOld, { kind: 'pass', note: 'no request to the old release: latency not compared' });
});

// ----------------------------------------------------------------- windows recorded on the testbed

const FIXTURES = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'latency');

/** A recorded window: '#' comments, then 'old MS MS ...' and 'new MS MS ...' in the order logged. */
function recorded(name: string): { old: number[]; new: number[]; about: string } {
  const text = readFileSync(path.join(FIXTURES, name), 'utf8');
  const row = (k: string) => text.split('\n').find((l) => l.startsWith(`${k} `))!.slice(k.length + 1).trim().split(/\s+/).map(Number);
  return { old: row('old'), new: row('new'), about: text.split('\n').filter((l) => l.startsWith('#')).join('\n') };
}

test('recorded windows: each file holds two non-empty rows of milliseconds', () => {
  const files = readdirSync(FIXTURES).filter((f) => f.endsWith('.txt'));
  assert.ok(files.length >= 4);
  for (const f of files) {
    const r = recorded(f);
    assert.ok(r.old.length > 0 && r.new.length > 0 && [...r.old, ...r.new].every((v) => Number.isFinite(v) && v >= 0), f);
    assert.match(r.about, /^# Recorded on the testbed/);
  }
});

const judged = (name: string, g: Gates = G) => {
  const r = recorded(name);
  return { w: windowOf(r.old, r.new), v: judgeStep(windowOf(r.old, r.new), g), p99only: judgeStep(windowOf(r.old, r.new), P99_ONLY) };
};

test('recorded, busy host: a release 100 ms slower fails on the median at 10 % and 50 %; the p99 ratio alone passed it at 10 % (issue 30)', () => {
  const ten = judged('busy-uniform-shift-10.txt');
  assert.equal(ten.p99only.kind, 'pass', 'the old judge: old p99 is queueing, 100 ms more is under 2×');
  assert.equal(ten.v.kind, 'fail');
  assert.match((ten.v as { why: string }).why, /its median is 10\d ms against \d+ ms for the old one \(\+\d+ ms, max-median-shift-ms 30\).*p < 0\.001/);
  assert.equal(judged('busy-uniform-shift-50.txt').v.kind, 'fail');
});

test('recorded, busy host: the same build at 50 % passes', () => {
  const { v, w } = judged('busy-good-50.txt');
  assert.equal(v.kind, 'pass', JSON.stringify(v));
  assert.ok(w.new.p50 - w.old.p50 < 30, 'a fresh JVM, tens of ms at most above the warm one');
});

test('recorded, saturated host: identical builds pass however deep the queue (a bake, and a 10 % step)', () => {
  for (const name of ['saturated-good-bake.txt', 'saturated-good-10.txt']) {
    const { v, w } = judged(name);
    assert.equal(v.kind, 'pass', `${name}: ${JSON.stringify(v)}`);
    assert.ok(w.old.p99 > 100, `${name}: the old p99 is queueing (${w.old.p99} ms)`);
  }
});

test('recorded, saturated host: 100 ms slower fails at 50 % and in a bake, where the p99 ratio passed it; at 10 % the old release queues more than it', () => {
  const fifty = judged('saturated-uniform-shift-50.txt');
  assert.equal(fifty.p99only.kind, 'pass');
  assert.equal(fifty.v.kind, 'fail');
  const bake = judged('saturated-slow-bake.txt');
  assert.equal(bake.p99only.kind, 'pass', 'the old judge kept this release');
  assert.equal(bake.v.kind, 'fail');
  // The limit of any comparison within a window: the new release's requests mostly sleep, the
  // old one's queue for the CPU, and at 10 % the old median is above the new one.
  const ten = judged('saturated-uniform-shift-10.txt');
  assert.ok(ten.w.new.p50 < ten.w.old.p50);
  assert.equal(ten.v.kind, 'pass');
});

test('recorded, saturated host: a fresh JVM given half of the load answers 50 ms slower at the median and fails at the default; the floor decides', () => {
  const { v, w } = judged('saturated-cold-50.txt');
  assert.ok(w.new.p50 - w.old.p50 >= 40, `${w.old.p50} → ${w.new.p50}`);
  assert.equal(v.kind, 'fail');
  assert.equal(judged('saturated-cold-50.txt', { ...G, maxMedianShiftMs: 60 }).v.kind, 'pass');
});

test('recorded, busy host: a tail-only slowdown (the slowest 3 % of the good release 300 ms slower) fails on the p99 ratio, not on the median', () => {
  const r = recorded('busy-good-50.txt');
  const cut = [...r.new].sort((a, b) => a - b)[Math.floor(r.new.length * 0.97)];
  const tail = r.new.map((v) => (v >= cut ? v + 300 : v));
  const v = judgeStep(windowOf(r.old, tail), G);
  assert.equal(v.kind, 'fail');
  assert.match((v as { why: string }).why, /^the new release's p99 is \d+ ms against \d+ ms for the old one/);
  assert.equal(judgeStep(windowOf(r.old, tail), { ...G, maxP99Ratio: undefined }).kind, 'pass');
});

test('recorded, few requests: the first 20 of the slower release against the first 200 old ones fail; 20 of the same build pass the median', () => {
  const slow = recorded('busy-uniform-shift-10.txt');
  assert.equal(judgeStep(windowOf(slow.old.slice(0, 200), slow.new.slice(0, 20)), G).kind, 'fail');
  // The same build, in every slice of its window. The median only: the p99 of 20 requests is their
  // slowest one, and the p99 ratio judges it as it always did.
  const good = recorded('busy-good-50.txt');
  for (let at = 0; at + 200 <= good.old.length && at + 20 <= good.new.length; at += 200) {
    const v = judgeStep(windowOf(good.old.slice(at, at + 200), good.new.slice(at, at + 20)), { ...G, maxP99Ratio: undefined });
    assert.equal(v.kind, 'pass', `from request ${at}: ${JSON.stringify(v)}`);
  }
});

test('the summary: a row per step and bake with p50 and p99 of both releases, the verdict and its reason', () => {
  const f = (requests: number, p50: number, p99: number) => ({ requests, errors: 0, errorRate: 0, p50, p99 });
  const canary = [
    { weight: 10, old: f(2662, 16, 111), new: f(304, 104, 146), verdict: 'fail', why: 'median +88 ms > 30 ms (rank test p < 0.001)' },
    { weight: 100, label: 'bake 5s', old: f(900, 3.4, 35), new: f(880, 4.6, 41), verdict: 'pass', why: 'median +1 ms; p99 1.2×' },
  ];
  const md = failureMarkdown('[canary] step 10 % failed: ...', { rolledBack: true, canary });
  assert.match(md, /\| step \| old: requests \| old: 5xx \| old: p50 \| old: p99 \| new: requests \| new: 5xx \| new: p50 \| new: p99 \| verdict \| why \|\n\|(---\|){11}\n/);
  assert.match(md, /\| 10 % \| 2662 \| 0\.0 % \| 16 ms \| 111 ms \| 304 \| 0\.0 % \| 104 ms \| 146 ms \| fail \| median \+88 ms > 30 ms \(rank test p < 0\.001\) \|/);
  assert.match(md, /\| bake 5s \| 900 \| 0\.0 % \| 3 ms \| 35 ms \| 880 \| 0\.0 % \| 5 ms \| 41 ms \| pass \| median \+1 ms; p99 1\.2× \|/);
  const ok = summaryMarkdown({ strategy: 'canary', release: 'r', activePorts: [8081], previousPorts: [8080], durationMs: 1, timings: [], instances: [], nginxHosts: ['n'], headline: 'ok.', canary: [canary[1]] });
  assert.match(ok, /\| bake 5s \|.*\| pass \| median \+1 ms; p99 1\.2× \|/);
});
