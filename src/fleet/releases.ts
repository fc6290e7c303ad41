// Releases on the app hosts: record which release serves each port, prune old ones.
import * as A from '../commands/app.ts';
import type { Ctx } from '../strategies/context.ts';
import { mapLimit, PARALLEL } from '../strategies/context.ts';
import type { AppNode } from './instance.ts';

/** Records the release on its ports and prunes all but keep-releases (never a recorded one). */
export async function cleanupReleases(ctx: Ctx, apps: AppNode[], release: string, ports: number[]): Promise<void> {
  const cfg = ctx.cfg;
  await mapLimit(apps, PARALLEL, async (a) => {
    const [r] = await Promise.all([
      a.remote.run(A.pruneReleases(cfg.remoteDir, cfg.keepReleases, [release], ctx.o()), cfg.commandTimeoutMs),
      ...ports.map((port) => a.remote.run(A.recordRelease(cfg.remoteDir, port, release, ctx.o()), cfg.commandTimeoutMs)),
    ]);
    const removed = r.stdout.trim().split('\n').filter(Boolean);
    if (removed.length > 0) ctx.ui.info(`${a.remote.label}: removed old releases ${removed.join(', ')}`);
  });
}
