// The start sent right behind the jar waits on the host (GATE) for the receiving's exit code; a
// deploy that gives up closes the gate (ABORT_GATE). Exactly one of them decides: run here, with
// the real scripts, in each order.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import * as A from '../../src/commands/app.ts';
import { gatedStart } from '../../src/commands/shell.ts';
import { run, tmp } from './sh.ts';

function setup(): { d: string; rc: string } {
  const d = tmp('zdd-gate-');
  return { d, rc: A.gateFile(path.join(d, 'app.jar.part-1')) };
}
const o = { timeoutSec: 20 };
/** The start behind its gate; the "start" records that it ran. */
const started = (d: string, rc: string) => gatedStart(A.gate(rc.replace(/\.rc$/, ''), 1, o), { what: 'start', line: `echo ran > ${d}/ran; echo 4242` }, rc);

test('the jar received, the gate not yet run, the deploy gives up: the start never runs, even with the jar in place', () => {
  const { d, rc } = setup();
  writeFileSync(rc, '0\n');
  assert.equal(run(A.abortGate(rc, o)).out.trim(), 'aborted');
  const r = run(started(d, rc));
  assert.equal(r.code, 97);
  assert.match(r.out, /the deploy gave up before the start: nothing was started/);
  assert.equal(existsSync(path.join(d, 'ran')), false);
  assert.deepEqual(readdirSync(d), [], 'the gate files are gone');
});

test('the receiving still running when the deploy gives up: its code can no longer let the gate pass', () => {
  const { d, rc } = setup();
  assert.equal(run(A.abortGate(rc, o)).out.trim(), 'aborted');
  // RECEIVE writes its code only if the file is not there (set -C).
  execFileSync('sh', ['-c', `(set -C; printf '0\\n' > ${rc}) 2>/dev/null || true`]);
  const r = run(started(d, rc));
  assert.equal(r.code, 97);
  assert.match(r.out, /its receiving ended with 1/);
  assert.equal(existsSync(path.join(d, 'ran')), false);
});

test('the gate passed first: the abort says decided (the runner then waits for the pid file), and the start ran', () => {
  const { d, rc } = setup();
  writeFileSync(rc, '0\n');
  const gateOnly = run(A.gate(rc.replace(/\.rc$/, ''), 1, o));
  assert.equal(gateOnly.code, 0);
  assert.equal(run(A.abortGate(rc, o)).out.trim(), 'decided');
  // The whole command, once more in a fresh directory: its output is the start's, its files go.
  const { d: d2, rc: rc2 } = setup();
  writeFileSync(rc2, '0\n');
  const r = run(started(d2, rc2));
  assert.deepEqual([r.code, r.out.trim()], [0, '4242']);
  assert.deepEqual(readdirSync(d2), ['ran']);
  assert.ok(existsSync(path.join(d, `${path.basename(rc)}.go`)));
});

test('no such directory: none (nothing can let a gate there pass)', () => {
  const { d } = setup();
  assert.equal(run(A.abortGate(path.join(d, 'nope', 'x.rc'), o)).out.trim(), 'none');
});
