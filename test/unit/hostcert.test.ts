import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { checkHostCert, parseHostCert } from '../../src/config/hostcert.ts';
import { checkHostKey, parseKnownHosts, revokedEntries, type KnownHostEntry } from '../../src/config/knownhosts.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'zdd-hostcert-'));
after(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
function key(type: string, bits?: number): string {
  const f = path.join(dir, `k${n++}`);
  execFileSync('ssh-keygen', ['-q', '-t', type, ...(bits ? ['-b', String(bits)] : []), '-N', '', '-C', '', '-f', f]);
  return f;
}
/** Signs host key f's .pub with CA ca; returns the -cert.pub line. */
function sign(ca: string, f: string, opts: string[] = ['-h', '-n', '10.0.0.5,app1.example.com', '-V', '-5m:+1h']): string {
  execFileSync('ssh-keygen', ['-q', '-s', ca, '-I', 'app1-host', '-z', '7', ...opts, `${f}.pub`]);
  return readFileSync(`${f}-cert.pub`, 'utf8');
}
const blob = (pubFile: string) => Buffer.from(readFileSync(pubFile, 'utf8').split(' ')[1], 'base64');
const caLines = (...cas: string[]) => parseKnownHosts(cas.map((c) => `@cert-authority 10.0.0.*,*.example.com ${readFileSync(`${c}.pub`, 'utf8').trim()}`).join('\n')) as KnownHostEntry[];

test('a host only a @cert-authority line matches passes the key check pending its certificate', () => {
  const ca = key('ed25519');
  const host = key('ed25519');
  const kh = caLines(ca);
  const v = checkHostKey(kh, '10.0.0.5', 22, blob(`${host}.pub`));
  assert.ok(v.ok && v.authorities && v.authorities.length === 1);
  assert.equal(checkHostKey(kh, '192.168.1.1', 22, blob(`${host}.pub`)).ok, false, 'a host the line does not match');
});

test('checkHostCert: ed25519, RSA and ECDSA CAs; the certificate names the host and its presented key', () => {
  for (const [t, bits] of [['ed25519'], ['rsa', 3072], ['ecdsa', 256], ['ecdsa', 521]] as [string, number?][]) {
    const ca = key(t, bits);
    const host = key('ed25519');
    const cert = sign(ca, host);
    const v = checkHostCert(cert, blob(`${host}.pub`), caLines(ca), [], '10.0.0.5');
    assert.ok(v.ok, `${t} ${bits ?? ''}: ${v.ok ? '' : v.reason}`);
    assert.match(v.ok ? v.detail : '', /host certificate 'app1-host' \(serial 7\) signed by the CA of known-hosts line 1/);
    const c = parseHostCert(Buffer.from(cert.split(' ')[1], 'base64'));
    assert.deepEqual([c.type, c.principals], [2, ['10.0.0.5', 'app1.example.com']]);
  }
});

test('checkHostCert refuses: another host name, another key, another CA, a revoked CA, expired, a user certificate, a forged field, none at all', () => {
  const ca = key('ed25519');
  const other = key('ed25519');
  const host = key('ed25519');
  const hostKey = blob(`${host}.pub`);
  const cert = sign(ca, host);
  const no = (v: ReturnType<typeof checkHostCert>, re: RegExp) => assert.match(v.ok ? 'ok' : v.reason, re);
  no(checkHostCert(cert, hostKey, caLines(ca), [], '10.0.0.9'), /names 10\.0\.0\.5, app1\.example\.com, not 10\.0\.0\.9/);
  no(checkHostCert(cert, blob(`${other}.pub`), caLines(ca), [], '10.0.0.5'), /no host certificate for its key SHA256:\S+ was found/);
  no(checkHostCert(cert, hostKey, caLines(other), [], '10.0.0.5'), /is signed by SHA256:\S+, which no @cert-authority line for 10\.0\.0\.5 names/);
  const revoked = parseKnownHosts(`@revoked * ${readFileSync(`${ca}.pub`, 'utf8').trim()}`) as KnownHostEntry[];
  no(checkHostCert(cert, hostKey, caLines(ca), revokedEntries(revoked), '10.0.0.5'), /its CA SHA256:\S+ is marked @revoked/);
  const h2 = key('ed25519');
  no(checkHostCert(sign(ca, h2, ['-h', '-n', '10.0.0.5', '-V', '20200101:20200201']), blob(`${h2}.pub`), caLines(ca), [], '10.0.0.5'), /is expired/);
  const h3 = key('ed25519');
  no(checkHostCert(sign(ca, h3, ['-n', '10.0.0.5']), blob(`${h3}.pub`), caLines(ca), [], '10.0.0.5'), /is a user certificate/);
  // The key id changed after signing: the CA's signature no longer verifies.
  const raw = Buffer.from(cert.split(' ')[1], 'base64');
  const at = raw.indexOf(Buffer.from('app1-host'));
  raw[at] = 'b'.charCodeAt(0);
  no(checkHostCert(`ssh-ed25519-cert-v01@openssh.com ${raw.toString('base64')}`, hostKey, caLines(ca), [], '10.0.0.5'), /signature by SHA256:\S+ does not verify/);
  no(checkHostCert('', hostKey, caLines(ca), [], '10.0.0.5'), /HostCertificate/);
});
