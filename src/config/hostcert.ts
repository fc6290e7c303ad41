// SSH host certificates (@cert-authority lines in known-hosts), checked the way OpenSSH does.
// ssh2 does not negotiate certificate host key algorithms, so the server proves its plain host
// key in the handshake as usual, and its certificate is read over that session before anything
// else runs (`/etc/ssh/ssh_host_*-cert.pub`, public files). The check is sound without trusting
// the session: a certificate binds a key to host names under the CA's signature, so a server
// that is not the real host cannot show one for the key it used (it could copy the real host's
// certificate, but that names the real host's key, not its own). Only the CA's signature and the
// certificate's fields are trusted. Pure: nothing here does I/O.
import ssh2 from 'ssh2';
import type { KnownHostEntry } from './knownhosts.ts';
import { fingerprint } from './knownhosts.ts';

/** Reads SSH wire strings and integers from a buffer. */
class Wire {
  pos = 0;
  private readonly b: Buffer;
  constructor(b: Buffer) {
    this.b = b;
  }
  string(): Buffer {
    if (this.pos + 4 > this.b.length) throw new Error('truncated');
    const n = this.b.readUInt32BE(this.pos);
    if (this.pos + 4 + n > this.b.length) throw new Error('truncated');
    const s = this.b.subarray(this.pos + 4, this.pos + 4 + n);
    this.pos += 4 + n;
    return s;
  }
  u32(): number {
    if (this.pos + 4 > this.b.length) throw new Error('truncated');
    const v = this.b.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }
  u64(): bigint {
    if (this.pos + 8 > this.b.length) throw new Error('truncated');
    const v = this.b.readBigUInt64BE(this.pos);
    this.pos += 8;
    return v;
  }
  get rest(): number {
    return this.b.length - this.pos;
  }
}

const str = (s: string | Buffer) => {
  const b = Buffer.isBuffer(s) ? s : Buffer.from(s);
  const n = Buffer.alloc(4);
  n.writeUInt32BE(b.length);
  return Buffer.concat([n, b]);
};

/** Public-key fields after the nonce, per base key type (the plain key blob is type + these). */
const KEY_FIELDS: Record<string, number> = { 'ssh-ed25519': 1, 'ssh-rsa': 2, 'ecdsa-sha2-nistp256': 2, 'ecdsa-sha2-nistp384': 2, 'ecdsa-sha2-nistp521': 2 };

export interface HostCert {
  keyType: string;
  /** the certified host key, as a plain key blob (what the server presents in the handshake) */
  key: Buffer;
  serial: bigint;
  type: number;
  keyId: string;
  principals: string[];
  validAfter: bigint;
  validBefore: bigint;
  criticalOptions: Buffer;
  caKey: Buffer;
  sigAlg: string;
  sig: Buffer;
  /** the bytes the CA signed: everything before the signature field */
  signed: Buffer;
}

/** Parses a certificate blob (`ssh-ed25519-cert-v01@openssh.com AAAA...`'s base64). */
export function parseHostCert(blob: Buffer): HostCert {
  const w = new Wire(blob);
  const certType = w.string().toString('latin1');
  const m = /^(.*)-cert-v01@openssh\.com$/.exec(certType);
  if (!m || KEY_FIELDS[m[1]] === undefined) throw new Error(`not a certificate type this action checks: ${certType}`);
  const keyType = m[1];
  w.string(); // nonce
  const fields = Array.from({ length: KEY_FIELDS[keyType] }, () => w.string());
  const key = Buffer.concat([str(keyType), ...fields.map(str)]);
  const serial = w.u64();
  const type = w.u32();
  const keyId = w.string().toString('utf8');
  const pw = new Wire(w.string());
  const principals: string[] = [];
  while (pw.rest > 0) principals.push(pw.string().toString('utf8'));
  const validAfter = w.u64();
  const validBefore = w.u64();
  const criticalOptions = w.string();
  w.string(); // extensions
  w.string(); // reserved
  const caKey = w.string();
  const signed = blob.subarray(0, w.pos);
  const sw = new Wire(w.string());
  const sigAlg = sw.string().toString('latin1');
  const sig = sw.string();
  return { keyType, key, serial, type, keyId, principals, validAfter, validBefore, criticalOptions, caKey, sigAlg, sig, signed };
}

const HASH: Record<string, string | undefined> = {
  'ssh-ed25519': undefined,
  'rsa-sha2-512': 'sha512',
  'rsa-sha2-256': 'sha256',
  'ecdsa-sha2-nistp256': 'sha256',
  'ecdsa-sha2-nistp384': 'sha384',
  'ecdsa-sha2-nistp521': 'sha512',
};

/** A DER length (nistp521's signature is longer than 127 bytes). */
const len = (n: number) => (n < 0x80 ? Buffer.from([n]) : Buffer.from([0x81, n]));

/** An SSH ecdsa signature (mpint r, mpint s) as the DER node's verify wants it. */
function ecdsaDer(sig: Buffer): Buffer {
  const w = new Wire(sig);
  const int = (b: Buffer) => {
    let x = b;
    while (x.length > 1 && x[0] === 0 && !(x[1] & 0x80)) x = x.subarray(1);
    if (x[0] & 0x80) x = Buffer.concat([Buffer.from([0]), x]);
    return Buffer.concat([Buffer.from([0x02]), len(x.length), x]);
  };
  const body = Buffer.concat([int(w.string()), int(w.string())]);
  return Buffer.concat([Buffer.from([0x30]), len(body.length), body]);
}

/** Whether the CA's key signed the certificate. */
export function signedBy(c: HostCert): boolean {
  if (!(c.sigAlg in HASH)) return false;
  const ca = ssh2.utils.parseKey(c.caKey);
  if (ca instanceof Error) return false;
  const sig = c.sigAlg.startsWith('ecdsa-') ? ecdsaDer(c.sig) : c.sig;
  const ok = ca.verify(c.signed, sig, HASH[c.sigAlg] as string);
  return ok === true;
}

export type CertVerdict = { ok: true; detail: string } | { ok: false; reason: string };

/**
 * Whether one of the host's certificates (lines of `*-cert.pub` files) vouches for the key it
 * presented, as `name`: issued by a CA of a @cert-authority line that matches the host (and not
 * @revoked), a host certificate (not a user one), naming `name` among its principals, valid now,
 * with no critical option, and signed by that CA.
 */
export function checkHostCert(certLines: string, presented: Buffer, authorities: KnownHostEntry[], revoked: KnownHostEntry[], name: string, nowSec = BigInt(Math.floor(Date.now() / 1000))): CertVerdict {
  const why: string[] = [];
  for (const line of certLines.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < 2 || !f[0].endsWith('-cert-v01@openssh.com')) continue;
    let c: HostCert;
    try {
      c = parseHostCert(Buffer.from(f[1], 'base64'));
    } catch (e) {
      why.push(`${f[0]}: unreadable (${e instanceof Error ? e.message : String(e)})`);
      continue;
    }
    if (!c.key.equals(presented)) continue;
    const id = `certificate '${c.keyId}' (serial ${c.serial})`;
    const ca = authorities.find((a) => a.key.equals(c.caKey));
    if (!ca) {
      why.push(`${id} is signed by ${fingerprint(c.caKey)}, which no @cert-authority line for ${name} names`);
      continue;
    }
    if (revoked.some((r) => r.key.equals(c.caKey))) {
      why.push(`${id}: its CA ${fingerprint(c.caKey)} is marked @revoked`);
      continue;
    }
    if (c.type !== 2) {
      why.push(`${id} is a user certificate, not a host certificate`);
      continue;
    }
    if (!c.principals.includes(name)) {
      why.push(`${id} names ${c.principals.length ? c.principals.join(', ') : 'no host'}, not ${name}`);
      continue;
    }
    if (nowSec < c.validAfter || nowSec >= c.validBefore) {
      why.push(`${id} is ${nowSec < c.validAfter ? 'not valid yet' : 'expired'}`);
      continue;
    }
    if (c.criticalOptions.length > 0) {
      why.push(`${id} has critical options, which a host certificate must not have`);
      continue;
    }
    if (!signedBy(c)) {
      why.push(`${id}: its signature by ${fingerprint(c.caKey)} does not verify`);
      continue;
    }
    return { ok: true, detail: `host certificate '${c.keyId}' (serial ${c.serial}) signed by the CA of known-hosts line ${ca.line}` };
  }
  return {
    ok: false,
    reason: why.length
      ? `no host certificate vouches for its key ${fingerprint(presented)}: ${why.join('; ')}`
      : `no host certificate for its key ${fingerprint(presented)} was found in /etc/ssh/*-cert.pub (its sshd needs HostCertificate, or add the host's own key line to known-hosts)`,
  };
}
