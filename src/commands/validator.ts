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

const NUM = (w: string, k: string) => new RegExp(`^${k}=[0-9]+$`).test(w) && w.length <= k.length + 10;
const DUR = (w: string, k: string) => new RegExp(`^${k}=[0-9]+(ms|s|m|h|d)?$`).test(w) && w.length <= k.length + 12;
const PARAMS = (p: string) => ['down', 'backup', 'resolve'].includes(p) || ['weight', 'max_fails', 'max_conns'].some((k) => NUM(p, k)) || ['fail_timeout', 'slow_start'].some((k) => DUR(p, k));
function addrOk(a: string): boolean {
  if (a.length > 270 || a.includes('..')) return false;
  const m = /^\[[0-9A-Fa-f:.]+(%[A-Za-z0-9_.-]+)?\]:([0-9]+)$/.exec(a) ?? /^[A-Za-z0-9_][A-Za-z0-9_.-]*:([0-9]+)$/.exec(a);
  const p = m?.[m.length - 1] ?? '';
  return p.length >= 1 && p.length <= 5 && Number(p) >= 1 && Number(p) <= 65535;
}
function upstreamLine(w: string[], body: string): boolean {
  const [d, a] = w;
  if (w.length === 2 && (NUM(`${d}=${a}`, 'keepalive') || NUM(`${d}=${a}`, 'keepalive_requests') || DUR(`${d}=${a}`, 'keepalive_timeout') || DUR(`${d}=${a}`, 'keepalive_time'))) return true;
  if (w.length === 1 && ['least_conn', 'ip_hash', 'random'].includes(d)) return true;
  if (d === 'random' && /^random[ \t]+two([ \t]+least_conn)?$/.test(body)) return true;
  return d === 'zone' && (w.length === 2 || w.length === 3) && /^[A-Za-z0-9_.-]+$/.test(a) && (w.length === 2 || /^[0-9]+[kKmM]?$/.test(w[2]));
}

/**
 * What the validator would refuse in a text (`line N: why`), or undefined when it accepts it: the
 * same grammar as the script, checked where the include is read, so that an include it would
 * refuse stops the deploy before anything starts (a unit test checks that both agree).
 */
export function validatorRefusal(text: string): string | undefined {
  if (Buffer.byteLength(text, 'utf8') > 65536) return 'more than 65536 bytes';
  if (text.includes('\0')) return 'a NUL byte';
  const lines = text.split('\n');
  if (text.endsWith('\n') || text === '') lines.pop();
  let open = false;
  let sets = 0;
  let ups = 0;
  for (const [i, line] of lines.entries()) {
    const no = (why: string) => `line ${i + 1}: ${why}`;
    if (Buffer.byteLength(line, 'utf8') > 1024) return no('longer than 1024 characters');
    const hash = line.indexOf('#');
    const code = (hash >= 0 ? line.slice(0, hash) : line).replace(/^[ \t]+|[ \t]+$/g, '');
    if (code === '') continue;
    if (hash > 0 && !/^[ \t;{}]$/.test(line[hash - 1])) return no('a # inside a word');
    if (code === '}') {
      if (!open) return no('a } without an upstream block');
      open = false;
      continue;
    }
    const last = code[code.length - 1];
    const body = code.slice(0, -1).replace(/[ \t]+$/, '');
    const w = body === '' ? [] : body.split(/[ \t]+/);
    if (last === '{') {
      if (open) return no('a block inside the upstream block');
      if (w.length !== 2 || w[0] !== 'upstream' || !/^[A-Za-z0-9_.-]+$/.test(w[1]) || w[1].length > 64) return no('not an upstream NAME { line');
      if (sets) return no('an upstream block in a file with a set line');
      open = true;
      ups++;
      continue;
    }
    if (last !== ';') return no('not a directive the action writes (each ends with ; on its own line)');
    if (w[0] === 'set') {
      if (open) return no('a set line inside an upstream block');
      if (w.length !== 3 || !/^\$[A-Za-z_][A-Za-z0-9_]*$/.test(w[1]) || w[1].length > 64 || !/^https?:\/\//.test(w[2])) return no('not set $VAR http://HOST:PORT;');
      if (!addrOk(w[2].replace(/^https?:\/\//, '').replace(/\/$/, ''))) return no('not a HOST:PORT after http://');
      if (++sets > 1 || ups) return no('a second set line or upstream block next to a set line');
      continue;
    }
    if (!open) return no('not a set line, an upstream block or a comment');
    if (w[0] === 'server') {
      if (w.length < 2 || !addrOk(w[1])) return no('not server HOST:PORT');
      if (!w.slice(2).every(PARAMS)) return no('not a server parameter the action keeps');
      continue;
    }
    if (!upstreamLine(w, body)) return no('not a directive the action keeps in an upstream block');
  }
  return open ? 'the upstream block is not closed' : undefined;
}
