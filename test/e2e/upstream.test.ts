// Two app hosts behind an upstream block; then a first deploy where the include does not exist.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createTestbed, cleanupStale, type Testbed } from '../testbed/testbed.ts';
import { baseInputs, runAction, explain } from './harness.ts';

const beds: Testbed[] = [];
after(async () => {
  for (const b of beds) await b.teardown();
});

test('two hosts, upstream form: both switch, both old processes stop, both serve the new version', async () => {
  await cleanupStale('zdde2e2');
  const tb = await createTestbed({ prefix: 'zdde2e2', subnet: 42, appHosts: 2, form: 'upstream' });
  beds.push(tb);
  for (const a of tb.apps) await tb.startSeedApp(a, 8080, 'v0');
  const before = (await tb.readInclude())!;

  const r = await runAction(tb, baseInputs(tb, await tb.makeJar('v1')));
  assert.equal(r.code, 0, explain(r));
  assert.equal(r.outputs['active-port'], '8081');
  assert.equal(await tb.readInclude(), before.replaceAll(':8080;', ':8081;'));
  for (const a of tb.apps) {
    assert.equal(await tb.pidOnPort(a, 8080), null, `old process gone on ${a.name}`);
    assert.ok(await tb.pidOnPort(a, 8081), `new process on ${a.name}`);
  }
  const seen = new Set<string>();
  for (let i = 0; i < 12; i++) {
    const res = await tb.get('/version');
    assert.equal(res.status, 200);
    assert.match(res.body, /version=v1 port=8081/);
    seen.add(res.body.replace(/ pid=.*/, ''));
  }
  assert.match(r.summary, new RegExp(`${tb.apps[1].ip}:8081`));

  // The same jar again: nothing is uploaded, the ports swap back.
  const again = await runAction(tb, baseInputs(tb, await tb.makeJar('v2')));
  assert.equal(again.code, 0, explain(again));
  const same = await runAction(tb, baseInputs(tb, (await tb.makeJar('v2'))));
  assert.equal(same.code, 0, explain(same));
  assert.match(same.stdout, /already there \(0 bytes\)|copied on host \(0 bytes\)/);

  // A sorry page as a backup server that is not an app host: kept byte for byte.
  const live = (await tb.readInclude())!;
  const sorry = `    server ${tb.nginx.ip}:81 backup;  # sorry page\n`;
  const withSorry = live.replace(/\n\}/, `\n${sorry}}`);
  assert.notEqual(withSorry, live);
  await tb.writeInclude(withSorry);
  assert.equal((await tb.reloadNginx()).code, 0);
  const port = /:(\d+);/.exec(live)![1];
  const next = port === '8080' ? '8081' : '8080';
  const kept = await runAction(tb, baseInputs(tb, await tb.makeJar('v3')));
  assert.equal(kept.code, 0, explain(kept));
  assert.equal(await tb.readInclude(), withSorry.replaceAll(`:${port};`, `:${next};`), 'the app hosts switched, the backup line untouched');
  assert.match((await tb.get('/version')).body, new RegExp(`version=v3 port=${next}`));
});

test('first deploy: a missing include is created and nginx starts serving', async () => {
  await cleanupStale('zdde2e3');
  const tb = await createTestbed({ prefix: 'zdde2e3', subnet: 43, appHosts: 1, form: 'set', initialInclude: false });
  beds.push(tb);
  assert.equal(await tb.readInclude(), null);
  // nginx cannot start without its include: the first deploy runs with nginx down, as on a new host
  // that will be started afterwards. Use a reload command that starts nginx when it is not running.
  const r = await runAction(tb, baseInputs(tb, await tb.makeJar('v1'), { 'include-file': '/etc/nginx/conf.d/service_url.inc', 'nginx-reload-command': 'sh -c "nginx -s reload 2>/dev/null || nginx"' }));
  assert.equal(r.code, 0, explain(r));
  assert.equal(r.outputs['active-port'], '8080');
  assert.equal(r.outputs['previous-port'], '');
  assert.match((await tb.readInclude())!, new RegExp(`set \\$service_url http://${tb.apps[0].ip.replaceAll('.', '\\.')}:8080;`));
  assert.match((await tb.get('/version')).body, /version=v1 port=8080/);
});
