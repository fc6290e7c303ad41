import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseInclude, type UpstreamForm } from '../../src/traffic/include.ts';
import { renderCanary, parseLogLine, figures, judgeStep } from '../../src/traffic/canary.ts';

test('renderCanary: twins on the new port with weights, other parameters and text kept', () => {
  const text = 'upstream app {\n    server 10.0.0.5:8080 max_fails=2;\n    server 10.0.0.6:8080 weight=3;\n    keepalive 32;\n}\n';
  const out = renderCanary(text, parseInclude(text) as UpstreamForm, 8081, 10);
  assert.equal(
    out,
    'upstream app {\n    server 10.0.0.5:8080 weight=90 max_fails=2;\n    server 10.0.0.5:8081 weight=10 max_fails=2;\n    server 10.0.0.6:8080 weight=90;\n    server 10.0.0.6:8081 weight=10;\n    keepalive 32;\n}\n',
  );
  const again = parseInclude(out) as UpstreamForm;
  assert.equal(again.servers.length, 4);
});

test('parseLogLine: plain, retried and redirected upstreams; other formats refused', () => {
  assert.deepEqual(parseLogLine('1795424210.536 200 10.213.78.31:8080 200 0.078 0.078'), [{ addr: '10.213.78.31:8080', status: 200, seconds: 0.078 }]);
  assert.deepEqual(parseLogLine('1795424210.536 200 10.0.0.5:8081, 10.0.0.6:8080 502, 200 0.001, 0.010 0.012'), [
    { addr: '10.0.0.5:8081', status: 502, seconds: 0.001 },
    { addr: '10.0.0.6:8080', status: 200, seconds: 0.01 },
  ]);
  assert.deepEqual(parseLogLine('1795424210.536 200 10.0.0.5:8081 : 10.0.0.6:8080 404 : 200 0.001 : 0.010 0.012')?.length, 2);
  assert.deepEqual(parseLogLine('1795424210.536 404 - - - 0.000'), []);
  assert.equal(parseLogLine('10.0.0.1 - - [23/Nov/2026:09:00:00 +0000] "GET / HTTP/1.1" 200 12 "-" "curl"'), null);
  assert.equal(parseLogLine(''), null);
});

const OLD = ['10.0.0.5:8080'];
const NEW = ['10.0.0.5:8081'];

test('figures count the instances judged by their exact address: another service on :8081 does not dilute the new release', () => {
  const a = (addr: string, status: number) => ({ addr, status, seconds: 0.01 });
  const mine = [...Array.from({ length: 90 }, () => a('10.0.0.5:8081', 200)), ...Array.from({ length: 10 }, () => a('10.0.0.5:8081', 500))];
  const other = Array.from({ length: 1000 }, () => a('10.0.9.9:8081', 200));
  const old = Array.from({ length: 100 }, () => a('10.0.0.5:8080', 200));
  const f = figures([...old, ...mine, ...other, a('10.0.9.9:8080', 500)], OLD, NEW);
  assert.deepEqual([f.new.requests, f.new.errors, f.old.requests, f.old.errors], [100, 10, 100, 0]);
  assert.deepEqual([f.new.p50, f.new.p99, f.ms.new.length, f.ms.old.length], [10, 10, 100, 100]);
  assert.equal(judgeStep(f, { maxErrorRate: 1, p99FloorMs: 0, minRequests: 50 }).kind, 'fail');
  // Only other services' lines: nothing is judged as passing.
  assert.equal(judgeStep(figures(other, OLD, NEW), { maxErrorRate: 1, p99FloorMs: 0, minRequests: 1 }).kind, 'wait');
});

test('figures and judgeStep: error rate, p99 ratio, too few requests', () => {
  const a = (port: number, status: number, ms: number) => ({ addr: `10.0.0.5:${port}`, status, seconds: ms / 1000 });
  const old = Array.from({ length: 100 }, () => a(8080, 200, 10));
  const good = Array.from({ length: 60 }, () => a(8081, 200, 12));
  const g = { maxErrorRate: 1, maxP99Ratio: 2, p99FloorMs: 0, minRequests: 50 };
  assert.deepEqual(judgeStep(figures([...old, ...good], OLD, NEW), g), { kind: 'pass', note: 'p99 1.2×' });
  const bad = [...good.slice(0, 55), ...Array.from({ length: 5 }, () => a(8081, 500, 12))];
  const f = figures([...old, ...bad], OLD, NEW);
  assert.equal(f.new.errors, 5);
  assert.equal(judgeStep(f, g).kind, 'fail');
  const slow = Array.from({ length: 60 }, () => a(8081, 200, 35));
  assert.match((judgeStep(figures([...old, ...slow], OLD, NEW), g) as { why: string }).why, /p99 is 35 ms against 10 ms/);
  assert.equal(judgeStep(figures([...old, ...slow], OLD, NEW), { ...g, maxP99Ratio: undefined }).kind, 'pass');
  // The floor: 35 ms is 3.5x of 10 ms, but under a 50 ms floor it is noise; over a 30 ms one it fails.
  assert.equal(judgeStep(figures([...old, ...slow], OLD, NEW), { ...g, p99FloorMs: 50 }).kind, 'pass');
  assert.equal(judgeStep(figures([...old, ...slow], OLD, NEW), { ...g, p99FloorMs: 35 }).kind, 'pass');
  assert.equal(judgeStep(figures([...old, ...slow], OLD, NEW), { ...g, p99FloorMs: 30 }).kind, 'fail');
  assert.equal(judgeStep(figures([...old, ...good.slice(0, 10)], OLD, NEW), g).kind, 'wait');
});
