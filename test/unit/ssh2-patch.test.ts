// The bundle's ssh2 client (scripts/build.mjs changes its lib/client.js): session channels opened
// right behind the authentication request, taken by exec(). Run against ssh2's own server, in
// process, on a loopback port: bundled here with the same plugin as dist/.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { build } from 'esbuild';
import type * as Ssh2 from 'ssh2';
import { ssh2Client } from '../../scripts/build.mjs';

let dir: string;
let ssh2: typeof Ssh2;
before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'zdd-ssh2-'));
  const out = path.join(dir, 'ssh2.cjs');
  await build({
    stdin: { contents: "module.exports = require('ssh2');", resolveDir: process.cwd(), loader: 'js' },
    outfile: out,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    external: ['cpu-features', '*.node'],
    logLevel: 'warning',
    plugins: [ssh2Client],
  });
  ssh2 = createRequire(import.meta.url)(out) as typeof Ssh2;
});
after(() => rmSync(dir, { recursive: true, force: true }));

/**
 * An ed25519 pair that ssh2 can read back: its generateKeyPairSync drops a public key's leading
 * zero bytes, so about one pair in 256 is refused as malformed (mscdex/ssh2#1390, #1513).
 */
function keyPair(): { private: string; public: string } {
  for (;;) {
    const kp = ssh2.utils.generateKeyPairSync('ed25519');
    if (!(ssh2.utils.parseKey(kp.private) instanceof Error) && !(ssh2.utils.parseKey(kp.public) instanceof Error)) return kp;
  }
}

interface Seen {
  /** the server's view, in order: AUTH (request in), ACCEPT (we said yes), OPEN (a channel open came in), EXEC name */
  events: string[];
  sessions: number;
}

/**
 * One connection from the bundled client to an ssh2 server calling itself `ident`, whose accept
 * of the publickey request comes at once, or `acceptAfterMs` later, or is a refusal; the client runs `echo`
 * on exec once ready.
 */
async function connectOnce(o: { ident: string; acceptAfterMs?: number; refuse?: boolean; preopen?: number }): Promise<{ seen: Seen; out?: string; error?: string }> {
  const hostKey = keyPair();
  const userKey = keyPair();
  const seen: Seen = { events: [], sessions: 0 };
  const server = new ssh2.Server({ hostKeys: [hostKey.private], ident: o.ident, debug: (m: string) => /Inbound: CHANNEL_OPEN/.test(m) && seen.events.push('OPEN') }, (conn) => {
    conn.on('authentication', (ctx) => {
      if (ctx.method !== 'publickey') return ctx.reject(['publickey']);
      seen.events.push('AUTH');
      if (o.refuse) return ctx.reject(['publickey']);
      const yes = () => {
        seen.events.push('ACCEPT');
        ctx.accept();
      };
      if (o.acceptAfterMs === undefined) yes();
      else setTimeout(yes, o.acceptAfterMs);
    });
    conn.on('session', (accept) => {
      seen.sessions++;
      accept().on('exec', (acc, _rej, info) => {
        seen.events.push(`EXEC ${info.command}`);
        const ch = acc();
        ch.end(`ran ${info.command}\n`);
        ch.exit(0);
      });
    });
    conn.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  const client = new ssh2.Client();
  try {
    const out = await new Promise<string>((resolve, reject) => {
      client.on('error', reject);
      client.on('ready', () =>
        client.exec('echo', (err, ch) => {
          if (err) return reject(err);
          let text = '';
          ch.on('data', (b: Buffer) => (text += b));
          ch.on('close', () => resolve(text));
        }),
      );
      client.connect({ host: '127.0.0.1', port, username: 'u', privateKey: userKey.private, authHandler: ['publickey'], hostVerifier: () => true, algorithms: { compress: ['none'] }, ...({ zddPreopen: o.preopen ?? 3 } as object) });
    });
    return { seen, out };
  } catch (e) {
    return { seen, error: String(e) };
  } finally {
    client.end();
    await new Promise((r) => server.close(r));
  }
}

test('an OpenSSH server: the channels open with the authentication, and exec runs on one of them', async () => {
  const r = await connectOnce({ ident: 'OpenSSH_9.2p1 Debian-2+deb12u3' });
  assert.equal(r.out, 'ran echo\n', r.error);
  // 3 opened ahead, none more for the exec
  assert.equal(r.seen.sessions, 3);
  assert.deepEqual(r.seen.events, ['AUTH', 'ACCEPT', 'OPEN', 'OPEN', 'OPEN', 'EXEC echo']);
});

test('the opens are sent without waiting for the answer: they reach a server still deciding, and exec falls back when it refuses them', async () => {
  // ssh2's server refuses a channel open before authentication (OpenSSH would ignore it). The
  // opens arriving before the server's yes prove the client did not wait for USERAUTH_SUCCESS.
  const r = await connectOnce({ ident: 'OpenSSH_9.9', acceptAfterMs: 150 });
  assert.equal(r.out, 'ran echo\n', r.error);
  assert.deepEqual(r.seen.events.slice(0, 5), ['AUTH', 'OPEN', 'OPEN', 'OPEN', 'ACCEPT']);
  // the exec's own channel, opened the usual way after the refusal
  assert.deepEqual(r.seen.events.slice(5), ['OPEN', 'EXEC echo']);
  assert.equal(r.seen.sessions, 1);
});

test('another server (not OpenSSH 7 or later), or zddPreopen 0: nothing is opened ahead', async () => {
  for (const o of [{ ident: 'dropbear_2022.83' }, { ident: 'OpenSSH_6.6' }, { ident: 'OpenSSH_9.9', preopen: 0 }]) {
    const r = await connectOnce(o);
    assert.equal(r.out, 'ran echo\n', r.error);
    assert.deepEqual(r.seen.events, ['AUTH', 'ACCEPT', 'OPEN', 'EXEC echo'], JSON.stringify(o));
  }
});

test('a refused key still fails as an authentication failure', async () => {
  const r = await connectOnce({ ident: 'OpenSSH_9.9', refuse: true });
  assert.match(r.error ?? '', /All configured authentication methods failed/);
  assert.equal(r.seen.sessions, 0);
});
