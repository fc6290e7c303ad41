import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseInclude, renderDown, type UpstreamForm } from '../../src/traffic/include.ts';
import { hostPort } from '../../src/config/hosts.ts';
import { batches } from '../../src/strategies/rolling.ts';

test('renderDown marks only the given entries down, everything else byte for byte', () => {
  const text = '# app\nupstream app {\n    server 10.0.0.5:8080 weight=3;\n    server 10.0.0.5:8081;  # second\n    server [fd00::7]:8080 max_fails=2 ;\n    keepalive 32;\n}\n';
  const form = parseInclude(text) as UpstreamForm;
  assert.deepEqual(form.servers.map((s) => [hostPort(s.host, s.port), s.down]), [['10.0.0.5:8080', false], ['10.0.0.5:8081', false], ['[fd00::7]:8080', false]]);
  const out = renderDown(text, form, new Set(['10.0.0.5:8081', '[fd00::7]:8080']));
  assert.equal(out, '# app\nupstream app {\n    server 10.0.0.5:8080 weight=3;\n    server 10.0.0.5:8081 down;  # second\n    server [fd00::7]:8080 max_fails=2  down;\n    keepalive 32;\n}\n');
  const again = parseInclude(out) as UpstreamForm;
  assert.deepEqual(again.servers.map((s) => s.down), [false, true, true]);
  assert.equal(renderDown(out, again, new Set(['10.0.0.5:8081'])), out, 'an entry already down is left as it is');
});

test('batches: counts and percentages, rounded down, at least one, never all at once', () => {
  const four = [1, 2, 3, 4];
  assert.deepEqual(batches(four, { count: 1 }), [[1], [2], [3], [4]]);
  assert.deepEqual(batches(four, { count: 3 }), [[1, 2, 3], [4]]);
  assert.deepEqual(batches(four, { count: 4 }), [[1, 2, 3], [4]], 'never the whole fleet in one batch');
  assert.deepEqual(batches(four, { percent: 50 }), [[1, 2], [3, 4]]);
  assert.deepEqual(batches(four, { percent: 25 }), [[1], [2], [3], [4]]);
  assert.deepEqual(batches(four, { percent: 10 }), [[1], [2], [3], [4]], 'rounded down, at least 1');
  assert.deepEqual(batches([1, 2], { percent: 100 }), [[1], [2]]);
});

test('lineDiff: removals before additions, context kept', async () => {
  const { lineDiff } = await import('../../src/traffic/diff.ts');
  assert.deepEqual(lineDiff('a\nb\nc\n', 'a\nB\nc\n'), ['  a', '- b', '+ B', '  c']);
  assert.deepEqual(lineDiff('', 'x\n'), ['+ x']);
  assert.deepEqual(lineDiff('x\n', ''), ['- x']);
});

test('undoGroups: a canary\'s include steps are undone in one change, from the newest text to the original', async () => {
  const { undoGroups } = await import('../../src/strategies/journal.ts');
  const n = { host: '10.0.0.2', port: 22 };
  const inc = (before: string, after: string) => ({ kind: 'include' as const, hosts: [{ nginx: n, path: '/i', loadedAs: '/i', before, after }] });
  const g = undoGroups([{ kind: 'started', app: { host: 'a', port: 22 }, port: 8081, pid: 5 }, inc('orig', 'w10'), inc('w10', 'w50')]);
  assert.equal(g.length, 2);
  assert.deepEqual(g[0], [{ kind: 'include', hosts: [{ nginx: n, path: '/i', loadedAs: '/i', before: 'orig', after: 'w50', mayServe: true }] }]);
  assert.equal(g[1][0].kind, 'started');
});

test('pendingGroups: entries already undone are skipped, so a post step resumes where a killed rollback stopped', async () => {
  const { pendingGroups } = await import('../../src/strategies/journal.ts');
  const app = { host: 'a', port: 22 };
  const j = [
    { kind: 'stopped' as const, app, port: 8080, saved: '/s', log: '/l' },
    { kind: 'started' as const, app, port: 8080, pid: 5 },
    { kind: 'stopped' as const, app, port: 8081, saved: '/s', log: '/l', restarting: true },
    { kind: 'started' as const, app, port: 8081, pid: 6, undone: true },
  ];
  const g = pendingGroups(j);
  assert.deepEqual(g.map((x) => x.map((e) => `${e.kind}:${'port' in e ? e.port : ''}`)), [['stopped:8081'], ['started:8080'], ['stopped:8080']]);
  assert.equal(g[0][0], j[2], 'the entries themselves, so marking them undone is saved with the journal');
});

test('withoutDead: an include put back marks down the instances that could not be started again, and nothing else', async () => {
  const { withoutDead } = await import('../../src/strategies/journal.ts');
  const text = 'upstream app {\n  server 10.0.0.5:8080;\n  server 10.0.0.5:8081;\n}\n';
  assert.equal(withoutDead(text, ['10.0.0.5'], new Set(['10.0.0.5:8081'])), 'upstream app {\n  server 10.0.0.5:8080;\n  server 10.0.0.5:8081 down;\n}\n');
  assert.equal(withoutDead(text, ['10.0.0.5'], new Set()), text);
  assert.equal(withoutDead('set $service_url http://10.0.0.5:8080;\n', ['10.0.0.5'], new Set(['10.0.0.5:8080'])), 'set $service_url http://10.0.0.5:8080;\n', 'blue/green never stops an old process before the switch');
  assert.equal(withoutDead(null, ['10.0.0.5'], new Set(['10.0.0.5:8080'])), null);
});
