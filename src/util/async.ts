// Generic helpers for asynchronous work, below every layer. Pure.

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** How many hosts are worked on at once. */
export const PARALLEL = 16;

/**
 * fn over items, at most `limit` at a time, results in order. After a failure no new item starts,
 * the ones under way finish, and the first failure is thrown.
 */
export async function mapLimit<T, U>(items: T[], limit: number, fn: (item: T) => Promise<U>): Promise<U[]> {
  const out: U[] = new Array(items.length);
  let next = 0;
  let failed: unknown;
  let hasFailed = false;
  const worker = async () => {
    while (next < items.length && !hasFailed) {
      const i = next++;
      try {
        out[i] = await fn(items[i]);
      } catch (e) {
        if (!hasFailed) {
          hasFailed = true;
          failed = e;
        }
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (hasFailed) throw failed;
  return out;
}
