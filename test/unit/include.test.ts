import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseInclude, renderInclude, IncludeError } from '../../src/traffic/include.ts';

test('set form: parsed and rewritten in place, everything else kept', () => {
  const text = '# live port\nset $service_url http://10.0.0.5:8080;  # do not edit\n';
  const f = parseInclude(text)!;
  assert.equal(f.kind, 'set');
  assert.equal(f.kind === 'set' && f.port, 8080);
  assert.equal(renderInclude(text, f, ['10.0.0.5'], 8081), '# live port\nset $service_url http://10.0.0.5:8081;  # do not edit\n');
});

test('set form: the seeds\' variants (quotes, trailing slash, other variable names)', () => {
  for (const [t, host, port] of [
    ['set $service_url "http://127.0.0.1:8081";', '127.0.0.1', 8081],
    ["set $api http://app.internal:9000/;", 'app.internal', 9000],
    ['set   $service_url   http://[fd00::5]:8080 ;', 'fd00::5', 8080],
  ] as const) {
    const f = parseInclude(t)!;
    assert.equal(f.kind, 'set', t);
    assert.deepEqual(f.kind === 'set' && [f.host, f.port], [host, port], t);
  }
  const v6 = 'set $service_url http://[fd00::5]:8080;';
  assert.equal(renderInclude(v6, parseInclude(v6), ['fd00::5'], 8081), 'set $service_url http://[fd00::5]:8081;');
});

test('a commented-out line is not the live one', () => {
  const text = '# set $service_url http://10.0.0.5:8081;\nset $service_url http://10.0.0.5:8080;\n';
  const f = parseInclude(text)!;
  assert.equal(f.kind === 'set' && f.port, 8080);
  assert.equal(renderInclude(text, f, ['10.0.0.5'], 8081), '# set $service_url http://10.0.0.5:8081;\nset $service_url http://10.0.0.5:8081;\n');
});

test('upstream form: ports rewritten, parameters and other directives kept, new host added', () => {
  const text = 'upstream app {\n    server 10.0.0.5:8080 max_fails=3;\n    server 10.0.0.6:8080;  # b\n    keepalive 32;\n}\n';
  const f = parseInclude(text)!;
  assert.equal(f.kind, 'upstream');
  assert.deepEqual(f.kind === 'upstream' && f.servers.map((s) => `${s.host}:${s.port}`), ['10.0.0.5:8080', '10.0.0.6:8080']);
  assert.equal(
    renderInclude(text, f, ['10.0.0.5', '10.0.0.6'], 8081),
    'upstream app {\n    server 10.0.0.5:8081 max_fails=3;\n    server 10.0.0.6:8081;  # b\n    keepalive 32;\n}\n',
  );
  assert.equal(
    renderInclude(text, f, ['10.0.0.5', '10.0.0.6', '10.0.0.7'], 8081),
    'upstream app {\n    server 10.0.0.5:8081 max_fails=3;\n    server 10.0.0.6:8081;  # b\n    keepalive 32;\n    server 10.0.0.7:8081;\n}\n',
  );
});

test('upstream on one line', () => {
  const text = 'upstream backend { server a.example:8080; server b.example:8080; }';
  const f = parseInclude(text)!;
  assert.equal(renderInclude(text, f, ['a.example', 'b.example'], 8081), 'upstream backend { server a.example:8081; server b.example:8081; }');
});

test('empty file: first deploy, rendered fresh in the right form', () => {
  assert.equal(parseInclude(''), null);
  assert.equal(parseInclude('# nothing yet\n'), null);
  assert.match(renderInclude('', null, ['10.0.0.5'], 8080), /^# Managed.*\nset \$service_url http:\/\/10\.0\.0\.5:8080;\n$/);
  const up = renderInclude('', null, ['10.0.0.5', '10.0.0.6'], 8080);
  const f = parseInclude(up)!;
  assert.deepEqual(f.kind === 'upstream' && f.servers.map((s) => s.port), [8080, 8080]);
});

test('unrecognised or ambiguous files are refused', () => {
  assert.throws(() => parseInclude('proxy_pass http://x:1;'), IncludeError);
  assert.throws(() => parseInclude('set $a http://h:1;\nset $b http://h:2;'), /exactly one/);
  assert.throws(() => parseInclude('set $a http://h:1;\nupstream u { server h:2; }'), /both/);
  assert.throws(() => parseInclude('upstream u { server h; }'), /no port/);
  assert.throws(() => parseInclude('upstream u { server unix:/tmp/s; }'), /no port|unix/);
  assert.throws(() => parseInclude('set $a http://h;'), /without a port/);
  assert.throws(() => parseInclude('upstream u { keepalive 2; }'), /no 'server/);
});
