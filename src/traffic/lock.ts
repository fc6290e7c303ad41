// The deploy lock, taken on every nginx host (always in the same order, so two deploys never
// each hold half) and released by its owner only.
import { hostname } from 'node:os';
import { DeployError } from '../errors.ts';
import * as lockCmd from '../commands/lock.ts';
import type { Lane, Remote } from '../ssh/remote.ts';
import { type OpContext } from '../run/context.ts';
import { sleep } from '../util/async.ts';

export function lockInfo(): string {
  return [
    `run=${process.env.GITHUB_REPOSITORY ?? 'local'}#${process.env.GITHUB_RUN_ID ?? '-'}`,
    `actor=${process.env.GITHUB_ACTOR ?? '-'}`,
    `runner=${hostname()}`,
    `pid=${process.pid}`,
    `at=${new Date().toISOString()}`,
  ].join(' ');
}

/**
 * Up to when (runner time, ms) another deploy may have changed the hosts, from what taking a lock
 * said at `now`. A lock found free at once (attempt 0), in a remote-dir unchanged for QUIET s: the
 * last unlock, the end of the last deploy, was before now - QUIET + 1 s (whole seconds on the host,
 * both ends rounded down). Waited for, or taken over from a stale holder: up to now, and a second
 * for the rounding. Never there before: never. Pure.
 */
export function othersUntilOf(out: string, attempt: number, now: number): number {
  if (out === 'acquired' && attempt === 0) return -Infinity;
  const quiet = attempt === 0 && /^acquired \d+$/.test(out) ? Number(out.slice(9)) : 0;
  return now - (quiet - 1) * 1000;
}

/**
 * The deploy locks of one run: taken on every nginx host (take), kept fresh while the run goes on,
 * and given back (release), also when take failed half-way. What taking them said is othersUntil.
 */
export class DeployLocks {
  /**
   * Runner time (ms) up to which another deploy may have changed the hosts, as the locks told:
   * what was read on a host after it still holds once the locks are ours (fleet/lockreads.ts readsStillValid).
   * Infinity until they are taken: nothing read before counts.
   */
  othersUntil = Infinity;
  private readonly ctx: OpContext;
  /** the timers that keep each lock taken fresh */
  private readonly refreshers: ReturnType<typeof setInterval>[] = [];

  constructor(ctx: OpContext) {
    this.ctx = ctx;
  }

  /** behind: called once per host right after its first lock command was sent, with its lane. */
  async take(nginx: Remote[], behind?: (remote: Remote, lane: Lane) => void): Promise<void> {
    const ctx = this.ctx;
    const cfg = ctx.cfg;
    const dir = `${cfg.remoteDir}/deploy.lock`;
    const info = lockInfo();
    const stale = Math.max(1800, (cfg.healthTimeoutMs + cfg.drainTimeoutMs + cfg.stopTimeoutMs) / 1000 + 600);
    const ordered = [...nginx].sort((a, b) => (a.label < b.label ? -1 : a.label > b.label ? 1 : 0));
    let othersUntil = -Infinity;
    for (const remote of ordered) {
      const deadline = Date.now() + cfg.lockTimeoutMs;
      for (let attempt = 0; ; attempt++) {
        const lane = remote.lane();
        const sent = remote.must('lock', lockCmd.acquireLock(dir, info, stale, ctx.cmdOptions()), cfg.commandTimeoutMs, lane);
        if (attempt === 0) behind?.(remote, lane);
        const out = (await sent).trim();
        const unwritable = /^unwritable (\S+) (.*)$/.exec(out);
        if (unwritable) {
          throw new DeployError(
            'lock',
            `nginx host ${remote.label}`,
            `user '${unwritable[1]}' cannot write ${unwritable[2]} (remote-dir) or its audit log deploys.log there: the deploy lock and the audit log are the deploy user's, written without sudo. ` +
              `Make them that user's: sudo install -d -o ${unwritable[1]} ${cfg.remoteDir} && sudo chown -R ${unwritable[1]} ${cfg.remoteDir} (nothing was changed)`,
          );
        }
        if (!/^(acquired( \d+)?|(recovered|held) \d+( .*)?)$/.test(out)) {
          // It may have been taken all the same: give it back (only a lock with our owner line goes).
          await remote.run(lockCmd.releaseLock(dir, info, ctx.cmdOptions()), cfg.commandTimeoutMs);
          throw new DeployError('lock', `nginx host ${remote.label}`, `unexpected output from the lock command (a login banner or a shell start-up file printing something?): '${out.slice(0, 300)}'`);
        }
        const [, age, ...owner] = out.split(' ');
        // What was read behind a lock that is another deploy's is of no use: read again once it is ours.
        if (out.startsWith('held')) remote.ahead.clear();
        if (out.startsWith('acquired') || out.startsWith('recovered')) {
          othersUntil = Math.max(othersUntil, othersUntilOf(out, attempt, Date.now()));
          ctx.state.locks.push({ nginx: remote.label, dir, info });
          ctx.save();
          this.keepFresh(remote, dir, info, stale);
          if (out.startsWith('recovered')) ctx.ui.warn(`replaced a stale deploy lock (${age}s old, held by ${owner.join(' ') || 'unknown'}) on ${remote.label}`);
          break;
        }
        if (Date.now() >= deadline) {
          throw new DeployError(
            'lock',
            `nginx host ${remote.label}`,
            `another deploy holds ${dir} (for ${age}s, ${owner.join(' ') || 'holder unknown'}). ` +
              `Wait for it, raise lock-timeout to queue behind it, or remove the directory if that deploy is dead (it is treated as stale after ${Math.round(stale)}s)`,
          );
        }
        ctx.checkpoint();
        await sleep(1000);
      }
    }
    this.othersUntil = othersUntil;
  }

  /**
   * A canary or rolling deploy may run longer than the stale age: the lock is touched every quarter
   * of it (at most every minute) while the deploy runs, so no other deploy takes it over.
   */
  private keepFresh(remote: Remote, dir: string, info: string, staleSec: number): void {
    const ctx = this.ctx;
    const every = Math.min(60_000, (staleSec * 1000) / 4);
    let warned = false;
    const timer = setInterval(() => {
      if (!remote.connected) return;
      void remote.run(lockCmd.refreshLock(dir, info, ctx.cmdOptions()), ctx.cfg.commandTimeoutMs).then((r) => {
        if ((r.code !== 0 || r.stdout.trim() !== 'refreshed') && !warned) {
          warned = true;
          ctx.ui.warn(`${remote.label}: could not refresh the deploy lock ${dir} (${r.stdout.trim() || r.stderr.trim() || `exit ${r.code}`})`);
        }
      });
    }, every);
    timer.unref();
    this.refreshers.push(timer);
  }

  /** Gives back every lock this run took (lanes: the unlock goes behind what runs there). */
  async release(nginx: Remote[], lanes?: Map<Remote, Lane>): Promise<void> {
    const ctx = this.ctx;
    for (const t of this.refreshers.splice(0)) clearInterval(t);
    await Promise.all(
      ctx.state.locks.map(async (l) => {
        const r = nginx.find((n) => n.label === l.nginx);
        if (!r?.connected) return;
        await r.run(lockCmd.releaseLock(l.dir, l.info, ctx.cmdOptions()), ctx.cfg.commandTimeoutMs, lanes?.get(r)).catch(() => undefined);
      }),
    );
    ctx.state.locks = [];
  }
}

/** dry-run: `free`, or whom the deploy lock on an nginx host is held by, in words. */
export async function lockStatus(ctx: OpContext, remote: Remote): Promise<string> {
  const out = (await remote.must('lock', lockCmd.lockStatus(`${ctx.cfg.remoteDir}/deploy.lock`, ctx.cmdOptions()), ctx.cfg.commandTimeoutMs)).trim();
  return out === 'free' ? out : `the deploy lock is ${out.replace(/^held (\d+)/, 'held for $1s by')}`;
}
