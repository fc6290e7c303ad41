// The remote scripts run for real here, in a local sh, against a temp directory.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync, existsSync, readdirSync, rmSync, utimesSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createServer } from 'node:http';
import * as A from '../../src/commands/app.ts';
import * as H from '../../src/commands/http.ts';
import * as N from '../../src/commands/nginx.ts';
import * as L from '../../src/commands/lock.ts';
import * as RL from '../../src/commands/releases.ts';
import * as S from '../../src/commands/shell.ts';
import type { Cmd } from '../../src/commands/shell.ts';
import { parseNginxRead, type NginxRead } from '../../src/traffic/nginxconf.ts';
import { fakeDump, run, tmp } from './sh.ts';

const R = { ...A, ...N, ...L, ...RL };

const o = { timeoutSec: 20 };


test('readNginx: who reads, the explicit include (present / absent / nodir), the files the dump lists, the dump itself', () => {
  const d = tmp();
  const main = path.join(d, 'nginx.conf');
  const inc = path.join(d, 'a.inc');
  writeFileSync(main, 'http { include a.inc; }\n');
  writeFileSync(inc, 'set $u http://10.0.0.5:8080;\n# 한국어 주석');
  execFileSync('ln', ['-s', inc, path.join(d, 'link.inc')]);
  const read = (f: string | undefined, dump: string[]) => parseNginxRead(run(R.readNginx('k1', f, dump, 5, o)).out, 'k1');
  const r = read(inc, fakeDump(main, path.join(d, 'link.inc')));
  assert.ok(typeof r === 'object', String(r));
  assert.equal(r.status, 0);
  assert.equal(r.want?.state, 'present');
  assert.equal(r.want?.real, inc);
  assert.deepEqual(r.files.map((f) => [f.name, f.real, f.writable]), [[main, main, true], [path.join(d, 'link.inc'), inc, true]]);
  assert.equal(r.files[1].text, 'set $u http://10.0.0.5:8080;\n# 한국어 주석', 'content exact, no trailing newline added');
  assert.equal(r.files[0].text, 'http { include a.inc; }\n');
  assert.equal((read(path.join(d, 'b.inc'), fakeDump(main)) as NginxRead).want?.state, 'absent');
  assert.equal((read(path.join(d, 'no/b.inc'), fakeDump(main)) as NginxRead).want?.state, 'nodir');
  assert.equal((read(undefined, fakeDump(main)) as NginxRead).want, undefined);
  const failed = read(undefined, ['sh', '-c', 'echo "nginx: [emerg] unknown directive" >&2; exit 1']) as NginxRead;
  assert.deepEqual([failed.status, failed.error, failed.files], [1, 'nginx: [emerg] unknown directive', []]);
  // Anything else (a banner, a .bashrc echo) is refused, never taken for "no include".
  assert.match(parseNginxRead('Welcome to host!\nx', 'k1') as string, /unexpected output .*Welcome/);
  assert.equal(typeof parseNginxRead('', 'k1'), 'string');
});

test('receiveJar + prepareRelease: need, then have, then copied from an identical release', () => {
  const d = tmp();
  const sum = createHash('sha256').update('JAR').digest('hex');
  assert.equal(run(R.prepareRelease(d, 'r1', sum, o)).out.trim(), 'need');
  const jar = path.join(d, 'releases/r1/app.jar');
  assert.equal(run({ ...R.receiveJar(`${jar}.part-1`, jar, 3, o), stdin: 'go\nJAR' }).code, 0);
  assert.equal(run(R.prepareRelease(d, 'r1', sum, o)).out.trim(), 'need', 'not trusted before its checksum is verified');
  assert.equal(run(R.verifyJar(jar, sum, o)).code, 0);
  assert.equal(readFileSync(jar, 'utf8'), 'JAR');
  assert.equal(run(R.prepareRelease(d, 'r1', sum, o)).out.trim(), 'have');
  assert.match(run(R.jarState(d, 'r2', sum, o)).out.trim(), /^copied .*releases\/r1\/app\.jar$/);
  assert.equal(existsSync(path.join(d, 'releases/r2')), false, 'jarState (dry-run) creates nothing');
  assert.match(run(R.prepareRelease(d, 'r2', sum, o)).out.trim(), /^copied .*releases\/r1\/app\.jar$/);
  assert.equal(readFileSync(path.join(d, 'releases/r2/app.jar'), 'utf8'), 'JAR');
  assert.deepEqual(readdirSync(path.join(d, 'releases/r1')).sort(), ['app.jar', 'app.jar.sha256']);
  // Another jar under a label that holds a verified one is refused, and nothing is written.
  const other = createHash('sha256').update('OTHER').digest('hex');
  assert.equal(run(R.prepareRelease(d, 'r1', other, o)).out.trim(), `taken ${sum}`);
  assert.equal(run(R.jarState(d, 'r1', other, o)).out.trim(), `taken ${sum}`);
  assert.equal(readFileSync(jar, 'utf8'), 'JAR');
});

test('receiveJar opened ahead and told no (the jar is not needed), or cut off before its first line, touches nothing', () => {
  const d = tmp();
  const jar = path.join(d, 'releases/r1/app.jar');
  for (const stdin of ['no\n', '']) {
    const r = run({ ...R.receiveJar(`${jar}.part-1`, jar, 3, o), stdin });
    assert.deepEqual([r.code, r.out.trim()], [0, 'skipped']);
  }
  assert.deepEqual(readdirSync(d), [], 'no directory, no temp file');
});

test('receiveJar sent while the release directory is made: makes it itself, and never replaces a kept (verified) jar', () => {
  const d = tmp();
  const jar = path.join(d, 'releases/r1/app.jar');
  assert.equal(run({ ...R.receiveJar(`${jar}.part-1`, jar, 3, o), stdin: 'go\nJAR' }).code, 0);
  assert.equal(readFileSync(jar, 'utf8'), 'JAR');
  assert.equal(run(R.verifyJar(jar, createHash('sha256').update('JAR').digest('hex'), o)).code, 0);
  const r = run({ ...R.receiveJar(`${jar}.part-2`, jar, 3, o), stdin: 'go\nNEW' });
  assert.equal(r.code, 3);
  assert.match(r.out, /kept release .*not replaced/);
  assert.equal(readFileSync(jar, 'utf8'), 'JAR');
  assert.deepEqual(readdirSync(path.join(d, 'releases/r1')).sort(), ['app.jar', 'app.jar.sha256'], 'no temp file left');
});

/** Starts cmd in a local sh in the background; resolves with its code and output. */
function runLater(cmd: Cmd): Promise<{ code: number; out: string }> {
  const c = spawn('sh', ['-c', cmd.line], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  c.stdout.on('data', (b) => (out += b));
  c.stderr.on('data', (b) => (out += b));
  return new Promise((resolve) => c.on('close', (code) => resolve({ code: code ?? -1, out })));
}

test('a start sent behind the jar (gate): runs once the jar is in place, never after a failed receiving or an abort', async () => {
  const d = tmp();
  const jar = path.join(d, 'releases/r1/app.jar');
  const marker = path.join(d, 'started');
  const start = { what: 'start', line: `touch ${marker}` };
  const gated = (part: string, limit = 20) => runLater(S.gatedStart(R.gate(part, limit, o), start, R.gateFile(part)));
  // The gate is waiting before the receiving has even made the directory.
  let g = gated(`${jar}.part-1`);
  assert.equal(run({ ...R.receiveJar(`${jar}.part-1`, jar, 3, o), stdin: 'go rc\nJAR' }).code, 0);
  assert.equal((await g).code, 0);
  assert.ok(existsSync(marker), 'the start ran');
  assert.deepEqual(readdirSync(path.dirname(jar)), ['app.jar'], 'the exit code file is gone');
  rmSync(marker);
  // A short upload: the gate says why, and nothing starts.
  g = gated(`${jar}.part-2`);
  assert.equal(run({ ...R.receiveJar(`${jar}.part-2`, jar, 9, o), stdin: 'go rc\nJAR' }).code, 2);
  const short = await g;
  assert.equal(short.code, 97);
  assert.match(short.out, /the jar was not received \(its receiving ended with 2\): nothing was started/);
  assert.ok(!existsSync(marker));
  // The runner gave up first (abort): a later complete receiving does not let the start run.
  g = gated(`${jar}.part-3`);
  assert.equal(run(R.abortGate(R.gateFile(`${jar}.part-3`), o)).out.trim(), 'aborted');
  assert.equal(run({ ...R.receiveJar(`${jar}.part-3`, jar, 3, o), stdin: 'go rc\nNEW' }).code, 0);
  assert.equal((await g).code, 97);
  assert.ok(!existsSync(marker));
  // The receiving ended with 0 before the abort, the gate had not passed yet: it never will.
  assert.equal(run({ ...R.receiveJar(`${jar}.part-4`, jar, 3, o), stdin: 'go rc\nJAR' }).code, 0);
  assert.equal(run(R.abortGate(R.gateFile(`${jar}.part-4`), o)).out.trim(), 'aborted');
  const closed = await gated(`${jar}.part-4`);
  assert.equal(closed.code, 97);
  assert.match(closed.out, /the deploy gave up before the start/);
  assert.ok(!existsSync(marker));
  assert.equal(run(R.abortGate(R.gateFile(path.join(d, 'nodir/app.jar.part-5')), o)).out.trim(), 'none');
  // Plain 'go' writes no exit code file; a gate with nothing coming gives up at its limit.
  assert.equal(run({ ...R.receiveJar(`${jar}.part-6`, jar, 3, o), stdin: 'go\nJAR' }).code, 0);
  assert.ok(!existsSync(`${jar}.part-6.rc`));
  const late = await gated(`${jar}.part-7`, 1);
  assert.equal(late.code, 97);
  assert.match(late.out, /did not arrive within 1s/);
  assert.ok(!existsSync(marker));
});

test('waitHealthyHint: says healthy once the port answers the expected status and body, else what it saw, within its time', async () => {
  const d = tmp();
  const pidFile = path.join(d, 'app.pid');
  writeFileSync(pidFile, `${process.pid} 1\n`);
  const t0 = Date.now();
  const upAfter = 300;
  const server = createServer((req, res) => {
    if (req.url === '/slow') return void setTimeout(() => res.writeHead(200).end('{"status":"UP"}'), 1500);
    const up = Date.now() - t0 >= upAfter;
    res.writeHead(up && req.url === '/health' ? 200 : 503).end(up ? '{"status":"UP"}' : '{"status":"DOWN"}');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as { port: number }).port;
  const hint = (ms: number, p = port, body = 'UP', file = pidFile, pathName = '/health', timeoutSec = 2) => runLater(R.waitHealthyHint(file, p, ms, `http://127.0.0.1:${p}${pathName}`, 200, body, timeoutSec, o));
  try {
    const r = await hint(5000);
    assert.equal(r.out.trim(), `healthy ${process.pid}`);
    const took = Date.now() - t0;
    assert.ok(took >= upAfter && took < upAfter + 700, `answered ${took} ms after the start, the app was healthy at ${upAfter} ms`);
    assert.equal(R.parseWaitHealthy(r.out, process.pid), 'healthy');
    assert.equal(R.parseWaitHealthy(r.out, process.pid + 1), undefined, 'about another pid: no hint');
    // Open but never as expected (another body, another path): listening, at its time.
    assert.equal((await hint(300, port, 'no such text')).out.trim(), `listening ${process.pid}`);
    assert.equal((await hint(300, port, 'UP', pidFile, '/other')).out.trim(), `listening ${process.pid}`);
    // A health check that takes 1.5 s: each GET is given the prober's request timeout.
    assert.equal((await hint(300, port, 'UP', pidFile, '/slow', 1)).out.trim(), `listening ${process.pid}`);
    assert.equal((await hint(300, port, 'UP', pidFile, '/slow', 3)).out.trim(), `healthy ${process.pid}`);
  } finally {
    await new Promise((r) => server.close(r));
  }
  // Nothing listens: waiting; the process is gone: dead; no pid file: nopid.
  assert.equal((await hint(200)).out.trim(), `waiting ${process.pid}`);
  const gone = spawn('true');
  await new Promise((r) => gone.on('close', r));
  writeFileSync(path.join(d, 'gone.pid'), `${gone.pid} 1\n`);
  assert.equal((await hint(2000, port, 'UP', path.join(d, 'gone.pid'))).out.trim(), `dead ${gone.pid}`);
  assert.equal((await hint(200, port, 'UP', path.join(d, 'none.pid'))).out.trim(), 'nopid');
});

test('receiveJar removes a short upload; verifyJar removes a corrupt one', () => {
  const d = tmp();
  const short = run({ ...R.receiveJar(path.join(d, 'x.part'), path.join(d, 'x'), 10, o), stdin: 'go\nbad' });
  assert.equal(short.code, 2);
  assert.match(short.out, /wrote 3 of 10 bytes/);
  assert.deepEqual(readdirSync(d), []);
  assert.equal(run({ ...R.receiveJar(path.join(d, 'x.part'), path.join(d, 'x'), 3, o), stdin: 'go\nbad' }).code, 0);
  const r = run(R.verifyJar(path.join(d, 'x'), '0'.repeat(64), o));
  assert.equal(r.code, 3);
  assert.match(r.out, /checksum mismatch/);
  assert.deepEqual(readdirSync(d), []);
});

test('startApp passes env and argv intact and detaches; stopProcess stops it', async () => {
  const d = tmp();
  run(R.prepareRelease(d, 'r1', 'x', o));
  const argv = ['sh', '-c', 'printf "%s\\n" "$APP_X" "$@" > out.txt; exec /bin/sleep 30', 'zero', 'a b', '$(id)', "it's"];
  const spec = { cwd: path.join(d, 'releases/r1'), argv, env: [['APP_X', 'v;$(touch pwn) w'], ['PATH', '/nowhere:$PATH']] as [string, string][], log: path.join(d, 'logs/x.log') };
  const r = run(R.startApp(d, 9999, spec, 0, o));
  assert.ok(!R.startApp(d, 9999, spec, 0, o).line.includes('touch pwn'), 'env values never on the command line');
  assert.equal(execFileSync('stat', ['-c', '%a', path.join(d, 'run/9999.env')]).toString().trim(), '600');
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
  assert.match(run(R.procState(pid, 0, o)).out.trim(), /^alive\nstart=\d+$/);
  assert.equal(run(R.stopProcess(pid, 5, path.join(d, 'run/9999.pid'), o)).out.trim(), 'terminated');
  assert.equal(run(R.procState(pid, 0, o)).out.trim(), 'dead');
  assert.equal(existsSync(path.join(d, 'run/9999.pid')), false);
});

test('startApp with log-max-size: a log past the cap is copied to LOG.1 and truncated while the app runs; the cap ends with the app', async () => {
  const d = tmp();
  run(R.prepareRelease(d, 'r1', 'x', o));
  const log = path.join(d, 'logs/cap.log');
  // 6000 bytes at once, then one line a second: over the 2048-byte cap at the cap's second look (5 s)
  const argv = ['sh', '-c', 'head -c 6000 /dev/zero | tr "\\0" x; echo; while :; do echo tick; sleep 1; done'];
  const r = run(R.startApp(d, 9998, { cwd: path.join(d, 'releases/r1'), argv, env: [], log }, 0, o, 2048));
  assert.equal(r.code, 0, r.out);
  const pid = Number(r.out.trim());
  const size = (f: string) => (existsSync(f) ? statSync(f).size : -1);
  for (let i = 0; i < 140 && size(`${log}.1`) < 0; i++) await new Promise((res) => setTimeout(res, 50));
  assert.ok(size(`${log}.1`) >= 6000, `the old lines kept in ${log}.1 (${size(`${log}.1`)} bytes)`);
  assert.ok(size(log) < 2048, `the log truncated (${size(log)} bytes)`);
  await new Promise((res) => setTimeout(res, 1500));
  assert.match(readFileSync(log, 'utf8'), /tick/, 'the app goes on writing to it');
  const caps = () => execFileSync('sh', ['-c', `ps -eo pid=,args= | grep -F -- ${JSON.stringify(log)} | grep -v grep || true`]).toString().trim();
  assert.match(caps(), /logcap/, 'the cap runs next to the app');
  assert.equal(run(R.stopProcess(pid, 5, path.join(d, 'run/9998.pid'), o)).out.trim(), 'terminated');
  for (let i = 0; i < 130 && /logcap/.test(caps()); i++) await new Promise((res) => setTimeout(res, 50));
  assert.doesNotMatch(caps(), /logcap/, 'the cap exits once the app has');
});

test('startApp with an OOM score: the new JVM takes it (no privilege needed to raise one); oomReset puts it back to 0 as root, only for the process of the pid file', async () => {
  const d = tmp();
  run(R.prepareRelease(d, 'r1', 'x', o));
  const spec = { cwd: path.join(d, 'releases/r1'), argv: ['sh', '-c', 'exec /bin/sleep 30'], env: [] as [string, string][], log: path.join(d, 'logs/oom.log') };
  const pid = Number(run(R.startApp(d, 9997, spec, 0, o, 0, R.OVERLAP_OOM_SCORE_ADJ)).out.trim());
  const score = () => readFileSync(`/proc/${pid}/oom_score_adj`, 'utf8').trim();
  for (let i = 0; i < 40 && score() !== '500'; i++) await new Promise((res) => setTimeout(res, 25));
  assert.equal(score(), '500');
  const pidFile = path.join(d, 'run/9997.pid');
  assert.equal(run(R.oomReset(pidFile, pid + 1, o)).out.trim(), 'gone', 'another pid is not touched');
  if (process.getuid?.() === 0) {
    assert.equal(run(R.oomReset(pidFile, pid, o)).out.trim(), 'reset');
    assert.equal(score(), '0');
  } else {
    assert.notEqual(run(R.oomReset(pidFile, pid, o)).code, 0, 'lowering it needs root');
  }
  const plain = Number(run(R.startApp(d, 9996, { ...spec, log: path.join(d, 'logs/plain.log') }, 0, o)).out.trim());
  await new Promise((res) => setTimeout(res, 100));
  assert.equal(readFileSync(`/proc/${plain}/oom_score_adj`, 'utf8').trim(), readFileSync('/proc/self/oom_score_adj', 'utf8').trim(), 'without one: the score it inherits');
  run(R.stopProcess(pid, 5, pidFile, o));
  run(R.stopProcess(plain, 5, path.join(d, 'run/9996.pid'), o));
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

test('stopProcess never signals a pid that is another process now: its start time is checked first', async () => {
  const d = tmp();
  const child = spawn('sleep', ['30'], { detached: true, stdio: 'ignore' });
  child.unref();
  await new Promise((r) => setTimeout(r, 100));
  const start = readFileSync(`/proc/${child.pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ')[19];
  const alive = () => existsSync(`/proc/${child.pid}`) && !/^\S+ \(.*\) Z/.test(readFileSync(`/proc/${child.pid}/stat`, 'utf8'));
  // As if the pid had been read minutes ago from a process that has exited since.
  assert.equal(run(R.stopProcess(child.pid!, 1, '', o, false, String(Number(start) - 1))).out.trim(), 'gone');
  assert.ok(alive(), 'the process with the reused pid is left alone');
  // A pid file naming the pid with another start time: the same.
  const pidFile = path.join(d, '8080.pid');
  writeFileSync(pidFile, `${child.pid} ${Number(start) + 5}\n`);
  assert.equal(run(R.stopProcess(child.pid!, 1, pidFile, o)).out.trim(), 'gone');
  assert.ok(alive());
  assert.equal(run(R.stopProcess(child.pid!, 5, '', o, false, start)).out.trim(), 'terminated');
});

test('lock: acquired, held (with owner and age), stale lock recovered, released only by its owner', () => {
  const d = tmp();
  const lock = path.join(d, 'deploy.lock');
  // remote-dir unchanged for 100 s: said with the lock (early reads older than that still hold).
  const before = Date.now() / 1000 - 100;
  utimesSync(d, before, before);
  assert.match(run(R.acquireLock(lock, 'run=A', 1800, o)).out.trim(), /^acquired (99|100|101)$/);
  assert.match(run(R.acquireLock(lock, 'run=B', 1800, o)).out.trim(), /^held \d+ run=A$/);
  // A remote-dir the lock had to make: no deploy was ever here.
  assert.equal(run(R.acquireLock(path.join(d, 'new/deploy.lock'), 'run=A', 1800, o)).out.trim(), 'acquired');
  run(R.releaseLock(lock, 'run=B', o));
  assert.equal(existsSync(lock), true);
  const old = Date.now() / 1000 - 4000;
  utimesSync(lock, old, old);
  assert.match(run(R.acquireLock(lock, 'run=C', 1800, o)).out.trim(), /^recovered \d+ run=A$/);
  run(R.releaseLock(lock, 'run=C', o));
  assert.equal(existsSync(lock), false);
});

test('lock: of deploys taking over one stale lock at the same moment, exactly one wins; a held lock is refreshed by its owner only', async () => {
  const d = tmp();
  const sh = (cmd: Cmd) =>
    new Promise<string>((resolve) => {
      const p = spawn('sh', ['-c', cmd.line]);
      let out = '';
      p.stdout.on('data', (c) => (out += c));
      p.on('close', () => resolve(out.trim()));
    });
  for (let round = 0; round < 15; round++) {
    const lock = path.join(d, `deploy-${round}.lock`);
    assert.match(run(R.acquireLock(lock, 'run=dead', 1800, o)).out.trim(), /^acquired \d+$/);
    const old = Date.now() / 1000 - 4000;
    utimesSync(lock, old, old);
    const outs = await Promise.all(['X', 'Y', 'Z'].map((w) => sh(R.acquireLock(lock, `run=${w}`, 1800, o))));
    // One takes it (over the stale one, or fresh in the moment it was gone); the others are told it is held.
    const won = outs.filter((x) => x.startsWith('recovered') || x.startsWith('acquired'));
    assert.equal(won.length, 1, `round ${round}: ${outs.join(' | ')}`);
    assert.ok(outs.filter((x) => !won.includes(x)).every((x) => /^held \d+( run=(dead|[XYZ]))?$/.test(x)), outs.join(' | '));
    assert.equal(existsSync(`${lock}.takeover`), false, 'the takeover lock is gone');
  }
  const lock = path.join(d, 'deploy.lock');
  run(R.acquireLock(lock, 'run=A', 1800, o));
  const old = Date.now() / 1000 - 4000;
  utimesSync(lock, old, old);
  assert.equal(run(R.refreshLock(lock, 'run=B', o)).out.trim(), 'lost');
  assert.equal(run(R.refreshLock(lock, 'run=A', o)).out.trim(), 'refreshed');
  assert.match(run(R.acquireLock(lock, 'run=C', 1800, o)).out.trim(), /^held [0-5] run=A$/, 'a refreshed lock is not stale');
});

test('lock: run as the deploy user (never through sudo); a remote-dir it cannot make or write is said at once, not waited on as a held lock', { skip: process.getuid?.() !== 0 && 'needs root (runs the script as nobody)' }, () => {
  const d = tmp();
  execFileSync('chmod', ['755', d]);
  const asNobody = (cmd: Cmd) => execFileSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'sh', '-c', cmd.line], { cwd: '/' }).toString().trim();
  assert.match(asNobody(R.acquireLock(path.join(d, 'opt/app/deploy.lock'), 'run=S', 1800, o)), /^unwritable \S+ .*\/opt\/app$/);
  // remote-dir made by root (as earlier versions did under sudo): said, with the directory.
  execFileSync('mkdir', ['-p', path.join(d, 'root/app')]);
  assert.match(asNobody(R.acquireLock(path.join(d, 'root/app/deploy.lock'), 'run=S', 1800, o)), /^unwritable \S+ .*\/root\/app$/);
  // The deploy user's remote-dir, with a deploys.log root left behind: said too (the audit line could not be written).
  execFileSync('mkdir', ['-p', path.join(d, 'mine/app')]);
  execFileSync('chown', ['65534:65534', path.join(d, 'mine/app')]);
  writeFileSync(path.join(d, 'mine/app/deploys.log'), '');
  assert.match(asNobody(R.acquireLock(path.join(d, 'mine/app/deploy.lock'), 'run=S', 1800, o)), /^unwritable /);
  execFileSync('chown', ['65534:65534', path.join(d, 'mine/app/deploys.log')]);
  assert.match(asNobody(R.acquireLock(path.join(d, 'mine/app/deploy.lock'), 'run=S', 1800, o)), /^acquired \d+$/);
});

test('pruneReleases keeps the newest and the protected ones', () => {
  const d = tmp();
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
  assert.deepEqual(R.parseWorkers('12 1 serving\n13 1 shutting\n'), [{ pid: 12, ppid: 1, shutting: false }, { pid: 13, ppid: 1, shutting: true }]);
  assert.deepEqual(R.parsePortState('ours=\nfree\n'), { free: true, pid: undefined, cmd: undefined, ours: undefined });
  assert.deepEqual(R.parsePortState('ours=41\npid=41\ncmd=java -jar x\n'), { free: false, pid: 41, cmd: 'java -jar x', ours: 41 });
});

test('portState: a recorded pid counts as ours only while it is the same process (pid + start time)', async () => {
  const d = tmp();
  run(R.prepareRelease(d, 'r1', 'x', o));
  const port = 20000 + Math.floor(Math.random() * 20000);
  const argv = [process.execPath, '-e', `require('http').createServer().listen(${port}, '127.0.0.1')`];
  const pid = Number(run(R.startApp(d, port, { cwd: d, argv, env: [], log: path.join(d, 'x.log') }, 0, o)).out.trim());
  const pidFile = path.join(d, `run/${port}.pid`);
  let st: A.PortState | string = { free: true };
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

// A stand-in nginx master in bash: its children are named like nginx workers; on SIGHUP it starts
// a new worker (the old ones linger, as shutting-down workers do). No root, no real nginx needed.
function fakeNginx(): { master: number; stop: () => void } {
  const script = `
w() { bash -c 'exec -a "nginx: worker process" sleep 60' & }
trap 'w' HUP
w; w
while :; do sleep 0.05; done`;
  const p = spawn('bash', ['-c', script], { detached: true, stdio: 'ignore' });
  p.unref();
  return { master: p.pid!, stop: () => process.kill(-p.pid!, 'SIGKILL') };
}

test('changeInclude: writes only what was read, tests, reloads the right master; reports each failure distinctly', async () => {
  const other = fakeNginx(); // a second nginx on the host: never counted
  const ours = fakeNginx();
  try {
    await new Promise((r) => setTimeout(r, 300));
    const d = tmp();
    const f = path.join(d, 'service_url.inc');
    writeFileSync(f, 'old\n', { mode: 0o640 });
    const sha = (t: string) => createHash('sha256').update(t).digest('hex');
    const spec = (content: string | null, expect: string, over: Partial<N.ChangeSpec> = {}): N.ChangeSpec => ({
      content,
      expect,
      target: content === null ? 'absent' : sha(content),
      reload: true,
      test: ['true'],
      dump: fakeDump(f),
      loadedAs: f,
      reloadCmd: ['kill', '-HUP', String(ours.master)],
      waitSec: 2,
      commandSec: 5,
      ...over,
    });
    const ch = (s: N.ChangeSpec) => N.parseChange(run(N.changeInclude(f, s, o)).out);
    const before = N.parseWorkers(run(N.nginxWorkers(o)).out);
    const mine = before.filter((w) => w.ppid === ours.master).map((w) => w.pid).sort();
    assert.equal(mine.length, 2);

    const ok = ch(spec('new $(id)\n', sha('old\n'), { test: ['sh', '-c', 'test "$(cat "$0")" = "new \\$(id)"', f] }));
    assert.equal(ok.written, true);
    assert.deepEqual(ok.outcome?.kind === 'switched' && [ok.outcome.master, ok.outcome.oldWorkers.sort()], [ours.master, mine]);
    assert.equal(readFileSync(f, 'utf8'), 'new $(id)\n');
    assert.equal(execFileSync('stat', ['-c', '%a', f]).toString().trim(), '640', 'mode kept');

    assert.deepEqual(ch(spec('new $(id)\n', 'whatever')).outcome, { kind: 'same' });
    const changed = ch(spec('x\n', sha('old\n')));
    assert.equal(changed.outcome?.kind, 'changed', 'a file changed since it was read is not overwritten');
    assert.equal(readFileSync(f, 'utf8'), 'new $(id)\n');

    const bad = ch(spec('x\n', '-', { test: ['sh', '-c', 'echo "it is $1" >&2; exit 3', 'sh', 'broken; $(id)'] }));
    assert.deepEqual(bad.outcome, { kind: 'test-failed', code: 3, detail: 'it is broken; $(id)' });
    assert.equal(readFileSync(f, 'utf8'), 'new $(id)\n', 'a failed test puts the previous file back');
    const staged = ch(spec('s\n', '-', { reload: false }));
    assert.deepEqual([staged.written, staged.outcome], [true, { kind: 'staged' }]);
    const rl = ch(spec('y\n', '-', { reloadCmd: ['sh', '-c', 'exit 4'] }));
    assert.deepEqual([rl.written, rl.outcome], [true, { kind: 'reload-failed', code: 4, detail: '', applied: false }]);
    const na = ch(spec('n\n', '-', { reloadCmd: ['true'] }));
    assert.equal(na.outcome?.kind, 'not-applied', 'a reload that starts no new worker is not a switch');
    const slow = ch(spec('z\n', '-', { test: ['sleep', '30'], commandSec: 1 }));
    assert.equal(slow.outcome?.kind === 'test-failed' && slow.outcome.code, 124);
    // After the write, nginx's dump must show the new content under the include's name.
    writeFileSync(f, 'kept\n');
    const elsewhere = ch(spec('w\n', '-', { dump: fakeDump(path.join(d, 'other.inc')) }));
    assert.deepEqual(elsewhere.outcome, { kind: 'not-loaded', got: 'absent' });
    assert.equal(readFileSync(f, 'utf8'), 'kept\n', 'a file nginx does not load is put back');
    const stale = ch(spec('w\n', '-', { dump: ['sh', '-c', 'printf "# configuration file %s:\\nstale\\n" "$0"', f] }));
    assert.equal(stale.outcome?.kind, 'not-loaded');
    assert.equal(readFileSync(f, 'utf8'), 'kept\n');
    const nodump = ch(spec('w\n', '-', { dump: ['sh', '-c', 'echo no nginx >&2; exit 127'] }));
    assert.deepEqual(nodump.outcome, { kind: 'dump-failed', code: 127, detail: 'no nginx' });
    // The test command that is itself the dump (nginx -T): run once, its stdout is the dump.
    const asTest = ch(spec('t\n', '-', { test: fakeDump(f), dump: [] }));
    assert.equal(asTest.outcome?.kind, 'switched');
    assert.equal(readFileSync(f, 'utf8'), 't\n');
    // A removal that leaves nginx's configuration failing its test is put back: never a config nginx cannot start with.
    const rm = ch(spec(null, '-', { test: ['sh', '-c', 'echo "open() failed" >&2; exit 1'] }));
    assert.deepEqual([rm.written, rm.outcome], [false, { kind: 'removed-untestable', detail: 'open() failed' }]);
    assert.equal(readFileSync(f, 'utf8'), 't\n', 'the file is still there, as it was');
    const gone = ch(spec(null, '-'));
    assert.equal(gone.outcome?.kind, 'switched');
    assert.equal(existsSync(f), false);
    const nodir = N.parseChange(run(N.changeInclude(path.join(d, 'nope/x.inc'), spec('z\n', '-'), o)).out);
    assert.equal(nodir.written, false);
    assert.equal(nodir.outcome?.kind, 'write-failed');
    assert.deepEqual(readdirSync(d), []);
  } finally {
    other.stop();
    ours.stop();
  }
});

test('changeInclude fails closed when no nginx worker can be seen before or after the reload', { skip: process.getuid?.() !== 0 && 'needs root (a pid namespace of its own)' }, () => {
  const d = tmp();
  const f = path.join(d, 'service_url.inc');
  writeFileSync(f, 'old\n');
  const sha = (t: string) => createHash('sha256').update(t).digest('hex');
  const cmd = N.changeInclude(f, { content: 'new\n', expect: sha('old\n'), target: sha('new\n'), reload: true, test: ['true'], dump: fakeDump(f), loadedAs: f, reloadCmd: ['true'], waitSec: 1, commandSec: 5 }, o);
  // In a pid namespace of its own, ps sees no nginx at all (as with hidepid, or other titles).
  const out = execFileSync('unshare', ['--pid', '--fork', '--mount-proc', 'sh', '-c', cmd.line], { input: cmd.stdin }).toString();
  assert.deepEqual(N.parseChange(out).outcome, { kind: 'no-workers' });
  const r = parseNginxRead(execFileSync('unshare', ['--pid', '--fork', '--mount-proc', 'sh', '-c', R.readNginx('k2', f, fakeDump(f), 5, o).line]).toString(), 'k2');
  assert.equal(typeof r === 'object' && r.workers, 0, 'the read says how many workers it sees: the preflight refuses 0 where a port is live');
});

test('captureProcess keeps argv, cwd and environment of a running process in a file only its owner reads; it prints none of them', async () => {
  const child = spawn('sleep', ['30'], { cwd: tmpdir(), env: { ZDD_A: 'a b=c', DB_PASSWORD: 'hunter2', PATH: process.env.PATH ?? '' }, detached: true, stdio: 'ignore' });
  child.unref();
  await new Promise((r) => setTimeout(r, 100));
  const save = path.join(tmp(), '8080.previous');
  const said = run(A.captureProcess(child.pid!, save, o)).out;
  process.kill(child.pid!);
  assert.equal(said.trim(), 'saved');
  assert.equal(statSync(save).mode & 0o777, 0o600);
  const c = A.parseCapture(run(A.readCaptured(save, o)).out);
  assert.ok(typeof c === 'object', String(c));
  assert.deepEqual([c.cwd, c.argv], [tmpdir(), ['sleep', '30']]);
  assert.deepEqual(c.env.find(([k]) => k === 'ZDD_A'), ['ZDD_A', 'a b=c']);
  assert.deepEqual(c.env.find(([k]) => k === 'DB_PASSWORD'), ['DB_PASSWORD', 'hunter2']);
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(run(A.captureProcess(child.pid!, save, o)).out.trim(), 'dead');
  assert.equal(run(A.forgetCaptured([save], o)).code, 0);
  assert.equal(existsSync(save), false);
});

test('the start guard stops a process nobody disarmed, and leaves a disarmed one alone', async () => {
  const d = tmp();
  run(R.prepareRelease(d, 'r1', 'x', o));
  const port = 20000 + Math.floor(Math.random() * 20000);
  const listen = (p: number) => [process.execPath, '-e', `require('http').createServer().listen(${p}, '127.0.0.1')`];
  const spec = (p: number) => ({ cwd: d, argv: listen(p), env: [], log: path.join(d, `${p}.log`) });
  const orphan = Number(run(R.startApp(d, port, spec(port), 2, o)).out.trim());
  const kept = Number(run(R.startApp(d, port + 1, spec(port + 1), 2, o)).out.trim());
  let disarmed = '';
  for (let i = 0; i < 40 && !disarmed.includes('disarmed'); i++) {
    await new Promise((r) => setTimeout(r, 50));
    disarmed = run(R.procState(kept, port + 1, o, path.join(d, `run/${port + 1}.pid`))).out;
  }
  assert.match(disarmed, /owns-port\ndisarmed/);
  await new Promise((r) => setTimeout(r, 4500));
  assert.equal(run(R.procState(orphan, 0, o)).out.trim(), 'dead', 'undisarmed process stopped by its guard');
  assert.match(run(R.procState(kept, 0, o)).out.trim(), /^alive\n/, 'disarmed process kept');
  assert.equal(run(R.stopProcess(kept, 5, path.join(d, `run/${port + 1}.pid`), o)).out.trim(), 'terminated');
  assert.equal(execFileSync('sh', ['-c', `pgrep -f '[g]uard 2 ${orphan} ' || true`]).toString().trim(), '', 'no guard left');
});

/** Like run, but asynchronous, so that the test can act while the command waits. */
function runAsync(cmd: Cmd): Promise<{ code: number; out: string; ms: number }> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    const p = spawn('sh', ['-c', cmd.line], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (out += d.toString()));
    p.on('close', (code) => resolve({ code: code ?? -1, out, ms: Date.now() - t0 }));
  });
}

test('waitWorkersGone answers as soon as the pids have exited, or with how many are left', async () => {
  const a = spawn('sleep', ['30']);
  const b = spawn('sleep', ['30']);
  try {
    const left = await runAsync(N.waitWorkersGone([a.pid!, b.pid!], 150, o));
    assert.deepEqual([left.code, S.parseCount(left.out)], [0, 2]);
    assert.ok(left.ms >= 150, `waited its time (${left.ms} ms)`);
    const waiting = runAsync(N.waitWorkersGone([a.pid!, b.pid!], 10_000, o));
    setTimeout(() => a.kill(), 100);
    setTimeout(() => b.kill(), 300);
    const gone = await waiting;
    assert.deepEqual([gone.code, S.parseCount(gone.out)], [0, 0]);
    assert.ok(gone.ms < 3000, `answered when they exited, not at the limit (${gone.ms} ms)`);
  } finally {
    a.kill();
    b.kill();
  }
});

test('waitNoConnections waits for the established connections to a port to end', async () => {
  const net = await import('node:net');
  const server = net.createServer((s) => s.on('error', () => undefined));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  const client = net.connect(port, '127.0.0.1');
  await new Promise((r) => client.on('connect', r));
  try {
    const left = await runAsync(A.waitNoConnections(port, 150, o));
    assert.deepEqual([left.code, S.parseCount(left.out)], [0, 1]);
    const waiting = runAsync(A.waitNoConnections(port, 10_000, o));
    setTimeout(() => client.destroy(), 200);
    const none = await waiting;
    assert.deepEqual([none.code, S.parseCount(none.out)], [0, 0]);
    assert.ok(none.ms < 3000, `answered when the connection ended (${none.ms} ms)`);
  } finally {
    client.destroy();
    server.close();
  }
  assert.equal(S.parseCount('banner\n3\n'), 3);
  assert.equal(S.parseCount('no number'), undefined);
});

test('stopProcess detached: answers right after SIGTERM; the watchdog it leaves SIGKILLs a process that ignores it', async () => {
  const alive = (pid: number) => {
    try {
      return !/\) [ZX] /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
    } catch {
      return false;
    }
  };
  const stubborn = spawn('sh', ['-c', 'trap "" TERM; while :; do sleep 0.1; done'], { stdio: 'ignore' });
  const polite = spawn('sleep', ['30'], { stdio: 'ignore' });
  try {
    await new Promise((r) => setTimeout(r, 100));
    const d = tmp();
    writeFileSync(path.join(d, 'p.pid'), `${stubborn.pid}\n`);
    const r = await runAsync(A.stopProcess(stubborn.pid!, 2, path.join(d, 'p.pid'), o, true));
    const a = A.parseDetachedStop(r.out);
    assert.ok(a, `exiting WATCHDOG KILL_AT: ${r.out}`);
    assert.ok(r.ms < 1000, `answered without waiting (${r.ms} ms)`);
    assert.ok(Math.abs(a.killAt - (Date.now() + 2000)) < 1500, 'kill time is stop-timeout from now');
    assert.ok(alive(stubborn.pid!), 'still running: it ignores SIGTERM');
    assert.ok(existsSync(path.join(d, 'p.pid')), 'the pid file stays while it may still run');
    for (let i = 0; i < 40 && alive(stubborn.pid!); i++) await new Promise((res) => setTimeout(res, 100));
    assert.equal(alive(stubborn.pid!), false, 'the watchdog SIGKILLed it at stop-timeout');
    assert.equal(alive(a.watchdog), false, 'and then exited');

    const p = await runAsync(A.stopProcess(polite.pid!, 30, '', o, true));
    assert.ok(A.parseDetachedStop(p.out));
    for (let i = 0; i < 20 && alive(polite.pid!); i++) await new Promise((res) => setTimeout(res, 50));
    assert.equal(alive(polite.pid!), false, 'a process that honours SIGTERM is gone at once');
    assert.equal(A.parseDetachedStop('terminated'), undefined);
  } finally {
    stubborn.kill('SIGKILL');
    polite.kill('SIGKILL');
  }
});

test('waitListen with a url: the GET made as the port opens follows the answer, for the runner to judge', async () => {
  const d = tmp();
  const pidFile = path.join(d, 'run.pid');
  const port = 20000 + Math.floor(Math.random() * 20000);
  const src = `setTimeout(() => require('node:http').createServer((q, s) => setTimeout(() => s.writeHead(q.url === '/health' ? 200 : 404).end('{"status":"UP"} ' + q.headers['user-agent']), 250)).listen(${port}, '127.0.0.1'), 300); setTimeout(() => {}, 20000)`;
  const app = spawn(process.execPath, ['-e', src], { stdio: 'ignore' });
  try {
    writeFileSync(pidFile, `${app.pid} 1\n`);
    const r = await runAsync(A.waitListen(pidFile, port, 5000, o, { url: `http://127.0.0.1:${port}/health`, timeoutSec: 2 }));
    assert.equal(A.parseWaitListen(r.out, app.pid!), 'listening', r.out);
    const got = A.waitListenGet(r.out);
    assert.ok(got !== undefined, r.out);
    assert.deepEqual(H.parseHttpGet(got.out), { status: 200, body: '{"status":"UP"} jar-bluegreen-deploy health check' });
    assert.ok(got.ms >= 240 && got.ms < r.ms, `the GET (answered 250 ms after it came) took ${got.ms} ms of the command's ${r.ms}`);
    const other = A.waitListenGet((await runAsync(A.waitListen(pidFile, port, 5000, o, { url: `http://127.0.0.1:${port}/other`, timeoutSec: 2 }))).out);
    assert.equal((H.parseHttpGet(other!.out) as { status: number }).status, 404);
    assert.equal(A.waitListenGet(run(A.waitListen(pidFile, port, 5000, o)).out), undefined, 'no url: no GET');
    assert.equal(A.waitListenGet(run(A.waitListen(pidFile, port + 1, 200, o, { url: `http://127.0.0.1:${port + 1}/health`, timeoutSec: 1 })).out), undefined, 'not open: no GET');
  } finally {
    app.kill('SIGKILL');
  }
});

test('waitListen: answers when the recorded process listens, at once when it is dead, and after ms when neither', async () => {
  const d = tmp();
  const pidFile = path.join(d, 'run.pid');
  const port = 20000 + Math.floor(Math.random() * 20000);
  // A process that listens only after 300 ms: the wait answers once it does, not before.
  const app = spawn(process.execPath, ['-e', `setTimeout(() => require('node:net').createServer().listen(${port}, '127.0.0.1'), 300); setTimeout(() => {}, 20000)`], { stdio: 'ignore' });
  try {
    writeFileSync(pidFile, `${app.pid} 1\n`);
    const t0 = Date.now();
    const r = run(A.waitListen(pidFile, port, 5000, o));
    assert.equal(A.parseWaitListen(r.out, app.pid!), 'listening', r.out);
    assert.ok(Date.now() - t0 >= 250, 'not before it listened');
    assert.equal(A.parseWaitListen(r.out, app.pid! + 1), undefined, 'an answer about another pid is no answer');
    assert.equal(A.parseWaitListen(run(A.waitListen(pidFile, port + 1, 200, o)).out, app.pid!), 'waiting');
  } finally {
    app.kill('SIGKILL');
  }
  await new Promise((res) => app.once('exit', res));
  assert.equal(A.parseWaitListen(run(A.waitListen(pidFile, port, 5000, o)).out, app.pid!), 'dead');
  assert.equal(run(A.waitListen(path.join(d, 'none'), port, 5000, o)).out.trim(), 'nopid');
});

test('the start time a script reads is /proc/PID/stat field 22, also for a process whose name holds ") "', async () => {
  const odd = path.join(tmp(), 'sl) 1 2 (x');
  execFileSync('cp', ['/bin/sleep', odd]);
  const child = spawn(odd, ['30'], { stdio: 'ignore' });
  try {
    await new Promise((r) => setTimeout(r, 100));
    const stat = readFileSync(`/proc/${child.pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(') ') + 2).trim().split(' ');
    assert.equal(run(R.procState(child.pid!, 0, o)).out, `alive\nstart=${fields[19]}\n`);
  } finally {
    child.kill('SIGKILL');
  }
});
