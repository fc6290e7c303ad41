// Changes of the include on one or several nginx hosts switched together: write + test
// everywhere, then reload everywhere and confirm; and the put-back of a rollback. Each change
// records its undo before it is made.
import { DeployError } from '../errors.ts';
import * as N from '../commands/nginx.ts';
import { describe } from '../commands/shell.ts';
import { failureText, type Remote } from '../ssh/remote.ts';
import type { OpContext } from '../run/context.ts';
import type { IncludeUndo } from '../run/undo.ts';
import { explainOutcome } from './explain.ts';
import { type Change, type Target, sha256 } from './side.ts';

/** Whether nginx may run what a change wrote, from its outcome; undefined: it cannot be told. */
function mayServe(o: N.ChangeOutcome | undefined): boolean | undefined {
  switch (o?.kind) {
    case 'switched':
      return true;
    case 'reload-failed':
      return o.applied;
    case 'staged':
    case 'sudo-refused':
    case 'changed':
    case 'write-failed':
    case 'content-refused':
    case 'test-failed':
    case 'dump-failed':
    case 'not-loaded':
      return false;
    default:
      return undefined;
  }
}

/**
 * One changeInclude round trip on a host: `content` where the file's sha256 is `expect` (reload
 * and confirm unless `over` says otherwise), with this run's test and reload commands; after the
 * write, nginx's dump must show the new content under the include's name before any reload.
 */
async function change(ctx: OpContext, remote: Remote, inc: Target, content: string | null | undefined, expect: string, over: Partial<N.ChangeSpec> = {}) {
  const cfg = ctx.cfg;
  const s: N.ChangeSpec = {
    content,
    expect,
    target: content === undefined ? '-' : sha256(content),
    reload: true,
    test: cfg.nginxTestIsDump ? cfg.nginxDumpCommand : cfg.nginxTestCommand,
    dump: cfg.nginxTestIsDump ? [] : cfg.nginxDumpCommand,
    loadedAs: inc.loadedAs,
    reloadCmd: cfg.nginxReloadCommand,
    waitSec: 15,
    commandSec: cfg.commandTimeoutMs / 1000,
    priv: cfg.sudo,
    ...over,
  };
  // A reload: the wait for the old workers goes right behind it, in its shell, and starts on the
  // host the moment the switch is confirmed, with the pids the switch printed (a drain takes its
  // answer; nothing else needs it, and it ends within 5 s).
  const lane = s.reload ? remote.lane() : undefined;
  const running = remote.run({ ...N.changeInclude(inc.path, s, ctx.cmdOptions(false, 3 * s.commandSec + 30)), keep: s.reload }, 3 * cfg.commandTimeoutMs + 30_000, lane);
  const ms = Math.min(5000, cfg.drainTimeoutMs);
  const gone = lane && remote.run(N.waitSwitchedWorkers(ms, ctx.cmdOptions(false, ms / 1000 + 10)), ms + cfg.commandTimeoutMs, lane);
  gone?.catch(() => undefined);
  const r = await running;
  return { r, outcome: N.parseChange(r.stdout).outcome, reload: s.reload, gone };
}

/**
 * Switches every nginx host to its new include. One host: one round trip (write, test, reload,
 * confirm). Several: write + test on all; only when all pass, reload all in parallel and confirm.
 * The undo (put back every include, reload) is recorded first; the caller's rollback runs it.
 * Returns the moment the last host confirmed.
 */
export async function applyChanges(ctx: OpContext, step: string, changes: Change[]): Promise<number> {
  const start = Date.now();
  try {
    const at = await changeAll(ctx, step, changes);
    ctx.mark(changes.map((c) => c.side.remote.label), step, start);
    return at;
  } catch (e) {
    ctx.mark(changes.map((c) => c.side.remote.label), step, start, true);
    throw e;
  }
}

async function changeAll(ctx: OpContext, step: string, changes: Change[]): Promise<number> {
  const cfg = ctx.cfg;
  ctx.checkpoint();
  const entry: IncludeUndo = {
    kind: 'include',
    hosts: changes.map((c) => ({ nginx: c.side.addr, path: c.side.path, loadedAs: c.side.loadedAs, before: c.side.text, after: c.after })),
  };
  ctx.record(entry);
  const send = async (c: Change, over: Partial<N.ChangeSpec>, ok: N.ChangeOutcome['kind'][]) => {
    const where = `nginx host ${c.side.remote.label}`;
    const { r, outcome, reload, gone } = await change(ctx, c.side.remote, c.side, 'content' in over ? over.content : c.after, c.side.sha, over);
    // Whether nginx there may run the new include: said in the journal for the rollback.
    const h = entry.hosts[changes.indexOf(c)];
    const known = mayServe(outcome);
    if (known !== undefined && h.mayServe !== known) {
      h.mayServe = known;
      ctx.save();
    }
    if (r.code !== 0 || !outcome) throw new DeployError(step, where, `${reload ? 'the switch' : 'writing the include'} failed: ${failureText(r, cfg.commandTimeoutMs)}`);
    if (!ok.includes(outcome.kind)) throw new DeployError(step, where, explainOutcome(ctx, c.side, outcome));
    if (outcome.kind === 'switched') {
      c.side.oldWorkers = outcome.oldWorkers;
      c.side.workersGone = gone;
    }
    return outcome;
  };
  if (changes.length === 1) {
    await send(changes[0], {}, ['switched', 'same']);
  } else {
    // Phase 1: write and test everywhere. A failure anywhere leaves every include as it was.
    const staged = await Promise.allSettled(changes.map((c) => send(c, { reload: false }, ['staged', 'same'])));
    const bad = staged.find((s) => s.status === 'rejected');
    if (bad) throw (bad as PromiseRejectedResult).reason;
    // Phase 2: reload everywhere at once and confirm.
    ctx.checkpoint();
    const reloaded = await Promise.allSettled(changes.map((c) => send(c, { content: undefined }, ['switched'])));
    const badReload = reloaded.find((s) => s.status === 'rejected');
    if (badReload) throw (badReload as PromiseRejectedResult).reason;
  }
  // The sides now hold what was written: the next change expects it.
  for (const c of changes) {
    c.side.text = c.after;
    c.side.sha = sha256(c.after);
  }
  return Date.now();
}

/** The line of nginx -t's output that says why it failed ([emerg]), else its last line. */
function emergLine(out: string): string {
  const lines = out.split('\n').filter((l) => l.trim() !== '');
  return lines.find((l) => l.includes('[emerg]')) ?? lines[lines.length - 1] ?? 'no output';
}

/**
 * Puts includes back (the undo of applyChanges): on each host, unless the file holds something
 * else than what was written, writes the old text, tests, reloads and confirms. Returns the
 * problems; the sides' oldWorkers are set for the drain that must follow before any process the
 * restored include no longer names is stopped.
 */
export async function restoreIncludes(
  ctx: OpContext,
  hosts: ({ remote: Remote; before: string | null; after: string | null } & Target)[],
): Promise<{ problems: string[]; drain: { remote: Remote; oldWorkers: number[] }[]; unrestored: { label: string; mayHold: string | null | undefined }[] }> {
  const cfg = ctx.cfg;
  const problems: string[] = [];
  // Hosts whose include may still hold what the run wrote (mayHold; undefined: unknown content).
  const unrestored: { label: string; mayHold: string | null | undefined }[] = [];
  const drain: { remote: Remote; oldWorkers: number[] }[] = [];
  const start = Date.now();
  await Promise.all(
    hosts.map(async (h) => {
      const { r, outcome: o } = await change(ctx, h.remote, h, h.before, sha256(h.after));
      ctx.mark([h.remote.label], 'switch', start, r.code !== 0 || !o);
      const on = `on ${h.remote.label}`;
      const f = h.path;
      if (r.code !== 0 || !o) {
        problems.push(`could not restore ${f} ${on}: ${failureText(r, cfg.commandTimeoutMs)} -- MANUAL ACTION NEEDED: check what nginx points at`);
        unrestored.push({ label: h.remote.label, mayHold: h.after });
        return;
      }
      switch (o.kind) {
        case 'same':
          ctx.ui.info(`${f} ${on} was not changed; nothing to restore`);
          return;
        case 'switched':
          drain.push({ remote: h.remote, oldWorkers: o.oldWorkers });
          ctx.ui.info(`restored ${f} and reloaded nginx ${on}`);
          return;
        case 'removed-untestable':
          // nginx's configuration needs the file now: left as this run wrote and tested it.
          ctx.ui.warn(
            `${f} ${on} was not removed: without it \`${describe(cfg.nginxTestCommand)}\` fails (${emergLine(o.detail)}), and nginx could not restart. ` +
              'It stays as this run wrote it (tested), naming a port where nothing runs now; the next deploy switches it',
          );
          return;
        case 'changed':
          problems.push(`${f} ${on} holds neither the old nor the new text (changed by someone else?); left as it is -- MANUAL ACTION NEEDED`);
          unrestored.push({ label: h.remote.label, mayHold: undefined });
          return;
        default:
          problems.push(`restoring ${f} ${on}: ${explainOutcome(ctx, h, o)} -- MANUAL ACTION NEEDED`);
          unrestored.push({ label: h.remote.label, mayHold: h.after });
      }
    }),
  );
  return { problems, drain, unrestored };
}
