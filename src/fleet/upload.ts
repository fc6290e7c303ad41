// The jar's upload to an app host: put at releases/<release>/app.jar unless an identical one is
// there, checked by its sha256 while the JVM starts; a gated upload lets the start follow it
// without a round trip (the gate waits on the host for the jar).
import { DeployError, errorText } from '../errors.ts';
import * as appCmd from '../commands/app.ts';
import type { Cmd } from '../commands/shell.ts';
import { removeFile } from '../commands/shell.ts';
import { failureText, type RunResult } from '../ssh/remote.ts';
import type { OpContext } from '../run/context.ts';
import type { Artifact } from './artifact.ts';
import { openUpload, type AppNode, type OpenUpload } from './node.ts';

export interface Uploaded {
  /** what was done, for the log ('' while a gated jar is still on its way: see pending) */
  upload: string;
  /** the checksum check of a fresh upload, which runs while the JVM starts */
  verify?: Promise<RunResult>;
  /**
   * gated and sent: the jar is on its way and the start may be sent right behind it, after gate
   * (commands/shell.ts andThen), with limitMs more to run. arrived: the upload's text, or its
   * failure; prepared: the release directory's answer, or why it refuses the jar (both may still
   * come when the start is sent); after a failure, abort() makes the waiting gate give up, and
   * says whether it ends now (false: it can never pass, and need not be waited for).
   */
  pending?: { gate: Cmd; rcFile: string; limitMs: number; arrived: Promise<string>; prepared: Promise<void>; abort(): Promise<boolean> };
}

/**
 * Puts the jar at releases/<release>/app.jar unless an identical one is there. Returns what was
 * done, and the checksum check of a fresh upload, which runs while the JVM starts. known: what
 * the release directory said while the lock was taken, still true now it is ours (fleet/lockreads.ts):
 * `need` sends the jar at once, while the directories are made. gated: a fresh upload returns as
 * soon as the jar is on its way (pending), so that the start follows it without a round trip;
 * sent at once, it returns before the release directory answered (the gate needs nothing of it:
 * RECEIVE makes the directory, and never replaces a kept jar).
 */
export async function uploadJar(ctx: OpContext, app: AppNode, art: Artifact, release: string, step: string, opened?: OpenUpload, known?: Promise<string>, gated = false): Promise<Uploaded> {
  const cfg = ctx.cfg;
  const paths = appCmd.layout(cfg.remoteDir, release);
  const up = opened ?? openUpload(ctx, app, art, release);
  const first = gated ? 'go rc' : 'go';
  const preparing = app.remote.must(step, appCmd.prepareRelease(cfg.remoteDir, release, art.sha256, ctx.cmdOptions()), cfg.commandTimeoutMs).then((p) => p.trim());
  const early = known ? await known.then((k) => k.trim()).catch(() => undefined) : undefined;
  let sending: Promise<RunResult> | undefined;
  let s = Date.now();
  if (early === 'need') {
    sending = up.channel.send(art.path, first);
    sending.catch(() => undefined);
  }
  const { part, limitSec } = up;
  /** what the release directory said refuses this jar: the error, else undefined */
  const refusal = async (prep: string): Promise<DeployError | undefined> => {
    if (sending && prep !== 'need') {
      // Nothing but a deploy holding the lock changes a release directory: this is someone's hand.
      // The jar goes to a temp file; RECEIVE never moves it over a verified one.
      await sending;
      return new DeployError(step, app.remote.label, `${paths.jar} changed while this deploy held the lock (it now says '${prep}'); deploy again`);
    }
    if (prep.startsWith('taken')) {
      return new DeployError(step, app.remote.label, `${paths.jar} is another jar (sha256 ${prep.slice(6)}) than ${art.path} (sha256 ${art.sha256}); a kept release is never overwritten: nothing was changed`);
    }
    return undefined;
  };
  const arriving = (sent: Promise<RunResult>, prepared: Promise<void>): Uploaded => {
    const arrived = sent.then(async (r) => {
      if (r.code !== 0) {
        // The script removes its temp file itself; after a lost connection, try again.
        if (r.code === null || r.timedOut) await app.remote.run(removeFile(part, ctx.cmdOptions()), cfg.commandTimeoutMs).catch(() => undefined);
        const msg = failureText(r, limitSec * 1000);
        throw new DeployError(step, app.remote.label, `upload of ${art.path} failed: ${/No space|ENOSPC/i.test(msg) ? `${msg} (the disk under ${cfg.remoteDir} is full)` : msg}`);
      }
      return `${(art.size / 1048576).toFixed(1)} MiB in ${((Date.now() - s) / 1000).toFixed(1)} s`;
    });
    arrived.catch(() => undefined);
    prepared.catch(() => undefined);
    const checking = () => app.remote.run(appCmd.verifyJar(paths.jar, art.sha256, ctx.cmdOptions(false, 600)), 600_000);
    const failed = (e: unknown): RunResult => ({ code: 1, stdout: '', stderr: errorText(e), timedOut: false });
    return {
      upload: '',
      // Not before the release directory answered: the check writes the jar's .sha256, and the
      // release directory would then say `have` to a jar it was asked to make room for.
      verify: arrived.then(() => prepared).then(checking, failed),
      pending: {
        gate: appCmd.gate(part, limitSec, ctx.cmdOptions(false, limitSec + 10)),
        rcFile: appCmd.gateFile(part),
        limitMs: (limitSec + 10) * 1000,
        arrived,
        prepared,
        abort: async () => /aborted|decided/.test((await app.remote.run(appCmd.abortGate(appCmd.gateFile(part), ctx.cmdOptions()), cfg.commandTimeoutMs)).stdout),
      },
    };
  };
  if (gated && sending) {
    return arriving(
      sending,
      preparing.then(async (prep) => {
        const no = await refusal(prep);
        if (no) throw no;
      }),
    );
  }
  let prep = '';
  try {
    prep = await preparing;
  } finally {
    if (prep !== 'need' && !sending) up.channel.skip();
  }
  // (No exit code file can be there: a gated jar already on its way returned above.)
  const no = await refusal(prep);
  if (no) throw no;
  if (prep !== 'need') return { upload: prep === 'have' ? 'already there (0 bytes)' : 'copied on host (0 bytes)' };
  if (!sending) s = Date.now();
  const u = arriving(sending ?? up.channel.send(art.path, first), Promise.resolve());
  return gated ? u : { upload: await u.pending!.arrived, verify: u.verify };
}


/** Tells a start waiting on the host behind the jar never to run: aborted, decided (it passed) or none. */
export async function closeGate(ctx: OpContext, app: AppNode, rcFile: string): Promise<'aborted' | 'decided' | 'none'> {
  const r = await app.remote.run(appCmd.abortGate(rcFile, ctx.cmdOptions()), ctx.cfg.commandTimeoutMs).catch(() => undefined);
  const said = r?.stdout.trim();
  return said === 'aborted' || said === 'decided' ? said : 'none';
}
