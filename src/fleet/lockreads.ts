// What an app host is asked while the deploy lock is being taken: the lock's round trips on the
// nginx hosts and these on the app hosts overlap. Everything here only reads (and the upload
// channel only opens: it waits to be told go or no), so a deploy that stops at the lock has
// changed nothing. What another deploy can change (ports, the release directory) is used only when
// the locks prove that none held them since these were sent (Locked, what taking them said); the rest (java,
// tools, disk, systemd) is the host's, lock or not.
import * as appCmd from '../commands/app.ts';
import * as preflightCmd from '../commands/preflight.ts';
import * as releasesCmd from '../commands/releases.ts';
import { andThen, waiting, type Cmd } from '../commands/shell.ts';
import type { OpContext } from '../run/context.ts';
import type { Artifact } from './artifact.ts';
import type { RunBackend } from './backend.ts';
import * as httpCmd from '../commands/http.ts';
import { healthRequestMs, hostHealthUrl, openUpload, type AheadCheck, type AppNode, type LockReads } from './node.ts';

export type { LockReads } from './node.ts';

/** A promise kept for later: its rejection is seen by whoever takes it, never unhandled. */
function kept<T>(p: Promise<T>): Promise<T> {
  p.catch(() => undefined);
  return p;
}

/** Sends the reads of every app host at once; each host's go to app.early. */
export function readWhileLocking(ctx: OpContext, backend: RunBackend, apps: AppNode[], art: Artifact | undefined, release: string): void {
  const cfg = ctx.cfg;
  const unit = backend.preflightCmd();
  for (const app of apps) {
    const r = app.remote;
    // Each in a shell of its own: they run side by side on the host, not one after another in one
    // (a port's state walks every process's sockets: ~70 ms each on a busy host).
    const ask = (step: string, cmd: Cmd) => kept(r.must(step, waiting(cmd), cfg.commandTimeoutMs));
    app.early = {
      sentAt: Date.now(),
      preflight: ask('preflight', preflightCmd.appPreflight(cfg.java, cfg.remoteDir, ctx.cmdOptions())),
      unit: unit && ask('preflight', unit),
      ports: new Map(cfg.ports.map((port) => [port, ask('upload and start', appCmd.portState(port, appCmd.layout(cfg.remoteDir, '', port).pidFile, ctx.cmdOptions(), ctx.privPorts))])),
      records: cfg.mode === 'rollback' ? ask('releases', releasesCmd.releaseInfo(cfg.remoteDir, '', cfg.ports, ctx.cmdOptions())) : undefined,
      health: cfg.mode === 'rollback' && cfg.healthPasses >= 2 ? new Map(cfg.ports.map((port) => [port, aheadCheck(ctx, app, port)])) : undefined,
      // One shell: the release directory's answer (one line), then its records.
      ...(art ? jarAndRecords(ask('upload and start', andThen(appCmd.jarState(cfg.remoteDir, release, art.sha256, ctx.cmdOptions()), releasesCmd.releaseInfo(cfg.remoteDir, release, [], ctx.cmdOptions())))) : {}),
      upload: art ? openUpload(ctx, app, art, release) : undefined,
    };
  }
}

function jarAndRecords(both: Promise<string>): { jar: Promise<string>; started: Promise<string> } {
  const at = (o: string) => o.indexOf('\n') + 1 || o.length;
  return { jar: kept(both.then((o) => o.slice(0, at(o)))), started: kept(both.then((o) => o.slice(at(o)))) };
}

/** One health GET of the port, made by the host; undefined when it could not be made. */
function aheadCheck(ctx: OpContext, app: AppNode, port: number): Promise<AheadCheck | undefined> {
  const ms = healthRequestMs(ctx);
  const get = httpCmd.httpGet(hostHealthUrl(ctx, port), ms / 1000, ctx.cmdOptions(false, ms / 1000 + 10));
  return kept(app.remote.run(get, ms + ctx.cfg.commandTimeoutMs).then((r) => (r.code === 0 ? { stdout: r.stdout, at: Date.now() } : undefined)));
}

/**
 * What taking the deploy locks said (traffic/lock.ts DeployLocks): up to when (runner time, ms)
 * another deploy may have changed the hosts.
 */
export interface Locked {
  readonly othersUntil: number;
}

/** The early reads of this host that still hold now that the locks are ours (locks: none taken), or undefined. */
export function readsStillValid(locks: Locked | undefined, app: AppNode): LockReads | undefined {
  const e = app.early;
  return e && locks && e.sentAt > locks.othersUntil ? e : undefined;
}

/** Takes a promise out of app.early (it is used once). */
export function takeRead<K extends 'preflight' | 'unit' | 'upload'>(app: AppNode, key: K): LockReads[K] | undefined {
  const e = app.early;
  if (!e) return undefined;
  const v = e[key];
  e[key] = undefined;
  return v;
}

/** Forgets what was read early about the release label (another label is deployed). */
export function dropReleaseReads(apps: AppNode[]): void {
  for (const a of apps) {
    if (!a.early) continue;
    a.early.upload?.channel.skip();
    a.early.upload = undefined;
    a.early.jar = undefined;
    a.early.started = undefined;
  }
}

/** Tells every upload channel opened early and not taken that it is not needed. */
export function dropLockReads(apps: AppNode[]): void {
  for (const a of apps) {
    a.early?.upload?.channel.skip();
    a.early = undefined;
  }
}
