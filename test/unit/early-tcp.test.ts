// The TCP connections the step opens before loading the action (src/ssh/early-tcp.ts, src/start.ts):
// which addresses, the sockets against real listeners on loopback, and the bundle as the runner
// starts it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer, type Server, type Socket } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { dropEarlyTcp, earlyAddresses, openEarlyTcp, takeEarlyTcp } from '../../src/ssh/early-tcp.ts';
import { actionDefaults } from '../action-defaults.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const inputs = (o: Record<string, string>) => (name: string) => o[name] ?? '';

test('earlyAddresses: every nginx and app host at its SSH port; the jump host alone when there is one; bad entries left to the validation', () => {
  assert.deepEqual(earlyAddresses(inputs({ 'nginx-host': 'lb1, lb2:2200', 'app-hosts': 'app1\n[fd00::5]:2222=10.0.0.5\n# a comment', 'ssh-port': '' })), [
    { host: 'lb1', port: 22 },
    { host: 'lb2', port: 2200 },
    { host: 'app1', port: 22 },
    { host: 'fd00::5', port: 2222 },
  ]);
  assert.deepEqual(earlyAddresses(inputs({ 'nginx-host': 'lb1', 'app-hosts': 'app1', 'ssh-port': '2022' })), [
    { host: 'lb1', port: 2022 },
    { host: 'app1', port: 2022 },
  ]);
  assert.deepEqual(earlyAddresses(inputs({ 'nginx-host': 'lb1', 'app-hosts': 'app1', 'jump-host': 'bastion:2222' })), [{ host: 'bastion', port: 2222 }]);
  assert.deepEqual(earlyAddresses(inputs({ 'nginx-host': 'bad host!, lb1:99999, lb2', 'app-hosts': 'app1=' })), [{ host: 'lb2', port: 22 }]);
  assert.deepEqual(earlyAddresses(inputs({ 'nginx-host': 'lb1', 'app-hosts': 'app1', 'ssh-port': 'x' })), []);
  assert.deepEqual(earlyAddresses(inputs({ 'nginx-host': 'lb1', 'app-hosts': 'app1', 'jump-host': 'a:b:c' })), []);
});

/** A loopback listener that keeps what it accepts and notes when each one closes. */
async function listener(): Promise<{ server: Server; port: number; accepted: Socket[]; closed: number }> {
  const l = { server: createServer(), port: 0, accepted: [] as Socket[], closed: 0 };
  l.server.on('connection', (s) => {
    l.accepted.push(s);
    s.on('close', () => l.closed++);
  });
  await new Promise<void>((r) => l.server.listen(0, '127.0.0.1', r));
  l.port = (l.server.address() as { port: number }).port;
  return l;
}
const until = async (ok: () => boolean, what: string) => {
  for (let i = 0; i < 200 && !ok(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(ok(), what);
};

test('a socket opened early is taken once, connected to its host; one that failed is not taken; the rest are closed by dropEarlyTcp', async () => {
  const l = await listener();
  const closed = await listener();
  const refusedPort = closed.port;
  await new Promise<void>((r) => closed.server.close(() => r()));
  try {
    openEarlyTcp([
      { host: '127.0.0.1', port: l.port },
      { host: '127.0.0.1', port: refusedPort },
      { host: 'localhost', port: l.port },
    ]);
    await until(() => l.accepted.length === 2, 'both sockets to the listener were accepted');
    const s = takeEarlyTcp({ host: '127.0.0.1', port: l.port });
    assert.ok(s && !s.destroyed && !s.connecting, 'the connected socket is handed over');
    assert.equal(takeEarlyTcp({ host: '127.0.0.1', port: l.port }), undefined, 'taken once');
    // The refused one: given time to fail, it is not handed over (the connection is made anew).
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(takeEarlyTcp({ host: '127.0.0.1', port: refusedPort }), undefined);
    // Bytes written on the taken one arrive: it is the connection itself.
    const got = new Promise<string>((r) => l.accepted[0].once('data', (b) => r(b.toString())));
    s.write('SSH-2.0-test\r\n');
    assert.equal(await got, 'SSH-2.0-test\r\n');
    dropEarlyTcp();
    await until(() => l.closed === 1, 'the one nobody took (localhost) was closed');
    assert.equal(takeEarlyTcp({ host: 'localhost', port: l.port }), undefined);
    s.destroy();
  } finally {
    dropEarlyTcp();
    for (const a of l.accepted) a.destroy();
    l.server.close();
  }
});

test('node dist/main.cjs: connects to the hosts before loading the action, closes the sockets when an input is refused, exits; loads no TLS', async () => {
  const l = await listener();
  try {
    const env: Record<string, string> = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root' };
    const given = { ...actionDefaults(), 'nginx-host': `127.0.0.1:${l.port}`, 'app-hosts': `127.0.0.1:${l.port}=10.0.0.9`, 'ssh-user': 'deploy', 'ssh-key': 'x', strategy: 'sideways', artifact: 'app.jar' };
    for (const [k, v] of Object.entries(given)) env[`INPUT_${k.toUpperCase()}`] = v;
    // The modules node loaded, written when the process exits.
    const probe = "import { writeSync } from 'node:fs'; process.on('exit', () => writeSync(2, '\\nMODULES ' + process.moduleLoadList.join(' ') + '\\n'));";
    const child = spawn(process.execPath, ['--import', `data:text/javascript,${encodeURIComponent(probe)}`, path.join(ROOT, 'dist/main.cjs')], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    const code = await new Promise<number | null>((r) => child.on('exit', r));
    assert.equal(code, 1, out + err);
    assert.match(out, /::error::input 'strategy': 'sideways' is not a strategy/);
    await until(() => l.accepted.length === 1, 'a connection to the address, opened before the inputs were validated');
    assert.equal(l.accepted.length, 1, 'one connection for the address that is both hosts');
    await until(() => l.closed === 1, 'closed by the step');
    const modules = /MODULES (.*)/.exec(err)?.[1] ?? '';
    assert.match(modules, /NativeModule net\b/);
    assert.doesNotMatch(modules, /NativeModule (tls|https)\b/, 'ssh2 index loads its HTTP agents only when asked for');
  } finally {
    for (const a of l.accepted) a.destroy();
    l.server.close();
  }
});
