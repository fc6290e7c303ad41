// Preflight: before anything is uploaded or started, each host says whether the deploy can work
// there (java, tools, disk; on nginx hosts, whether the include can be written).
import { DeployError } from '../errors.ts';
import * as preflightCmd from '../commands/preflight.ts';
import type { OpContext } from '../run/context.ts';
import type { Artifact } from './artifact.ts';
import type { RunBackend } from './backend.ts';
import type { AppNode } from './node.ts';
import { takeRead } from './lockreads.ts';
import { gib, maxHeap } from '../config/jvm.ts';

const MARGIN = 1 << 20;

/**
 * Checks an app host; throws naming the host and what to change. Logs the java found. overlap:
 * the new JVM will run next to the live one (blue/green, canary, stage), so with a jar to start
 * and check-memory, the host's available memory must hold its maximum heap.
 */
export async function preflightApp(ctx: OpContext, backend: RunBackend, app: AppNode, art: Artifact | undefined, overlap = true): Promise<preflightCmd.AppPreflight> {
  const cfg = ctx.cfg;
  const label = app.remote.label;
  // Asked while the lock was taken, if it was (fleet/lockreads.ts): java, tools and disk are the host's.
  const asked = takeRead(app, 'preflight') ?? app.remote.must('preflight', preflightCmd.appPreflight(cfg.java, cfg.remoteDir, ctx.cmdOptions()), cfg.commandTimeoutMs);
  const [out] = await Promise.all([asked, backend.preflight(app)]);
  const p = preflightCmd.parseAppPreflight(out);
  if (!p.java) {
    throw new DeployError(
      'preflight',
      label,
      `java '${cfg.java}' was not found for user '${cfg.sshUser}' (PATH of a non-login shell over SSH: ${p.path || 'empty'}); ` +
        "set the 'java' input to its full path, e.g. /usr/lib/jvm/java-17-openjdk-amd64/bin/java (a PATH set in .profile or .bash_profile is not read)",
    );
  }
  if (p.missing.length > 0) throw new DeployError('preflight', label, `missing tools the deploy needs: ${p.missing.join(', ')} (coreutils, util-linux, iproute2, procps)`);
  if (!p.writable) {
    const [user, owner] = (p.who ?? '').split(' ');
    throw new DeployError('preflight', label, `user '${user || cfg.sshUser}' cannot write ${cfg.remoteDir} (owned by ${owner || 'another user'}): create it owned by the deploy user, or choose another remote-dir`);
  }
  if (art && p.availBytes !== undefined && p.availBytes < art.size + MARGIN) {
    // Named like the upload failure it prevents.
    throw new DeployError(
      'upload and start',
      label,
      `upload of ${art.path} failed: not enough free disk space under ${cfg.remoteDir} (${(p.availBytes / 1048576).toFixed(1)} MiB free, the jar needs ${(art.size / 1048576).toFixed(1)} MiB plus 1 MiB)`,
    );
  }
  if (art && overlap && cfg.checkMemory && p.memTotalBytes !== undefined && p.memAvailBytes !== undefined) {
    const heap = maxHeap(cfg.javaOpts, cfg.env, p.memTotalBytes);
    if (heap.bytes > p.memAvailBytes) {
      throw new DeployError(
        'preflight',
        label,
        `not enough memory for a second JVM: ${gib(p.memAvailBytes)} available (MemAvailable, of ${gib(p.memTotalBytes)}), and the new version's heap may grow to ${gib(heap.bytes)} ` +
          `(${heap.from}) while the old one still runs. Lower -Xmx, free memory on the host, or set check-memory: false to start it anyway`,
      );
    }
    ctx.ui.info(`${label}: memory: ${gib(p.memAvailBytes)} available, the new JVM's heap may grow to ${gib(heap.bytes)} (${heap.from})`);
  }
  ctx.ui.info(`${label}: ${p.java} (${p.javaVersion ?? 'version unknown'})`);
  app.javaPath = p.java;
  return p;
}
