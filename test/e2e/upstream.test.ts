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

test('first deploy: a missing include that nginx.conf names is refused, saying what to create; created so, the deploy serves', async () => {
  await cleanupStale('zdde2e3');
  const tb = await createTestbed({ prefix: 'zdde2e3', subnet: 43, appHosts: 1, form: 'set', initialInclude: false });
  beds.push(tb);
  assert.equal(await tb.readInclude(), null);
  // nginx cannot start without its include (a new host): the deploy changes nothing and says what to create.
  const inputs = { 'include-file': '/etc/nginx/conf.d/service_url.inc' };
  const refused = await runAction(tb, baseInputs(tb, await tb.makeJar('v1'), inputs));
  assert.equal(refused.code, 1, explain(refused));
  assert.match(refused.error, /does not exist, so `nginx -T` fails: an nginx restart, a reboot or a package upgrade would take every site on this host down/);
  assert.equal(await tb.readInclude(), null);
  const hint = /(printf .*? && sudo nginx -t)\. Nothing was changed/.exec(refused.error)![1];
  assert.equal((await tb.exec(tb.nginx, ['sh', '-c', hint.replace('| sudo tee', '| tee').replace('&& sudo nginx -t', '&& nginx -t')])).code, 0);
  await tb.startNginx();
  const r = await runAction(tb, baseInputs(tb, await tb.makeJar('v1'), inputs));
  assert.equal(r.code, 0, explain(r));
  assert.match(r.stdout, /nothing listens on the live port 8080; nginx was pointing at a dead port/);
  assert.equal(r.outputs['active-port'], '8081');
  assert.match((await tb.readInclude())!, new RegExp(`set \\$service_url http://${tb.apps[0].ip.replaceAll('.', '\\.')}:8081;`));
  assert.match((await tb.get('/version')).body, /version=v1 port=8081/);
});
