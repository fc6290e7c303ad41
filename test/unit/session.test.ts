// The command shell of a connection, run against a real local sh (what sshd's `exec sh` starts):
// framing, exit codes, stdin, output split anywhere, concurrent commands over several shells, and
// a shell that goes away.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { ClientChannel } from 'ssh2';
import { MarkerReader, Shell, ShellPool } from '../../src/ssh/session.ts';
import { withPrevious, wrap } from '../../src/commands/shell.ts';

/** A local `sh` that looks like an ssh2 exec channel; chunk: split every output into pieces this small. */
function localChannel(chunk = 0, banner = '', command = 'exec sh'): Promise<ClientChannel> {
  const p = spawn('sh', ['-c', `${banner}${command}`], { stdio: ['pipe', 'pipe', 'pipe'] });
  const ch = new EventEmitter() as EventEmitter & { stderr: EventEmitter; write: (s: string) => void; end: () => void; close: () => void; pid?: number };
  ch.stderr = new EventEmitter();
  const feed = (to: EventEmitter) => (b: Buffer) => {
    if (!chunk) return to.emit('data', b);
    for (let i = 0; i < b.length; i += chunk) to.emit('data', b.subarray(i, i + chunk));
  };
  p.stdout.on('data', feed(ch));
  p.stderr.on('data', feed(ch.stderr));
  p.on('close', () => ch.emit('close'));
  ch.write = (s) => p.stdin.write(s);
  ch.end = () => p.stdin.end();
  ch.close = () => p.kill('SIGKILL');
  ch.pid = p.pid;
  return Promise.resolve(ch as unknown as ClientChannel);
}

const o = { timeoutSec: 10 };

test('a command runs as its line says: stdout, stderr and exit code apart, stdin exact, a banner thrown away', async () => {
  const s = new Shell(() => localChannel(0, 'echo banner from bashrc; echo err banner >&2; '));
  const a = await s.send(wrap('a', 'printf "out %s\\n" "$1"; printf "err\\n" >&2; exit 3', ["it's"], o));
  assert.deepEqual([a.code, a.stdout.toString(), a.stderr.toString()], [3, "out it's\n", 'err\n']);
  const bytes = 'no newline at the end; ünïcode, \'quotes\', $HOME `x`\n\n\x01tail';
  const b = await s.send(wrap('b', 'cat', [], o, bytes));
  assert.deepEqual([b.code, b.stdout.toString()], [0, bytes]);
  // A command reading stdin without any gets /dev/null, not the shell's own input.
  const c = await s.send(wrap('c', 'cat; echo done', [], o));
  assert.deepEqual([c.code, c.stdout.toString()], [0, 'done\n']);
  const d = await s.send(wrap('d', 'printf "no newline"', [], o));
  assert.equal(d.stdout.toString(), 'no newline');
  s.close();
});

test('keep: the command behind a kept one gets its stdout exactly, as one argument; the kept one answers as usual', async () => {
  for (const embed of [false, true]) {
    const s = new Shell((c) => localChannel(0, '', c), embed);
    const out = "switched 12 34\n$(touch pwn) 'q' `x`\n\n";
    const kept = s.send({ ...wrap('a', 'printf %s "$1"; echo err >&2; exit 4', [out], o), keep: true });
    const next = s.send(withPrevious(wrap('b', 'printf "[%s]" "$#" "$1"', [], o)));
    const plain = s.send(wrap('c', 'printf "%s" "$1"', ['nothing kept'], o, 'stdin too'));
    const [a, b, c] = await Promise.all([kept, next, plain]);
    assert.deepEqual([a.code, a.stdout.toString(), a.stderr.toString()], [4, out, 'err\n']);
    assert.deepEqual([b.code, b.stdout.toString()], [0, `[1][${out}]`]);
    assert.deepEqual([c.code, c.stdout.toString()], [0, 'nothing kept']);
    // A kept command with stdin of its own.
    const d = await s.send({ ...wrap('d', 'cat', [], o, 'from stdin\n'), keep: true });
    assert.equal(d.stdout.toString(), 'from stdin\n');
    assert.equal((await s.send(withPrevious(wrap('e', 'printf %s "$1"', [], o)))).stdout.toString(), 'from stdin\n');
    s.close();
  }
});

test('output split into 1-byte chunks still frames right', async () => {
  const s = new Shell(() => localChannel(1));
  for (let i = 0; i < 5; i++) {
    const r = await s.send(wrap('x', 'printf "%s\\n" "$1"; printf "e%s" "$1" >&2; exit "$1"', [String(i)], o));
    assert.deepEqual([r.code, r.stdout.toString(), r.stderr.toString()], [i, `${i}\n`, `e${i}`]);
  }
  s.close();
});

test('a marker needs the nonce: output that looks like one is kept', () => {
  const r = new MarkerReader('abc', true);
  const got: string[] = [];
  let code: number | undefined;
  r.push(Buffer.from('x\nabd 1\n\nab'), (b) => got.push(b.toString()), () => undefined);
  r.push(Buffer.from('c 7\nrest'), (b) => got.push(b.toString()), (c) => (code = c));
  assert.equal(got.join(''), 'x\nabd 1\n');
  assert.equal(code, 7);
});

test('the pool runs concurrent commands in parallel shells, at most max', async () => {
  let opened = 0;
  const pool = new ShellPool((c) => (opened++, localChannel(0, '', c)), 3, 1);
  const dir = mkdtempSync(path.join(tmpdir(), 'zdd-session-'));
  try {
    // Each one waits (up to 5 s) until all three have started: they only pass when run at once.
    const meet = 'touch "$1/$2"; i=0; while [ "$(ls "$1" | wc -l)" -lt 3 ] && [ $i -lt 250 ]; do sleep 0.02; i=$((i+1)); done; ls "$1" | wc -l';
    const rs = await Promise.all([0, 1, 2].map((i) => pool.pick({ waits: true }).send({ ...wrap('meet', meet, [dir, String(i)], o), waits: true })));
    assert.deepEqual(rs.map((r) => r.stdout.toString().trim()), ['3', '3', '3']);
    assert.equal(opened, 3);
    // A fourth at once waits behind one of the three, and is answered.
    const more = await Promise.all([0, 1, 2, 3].map(() => pool.pick().send(wrap('t', 'echo ok', [], o))));
    assert.ok(more.every((r) => r.code === 0 && r.stdout.toString() === 'ok\n'));
    assert.equal(opened, 3);
  } finally {
    pool.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a quick command goes right behind a quick one, never behind one that waits', async () => {
  const pool = new ShellPool((c) => localChannel(0, '', c), 2, 2);
  const a = pool.pick({ waits: true });
  void a.send({ ...wrap('wait', 'sleep 0.3', [], o), waits: true });
  const b = pool.pick();
  assert.notEqual(b, a);
  void b.send(wrap('quick', 'true', [], o));
  // Both shells busy: a quick one queues behind the quick one, not behind the wait.
  assert.equal(pool.pick(), b);
  pool.close();
});

test('a shell that dies answers code null for what it was running, and the pool opens another', async () => {
  const pool = new ShellPool((c) => localChannel(0, '', c), 2, 1);
  const s = pool.pick();
  const running = s.send(wrap('long', 'sleep 1', [], o));
  await new Promise((r) => setTimeout(r, 100));
  s.close('gone');
  const r = await running;
  assert.equal(r.code, null);
  const next = await pool.pick().send(wrap('after', 'echo fine', [], o));
  assert.deepEqual([next.code, next.stdout.toString()], [0, 'fine\n']);
  pool.close();
});

test('a shell sshd refuses to open (MaxSessions) lowers the pool to what is open, and nothing runs there', async () => {
  let n = 0;
  // The first opens; every later one is refused, the way sshd refuses a session past MaxSessions.
  const pool = new ShellPool((c) => (n++ === 0 ? localChannel(0, '', c) : Promise.reject(new Error('open failed'))), 4, 2);
  await new Promise((r) => setTimeout(r, 50));
  const s = pool.pick({ waits: true });
  assert.equal(s.openFailed, undefined);
  void s.send({ ...wrap('wait', 'sleep 0.2', [], o), waits: true });
  // Busy, and no other can be opened: the next one queues behind it and is answered.
  const next = pool.pick({ waits: true });
  assert.equal(next, s);
  const r = await next.send(wrap('after', 'echo queued', [], o));
  assert.deepEqual([r.code, r.stdout.toString()], [0, 'queued\n']);
  pool.close();
});

test("the next command's stdout arriving before this one's stderr marker is still the next one's", async () => {
  const written: string[] = [];
  const ch = new EventEmitter() as EventEmitter & { stderr: EventEmitter; write: (s: string) => void; end: () => void; close: () => void };
  ch.stderr = new EventEmitter();
  ch.write = (s) => written.push(s);
  ch.end = () => undefined;
  ch.close = () => undefined;
  const s = new Shell(() => Promise.resolve(ch as unknown as ClientChannel));
  const a = s.send(wrap('a', 'echo a; echo ea >&2', [], o));
  const b = s.send(wrap('b', 'echo b; echo eb >&2', [], o));
  await new Promise((r) => setImmediate(r));
  const nonce = /printf '\\n%s %s\\n' ([0-9a-f]{32})/.exec(written.join(''))![1];
  // The opening no-op, then both stdouts before any stderr (two pipes: sshd reads them apart).
  ch.emit('data', Buffer.from(`\n${nonce} 0\na\n\n${nonce} 0\nb\n\n${nonce} 1\n`));
  ch.stderr.emit('data', Buffer.from(`\n${nonce}\nea\n\n${nonce}\neb\n\n${nonce}\n`));
  const [ra, rb] = await Promise.all([a, b]);
  assert.deepEqual([ra.code, ra.stdout.toString(), ra.stderr.toString()], [0, 'a\n', 'ea\n']);
  assert.deepEqual([rb.code, rb.stdout.toString(), rb.stderr.toString()], [1, 'b\n', 'eb\n']);
});

test('an embedding shell runs the frames of its first tick inside its exec, in order, then reads on', async () => {
  const commands: string[] = [];
  const s = new Shell((c) => (commands.push(c), localChannel(0, 'echo banner; ', c)), true);
  const a = s.send(wrap('a', 'echo "a $1"', ["it's"], o));
  const b = s.send(wrap('b', 'cat', [], o, 'stdin\nbytes'));
  const [ra, rb] = await Promise.all([a, b]);
  assert.match(commands[0], /^exec sh -c '/, 'the frames are in the exec');
  assert.deepEqual([ra.code, ra.stdout.toString(), rb.stdout.toString()], [0, "a it's\n", 'stdin\nbytes']);
  // Sent later, through its stdin.
  const c = await s.send(wrap('c', 'echo later', [], o));
  assert.equal(c.stdout.toString(), 'later\n');
  s.close();
});

test("right after connecting (warm shells still opening), the first commands go in a new shell's exec, together", async () => {
  const commands: string[] = [];
  const pool = new ShellPool((c) => (commands.push(c), localChannel(0, '', c)), 6, 2);
  const rs = await Promise.all([1, 2, 3].map((i) => pool.pick().send(wrap('q', 'echo "$1"', [String(i)], o))));
  assert.deepEqual(rs.map((r) => r.stdout.toString()), ['1\n', '2\n', '3\n']);
  assert.deepEqual(commands.map((c) => (c === 'exec sh' ? 'plain' : 'embedded')), ['plain', 'plain', 'embedded']);
  // Once the warm shells are open, commands go to them.
  const r = await pool.pick().send(wrap('q', 'echo warm', [], o));
  assert.equal(r.stdout.toString(), 'warm\n');
  assert.equal(commands.length, 3);
  pool.close();
});
