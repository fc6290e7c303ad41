// deployUser: per-host /etc files (the machine's own are never written).
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import type { Host } from './types.ts';
import { DEPLOY_UID, DEPLOY_USER, SUDO, must, shq } from './proc.ts';

export interface MachineEtc {
  /** path → [content, stat] of the machine's files the per-host copies start from */
  files: Map<string, { text: string; st: fs.Stats }>;
  /** true if the machine's /etc/sudoers lacks `@includedir /etc/sudoers.d` */
  needSudoers: boolean;
}

export const ETC_ACCOUNT_FILES = ['/etc/passwd', '/etc/group', '/etc/shadow', '/etc/gshadow'];

/** Reads and checks what deployUser needs from the machine, before anything is set up. */
export async function readMachineEtc(): Promise<MachineEtc> {
  if (!fs.existsSync(SUDO)) throw new Error(`deployUser needs ${SUDO}: install the sudo package (apt-get install sudo)`);
  if (!fs.statSync('/etc/sudoers.d', { throwIfNoEntry: false })?.isDirectory()) throw new Error('deployUser needs the directory /etc/sudoers.d (sudo package)');
  const files = new Map<string, { text: string; st: fs.Stats }>();
  for (const f of ETC_ACCOUNT_FILES) {
    const st = await fsp.stat(f).catch(() => undefined);
    if (!st) {
      if (f === '/etc/gshadow') continue;
      throw new Error(`deployUser: ${f} is missing`);
    }
    files.set(f, { text: await fsp.readFile(f, 'utf8'), st });
  }
  for (const f of ['/etc/passwd', '/etc/group']) {
    for (const line of files.get(f)!.text.split('\n')) {
      const [name, , id] = line.split(':');
      if (name === DEPLOY_USER || id === String(DEPLOY_UID)) throw new Error(`deployUser: the machine's ${f} already has ${DEPLOY_USER} or id ${DEPLOY_UID}: ${line}`);
    }
  }
  const sudoers = await fsp.readFile('/etc/sudoers', 'utf8').catch(() => '');
  const needSudoers = !/^[@#]includedir\s+\/etc\/sudoers\.d\/?\s*$/m.test(sudoers);
  return { files, needSudoers };
}

/**
 * Writes `${h.dir}/etc/...` (account files with DEPLOY_USER appended, sudoers.d with the
 * drop-in), `${h.dir}/home/${DEPLOY_USER}` and `${h.dir}/opt/app` (owned by the user); returns
 * the mount commands that bind them in the host's mount namespace.
 */
export async function prepareDeployUser(h: Host, etc: MachineEtc, sudoers: string, shell = '/bin/sh'): Promise<string[]> {
  const etcDir = path.join(h.dir, 'etc');
  await fsp.mkdir(etcDir, { recursive: true });
  const days = Math.floor(Date.now() / 86_400_000);
  const extra: Record<string, string> = {
    '/etc/passwd': `${DEPLOY_USER}:x:${DEPLOY_UID}:${DEPLOY_UID}:zdd testbed deploy user:/home/${DEPLOY_USER}:${shell}\n`,
    '/etc/group': `${DEPLOY_USER}:x:${DEPLOY_UID}:\n`,
    // `*`: no password, but not "locked" (sshd without PAM refuses logins of `!` accounts)
    '/etc/shadow': `${DEPLOY_USER}:*:${days}:0:99999:7:::\n`,
    '/etc/gshadow': `${DEPLOY_USER}:!::\n`,
  };
  const binds: string[] = [];
  for (const [f, { text, st }] of etc.files) {
    const copy = path.join(etcDir, path.basename(f));
    await fsp.writeFile(copy, `${text}${text === '' || text.endsWith('\n') ? '' : '\n'}${extra[f]}`);
    await fsp.chown(copy, st.uid, st.gid);
    await fsp.chmod(copy, st.mode & 0o7777);
    binds.push(`mount --bind ${shq(copy)} ${f}`);
  }
  // sudoers.d: the machine's files (owner and mode kept) plus our drop-in, root:root 0440
  const sudoersD = path.join(etcDir, 'sudoers.d');
  await must(['cp', '-a', '/etc/sudoers.d', sudoersD]);
  const dropIn = path.join(sudoersD, DEPLOY_USER);
  await fsp.writeFile(dropIn, sudoers);
  await fsp.chown(dropIn, 0, 0);
  await fsp.chmod(dropIn, 0o440);
  binds.push(`mount --bind ${shq(sudoersD)} /etc/sudoers.d`);
  if (etc.needSudoers) {
    const sudoers = path.join(etcDir, 'sudoers');
    const text = await fsp.readFile('/etc/sudoers', 'utf8');
    await fsp.writeFile(sudoers, `${text}${text === '' || text.endsWith('\n') ? '' : '\n'}@includedir /etc/sudoers.d\n`);
    await fsp.chown(sudoers, 0, 0);
    await fsp.chmod(sudoers, 0o440);
    binds.push(`mount --bind ${shq(sudoers)} /etc/sudoers`);
  }
  // home (the whole /home is per host, like /root) and /opt/app, owned by the user
  const home = path.join(h.dir, 'home', DEPLOY_USER);
  const optApp = path.join(h.dir, 'opt', 'app');
  for (const d of [home, optApp]) {
    await fsp.mkdir(d, { recursive: true });
    await fsp.chown(d, DEPLOY_UID, DEPLOY_UID);
    await fsp.chmod(d, 0o755);
  }
  await fsp.mkdir('/home', { recursive: true }); // the mount point (exists on any normal machine)
  binds.push(`mount --bind ${shq(path.join(h.dir, 'home'))} /home`);
  // a production-like /tmp the user can write to
  await fsp.chmod(path.join(h.dir, 'tmp'), 0o1777);
  return binds;
}
