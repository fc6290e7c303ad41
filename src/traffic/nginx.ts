// The nginx side of a deploy, on one or several nginx hosts switched together: read the include
// everywhere (they must agree), change it (write + test everywhere, then reload everywhere and
// confirm), and put it back. Each change records its undo before it is made.
import { createHash, randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import type { SshAddress } from '../config/hosts.ts';
import { DeployError } from '../errors.ts';
import * as N from '../commands/nginx.ts';
import { type Cmd, describe } from '../commands/shell.ts';
import { debianPath, nginxRuleForInputs, sudoersCommand, sudoersLine } from '../commands/sudoers.ts';
import { failureText, type Lane, type Remote, type RunResult } from '../ssh/remote.ts';
import type { OpContext } from '../run/context.ts';
import type { IncludeUndo } from '../run/undo.ts';
import { type IncludeForm, formAddresses, renderInclude } from './include.ts';
import { type ChosenInclude, ChoiceError, chooseInclude, parseNginxRead, unresolvableName } from './nginxconf.ts';

export const sha256 = (text: string | null) => (text === null ? 'absent' : createHash('sha256').update(text, 'utf8').digest('hex'));

export interface NginxSide {
  addr: SshAddress;
  remote: Remote;
  /** the include file on this host (symlinks resolved) */
  path: string;
  /** its name in nginx's dump (how nginx includes it) */
  loadedAs: string;
  /** how it was found, for the log and the dry run */
  how: string;
  /** the include as read; null: no file */
  text: string | null;
  sha: string;
  form: IncludeForm | null;
  /** set by the last change that reloaded: the old workers of the master serving the include */
  oldWorkers: number[];
  /** the host's wait for those workers, sent right behind that change (drain.ts takes it once) */
  workersGone?: Promise<RunResult>;
}

/**
 * Reads, on every nginx host in one round trip each, which files nginx loads (nginx -T) and
 * picks the include among them (include-file, checked; or found); refuses when it is not part of
 * what nginx serves, when the user may not write it (without sudo), or when the hosts disagree on
 * what they point at.
 */
const EARLY_READ = 'read include';

function readCmd(ctx: OpContext, key: string): Cmd {
  const cfg = ctx.cfg;
  // The set form needs a resolver for a host name: what the host resolves it to goes in the refusal.
  const names = cfg.appHosts.length === 1 && !isIP(cfg.appHosts[0].target) ? [cfg.appHosts[0].target] : [];
  // With sudo the script runs as the deploy user and only the dump goes through sudo (exactly).
  return N.readNginx(key, cfg.includeFile, cfg.nginxDumpCommand, cfg.commandTimeoutMs / 1000, ctx.o(false, cfg.commandTimeoutMs / 1000 + 10), names, cfg.sudo, [
    cfg.nginxTestIsDump ? [] : cfg.nginxTestCommand,
    cfg.nginxReloadCommand,
  ]);
}

/**
 * Sends the include read right behind the lock, in its shell: it runs on the host once the lock
 * is held (the lock and the read cost one round trip), and readIncludes takes its answer.
 */
export function readBehind(ctx: OpContext, remote: Remote, lane: Lane): void {
  const key = randomBytes(6).toString('hex');
  const out = remote.must('read include', readCmd(ctx, key), ctx.cfg.commandTimeoutMs + 10_000, lane);
  out.catch(() => undefined);
  remote.early.set(EARLY_READ, { key, out });
}

export async function readIncludes(ctx: OpContext, remotes: { addr: SshAddress; remote: Remote }[]): Promise<NginxSide[]> {
  const cfg = ctx.cfg;
  const targets = cfg.appHosts.map((h) => h.target);
  const dumpText = describe(cfg.nginxDumpCommand);
  const sides = await Promise.all(
    remotes.map(async ({ addr, remote }) => {
      const where = `nginx host ${remote.label}`;
      const early = remote.take<{ key: string; out: Promise<string> }>(EARLY_READ);
      const key = early?.key ?? randomBytes(6).toString('hex');
      const out = await (early?.out ?? remote.must('read include', readCmd(ctx, key), cfg.commandTimeoutMs + 10_000));
      const read = parseNginxRead(out, key);
      if (typeof read === 'string') throw new DeployError('read include', where, read);
      const refused = read.refused?.[0];
      if (refused) throw new DeployError('preflight', where, sudoRefused(ctx, refused, read.want?.real));
      if (read.status !== 0 && !cfg.sudo && read.uid !== 0 && (read.status === 126 || read.status === 127 || /permission denied/i.test(read.error))) {
        throw new DeployError(
          'preflight',
          where,
          `user '${read.user}' could not run \`${dumpText}\` (${read.status === 127 ? 'not found on its PATH' : 'permission denied'}: ${read.error.split('\n').slice(-3).join(' / ')}), ` +
            "which nginx's own test and reload also need: set sudo: true (and allow the user passwordless sudo: docs/server-setup.md, The sudo rule), or give nginx-test-command with nginx's full path",
        );
      }
      let c: ChosenInclude;
      try {
        c = chooseInclude(read, cfg.includeFile, targets, dumpText, renderInclude('', null, targets, cfg.ports[0]));
      } catch (e) {
        if (e instanceof ChoiceError) throw new DeployError('read include', where, e.message);
        throw e;
      }
      const unresolvable = unresolvableName(read, c, targets);
      if (unresolvable) throw new DeployError('read include', where, unresolvable);
      // Without sudo, a non-root user must be able to write the include, or the switch would fail late.
      if (!cfg.sudo && read.uid !== 0 && !c.writable) {
        throw new DeployError(
          'preflight',
          where,
          `user '${read.user}' cannot write ${c.path} (its directory is owned by ${c.owner && c.owner !== '?' ? c.owner : 'another user'}): set sudo: true (and allow the user passwordless sudo: docs/server-setup.md, The sudo rule)`,
        );
      }
      // A reload is confirmed by nginx's new workers: a host where none can be seen while nginx
      // serves would give no evidence, so it is refused before anything starts.
      if (read.workers === 'no-ps') throw new DeployError('preflight', where, "ps (procps) is missing: it shows nginx's workers, the only evidence that a reload took; install procps");
      if (c.form !== null && read.workers === 0) {
        throw new DeployError(
          'preflight',
          where,
          `no nginx worker process is visible to user '${read.user}' (\`ps -eo pid,ppid,args\` shows none titled 'nginx: worker process'), although ${c.path} names a live port: ` +
            `a reload could not be confirmed. Is nginx running? If /proc is mounted with hidepid, or nginx runs in a container or under other process titles, ${cfg.sudo ? 'run the deploy where its processes are visible' : 'set sudo: true'}`,
        );
      }
      ctx.ui.info(`${remote.label}: ${c.path}: ${c.how}`);
      return { addr, remote, path: c.path, loadedAs: c.loadedAs, how: c.how, text: c.text, sha: sha256(c.text), form: c.form, oldWorkers: [] } as NginxSide;
    }),
  );
  const shape = (s: NginxSide) =>
    s.form === null ? '(no entries: first deploy)' : `${s.form.kind} ${(s.form.kind === 'upstream' ? s.form.servers : formAddresses(s.form)).map((a) => `${a.host}:${a.port}${'down' in a && a.down ? ' down' : ''}`).join(', ')}`;
  const first = shape(sides[0]);
  const odd = sides.find((s) => shape(s) !== first);
  if (odd) {
    throw new DeployError(
      'read include',
      undefined,
      `the nginx hosts disagree on the include, so nothing was changed: ${sides.map((s) => `${s.remote.label} has ${shape(s)} in ${s.path}`).join('; ')}. ` +
        'A human must look: make the includes point at the same entries',
    );
  }
  return sides;
}

export interface Change {
  side: NginxSide;
  /** the new include (null: remove it) */
  after: string | null;
}

/** The nginx host's sudoers rule for these inputs (include: its real path). */
export function nginxRule(ctx: OpContext, user: string, include: string, resolve?: (cmd: string) => string): string {
  const cfg = ctx.cfg;
  return nginxRuleForInputs(user, include, cfg.nginxTestCommand, cfg.nginxReloadCommand, resolve);
}

/**
 * sudo refused a command (a password is required: the sudoers rule does not name it): the
 * command, the line that would allow it, and the whole rule for this host's inputs.
 */
export function sudoRefused(ctx: OpContext, r: N.SudoRefusal, include: string | undefined): string {
  const cmd = r.argv.join(' ');
  const line = sudoersLine(r.user, [sudoersCommand(r.argv)]).trimEnd();
  // The rule for the include as named here; a command given by name where the host found the refused one.
  const found = (c: string) => (!c.includes('/') && r.argv[0].endsWith(`/${c}`) ? r.argv[0] : debianPath(c));
  const rule = include ? `\nThe rule for this host (include-file, nginx-test-command, nginx-reload-command as given):\n${nginxRule(ctx, r.user, include, found).trimEnd()}` : '';
  return (
    `sudo refused \`${cmd}\` for user '${r.user}' (a password is required): the sudoers rule does not name this exact command, so nothing was changed here. ` +
    `With sudo: true every step that needs root is one exact command (docs/server-setup.md, "The sudo rule"); if include-file, nginx-test-command or nginx-reload-command changed, the rule must change with them. Missing line:\n${line}${rule}`
  );
}

const explainOutcome = (ctx: OpContext, inc: Target, o: N.ChangeOutcome): string => {
  const cfg = ctx.cfg;
  const f = inc.path;
  const why = (x: { code: number; detail: string }) =>
    x.code === 124 ? `timed out after ${cfg.commandTimeoutMs / 1000}s (command-timeout)${x.detail ? `: ${x.detail}` : ''}` : x.detail || `exit code ${x.code}, no output`;
  switch (o.kind) {
    case 'changed':
      return `${f} changed on the host since it was read (now sha256 ${o.current.slice(0, 12)}…), so it was not overwritten; run the deploy again`;
    case 'write-failed':
      return `could not write ${f}: ${o.detail}${cfg.sudo ? '' : ' (if its directory is root-owned, set sudo: true)'}`;
    case 'test-failed':
      return `nginx-test-command (${describe(cfg.nginxTestCommand)}) did not pass, so nginx was not reloaded: ${why(o)} (${f} was put back as it was)`;
    case 'dump-failed':
      return `\`${describe(cfg.nginxDumpCommand)}\` (to confirm nginx loads the new ${f}) failed, so nginx was not reloaded: ${why(o)} (${f} was put back as it was)`;
    case 'not-loaded':
      return (
        `after writing ${f}, \`${describe(cfg.nginxDumpCommand)}\` does not show its new content as '${inc.loadedAs}' (${o.got === 'absent' ? 'nginx no longer loads it: was its include directive changed?' : 'it shows other content'}), ` +
        `so nginx was not reloaded and ${f} was put back as it was`
      );
    case 'reload-failed':
      return `nginx-reload-command (${describe(cfg.nginxReloadCommand)}) failed: ${why(o)}`;
    case 'sudo-refused':
      return sudoRefused(ctx, o.refused, f);
    case 'no-workers':
      return "no nginx worker process could be seen before or after the reload (ps shows none titled 'nginx: worker process': hidepid, a container, other process titles), so the switch is not confirmed";
    case 'not-applied':
      return `nginx did not start new worker processes within 15s of the reload: the new configuration was not applied (see the nginx error log)`;
    default:
      return `unexpected outcome ${o.kind}`;
  }
};

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
    case 'test-failed':
    case 'dump-failed':
    case 'not-loaded':
      return false;
    default:
      return undefined;
  }
}

/** Where an include is on a host, and the name nginx loads it by. */
export interface Target {
  path: string;
  loadedAs: string;
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
  const running = remote.run({ ...N.changeInclude(inc.path, s, ctx.o(false, 3 * s.commandSec + 30)), keep: s.reload }, 3 * cfg.commandTimeoutMs + 30_000, lane);
  const ms = Math.min(5000, cfg.drainTimeoutMs);
  const gone = lane && remote.run(N.waitSwitchedWorkers(ms, ctx.o(false, ms / 1000 + 10)), ms + cfg.commandTimeoutMs, lane);
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
