// The include validator: the one command through which a deploy user with sudo: true writes the
// nginx include as root (sh/nginx/include-install.sh). It reads the new content on stdin, accepts
// only the lines the action writes (a set line, upstream blocks of server lines with their
// parameters, comments), and replaces the include, the one path the sudoers rule gives it,
// atomically. An admin installs it once, root-owned, at VALIDATOR_PATH; the action compares its
// sha256 (readable as the deploy user) before anything changes. Pure: nothing here connects.
import { createHash } from 'node:crypto';
import * as SH from './scripts.gen.ts';

/** Where the validator lives on the nginx hosts (the sudoers rule names this path). */
export const VALIDATOR_DIR = '/usr/local/libexec/jar-bluegreen-deploy';
export const VALIDATOR_PATH = `${VALIDATOR_DIR}/include-install`;

/** The file as installed (the script and its last newline). */
export const VALIDATOR_TEXT = `${SH.NGINX_INCLUDE_INSTALL}\n`;
export const VALIDATOR_SHA = createHash('sha256').update(VALIDATOR_TEXT, 'utf8').digest('hex');

/** The validator's exit code for content it refuses (nothing was written). */
export const REFUSED_CONTENT = 3;

const EOF = 'JAR_BLUEGREEN_DEPLOY_EOF';

/**
 * The admin's install command, run once per nginx host by a user with sudo: the directory and the
 * file root's, mode 755 (nobody else may change what the sudoers rule runs as root), then the
 * sha256 the action expects.
 */
export function validatorInstallCommand(): string {
  if (VALIDATOR_TEXT.includes(`\n${EOF}\n`)) throw new Error('the validator holds its heredoc delimiter');
  return (
    `sudo install -d -m 755 -o root -g root ${VALIDATOR_DIR}\n` +
    `sudo install -m 755 -o root -g root /dev/stdin ${VALIDATOR_PATH} <<'${EOF}'\n` +
    `${VALIDATOR_TEXT}${EOF}\n` +
    `sha256sum ${VALIDATOR_PATH}   # ${VALIDATOR_SHA}\n`
  );
}

/** The validator as a host has it (the read's `validator` line): absent, or its sha256, owner and mode, and its directory's. */
export type ValidatorState = { kind: 'absent' } | { kind: 'present'; sha: string; uid: number; mode: string; dirUid: number; dirMode: string };

/** Parses `absent` or `SHA UID MODE DIRUID DIRMODE`. */
export function parseValidatorState(args: string): ValidatorState | undefined {
  if (args.trim() === 'absent') return { kind: 'absent' };
  const m = /^([0-9a-f]{64}) (\d+) ([0-7]+) (\d+) ([0-7]+)$/.exec(args.trim());
  return m ? { kind: 'present', sha: m[1], uid: Number(m[2]), mode: m[3], dirUid: Number(m[4]), dirMode: m[5] } : undefined;
}

/** Writable by others than its owner (group or other write bit). */
const othersWrite = (mode: string) => (parseInt(mode, 8) & 0o022) !== 0;

/**
 * What is wrong with the host's validator (its name: missing, outdated or unsafe, and why), or
 * undefined when it is the one this action expects, root's, and writable by root only (with its
 * directory).
 */
export function validatorProblem(s: ValidatorState): { title: string; detail: string } | undefined {
  if (s.kind === 'absent') return { title: 'include validator missing', detail: `${VALIDATOR_PATH} is missing` };
  if (s.sha !== VALIDATOR_SHA) return { title: 'include validator outdated', detail: `${VALIDATOR_PATH} is not this version's (sha256 ${s.sha.slice(0, 12)}…, this version's is ${VALIDATOR_SHA.slice(0, 12)}…)` };
  if (s.uid !== 0 || othersWrite(s.mode)) return { title: 'include validator unsafe', detail: `${VALIDATOR_PATH} must be root's and writable by root only (it is uid ${s.uid}, mode ${s.mode})` };
  if (s.dirUid !== 0 || othersWrite(s.dirMode)) return { title: 'include validator unsafe', detail: `${VALIDATOR_DIR} must be root's and writable by root only (it is uid ${s.dirUid}, mode ${s.dirMode})` };
  return undefined;
}
