import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FINISHED, decodeState, encodeState, postNeeded, stateText } from '../../src/strategies/state.ts';
import type { RecoveryState } from '../../src/run/context.ts';
import type { UndoEntry } from '../../src/strategies/journal.ts';

/** The journal of a rolling deploy over n instances (batch size 1) behind two nginx hosts, cut off in its last batch. */
function rollingJournal(n: number): RecoveryState {
  const servers = Array.from({ length: n }, (_, i) => `10.20.${Math.floor(i / 200)}.${(i % 200) + 10}:8080`);
  const include = (down: number) =>
    `# managed by the deploy action\nupstream app {\n  least_conn;\n${servers.map((s, i) => `  server ${s} max_fails=3 fail_timeout=10s${i === down ? ' down' : ''};`).join('\n')}\n  keepalive 64;\n}\n`;
  const nginx = [
    { host: 'lb1.example.com', port: 22 },
    { host: 'lb2.example.com', port: 22 },
  ];
  const journal: UndoEntry[] = [];
  for (let i = 0; i < n; i++) {
    const hosts = (before: string, after: string) => nginx.map((h) => ({ nginx: h, path: '/etc/nginx/conf.d/service_url.inc', loadedAs: '/etc/nginx/conf.d/service_url.inc', before, after }));
    const app = { host: servers[i].split(':')[0], port: 22 };
    journal.push({ kind: 'include', hosts: hosts(include(-1), include(i)) });
    journal.push({ kind: 'stopped', app, port: 8080, saved: '/opt/app/run/8080.previous', log: '/opt/app/logs/previous.8080.log' });
    journal.push({ kind: 'started', app, port: 8080, pid: 100_000 + i });
    journal.push({ kind: 'include', hosts: hosts(include(i), include(-1)) });
  }
  return { committed: false, done: false, journal, locks: nginx.map((h) => ({ nginx: `${h.host}:22`, dir: '/opt/app/.deploy.lock', info: 'run 123 by someone' })) };
}

test('the recovery state of a 40-instance rolling deploy fits in one environment variable (128 KiB), and reads back as it was', () => {
  const s = rollingJournal(40);
  const json = JSON.stringify(s).length;
  const enc = encodeState(s);
  assert.ok(json > 128 * 1024, `the plain JSON would not fit (${json} bytes)`);
  assert.ok(enc.length < 16 * 1024, `encoded: ${enc.length} bytes`);
  assert.deepEqual(decodeState(enc), s);
  // Even 400 instances stay far below the limit.
  assert.ok(encodeState(rollingJournal(400)).length < 128 * 1024);
});

test('a state not in this format is refused with what it starts with', () => {
  assert.throws(() => decodeState('{"committed":false}'), /not in this version's format \(starts '\{"commit'\)/);
});

test('a finished run saves FINISHED, which the post step skips without decoding; an unfinished one saves its journal, which it takes', () => {
  const s = rollingJournal(2);
  assert.equal(stateText({ ...s, done: true }), FINISHED);
  assert.equal(postNeeded(FINISHED), false);
  const open = stateText(s);
  assert.equal(postNeeded(open), true);
  assert.deepEqual(decodeState(open), s);
  // Nothing saved (the main step died before its first save): nothing to do either.
  assert.equal(postNeeded(undefined), false);
  assert.equal(postNeeded(''), false);
});
