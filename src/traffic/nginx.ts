// The nginx side of a deploy, on one or several nginx hosts switched together: read the include
// everywhere (they must agree) and check, before anything changes, that it can be written (with
// sudo: the include validator). The changes are switch.ts; what is shown on a refusal, explain.ts.
import { randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import type { SshAddress } from '../config/hosts.ts';
import { DeployError } from '../errors.ts';
import * as N from '../commands/nginx.ts';
import { type Cmd, describe } from '../commands/shell.ts';
import type { Lane, Remote } from '../ssh/remote.ts';
import type { OpContext } from '../run/context.ts';
import { formAddresses, renderInclude } from './include.ts';
import { type ChosenInclude, ChoiceError, chooseInclude, parseNginxRead, unresolvableName } from './nginxconf.ts';
import { sudoRefused, validatorCheck } from './explain.ts';
import { type NginxSide, sha256 } from './side.ts';

export { nginxRule, sudoRefused } from './explain.ts';
export { type Change, type NginxSide, type Target, sha256 } from './side.ts';
export { applyChanges, restoreIncludes } from './switch.ts';

const READ_AHEAD = 'read include';

function readCmd(ctx: OpContext, key: string): Cmd {
  const cfg = ctx.cfg;
  // The set form needs a resolver for a host name: what the host resolves it to goes in the refusal.
  const names = cfg.appHosts.length === 1 && !isIP(cfg.appHosts[0].target) ? [cfg.appHosts[0].target] : [];
  // With sudo the script runs as the deploy user and only the dump goes through sudo (exactly).
  return N.readNginx(key, cfg.includeFile, cfg.nginxDumpCommand, cfg.commandTimeoutMs / 1000, ctx.cmdOptions(false, cfg.commandTimeoutMs / 1000 + 10), names, cfg.sudo, [
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
  remote.ahead.set(READ_AHEAD, { key, out });
}

/**
 * Reads, on every nginx host in one round trip each, which files nginx loads (nginx -T) and
 * picks the include among them (include-file, checked; or found); refuses when it is not part of
 * what nginx serves, when the user may not write it (without sudo), or when the hosts disagree on
 * what they point at; with sudo, when the include validator is not this version's under an exact
 * rule.
 */
export async function readIncludes(ctx: OpContext, remotes: { addr: SshAddress; remote: Remote }[]): Promise<NginxSide[]> {
  const cfg = ctx.cfg;
  const targets = cfg.appHosts.map((h) => h.target);
  const dumpText = describe(cfg.nginxDumpCommand);
  const sides = await Promise.all(
    remotes.map(async ({ addr, remote }) => {
      const where = `nginx host ${remote.label}`;
      const early = remote.takeAhead<{ key: string; out: Promise<string> }>(READ_AHEAD);
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
      // With sudo: the include validator this version expects (and an include it accepts), or a
      // broad rule (then unchecked). A root user's sudo is no bound: nothing to say.
      if (cfg.sudo && read.uid !== 0) {
        const v = validatorCheck(ctx, out, key, read.user, c.path, c.text);
        if (v.error) throw new DeployError('preflight', where, v.error);
        if (v.warning) ctx.ui.warn(`${remote.label}: ${v.warning}`);
      }
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
