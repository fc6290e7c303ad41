// The remote scripts run for real here, in a local sh, against a temp directory.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync, existsSync, readdirSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as R from '../../src/remote.ts';

const o = { timeoutSec: 20 };
function run(cmd: R.Cmd): { code: number; out: string } {
  try {
    const out = execFileSync('sh', ['-c', cmd.line], { input: cmd.stdin ?? '' }).toString();
    return { code: 0, out };
  } catch (e) {
    const err = e as { status: number; stdout: Buffer; stderr: Buffer };
    return { code: err.status, out: err.stdout.toString() + err.stderr.toString() };
  }
}

test('writeInclude replaces the file atomically and keeps its mode', () => {
  const d = mkdtempSync(path.join(tmpdir(), 'zdd-unit-'));
  const f = path.join(d, 'service_url.inc');
  writeFileSync(f, 'old\n', { mode: 0o640 });
  const content = "set $service_url http://10.0.0.5:8081;\n# it's $(not run)\n";
  assert.equal(run(R.writeInclude(f, content, o)).code, 0);
  assert.equal(readFileSync(f, 'utf8'), content);
  assert.equal(execFileSync('stat', ['-c', '%a', f]).toString().trim(), '640');
  assert.deepEqual(readdirSync(d), ['service_url.inc']);
});

test('readInclude: present / absent / nodir', () => {
  const d = mkdtempSync(path.join(tmpdir(), 'zdd-unit-'));
  writeFileSync(path.join(d, 'a.inc'), 'x\ny');
  assert.equal(run(R.readInclude(path.join(d, 'a.inc'), o)).out, 'present\nx\ny');
  assert.equal(run(R.readInclude(path.join(d, 'b.inc'), o)).out.trim(), 'absent');
  assert.match(run(R.readInclude(path.join(d, 'no/b.inc'), o)).out, /^nodir /);
});

test('receiveJar + prepareRelease: need, then have, then copied from an identical release', () => {
  const d = mkdtempSync(path.join(tmpdir(), 'zdd-unit-'));
  const sum = createHash('sha256').update('JAR').digest('hex');
  assert.equal(run(R.prepareRelease(d, 'r1', sum, o)).out.trim(), 'need');
  const jar = path.join(d, 'releases/r1/app.jar');
  assert.equal(run({ ...R.receiveJar(`${jar}.part-1`, jar, 3, o), stdin: 'JAR' }).code, 0);
  assert.equal(run(R.prepareRelease(d, 'r1', sum, o)).out.trim(), 'need', 'not trusted before its checksum is verified');
  assert.equal(run(R.verifyJar(jar, sum, o)).code, 0);
  assert.equal(readFileSync(jar, 'utf8'), 'JAR');
  assert.equal(run(R.prepareRelease(d, 'r1', sum, o)).out.trim(), 'have');
  assert.match(run(R.prepareRelease(d, 'r2', sum, o)).out.trim(), /^copied .*releases\/r1\/app\.jar$/);
  assert.equal(readFileSync(path.join(d, 'releases/r2/app.jar'), 'utf8'), 'JAR');
  assert.deepEqual(readdirSync(path.join(d, 'releases/r1')).sort(), ['app.jar', 'app.jar.sha256']);
});

test('receiveJar removes a short upload; verifyJar removes a corrupt one', () => {
  const d = mkdtempSync(path.join(tmpdir(), 'zdd-unit-'));
  const short = run({ ...R.receiveJar(path.join(d, 'x.part'), path.join(d, 'x'), 10, o), stdin: 'bad' });
  assert.equal(short.code, 2);
  assert.match(short.out, /wrote 3 of 10 bytes/);
  assert.deepEqual(readdirSync(d), []);
  assert.equal(run({ ...R.receiveJar(path.join(d, 'x.part'), path.join(d, 'x'), 3, o), stdin: 'bad' }).code, 0);
  const r = run(R.verifyJar(path.join(d, 'x'), '0'.repeat(64), o));
  assert.equal(r.code, 3);
  assert.match(r.out, /checksum mismatch/);
  assert.deepEqual(readdirSync(d), []);
});

test('startApp passes env and argv intact and detaches; stopProcess stops it', async () => {
  const d = mkdtempSync(path.join(tmpdir(), 'zdd-unit-'));
  run(R.prepareRelease(d, 'r1', 'x', o));
  const argv = ['sh', '-c', 'printf "%s\\n" "$APP_X" "$@" > out.txt; exec sleep 30', 'zero', 'a b', '$(id)', "it's"];
  const r = run(R.startApp(d, 'r1', 9999, [['APP_X', 'v;$(touch pwn) w']], argv, 0, o));
  assert.equal(r.code, 0);
  const pid = Number(r.out.trim());
  assert.match(readFileSync(path.join(d, "run/9999.pid"), "utf8"), new RegExp(`^${pid} \\d+\\n$`));
  let out = '';
  for (let i = 0; i < 50 && !out; i++) {
    await new Promise((res) => setTimeout(res, 50));
    out = existsSync(path.join(d, 'releases/r1/out.txt')) ? readFileSync(path.join(d, 'releases/r1/out.txt'), 'utf8') : '';
  }
  assert.equal(out, "v;$(touch pwn) w\na b\n$(id)\nit's\n");
  assert.equal(existsSync(path.join(d, 'releases/r1/pwn')), false);
  assert.equal(run(R.procState(pid, 0, o)).out.trim(), 'alive');
  assert.equal(run(R.stopProcess(pid, 5, path.join(d, 'run/9999.pid'), o)).out.trim(), 'terminated');
  assert.equal(run(R.procState(pid, 0, o)).out.trim(), 'dead');
  assert.equal(existsSync(path.join(d, 'run/9999.pid')), false);
});

test('stopProcess escalates to SIGKILL for a process that ignores SIGTERM', async () => {
  const child = spawn('sh', ['-c', 'trap "" TERM; while :; do sleep 0.1; done'], { detached: true, stdio: 'ignore' });
  child.unref();
  await new Promise((r) => setTimeout(r, 100));
  const res = await new Promise<string>((resolve) => {
    const p = spawn('sh', ['-c', R.stopProcess(child.pid!, 1, '', o).line]);
    let s = '';
    p.stdout.on('data', (c) => (s += c));
    p.on('close', () => resolve(s));
  });
  assert.equal(res.trim(), 'killed');
});

test('lock: acquired, held (with owner and age), stale lock recovered, released only by its owner', () => {
  const d = mkdtempSync(path.join(tmpdir(), 'zdd-unit-'));
  const lock = path.join(d, 'deploy.lock');
  assert.equal(run(R.acquireLock(lock, 'run=A', 1800, o)).out.trim(), 'acquired');
  assert.match(run(R.acquireLock(lock, 'run=B', 1800, o)).out.trim(), /^held \d+ run=A$/);
  run(R.releaseLock(lock, 'run=B', o));
  assert.equal(existsSync(lock), true);
  const old = Date.now() / 1000 - 4000;
  utimesSync(lock, old, old);
  assert.match(run(R.acquireLock(lock, 'run=C', 1800, o)).out.trim(), /^recovered \d+ run=A$/);
  run(R.releaseLock(lock, 'run=C', o));
  assert.equal(existsSync(lock), false);
});

test('pruneReleases keeps the newest and the protected ones', () => {
  const d = mkdtempSync(path.join(tmpdir(), 'zdd-unit-'));
  for (const [i, r] of ['r1', 'r2', 'r3', 'r4'].entries()) {
    run(R.prepareRelease(d, r, 'x', o));
    const t = Date.now() / 1000 - 100 + i;
    utimesSync(path.join(d, 'releases', r), t, t);
  }
  writeFileSync(path.join(d, 'run/8080.release'), 'r1\n');
  const removed = run(R.pruneReleases(d, 2, ['r4'], o)).out.trim().split('\n');
  assert.deepEqual(removed, ['r2']);
  assert.deepEqual(readdirSync(path.join(d, 'releases')).sort(), ['r1', 'r3', 'r4']);
});

test('parseWorkers and parsePortState', () => {
  assert.deepEqual(R.parseWorkers('12 serving\n13 shutting\n'), [{ pid: 12, shutting: false }, { pid: 13, shutting: true }]);
  assert.deepEqual(R.parsePortState('ours=\nfree\n'), { free: true, pid: undefined, cmd: undefined, ours: undefined });
  assert.deepEqual(R.parsePortState('ours=41\npid=41\ncmd=java -jar x\n'), { free: false, pid: 41, cmd: 'java -jar x', ours: 41 });
});

test('portState: a recorded pid counts as ours only while it is the same process (pid + start time)', async () => {
  const d = mkdtempSync(path.join(tmpdir(), 'zdd-unit-'));
  run(R.prepareRelease(d, 'r1', 'x', o));
  const port = 20000 + Math.floor(Math.random() * 20000);
  const argv = [process.execPath, '-e', `require('http').createServer().listen(${port}, '127.0.0.1')`];
  const pid = Number(run(R.startApp(d, 'r1', port, [], argv, 0, o)).out.trim());
  const pidFile = path.join(d, `run/${port}.pid`);
  let st: R.PortState | string = { free: true };
  for (let i = 0; i < 100; i++) {
    st = R.parsePortState(run(R.portState(port, pidFile, o)).out);
    if (typeof st !== 'string' && !st.free) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.deepEqual(typeof st !== 'string' && [st.free, st.pid, st.ours], [false, pid, pid]);
  writeFileSync(pidFile, `${pid} 1\n`); // same pid, another start time: a reused pid
  const st2 = R.parsePortState(run(R.portState(port, pidFile, o)).out);
  assert.deepEqual(typeof st2 !== 'string' && [st2.pid, st2.ours], [pid, undefined]);
  run(R.stopProcess(pid, 5, pidFile, o));
});

test('switchInclude: writes, tests, reloads in one round trip; reports each failure distinctly', () => {
  // In a PID namespace of its own, no nginx worker of this machine is visible to the script.
  const run = (cmd: R.Cmd) => {
    try {
      return { out: execFileSync('unshare', ['--pid', '--fork', '--mount-proc', 'sh', '-c', cmd.line], { input: cmd.stdin ?? '' }).toString() };
    } catch (e) {
      return { out: String((e as { stdout: Buffer }).stdout) };
    }
  };
  const d = mkdtempSync(path.join(tmpdir(), 'zdd-unit-'));
  const f = path.join(d, 'service_url.inc');
  writeFileSync(f, 'old\n');
  const limits = { waitSec: 2, commandSec: 5 };
  const ok = R.parseSwitch(run(R.switchInclude(f, 'new\n', ['sh', '-c', 'test "$(cat "$0")" = new', f], ['true'], limits, o)).out);
  assert.deepEqual([ok.written, ok.outcome], [true, { kind: 'switched' }]);
  assert.equal(readFileSync(f, 'utf8'), 'new\n');
  const bad = R.parseSwitch(run(R.switchInclude(f, 'x\n', ['sh', '-c', 'echo "it is $1" >&2; exit 3', 'sh', 'broken; $(id)'], ['true'], limits, o)).out);
  assert.deepEqual(bad.outcome, { kind: 'test-failed', code: 3, detail: 'it is broken; $(id)' });
  const rl = R.parseSwitch(run(R.switchInclude(f, 'y\n', ['true'], ['sh', '-c', 'exit 4'], limits, o)).out);
  assert.deepEqual(rl.outcome, { kind: 'reload-failed', code: 4, detail: '' });
  const slow = R.parseSwitch(run(R.switchInclude(f, 'z\n', ['sleep', '30'], ['true'], { waitSec: 2, commandSec: 1 }, o)).out);
  assert.equal(slow.outcome?.kind === 'test-failed' && slow.outcome.code, 124);
  const nodir = R.parseSwitch(run(R.switchInclude(path.join(d, 'nope/x.inc'), 'z\n', ['true'], ['true'], limits, o)).out);
  assert.equal(nodir.written, false);
  assert.equal(nodir.outcome?.kind, 'write-failed');
  assert.deepEqual(readdirSync(d).sort(), ['service_url.inc']);
});

test('the start guard stops a process nobody disarmed, and leaves a disarmed one alone', async () => {
  const d = mkdtempSync(path.join(tmpdir(), 'zdd-unit-'));
  run(R.prepareRelease(d, 'r1', 'x', o));
  const port = 20000 + Math.floor(Math.random() * 20000);
  const listen = (p: number) => [process.execPath, '-e', `require('http').createServer().listen(${p}, '127.0.0.1')`];
  const orphan = Number(run(R.startApp(d, 'r1', port, [], listen(port), 2, o)).out.trim());
  const kept = Number(run(R.startApp(d, 'r1', port + 1, [], listen(port + 1), 2, o)).out.trim());
  let disarmed = '';
  for (let i = 0; i < 40 && !disarmed.includes('disarmed'); i++) {
    await new Promise((r) => setTimeout(r, 50));
    disarmed = run(R.procState(kept, port + 1, o, path.join(d, `run/${port + 1}.pid`))).out;
  }
  assert.match(disarmed, /owns-port\ndisarmed/);
  await new Promise((r) => setTimeout(r, 4500));
  assert.equal(run(R.procState(orphan, 0, o)).out.trim(), 'dead', 'undisarmed process stopped by its guard');
  assert.equal(run(R.procState(kept, 0, o)).out.trim(), 'alive', 'disarmed process kept');
  assert.equal(run(R.stopProcess(kept, 5, path.join(d, `run/${port + 1}.pid`), o)).out.trim(), 'terminated');
  assert.equal(execFileSync('sh', ['-c', `pgrep -f '[g]uard 2 ${orphan} ' || true`]).toString().trim(), '', 'no guard left');
});
