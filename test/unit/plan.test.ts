import { test } from 'node:test';
import assert from 'node:assert/strict';
import { planSwitch, PlanError } from '../../src/traffic/plan.ts';
import { parseAppHost, type AppHost } from '../../src/config/hosts.ts';

const hosts = (...e: string[]) => e.map((x) => parseAppHost(x, 22) as AppHost);
const cfg = (appHosts: AppHost[], ports: [number, number] = [8080, 8081]) => ({ appHosts, ports });
const plan = (c: ReturnType<typeof cfg>, text: string | null) => planSwitch(c, '/etc/nginx/conf.d/service_url.inc', text);

test('live 8080 -> idle 8081, and back', () => {
  const p = plan(cfg(hosts('10.0.0.5')), 'set $service_url http://10.0.0.5:8080;\n');
  assert.equal(p.livePort, 8080);
  assert.equal(p.idlePort, 8081);
  assert.equal(p.newText, 'set $service_url http://10.0.0.5:8081;\n');
  const q = plan(cfg(hosts('10.0.0.5')), p.newText);
  assert.equal(q.idlePort, 8080);
});

test('first deploy when the file is missing or empty', () => {
  for (const t of [null, '', '\n']) {
    const p = plan(cfg(hosts('10.0.0.5', '10.0.0.6')), t);
    assert.equal(p.livePort, null);
    assert.equal(p.idlePort, 8080);
    assert.match(p.newText, /upstream app \{\n {4}server 10\.0\.0\.5:8080;\n {4}server 10\.0\.0\.6:8080;\n\}/);
  }
});

test('the address nginx uses can differ from the SSH address', () => {
  const p = plan(cfg(hosts('app1.example.com:2222=10.0.1.5')), 'set $service_url http://10.0.1.5:8081;');
  assert.equal(p.idlePort, 8080);
  assert.equal(p.liveHosts.length, 1);
});

test('refuses: unknown host, disagreeing ports, port not in ports, set form with several hosts', () => {
  assert.throws(() => plan(cfg(hosts('10.0.0.5')), 'set $service_url http://10.0.0.9:8080;'), (e: Error) => e instanceof PlanError && /10\.0\.0\.9.*not in app-hosts/.test(e.message));
  assert.throws(() => plan(cfg(hosts('10.0.0.5', '10.0.0.6')), 'upstream a { server 10.0.0.5:8080; server 10.0.0.6:8081; }'), /different ports/);
  assert.throws(() => plan(cfg(hosts('10.0.0.5')), 'set $service_url http://10.0.0.5:9090;'), /9090, which is not one of ports/);
  assert.throws(() => plan(cfg(hosts('10.0.0.5', '10.0.0.6')), 'set $service_url http://10.0.0.5:8080;'), /upstream form/);
  assert.throws(() => plan(cfg(hosts('10.0.0.5')), 'garbage'), /service_url\.inc has neither/);
});

test('a host added to app-hosts joins the upstream at the new port', () => {
  const p = plan(cfg(hosts('10.0.0.5', '10.0.0.6')), 'upstream app {\n  server 10.0.0.5:8081;\n}\n');
  assert.equal(p.idlePort, 8080);
  assert.deepEqual(p.liveHosts.map((h) => h.target), ['10.0.0.5']);
  assert.equal(p.newText, 'upstream app {\n  server 10.0.0.5:8080;\n  server 10.0.0.6:8080;\n}\n');
});

test('a backup server that is not an app host (a sorry page) is kept byte for byte: switched around, taken down around, weighted around', async () => {
  const { renderDown, parseInclude } = await import('../../src/traffic/include.ts');
  const { renderCanary } = await import('../../src/traffic/canary.ts');
  const text = 'upstream app {\n    server 10.0.0.5:8080 max_fails=2;\n    server 10.0.0.6:8080;\n    server 10.0.9.9:80 backup;  # sorry page\n}\n';
  const c = cfg(hosts('10.0.0.5', '10.0.0.6'));
  const p = plan(c, text);
  assert.equal(p.livePort, 8080);
  assert.equal(p.newText, text.replaceAll(':8080', ':8081'));
  const form = parseInclude(text, ['10.0.0.5', '10.0.0.6']);
  assert.ok(form?.kind === 'upstream');
  assert.deepEqual(form.servers.map((s) => `${s.host}:${s.port}`), ['10.0.0.5:8080', '10.0.0.6:8080']);
  assert.equal(renderDown(text, form, new Set(['10.0.0.5:8080', '10.0.9.9:80'])), text.replace('8080 max_fails=2;', '8080 max_fails=2 down;'));
  assert.match(renderCanary(text, form, 8081, 10), /server 10\.0\.0\.6:8081 weight=10;\n {4}server 10\.0\.9\.9:80 backup; {2}# sorry page\n\}/);
  // A backup that is an app host is an instance like the others; a server that is neither is still refused.
  assert.throws(() => plan(c, text.replace(' backup;', ';')), /points at 10\.0\.9\.9, which is not in app-hosts/);
  assert.throws(() => plan(c, 'upstream app {\n  server 10.0.9.9:80 backup;\n}\n'), /only backup servers that are not app hosts/);
});
