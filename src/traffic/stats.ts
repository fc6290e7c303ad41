// The statistics the latency judge needs: quantiles and a one-sided Mann-Whitney U rank test with
// the normal approximation and the tie correction. Pure, no dependencies.

/** The q-quantile (0 < q ≤ 1) of ascending `sorted` by the nearest rank; 0 for no values. */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

/** The median of ascending `sorted` (the mean of the middle two for an even count); 0 for none. */
export function median(sorted: readonly number[]): number {
  const n = sorted.length;
  if (n === 0) return 0;
  return n % 2 ? sorted[(n - 1) / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
}

export interface RankTest {
  /** how many of each */
  n1: number;
  n2: number;
  /** Mann-Whitney U of y: the pairs (x, y) with y above x + shift, ties counted half */
  u: number;
  /** u / (n1 n2): how often a y is above an x + shift (0.5: as often as below) */
  share: number;
  /** the normal approximation's z, continuity- and tie-corrected (0 when every value ties) */
  z: number;
  /** one-sided p-value that y is not above x + shift (1 when nothing can be said) */
  p: number;
}

/**
 * Whether the values of `y` tend to lie above those of `x` moved up by `shift`: the one-sided
 * Mann-Whitney U test (Wilcoxon rank-sum) with the normal approximation, the tie correction of
 * the variance and a continuity correction. Values are compared at a microsecond's resolution
 * (latencies in ms), so that 7 ms + 20 ms ties 27 ms. O((n1 + n2) log(n1 + n2)).
 */
export function rankTest(x: readonly number[], y: readonly number[], shift = 0): RankTest {
  const n1 = x.length;
  const n2 = y.length;
  if (n1 === 0 || n2 === 0) return { n1, n2, u: 0, share: 0.5, z: 0, p: 1 };
  const round = (v: number) => Math.round(v * 1000) / 1000;
  const xs = x.map((v) => round(v + shift)).sort((a, b) => a - b);
  const ys = y.map(round).sort((a, b) => a - b);
  // Walk both sorted lists together, one group of equal values at a time: each group's members
  // share the mean of the ranks it spans.
  let i = 0;
  let j = 0;
  let rank = 0;
  let ySum = 0;
  let ties = 0;
  while (i < n1 || j < n2) {
    const v = j >= n2 || (i < n1 && xs[i] < ys[j]) ? xs[i] : ys[j];
    let cx = 0;
    let cy = 0;
    while (i < n1 && xs[i] === v) {
      i++;
      cx++;
    }
    while (j < n2 && ys[j] === v) {
      j++;
      cy++;
    }
    const t = cx + cy;
    ySum += cy * (rank + (t + 1) / 2);
    rank += t;
    if (t > 1) ties += t * t * t - t;
  }
  const u = ySum - (n2 * (n2 + 1)) / 2;
  const n = n1 + n2;
  const mean = (n1 * n2) / 2;
  const variance = ((n1 * n2) / 12) * (n + 1 - ties / (n * (n - 1)));
  if (!(variance > 0)) return { n1, n2, u, share: u / (n1 * n2), z: 0, p: 1 };
  const z = (u - mean - 0.5) / Math.sqrt(variance);
  return { n1, n2, u, share: u / (n1 * n2), z, p: upperTail(z) };
}

/** P(Z > z) for a standard normal Z. */
export function upperTail(z: number): number {
  return 0.5 * erfc(z / Math.SQRT2);
}

/** The complementary error function (Numerical Recipes' erfcc: fractional error under 1.2e-7). */
function erfc(x: number): number {
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  const r =
    t *
    Math.exp(
      -z * z -
        1.26551223 +
        t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    );
  return x >= 0 ? r : 2 - r;
}
