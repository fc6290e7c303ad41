// The sudoers rules a non-root deploy user needs with sudo: true, one per host role, built from
// the same words the remote scripts run through `sudo -n` (nothing runs under sudo as a shell).
// Pure: nothing here connects. docs/server-setup.md ("The sudo rule") prints them, and a unit
// test checks that the docs show exactly these, and that the scripts run exactly these.
//
//   nginx host   the include's change (the validator, validator.ts, which alone writes new
//                content; cp/mv/rm of the include and a fixed name next to it),
//                nginx-test-command, nginx -T, nginx-reload-command: includeCommands + the rest
//   app host     who holds each port (ss, to name another user's process): appSudoersRule
//   systemd-unit the unit commands as well: unit.ts sudoersRule
import { dumpCommand } from '../config/inputs.ts';
import { SS_COMMAND } from './app.ts';
import { VALIDATOR_PATH } from './validator.ts';

/** Where sudo looks for a command given without a slash (Debian's and Ubuntu's secure_path). */
export const SECURE_PATH = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

/** Where Debian and Ubuntu install the commands the rules name (the docs' rule uses these). */
const DEBIAN: Record<string, string> = { nginx: '/usr/sbin/nginx', service: '/usr/sbin/service', systemctl: '/usr/bin/systemctl', openresty: '/usr/bin/openresty' };
export const debianPath = (cmd: string) => (cmd.includes('/') ? cmd : (DEBIAN[cmd] ?? `/usr/bin/${cmd}`));

/** One word of a command in a sudoers line: the characters sudoers treats specially, escaped. */
export function sudoersWord(w: string): string {
  return w.replace(/[\\,:=*?[\]]/g, (c) => `\\${c}`);
}

/** A command as a sudoers line names it: argv[0] resolved to its full path. */
export function sudoersCommand(argv: string[], resolve: (cmd: string) => string = debianPath): string {
  return [resolve(argv[0]), ...argv.slice(1)].map(sudoersWord).join(' ');
}

/** The rule: one line of exact commands (no wildcard: in sudoers a '*' in arguments also matches spaces). */
export function sudoersLine(user: string, cmds: string[]): string {
  return `${user} ALL=(root) NOPASSWD: ${cmds.join(', \\\n    ')}\n`;
}

const dirOf = (p: string) => p.slice(0, p.lastIndexOf('/')) || '/';
const baseOf = (p: string) => p.slice(p.lastIndexOf('/') + 1);

/** The fixed names next to the include a switch with sudo uses (nginx/change.sh: new, bak). */
export function includeSidecars(include: string): { staged: string; kept: string } {
  const d = dirOf(include);
  const b = baseOf(include);
  return { staged: `${d === '/' ? '' : d}/.${b}.zdd-new`, kept: `${d === '/' ? '' : d}/.${b}.zdd-prev` };
}

/**
 * The commands a switch runs as root on the include (its real path, symlinks resolved), in the
 * order nginx/change.sh runs them: the old one kept; the new content written by the validator,
 * which reads it on stdin, accepts only the lines the action writes and replaces the include
 * atomically (the rule pins its one argument, so no caller chooses the file); put back; removed
 * (a first deploy's undo); the kept copy dropped.
 */
export function includeCommands(include: string): string[][] {
  const { kept } = includeSidecars(include);
  return [
    ['/usr/bin/cp', '-p', include, kept],
    [VALIDATOR_PATH, include],
    ['/usr/bin/mv', '-f', kept, include],
    ['/usr/bin/rm', '-f', include],
    ['/usr/bin/rm', '-f', kept],
  ];
}

/**
 * The commands of the change without the validator, under a broad rule (NOPASSWD: ALL) only: the
 * new content staged from stdin beside the include (unchecked: the broad rule is root anyway),
 * the old one kept, the new one moved over it; put back; removed; dropped.
 */
export function unvalidatedIncludeCommands(include: string): string[][] {
  const { staged, kept } = includeSidecars(include);
  return [
    ['/usr/bin/install', '-m', '644', '/dev/stdin', staged],
    ['/usr/bin/cp', '-p', include, kept],
    ['/usr/bin/mv', '-f', staged, include],
    ['/usr/bin/mv', '-f', kept, include],
    ['/usr/bin/rm', '-f', include],
    ['/usr/bin/rm', '-f', kept],
    ['/usr/bin/rm', '-f', staged],
  ];
}

export interface NginxRuleSpec {
  /** the include's real path (include-file, symlinks resolved) */
  include: string;
  /** nginx-test-command */
  test: string[];
  /** the dump command (nginx -T); empty when the test command is it */
  dump: string[];
  /** nginx-reload-command */
  reload: string[];
}

/** The nginx host's rule: the include's commands, then the test, the dump and the reload as given. */
export function nginxSudoersRule(user: string, s: NginxRuleSpec, resolve: (cmd: string) => string = debianPath): string {
  const cmds = [...includeCommands(s.include).map((c) => sudoersCommand(c)), ...[s.test, s.dump, s.reload].filter((c) => c.length > 0).map((c) => sudoersCommand(c, resolve))];
  return sudoersLine(user, [...new Set(cmds)]);
}

/**
 * The nginx host's rule for the inputs as given: a nginx-test-command with -t runs as its -T
 * form, which tests and lists the files at once (config/inputs.ts dumpCommand), so that form is
 * the one named; another test command is named as it is, with nginx -T for the read.
 */
export function nginxRuleForInputs(user: string, include: string, testCommand: string[], reload: string[], resolve?: (cmd: string) => string): string {
  const d = dumpCommand(testCommand);
  return nginxSudoersRule(user, { include, test: d.isTest ? d.argv : testCommand, dump: d.isTest ? [] : d.argv, reload }, resolve);
}

/**
 * An app host's rule without systemd-unit: who holds each port (the exact ss command, which names
 * another user's process only to root). The apps run as the deploy user, which stops and reads
 * them itself; taking over a process another user started needs more (docs/server-setup.md).
 */
export function appSudoersRule(user: string, ports: number[]): string {
  return sudoersLine(user, ports.map(SS_COMMAND));
}
