// Releases on the app hosts: how each is started (recorded with it, so a rollback starts it the
// same way), which runs where, and which one a rollback goes back to.
import * as releasesCmd from '../commands/releases.ts';
import * as appCmd from '../commands/app.ts';
import type { Artifact } from './artifact.ts';
import { DeployError } from '../errors.ts';
import type { OpContext } from '../run/context.ts';
import { mapLimit, PARALLEL } from '../util/async.ts';
import type { AppNode } from './node.ts';
import { commandOf, type ReleaseCommand } from './backend.ts';
import { failureText } from '../ssh/remote.ts';
import { createHash } from 'node:crypto';
import { dropReleaseReads, readsStillValid, type Locked } from './lockreads.ts';

/** The release label a team's own unit gets in the records and the audit log: `unit:shop.service`. */
export const teamUnitLabel = (unit: string) => `unit:${unit}`;

/** The team's own unit a release label names (teamUnitLabel), or undefined. */
export function teamUnitOf(release: string): string | undefined {
  return release.startsWith('unit:') ? release.slice('unit:'.length) : undefined;
}

/** Records the release on its ports with its start command, and prunes all but keep-releases. */
export async function cleanupReleases(ctx: OpContext, apps: AppNode[], release: string, ports: number[], cmd: ReleaseCommand): Promise<void> {
  const cfg = ctx.cfg;
  const json = JSON.stringify(cmd);
  await mapLimit(apps, PARALLEL, async (a) => {
    const [r, ...recs] = await Promise.all([
      a.remote.run(releasesCmd.pruneReleases(cfg.remoteDir, cfg.keepReleases, [release], ctx.cmdOptions()), cfg.commandTimeoutMs),
      ...ports.map((port) => a.remote.run(releasesCmd.recordRelease(cfg.remoteDir, port, release, json, ctx.cmdOptions()), cfg.commandTimeoutMs)),
    ]);
    // Neither fails the deploy (it serves), but both are said: a missing record misleads rollback.
    recs.forEach((rec, i) => {
      if (rec.code !== 0) {
        ctx.cleanupProblem(
          `${a.remote.label}: could not record ${release} on port ${ports[i]} (${failureText(rec, cfg.commandTimeoutMs)}); a later rollback reads the serving release from the audit log instead, and never picks it`,
        );
      }
    });
    if (r.code !== 0) ctx.cleanupProblem(`${a.remote.label}: could not prune old releases under ${cfg.remoteDir}/releases (${failureText(r, cfg.commandTimeoutMs)}); they take disk space until a later deploy prunes them`);
    const removed = r.code === 0 ? r.stdout.trim().split('\n').filter(Boolean) : [];
    if (removed.length > 0) ctx.ui.info(`${a.remote.label}: removed old releases ${removed.join(', ')}`);
  });
}

/** Each host's records of a release (its jar, its start command) and of the given ports. */
export async function readReleaseInfo(ctx: OpContext, apps: AppNode[], release: string, ports: number[]): Promise<Map<AppNode, releasesCmd.ReleaseInfo>> {
  const out = new Map<AppNode, releasesCmd.ReleaseInfo>();
  await mapLimit(apps, PARALLEL, async (a) => {
    out.set(a, releasesCmd.parseReleaseInfo(await a.remote.must('releases', releasesCmd.releaseInfo(ctx.cfg.remoteDir, release, ports, ctx.cmdOptions()), ctx.cfg.commandTimeoutMs)));
  });
  return out;
}

/**
 * The release a rollback starts: the jar must be kept on every app host; its recorded command is
 * used (a release recorded before commands were kept falls back to today's inputs, with a warning).
 */
export async function keptRelease(ctx: OpContext, apps: AppNode[], release: string, ports: number[]): Promise<{ cmd: ReleaseCommand; info: Map<AppNode, releasesCmd.ReleaseInfo> }> {
  const info = await readReleaseInfo(ctx, apps, release, ports);
  const missing = apps.filter((a) => !info.get(a)!.jar).map((a) => a.remote.label);
  if (missing.length > 0) {
    throw new DeployError('rollback', missing.join(', '), `release ${release} is not kept there (no ${ctx.cfg.remoteDir}/releases/${release}/app.jar): nothing was changed`);
  }
  const recorded = apps.map((a) => info.get(a)!.start).find((s) => s !== undefined);
  if (!recorded) {
    ctx.ui.warn(`release ${release} has no recorded start command; starting it with this step's java, java-opts, app-args and env`);
    return { cmd: commandOf(ctx.cfg), info };
  }
  return { cmd: JSON.parse(recorded) as ReleaseCommand, info };
}

/**
 * The release a deploy with `release: LABEL` records. A label names one jar: where an app host
 * keeps another jar under it (the same label deployed before with another build), this jar becomes
 * LABEL-<its sha256's first 8>, so both stay and a rollback can return to the earlier one.
 */
export async function releaseForLabel(ctx: OpContext, apps: AppNode[], label: string, art: Artifact): Promise<string> {
  const taken: string[] = [];
  await mapLimit(apps, PARALLEL, async (a) => {
    const said = (await a.remote.must('releases', appCmd.jarState(ctx.cfg.remoteDir, label, art.sha256, ctx.cmdOptions()), ctx.cfg.commandTimeoutMs)).trim();
    if (said.startsWith('taken')) taken.push(`${a.remote.label} (sha256 ${said.slice(6)})`);
  });
  if (taken.length === 0) return label;
  const release = `${label}-${art.sha256.slice(0, 8)}`;
  ctx.ui.warn(`release ${label} already names another jar on ${taken.join(', ')}; this jar is kept as release ${release}, next to it, so a rollback can go back to ${label}`);
  return release;
}

/**
 * The release this deploy records. A release is a jar and the command it is started with: when an
 * app host keeps `release` recorded with another command (the same jar deployed again with other
 * java, java-opts, app-args or env), this deployment is `release-<its command's sha256, first 8>`,
 * next to it, so that a rollback returns to the earlier one with its own options and environment.
 */
export async function deploymentLabel(ctx: OpContext, apps: AppNode[], release: string, cmd: ReleaseCommand, locks?: Locked): Promise<string> {
  const json = JSON.stringify(cmd);
  const differs: string[] = [];
  await mapLimit(apps, PARALLEL, async (a) => {
    const early = readsStillValid(locks, a)?.started;
    const out = await (early ?? a.remote.must('releases', releasesCmd.releaseInfo(ctx.cfg.remoteDir, release, [], ctx.cmdOptions()), ctx.cfg.commandTimeoutMs));
    const info = releasesCmd.parseReleaseInfo(out);
    if (info.jar && info.start !== undefined && info.start.trim() !== json) differs.push(a.remote.label);
  });
  if (differs.length === 0) return release;
  const next = `${release}-${createHash('sha256').update(json, 'utf8').digest('hex').slice(0, 8)}`;
  ctx.ui.info(
    `release ${release} was deployed before with another command (java, java-opts, app-args or env) on ${differs.join(', ')}: this deployment is release ${next}, next to it (same jar), so that a rollback returns to ${release} as it ran`,
  );
  dropReleaseReads(apps);
  return next;
}

/** The release recorded on a port of the first app host that has one (what serves there); locks: what taking them said. */
export async function releaseOn(ctx: OpContext, apps: AppNode[], port: number | null, locks?: Locked): Promise<string | undefined> {
  if (port === null || apps.length === 0) return undefined;
  // A rollback read them while the lock was taken (fleet/lockreads.ts).
  const early = readsStillValid(locks, apps[0])?.records;
  if (early) return releasesCmd.parseReleaseInfo(await early).ports.get(port);
  const info = await readReleaseInfo(ctx, apps.slice(0, 1), '', [port]);
  return info.get(apps[0])?.ports.get(port);
}

/** The team's own unit is no kept release: only its port is recorded, as teamUnitLabel. */
export function recordPortOnly(ctx: OpContext, apps: AppNode[], port: number, release: string): Promise<unknown> {
  return mapLimit(apps, PARALLEL, (a) => a.remote.run(releasesCmd.recordPort(ctx.cfg.remoteDir, port, release, ctx.cmdOptions()), ctx.cfg.commandTimeoutMs));
}

/** stage: the release waiting on port is recorded as staged on every app host. */
export async function markStaged(ctx: OpContext, apps: AppNode[], port: number, release: string): Promise<void> {
  await mapLimit(apps, PARALLEL, (a) => a.remote.must('stage', releasesCmd.markStaged(ctx.cfg.remoteDir, port, release, ctx.cmdOptions()), ctx.cfg.commandTimeoutMs));
}

/** promote: nothing is staged any more. */
export function clearStaged(ctx: OpContext, apps: AppNode[]): Promise<unknown> {
  return mapLimit(apps, PARALLEL, (a) => a.remote.run(releasesCmd.clearStaged(ctx.cfg.remoteDir, ctx.cmdOptions()), ctx.cfg.commandTimeoutMs));
}

/** A process kept as a warm standby is recorded as this action's on its port (the next deploy may replace it). */
export async function adoptProcess(ctx: OpContext, app: AppNode, port: number, pid: number, step: string): Promise<void> {
  await app.remote.must(step, releasesCmd.adoptProcess(ctx.cfg.remoteDir, port, pid, ctx.cmdOptions()), ctx.cfg.commandTimeoutMs);
}

/** What the release directory of an app host says of a jar: have, copied ..., need, taken ... (commands/app.ts jarState). */
export function jarStateOn(ctx: OpContext, app: AppNode, release: string, sha256: string, step: string): Promise<string> {
  return app.remote.must(step, appCmd.jarState(ctx.cfg.remoteDir, release, sha256, ctx.cmdOptions()), ctx.cfg.commandTimeoutMs);
}
