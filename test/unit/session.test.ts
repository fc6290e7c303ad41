// The one shell of a connection, run against a real local sh started the way sshd starts it (the
// login shell's `-c`, here sh's): framing, exit codes, stdin, output split anywhere, jobs side by
// side, lanes in order, a stream between commands, a .bashrc that prints, reads stdin, changes
// directory or exits, and a shell that goes away.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { ClientChannel } from 'ssh2';
import { HostShell } from '../../src/ssh/session.ts';
import { FrameReader, jobScript } from '../../src/ssh/frames.ts';
import { withPrevious, wrap } from '../../src/commands/shell.ts';

/** A local `sh -c LOGIN; COMMAND` that looks like an ssh2 exec channel; chunk: split every output into pieces this small. */
function localChannel(o: { chunk?: number; login?: string; tmp?: string; commands?: string[]; procs?: ChildProcess[] } = {}) {
  return (command: string): Promise<ClientChannel> => {
    o.commands?.push(command);
    const p = spawn('sh', ['-c', `${o.login ?? ''}\n${command}`], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, TMPDIR: o.tmp ?? process.env.TMPDIR } });
    const ch = new EventEmitter() as EventEmitter & { stderr: EventEmitter; write: (s: Buffer | string) => boolean; end: () => void; close: () => void };
    o.procs?.push(p);
    ch.stderr = new EventEmitter();
    const feed = (to: EventEmitter) => (b: Buffer) => {
      if (!o.chunk) return to.emit('data', b);
      for (let i = 0; i < b.length; i += o.chunk) to.emit('data', b.subarray(i, i + o.chunk));
    };
    p.stdout.on('data', feed(ch));
    p.stderr.on('data', feed(ch.stderr));
    p.stdin.on('drain', () => ch.emit('drain'));
    p.stdin.on('error', () => undefined);
    p.on('exit', (code) => ch.emit('exit', code));
    p.on('close', () => ch.emit('close'));
    ch.write = (s) => p.stdin.write(s);
    ch.end = () => p.stdin.end();
    // ssh2's close: the channel goes; the process (no pty) is not signalled
    ch.close = () => p.stdin.end();
    return Promise.resolve(ch as unknown as ClientChannel);
  };
}

const o = { timeoutSec: 10 };

/** A directory of its own for the shells' temporary directories, removed at the end. */
function tmp(): { dir: string; [Symbol.dispose]: () => void } {
  const dir = mkdtempSync(path.join(tmpdir(), 'zdd-session-'));
  return { dir, [Symbol.dispose]: () => rmSync(dir, { recursive: true, force: true }) };
}

const run = (s: HostShell, c: Parameters<HostShell['send']>[0], lane?: Parameters<HostShell['send']>[1]) => s.send(c, lane).result;

test('a command runs as its line says: stdout, stderr and exit code apart, stdin exact, the login banner thrown away', async () => {
  using t = tmp();
  const s = new HostShell(localChannel({ login: 'echo banner from bashrc; echo err banner >&2; printf no-newline', tmp: t.dir }));
  const a = await run(s, wrap('a', 'printf "out %s\\n" "$1"; printf "err\\n" >&2; exit 3', ["it's"], o));
  assert.deepEqual([a.code, a.stdout.toString(), a.stderr.toString()], [3, "out it's\n", 'err\n']);
  const bytes = 'no newline at the end; ünïcode, \'quotes\', $HOME `x`\n\n\x01tail';
  const b = await run(s, wrap('b', 'cat', [], o, bytes));
  assert.deepEqual([b.code, b.stdout.toString()], [0, bytes]);
  // A command reading stdin without any gets /dev/null, not the shell's own input.
  const c = await run(s, wrap('c', 'cat; echo done', [], o));
  assert.deepEqual([c.code, c.stdout.toString()], [0, 'done\n']);
  const d = await run(s, wrap('d', 'printf "no newline"', [], o));
  assert.equal(d.stdout.toString(), 'no newline');
  // Nothing of the dispatcher's is a job's: not its positional parameters, not the nonce.
  const e = await run(s, { line: 'printf "%s|%s" "$#" "${_zm_n-unset}"' });
  assert.equal(e.stdout.toString(), '0|unset');
  s.close();
});

test('jobs run side by side on the host: one waits for what a later one does', async () => {
  using t = tmp();
  const s = new HostShell(localChannel({ tmp: t.dir }));
  const flag = path.join(t.dir, 'flag');
  const first = run(s, wrap('waits', 'i=0; while [ ! -e "$1" ] && [ $i -lt 500 ]; do sleep 0.01; i=$((i+1)); done; [ -e "$1" ] && echo saw it', [flag], o));
  await new Promise((r) => setTimeout(r, 50));
  const second = await run(s, wrap('touch', 'touch "$1"', [flag], o));
  assert.equal(second.code, 0);
  const r = await first;
  assert.deepEqual([r.code, r.stdout.toString()], [0, 'saw it\n']);
  s.close();
});

test('a lane runs its commands in the order sent, one after another, and keeps stdout for the next', async () => {
  using t = tmp();
  for (const firstTick of [true, false]) {
    const s = new HostShell(localChannel({ tmp: t.dir }));
    if (!firstTick) await run(s, { line: ':' });
    const lane = s.lane();
    const log = path.join(t.dir, `order-${firstTick}`);
    const out = "switched 12 34\n$(touch pwn) 'q' `x`\n\n";
    const all = [
      run(s, wrap('slow', 'sleep 0.3; echo 1 >> "$1"', [log], o), lane),
      run(s, { ...wrap('a', 'echo 2 >> "$2"; printf %s "$1"; echo err >&2; exit 4', [out, log], o), keep: true }, lane),
      run(s, withPrevious(wrap('b', 'echo 3 >> "$1"; printf "[%s]" "$#" "$2"', [log], o)), lane),
      run(s, wrap('c', 'printf "%s" "$1"', ['not in the lane'], o, 'stdin too')),
    ];
    const [, a, b, c] = await Promise.all(all);
    assert.deepEqual([a.code, a.stdout.toString(), a.stderr.toString()], [4, out, 'err\n']);
    assert.deepEqual([b.code, b.stdout.toString()], [0, `[2][${out}]`]);
    assert.deepEqual([c.code, c.stdout.toString()], [0, 'not in the lane']);
    assert.equal(readFileSync(log, 'utf8'), '1\n2\n3\n');
    assert.ok(!existsSync(path.join(t.dir, 'pwn')));
    // A kept command with stdin of its own.
    const d = await run(s, { ...wrap('d', 'cat', [], o, 'from stdin\n'), keep: true }, lane);
    assert.equal(d.stdout.toString(), 'from stdin\n');
    assert.equal((await run(s, withPrevious(wrap('e', 'printf %s "$1"', [], o)), lane)).stdout.toString(), 'from stdin\n');
    s.close();
  }
});

test('the jobs of the first tick go in the channel command itself; later ones on stdin', async () => {
  using t = tmp();
  const commands: string[] = [];
  const s = new HostShell(localChannel({ tmp: t.dir, commands }));
  const a = run(s, wrap('first', 'echo "$1"', ['embedded-one'], o));
  const b = run(s, wrap('second', 'echo "$1"', ['embedded-two'], o), s.lane());
  assert.deepEqual((await Promise.all([a, b])).map((r) => r.stdout.toString()), ['embedded-one\n', 'embedded-two\n']);
  const c = await run(s, wrap('later', 'echo "$1"', ['sent-later'], o));
  assert.equal(c.stdout.toString(), 'sent-later\n');
  assert.equal(commands.length, 1);
  assert.ok(commands[0].includes('embedded-one') && commands[0].includes('embedded-two') && !commands[0].includes('sent-later'));
  s.close();
});

test('output split into 1-byte chunks still frames right', async () => {
  using t = tmp();
  const s = new HostShell(localChannel({ chunk: 1, tmp: t.dir, login: 'echo banner' }));
  const all = [];
  for (let i = 0; i < 5; i++) all.push(run(s, wrap('x', 'printf "%s\\n" "$1"; printf "e%s" "$1" >&2; exit "$1"', [String(i)], o)));
  const rs = await Promise.all(all);
  rs.forEach((r, i) => assert.deepEqual([r.code, r.stdout.toString(), r.stderr.toString()], [i, `${i}\n`, `e${i}`]));
  s.close();
});

test('a header needs the nonce: output that looks like one is a job output', () => {
  const r = new FrameReader('abc');
  const bytes: string[] = [];
  const headers: string[][] = [];
  r.push(Buffer.from('\nabd 1 r 0\n\nabc 1 o\nx\nab'), (b) => bytes.push(b.toString()), (h) => headers.push(h));
  r.push(Buffer.from('c 1 r 7\n'), (b) => bytes.push(b.toString()), (h) => headers.push(h));
  assert.equal(bytes.join(''), '\nabd 1 r 0\nx');
  assert.deepEqual(headers, [['1', 'o'], ['1', 'r', '7']]);
});

test('the jar streams over the same shell, byte for byte, and commands get through between its chunks', async () => {
  using t = tmp();
  const s = new HostShell(localChannel({ tmp: t.dir }));
  const file = path.join(t.dir, 'jar');
  const data = randomBytes(3 * (1 << 20) + 17);
  const st = await s.stream(wrap('receive', 'IFS= read -r go; [ "$go" = go ] || { echo skipped; exit 0; }; cat > "$1"; wc -c < "$1"', [file], o));
  await st.write(Buffer.from('go\n'));
  await st.write(data.subarray(0, 1 << 20));
  // The stream is open and has more to come: a command still answers.
  const mid = await run(s, wrap('meanwhile', 'echo "$1"', ['between chunks'], o));
  assert.equal(mid.stdout.toString(), 'between chunks\n');
  await st.write(data.subarray(1 << 20));
  st.end();
  const r = await st.result;
  assert.deepEqual([r.code, r.stdout.toString().trim()], [0, String(data.length)]);
  assert.equal(createHash('sha256').update(readFileSync(file)).digest('hex'), createHash('sha256').update(data).digest('hex'));
  // One that stops reading early (skipped) while bytes still come: nothing hangs, framing holds.
  const st2 = await s.stream(wrap('receive', 'IFS= read -r go; echo "got $go"', [], o));
  await st2.write(Buffer.from('no\n'));
  await st2.write(data);
  st2.end();
  assert.equal((await st2.result).stdout.toString(), 'got no\n');
  assert.equal((await run(s, { line: 'echo after' })).stdout.toString(), 'after\n');
  s.close();
});

test('a .bashrc that reads stdin and changes directory breaks nothing; commands start in the home directory', async () => {
  using t = tmp();
  const s = new HostShell(localChannel({ tmp: t.dir, login: 'read -r a; read -r b; sleep 0.2; read -r c; cd /; echo "bashrc read [$a$b$c]"' }));
  // sent while the login shell starts: written at once, behind the lines a .bashrc may read
  await new Promise((r) => setImmediate(r));
  const early = run(s, wrap('early', 'echo "$1"', ['sent before the dispatcher ran'], o, 'with stdin'));
  assert.equal((await early).stdout.toString(), 'sent before the dispatcher ran\n');
  const r = await run(s, { line: 'pwd' });
  assert.deepEqual([r.code, r.stdout.toString().trim()], [0, process.env.HOME]);
  assert.equal((await run(s, wrap('stdin', 'cat', [], o, 'mine'))).stdout.toString(), 'mine');
  s.close();
});

test('a login shell that exits before running the command: a named reason, with what it printed', async () => {
  using t = tmp();
  const s = new HostShell(localChannel({ tmp: t.dir, login: 'echo "pyenv: not found" >&2; exit 3' }));
  const r = await run(s, { line: 'echo never' });
  assert.equal(r.code, null);
  assert.match(r.error ?? '', /login shell ended before it ran anything \(exit code 3\).*bashrc.*pyenv: not found/s);
});

test('a shell that dies answers code null for what it was running; one that ends removes its directory', async () => {
  using t = tmp();
  const procs: ChildProcess[] = [];
  const s = new HostShell(localChannel({ tmp: t.dir, procs }));
  assert.equal((await run(s, { line: 'echo up' })).code, 0);
  assert.equal(readdirSync(t.dir).length, 1, 'the shell made its directory');
  const running = run(s, { line: 'sleep 1' });
  procs[0].kill('SIGKILL');
  const lost = await running;
  assert.deepEqual([lost.code, lost.error], [null, 'the SSH connection was lost']);
  rmSync(path.join(t.dir, readdirSync(t.dir)[0]), { recursive: true });
  // Ended (the runner closed it): the jobs still running finish, then the directory goes.
  const s2 = new HostShell(localChannel({ tmp: t.dir, procs }));
  const marker = path.join(t.dir, 'finished');
  assert.equal((await run(s2, { line: 'echo up' })).code, 0);
  void run(s2, wrap('x', 'sleep 0.3; touch "$1"', [marker], o));
  await new Promise((r) => setTimeout(r, 50));
  s2.close();
  await new Promise((r) => procs[1].once('exit', r));
  assert.deepEqual(readdirSync(t.dir), ['finished']);
});

test('the job script of a kept command keeps its stdout and exit code', () => {
  assert.match(jobScript({ line: 'echo hi', keep: true }), /_zdd_prev=\$\( \{ echo hi\n\}/);
  assert.equal(jobScript({ line: 'echo hi' }), 'echo hi\n');
});
