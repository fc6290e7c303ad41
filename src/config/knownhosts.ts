// known_hosts parsing and host key checking, as OpenSSH does it. Pure (node:crypto only).
//
// Supports plain and hashed (|1|salt|hash) host fields, [host]:port for non-22 ports,
// wildcards (* and ?), negated patterns (!pattern) and the @revoked marker.
// A host that only a @cert-authority line matches passes here pending its certificate, which
// hostcert.ts checks once the session is up (before anything runs there).
import { createHash, createHmac } from 'node:crypto';

export interface KnownHostEntry {
  marker?: 'revoked' | 'cert-authority';
  /** comma-separated patterns, or one hashed field */
  hosts: string;
  keyType: string;
  key: Buffer;
  line: number;
}

export function parseKnownHosts(text: string): KnownHostEntry[] | string {
  const out: KnownHostEntry[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === '' || line.startsWith('#')) continue;
    const fields = line.split(/\s+/);
    let marker: KnownHostEntry['marker'];
    if (fields[0].startsWith('@')) {
      const m = fields.shift()!;
      if (m === '@revoked') marker = 'revoked';
      else if (m === '@cert-authority') marker = 'cert-authority';
      else return `line ${i + 1}: unknown marker '${m}' (expected @revoked or @cert-authority)`;
    }
    if (fields.length < 3) return `line ${i + 1}: expected 'HOSTS KEYTYPE BASE64KEY', got '${truncate(line)}'`;
    const [hosts, keyType, b64] = fields;
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) return `line ${i + 1}: the key of '${truncate(hosts)}' is not base64`;
    const key = Buffer.from(b64, 'base64');
    const inner = blobKeyType(key);
    if (inner === undefined || inner !== keyType) {
      return `line ${i + 1}: the key does not match its type '${keyType}' (a line cut short or pasted wrongly?)`;
    }
    out.push({ marker, hosts, keyType, key, line: i + 1 });
  }
  if (out.length === 0) return 'holds no known_hosts line (expected lines like: HOST ssh-ed25519 AAAA...)';
  return out;
}

function truncate(s: string): string {
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

/** The key type named inside an SSH public key blob (its first string). */
export function blobKeyType(blob: Buffer): string | undefined {
  if (blob.length < 4) return undefined;
  const n = blob.readUInt32BE(0);
  if (n <= 0 || n > 64 || 4 + n > blob.length) return undefined;
  return blob.subarray(4, 4 + n).toString('latin1');
}

export function fingerprint(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

/** The name OpenSSH looks up: host for port 22, [host]:port otherwise. */
export function lookupName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

function globMatch(pattern: string, name: string): boolean {
  const re = new RegExp(
    '^' +
      pattern
        .split('')
        .map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.+^${}()|[\]\\]/g, '\\$&')))
        .join('') +
      '$',
    'i',
  );
  return re.test(name);
}

function hostFieldMatches(field: string, name: string): boolean {
  if (field.startsWith('|1|')) {
    const [, , salt, hash] = field.split('|');
    if (!salt || !hash) return false;
    const mac = createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest('base64');
    return mac === hash;
  }
  let matched = false;
  for (const pat of field.split(',')) {
    if (pat.startsWith('!')) {
      if (globMatch(pat.slice(1), name)) return false;
    } else if (globMatch(pat, name)) {
      matched = true;
    }
  }
  return matched;
}

export function entriesFor(entries: KnownHostEntry[], host: string, port: number): KnownHostEntry[] {
  const name = lookupName(host, port);
  return entries.filter((e) => hostFieldMatches(e.hosts, name));
}

/** ok with authorities: the key is vouched for only if a certificate signed by one of them says so. */
export type HostKeyVerdict = { ok: true; authorities?: KnownHostEntry[] } | { ok: false; reason: string };

export function checkHostKey(entries: KnownHostEntry[], host: string, port: number, blob: Buffer): HostKeyVerdict {
  const mine = entriesFor(entries, host, port);
  const name = lookupName(host, port);
  const fp = fingerprint(blob);
  const type = blobKeyType(blob) ?? 'unknown';
  if (mine.some((e) => e.marker === 'revoked' && e.key.equals(blob))) {
    return { ok: false, reason: `host key ${type} ${fp} of ${name} is marked @revoked in known-hosts` };
  }
  const plain = mine.filter((e) => e.marker === undefined);
  if (plain.some((e) => e.key.equals(blob))) return { ok: true };
  if (plain.length === 0) {
    const authorities = mine.filter((e) => e.marker === 'cert-authority');
    if (authorities.length > 0) return { ok: true, authorities };
    return {
      ok: false,
      reason: `${name} is not in known-hosts (it offered ${type} ${fp}). Add its line, e.g. from \`ssh-keyscan ${port === 22 ? '' : `-p ${port} `}${host}\` checked against the server`,
    };
  }
  return {
    ok: false,
    reason:
      `HOST KEY MISMATCH for ${name}: it offered ${type} ${fp}, which is not the key in known-hosts ` +
      `(line ${plain.map((e) => e.line).join(', ')}). The server was reinstalled, or someone is intercepting the connection`,
  };
}

const ALGOS: Record<string, string[]> = {
  'ssh-ed25519': ['ssh-ed25519'],
  'ecdsa-sha2-nistp256': ['ecdsa-sha2-nistp256'],
  'ecdsa-sha2-nistp384': ['ecdsa-sha2-nistp384'],
  'ecdsa-sha2-nistp521': ['ecdsa-sha2-nistp521'],
  'ssh-rsa': ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'],
  'ssh-dss': ['ssh-dss'],
};

/**
 * The host key algorithms to offer for a host: the types known for it, so the server presents
 * a key we can check (OpenSSH does the same). Undefined when nothing is known (the check fails).
 */
export function hostKeyAlgorithms(entries: KnownHostEntry[], host: string, port: number): string[] | undefined {
  const types = new Set(entriesFor(entries, host, port).filter((e) => e.marker === undefined).map((e) => e.keyType));
  const algos = [...types].flatMap((t) => ALGOS[t] ?? []);
  return algos.length > 0 ? algos : undefined;
}

/** The @revoked lines (keys and CAs alike), for the certificate check. */
export function revokedEntries(entries: KnownHostEntry[]): KnownHostEntry[] {
  return entries.filter((e) => e.marker === 'revoked');
}
