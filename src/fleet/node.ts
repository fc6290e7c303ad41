// An app host as fleet/ sees it, what is asked of it while the lock is taken (fleet/lockreads.ts)
// and opened ahead (the upload's channel): the types and helpers lockreads.ts, upload.ts,
// start.ts and healthy.ts share.
import { randomBytes } from 'node:crypto';
import type { AppHost } from '../config/hosts.ts';
import * as appCmd from '../commands/app.ts';
import type { Remote } from '../ssh/remote.ts';
import type { OpContext } from '../run/context.ts';
import type { Artifact } from './artifact.ts';
import { healthPortOf } from '../config/spring.ts';

export interface AppNode {
  host: AppHost;
  remote: Remote;
  /** systemd-unit: who the units run as (the deploy user), read by the systemd preflight */
  unitUser?: { user: string; group: string };
  /** the java the preflight found for the deploy user (a unit's PATH is systemd's, not the user's) */
  javaPath?: string;
  /** what was asked while the lock was taken (fleet/lockreads.ts; the field keeps its old name, which a unit test builds it with) */
  early?: LockReads;
}

/** An upload channel opened ahead: it receives the jar only once told to (Remote.openWithFile). */
export interface OpenUpload {
  part: string;
  limitSec: number;
  channel: ReturnType<Remote['openWithFile']>;
}

/**
 * Opens the channel that may receive the jar, before anything says whether it is needed: its
 * set-up (two round trips and the login shell) overlaps the checks and the release directory's.
 */
export function openUpload(ctx: OpContext, app: AppNode, art: Artifact, release: string): OpenUpload {
  const jar = appCmd.layout(ctx.cfg.remoteDir, release).jar;
  const part = `${jar}.part-${randomBytes(4).toString('hex')}`;
  const limitSec = 600 + art.size / 100_000; // generous: 10 min plus 10 s per MB
  return { part, limitSec, channel: app.remote.openWithFile(appCmd.receiveJar(part, jar, art.size, ctx.cmdOptions(false, limitSec)), limitSec * 1000) };
}

/** The health path as the app host itself GETs it (curl or wget there). */
export const hostHealthUrl = (ctx: OpContext, port: number) => `http://127.0.0.1:${healthPortOf(ctx.cfg, port)}${ctx.cfg.healthPath}`;

/** How long one health check's GET may take. */
export const healthRequestMs = (ctx: OpContext) => Math.min(10_000, Math.max(2_000, ctx.cfg.healthIntervalMs));

/** A health GET the host made ahead of the wait (HTTP_GET's output), and when its answer came (runner clock). */
export interface AheadCheck {
  stdout: string;
  at: number;
}

export interface LockReads {
  /** runner time the reads were sent */
  sentAt: number;
  /** taken (and set to undefined) by preflightApp */
  preflight?: Promise<string>;
  /** the run backend's preflight (systemd-unit); taken by its preflight (fleet/systemd.ts) */
  unit?: Promise<string>;
  /** the state of each of `ports`, as inspectPort reads it */
  ports: Map<number, Promise<string>>;
  /** rollback: the release records of every one of `ports` (releaseInfo), for releaseOn */
  records?: Promise<string>;
  /**
   * rollback (health-passes 2 or more): a health GET the host made of each of `ports`, for a warm
   * standby's first check (waitHealthy judges it; its last checks are made after the lock)
   */
  health?: Map<number, Promise<AheadCheck | undefined>>;
  /** what prepareRelease would say (jarState), when there is a jar */
  jar?: Promise<string>;
  /** deploy and stage: the release's records (releaseInfo): the command it was started with before */
  started?: Promise<string>;
  /** the upload's channel, opened; taken (and set to undefined) by whoever tells it go or no */
  upload?: OpenUpload;
}

