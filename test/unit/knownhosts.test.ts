import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, generateKeyPairSync } from 'node:crypto';
import { parseKnownHosts, checkHostKey, hostKeyAlgorithms, type KnownHostEntry } from '../../src/config/knownhosts.ts';

// Build a real ssh-ed25519 public key blob from a generated key.
function ed25519Blob(): Buffer {
  const { publicKey } = generateKeyPairSync('ed25519');
  const raw = publicKey.export({ format: 'der', type: 'spki' }).subarray(-32);
  const u32 = (n: number) => { const b = Buffer.alloc(4); b.writeUInt32BE(n); return b; };
  const t = Buffer.from('ssh-ed25519');
  return Buffer.concat([u32(t.length), t, u32(raw.length), raw]);
}

const k1 = ed25519Blob();
const k2 = ed25519Blob();
const line = (hosts: string, k: Buffer) => `${hosts} ssh-ed25519 ${k.toString('base64')}`;
const parse = (t: string) => parseKnownHosts(t) as KnownHostEntry[];

test('plain entries: match, mismatch, unknown host, non-22 port', () => {
  const kh = parse([line('10.0.0.5,app1', k1), line('[10.0.0.6]:2222', k2)].join('\n'));
  assert.deepEqual(checkHostKey(kh, '10.0.0.5', 22, k1), { ok: true });
  assert.deepEqual(checkHostKey(kh, 'app1', 22, k1), { ok: true });
  const mm = checkHostKey(kh, '10.0.0.5', 22, k2);
  assert.equal(mm.ok, false);
  assert.match(!mm.ok ? mm.reason : '', /HOST KEY MISMATCH/);
  const unk = checkHostKey(kh, '10.0.0.7', 22, k1);
  assert.match(!unk.ok ? unk.reason : '', /not in known-hosts.*SHA256:/);
  assert.deepEqual(checkHostKey(kh, '10.0.0.6', 2222, k2), { ok: true });
  assert.equal(checkHostKey(kh, '10.0.0.6', 22, k2).ok, false);
});

test('hashed entries (ssh-keygen -H) match', () => {
  const salt = Buffer.from('0123456789abcdefghij');
  const h = createHmac('sha1', salt).update('10.0.0.5').digest('base64');
  const kh = parse(line(`|1|${salt.toString('base64')}|${h}`, k1));
  assert.deepEqual(checkHostKey(kh, '10.0.0.5', 22, k1), { ok: true });
  assert.equal(checkHostKey(kh, '10.0.0.55', 22, k1).ok, false);
});

test('wildcards, negation and @revoked', () => {
  const kh = parse([line('10.0.0.*,!10.0.0.9', k1), `@revoked * ssh-ed25519 ${k2.toString('base64')}`].join('\n'));
  assert.equal(checkHostKey(kh, '10.0.0.3', 22, k1).ok, true);
  assert.equal(checkHostKey(kh, '10.0.0.9', 22, k1).ok, false);
  const r = checkHostKey(kh, '10.0.0.3', 22, k2);
  assert.match(!r.ok ? r.reason : '', /@revoked/);
});

test('host key algorithms offered follow the known types', () => {
  const kh = parse(line('h', k1));
  assert.deepEqual(hostKeyAlgorithms(kh, 'h', 22), ['ssh-ed25519']);
  assert.equal(hostKeyAlgorithms(kh, 'other', 22), undefined);
});

test('malformed lines are reported with their line number', () => {
  assert.match(parseKnownHosts('\nfoo bar') as string, /line 2/);
  assert.match(parseKnownHosts(`h ssh-rsa ${k1.toString('base64')}`) as string, /does not match its type/);
  assert.match(parseKnownHosts('# only a comment') as string, /no known_hosts line/);
});
