// The testbed's SSH keys: the client key (and its encrypted copy), each sshd host's host key, known_hosts.
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import type { Testbed } from './types.ts';
import { must } from './proc.ts';
import type { Setup } from './setup.ts';

export type Keys = Pick<Testbed, 'privateKey' | 'privateKeyPath' | 'publicKey' | 'encryptedKey' | 'knownHosts' | 'knownHostsHashed' | 'knownHostsPath' | 'knownHostsHashedPath'> & {
  /** the client's public key, sshd's AuthorizedKeysFile on every host */
  authorizedKeys: string;
};

/** Writes the keys under `${dir}/keys` (host keys in each host's dir). */
export async function makeKeys(ctx: Setup): Promise<Keys> {
  const { o, dir, sshHosts } = ctx;
  const keysDir = path.join(dir, 'keys');
  await fsp.mkdir(keysDir);
  const privateKeyPath = path.join(keysDir, 'id_ed25519');
  const keygen = (file: string, comment: string) => must(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', file]);
  await Promise.all([
    keygen(privateKeyPath, 'zdd-testbed-client'),
    ...sshHosts.map((h) => keygen(path.join(h.dir, 'ssh_host_ed25519_key'), `zdd-testbed-${h.name}`)),
  ]);
  await fsp.chmod(privateKeyPath, 0o600);
  const privateKey = await fsp.readFile(privateKeyPath, 'utf8');
  const publicKey = await fsp.readFile(`${privateKeyPath}.pub`, 'utf8');
  const authorizedKeys = path.join(keysDir, 'authorized_keys');
  await fsp.writeFile(authorizedKeys, publicKey, { mode: 0o600 });
  let encryptedKey: Testbed['encryptedKey'];
  if (o.keyPassphrase !== undefined) {
    const encPath = path.join(keysDir, 'id_ed25519_enc');
    await fsp.copyFile(privateKeyPath, encPath);
    await fsp.chmod(encPath, 0o600);
    await must(['ssh-keygen', '-q', '-p', '-P', '', '-N', o.keyPassphrase, '-f', encPath]);
    encryptedKey = { key: await fsp.readFile(encPath, 'utf8'), passphrase: o.keyPassphrase, path: encPath };
  }
  let knownHosts = '';
  for (const h of sshHosts) {
    const pub = (await fsp.readFile(path.join(h.dir, 'ssh_host_ed25519_key.pub'), 'utf8')).trim().split(/\s+/);
    knownHosts += `${h.ip} ${pub[0]} ${pub[1]}\n`;
  }
  const knownHostsPath = path.join(keysDir, 'known_hosts');
  const knownHostsHashedPath = path.join(keysDir, 'known_hosts_hashed');
  await fsp.writeFile(knownHostsPath, knownHosts);
  await fsp.writeFile(knownHostsHashedPath, knownHosts);
  await must(['ssh-keygen', '-q', '-H', '-f', knownHostsHashedPath]);
  await fsp.rm(`${knownHostsHashedPath}.old`, { force: true });
  const knownHostsHashed = await fsp.readFile(knownHostsHashedPath, 'utf8');
  return { privateKey, privateKeyPath, publicKey, authorizedKeys, encryptedKey, knownHosts, knownHostsHashed, knownHostsPath, knownHostsHashedPath };
}
