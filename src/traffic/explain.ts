// What the user reads when nginx's side refuses: sudo's refusal of a command (with the missing
// sudoers line and the host's rule), a missing or outdated include validator (with its install
// command), and each outcome of a change that stops the deploy. Pure text.
import * as N from '../commands/nginx.ts';
import { describe } from '../commands/shell.ts';
import { debianPath, nginxRuleForInputs, sudoersCommand, sudoersLine } from '../commands/sudoers.ts';
import { VALIDATOR_PATH, VALIDATOR_SHA, parseValidatorState, validatorInstallCommand, validatorProblem, validatorRefusal } from '../commands/validator.ts';
import type { OpContext } from '../run/context.ts';
import type { Target } from './side.ts';

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

export const explainOutcome = (ctx: OpContext, inc: Target, o: N.ChangeOutcome): string => {
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
    case 'content-refused':
      return contentRefused(f, o.detail);
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

/** The include validator refused (or would refuse) the include's content. */
const contentRefused = (f: string, detail: string, early = false) =>
  `the include validator (${VALIDATOR_PATH}) ${early ? `would refuse ${f} as it is (the switch keeps its lines), so nothing was changed` : `refused the new content of ${f}, so nothing was written`}: ${detail}. ` +
  'It accepts only the lines the action writes (a set line, upstream blocks of server lines with their parameters, keepalive and the balancing directives, comments: docs/server-setup.md, "The include validator"); ' +
  `make ${f} hold only those`;

/**
 * With sudo, what the read says of the include validator (`zdd-KEY validator ...` and, when it is
 * not this version's, `zdd-KEY broad yes|no`): nothing when it is this version's; a warning when
 * it is not but the rule is broad (NOPASSWD: ALL: the include is then written unchecked, as the
 * key is root there anyway); otherwise the named error, with the install command and the rule.
 */
export function validatorCheck(ctx: OpContext, out: string, key: string, user: string, include: string, text: string | null): { error?: string; warning?: string } {
  const line = (kind: string) => out.split('\n').find((l) => l.startsWith(`zdd-${key} ${kind} `))?.slice(`zdd-${key} ${kind} `.length);
  const state = parseValidatorState(line('validator') ?? '');
  const p = state ? validatorProblem(state) : { title: 'include validator unreadable', detail: `the state of ${VALIDATOR_PATH} could not be read` };
  if (!p) {
    // The switch writes this include with its addresses changed: lines the validator refuses
    // now, it would refuse then (after the new version started), so they are said here.
    const refusal = text === null ? undefined : validatorRefusal(text);
    return refusal ? { error: contentRefused(include, `include-install: refused: ${refusal}`, true) } : {};
  }
  const { title, detail: problem } = p;
  if (line('broad') === 'yes') {
    // This version's, but not root's alone: the switch uses it all the same (nginx/change.sh).
    const used = state?.kind === 'present' && state.sha === VALIDATOR_SHA;
    return {
      warning: used
        ? `${title}: ${problem}. The sudoers rule is broad (NOPASSWD: ALL), so it is used all the same; make it root's, mode 755, before you give the exact rule`
        : `${title}: ${problem}. The sudoers rule is broad (NOPASSWD: ALL), so the include is written without it and its content is not checked; ` +
          `install it to have it checked (docs/server-setup.md, "The include validator"), and prefer the exact rule`,
    };
  }
  return {
    error:
      `${title}: ${problem}, so nothing was changed. With sudo: true and an exact sudoers rule, the include is written only through this validator, ` +
      "which accepts only the lines the action writes: nginx's master runs as root, and other configuration in the include (access_log, include...) would open files as root. " +
      `Install it once on this host (docs/server-setup.md, "The include validator"):\n${validatorInstallCommand()}` +
      `and give user '${user}' the rule for this host (include-file, nginx-test-command, nginx-reload-command as given):\n${nginxRule(ctx, user, include).trimEnd()}`,
  };
}
