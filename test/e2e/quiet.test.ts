// Setups that look right and used to fail quietly (issue 30): a first deploy where nginx.conf
// includes a file that does not exist yet, a host name nginx cannot resolve at request time, and
// a port set in java-opts, app-args or env.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { createTestbed, cleanupStale, type Testbed } from '../testbed/testbed.ts';
import { baseInputs, runAction, explain } from './harness.ts';
import { underLoad } from './load.ts';

let tb: Testbed;
const INC = '/etc/nginx/conf.d/service_url.inc';
const local = (p: string) => tb.localPath(tb.nginx, p);

before(async () => {
  await cleanupStale('zddquiet');
  // A new host: nginx.conf includes service_url.inc by name, which does not exist, so nginx is down.
  tb = await createTestbed({ prefix: 'zddquiet', subnet: 73, appHosts: 1, form: 'set', initialInclude: false });
});
after(async () => {
  await tb?.teardown();
});

/** nginx stopped (not reloaded) and started again: what a reboot or a package upgrade does. */
async function restartNginx(): Promise<void> {
  const stop = await tb.exec(tb.nginx, ['sh', '-c', 'nginx -s stop; i=0; while pgrep -x nginx >/dev/null && [ "$i" -lt 200 ]; do sleep 0.05; i=$((i + 1)); done; ! pgrep -x nginx >/dev/null']);
  assert.equal(stop.code, 0, `nginx stopped: ${stop.stderr}`);
  await tb.startNginx();
}

async function nothingChanged(run: () => Promise<void>): Promise<void> {
  const files = async () => (await readdir(local('/etc/nginx/conf.d'))).sort();
  const before = { files: await files(), pids: [await tb.pidOnPort(tb.apps[0], 8080), await tb.pidOnPort(tb.apps[0], 8081)] };
  await run();
  assert.deepEqual({ files: await files(), pids: [await tb.pidOnPort(tb.apps[0], 8080), await tb.pidOnPort(tb.apps[0], 8081)] }, before, 'no file written, no process started');
}

test('a port in java-opts, app-args or SPRING_APPLICATION_JSON is refused before anything changes, naming the input', async () => {
  const jar = await tb.makeJar('port');
  for (const [inputs, re] of [
    [{ 'java-opts': '-Xmx256m -Dserver.port=8080' }, /input 'java-opts': '-Dserver\.port=8080' sets the port the app listens on/],
    [{ 'app-args': '--server.port=8080' }, /input 'app-args': '--server\.port=8080' sets the port .*command-line arguments above/],
    [{ env: 'SPRING_APPLICATION_JSON={"server":{"port":8080}}' }, /input 'env': SPRING_APPLICATION_JSON sets server\.port \(8080\)/],
  ] as const) {
    await nothingChanged(async () => {
      const r = await runAction(tb, baseInputs(tb, jar, { 'include-file': INC, ...inputs }));
      assert.equal(r.code, 1, explain(r));
      assert.match(r.error, re);
      assert.doesNotMatch(r.stdout, /BindException|started pid/);
    });
  }
});

test('first deploy: a missing include that nginx.conf names is refused with what to create; created so, a failed first deploy and a good one each leave nginx passing nginx -t and restartable', async () => {
  assert.notEqual((await tb.nginxTest()).code, 0, 'nginx -t fails without the include');
  let hint = '';
  await nothingChanged(async () => {
    const r = await runAction(tb, baseInputs(tb, await tb.makeJar('v1'), { 'include-file': INC }));
    assert.equal(r.code, 1, explain(r));
    assert.match(r.error, new RegExp(`includes ${INC.replaceAll('.', '\\.')} by name and it does not exist, so \`nginx -T\` fails: an nginx restart.*Create it first, pointing at one of ports`));
    hint = /(printf .*? && sudo nginx -t)\. Nothing was changed/.exec(r.error)?.[1] ?? '';
  });
  assert.equal(await tb.readInclude(), null);
  // Done as the error says (as root on the host: no sudo needed there).
  const made = await tb.exec(tb.nginx, ['sh', '-c', hint.replace(/\| sudo tee/, '| tee').replace(/&& sudo nginx -t$/, '&& nginx -t')]);
  assert.equal(made.code, 0, `${hint}: ${made.stderr}`);
  assert.equal(await tb.readInclude(), `set $service_url http://${tb.apps[0].ip}:8080;\n`);
  await tb.startNginx();

  // A first deploy that fails health: nothing served before, and nginx still tests and restarts.
  const bad = await runAction(tb, baseInputs(tb, await tb.makeJar('bad'), { 'include-file': INC, 'java-opts': '-Dhealth.mode=down', 'health-timeout': '3' }));
  assert.equal(bad.code, 1, explain(bad));
  assert.equal(await tb.readInclude(), `set $service_url http://${tb.apps[0].ip}:8080;\n`, 'the include as it was created');
  assert.equal((await tb.nginxTest()).code, 0, 'nginx -t passes after the failed first deploy');
  await restartNginx();
  assert.equal(await tb.pidOnPort(tb.apps[0], 8081), null);

  const good = await runAction(tb, baseInputs(tb, await tb.makeJar('v1'), { 'include-file': INC }));
  assert.equal(good.code, 0, explain(good));
  assert.equal(good.outputs['active-port'], '8081');
  assert.equal((await tb.nginxTest()).code, 0);
  await restartNginx();
  assert.match((await tb.get('/version')).body, /version=v1 port=8081/);
});

test('an undo never removes a file nginx now needs: kept, tested, and said (a glob first deploy, nginx.conf changed mid-deploy, verify-url failing)', async () => {
  const conf = local('/etc/nginx/nginx.conf');
  const original = await readFile(conf, 'utf8');
  const FIRST = '/etc/nginx/conf.d/app.first';
  try {
    // A new site: a fallback until the first deploy writes conf.d/*.first (nginx tests without it).
    await writeFile(conf, original.replace(`include ${INC};`, 'set $service_url http://127.0.0.1:9;\n        include /etc/nginx/conf.d/*.first;'));
    assert.equal((await tb.nginxTest()).code, 0);
    assert.equal((await tb.reloadNginx()).code, 0);
    // Someone removes the fallback while the deploy runs (the smoke test, on the runner, does it):
    // from then on nginx needs the file the deploy writes.
    const drop = `sed -i 's|set \\$service_url http://127.0.0.1:9;||' ${conf}`;
    const r = await runAction(tb, baseInputs(tb, await tb.makeJar('v2'), { 'include-file': FIRST, 'smoke-test': drop, 'verify-url': `http://${tb.nginx.ip}/no-such-page` }));
    assert.equal(r.code, 1, explain(r));
    assert.match(r.stdout, /app\.first on .* was not removed: without it `nginx -t` fails \(.*unknown "service_url" variable.*\), and nginx could not restart/);
    assert.equal((await tb.nginxTest()).code, 0, 'nginx -t passes: the file is still there');
    assert.match(await readFile(local(FIRST), 'utf8'), /set \$service_url http:\/\//);
    await restartNginx();
  } finally {
    await writeFile(conf, original);
    await tb.exec(tb.nginx, ['rm', '-f', FIRST]);
    assert.equal((await tb.reloadNginx()).code, 0);
  }
});

test("a host name in app-hosts with the set form: refused without a resolver (naming both ways out), kept with one; the upstream form works with names", async () => {
  const name = 'app1.zddquiet.test';
  const ip = tb.apps[0].ip;
  // The nginx host resolves the name through its own /etc/hosts (a bind in its mount namespace).
  const hosts = path.join(tb.dir, 'nginx-hosts');
  await writeFile(hosts, `127.0.0.1 localhost\n${ip} ${name}\n`);
  const bind = await tb.exec(tb.nginx, ['mount', '--bind', hosts, '/etc/hosts']);
  assert.equal(bind.code, 0, bind.stderr);
  const byName = { 'app-hosts': `${ip}=${name}`, 'include-file': INC };
  const before = await tb.readInclude();
  const r = await runAction(tb, baseInputs(tb, await tb.makeJar('named'), byName));
  assert.equal(r.code, 1, explain(r));
  assert.match(r.error, new RegExp(`app-hosts names '${name.replaceAll('.', '\\.')}'.*resolves a name in a variable only through a resolver directive.*app-hosts: ${name.replaceAll('.', '\\.')}=${ip.replaceAll('.', '\\.')} \\(what .* resolves to on this nginx host\\).*resolver 127\\.0\\.0\\.53;`));
  assert.doesNotMatch(r.stdout, /started pid/);
  assert.equal(await tb.readInclude(), before, 'nothing changed');

  const conf = local('/etc/nginx/nginx.conf');
  const original = await readFile(conf, 'utf8');
  try {
    // With a resolver the name is kept (a dry run shows the include it would write).
    await writeFile(conf, original.replace('http {', 'http {\n    resolver 127.0.0.53;'));
    assert.equal((await tb.reloadNginx()).code, 0);
    await writeFile(local(INC), `set $service_url http://${name}:8081;\n`);
    const dry = await runAction(tb, baseInputs(tb, await tb.makeJar('named'), { ...byName, 'dry-run': 'true' }));
    assert.equal(dry.code, 0, explain(dry));
    assert.match(dry.summary, new RegExp(`\\+ set \\$service_url http://${name.replaceAll('.', '\\.')}:8080;`));

    // The upstream form: nginx resolves names when it loads its configuration. Deployed under load.
    await writeFile(local(INC), `upstream app {\n    server ${name}:8081;\n}\n`);
    await writeFile(conf, original.replace(`include ${INC};`, '').replace('http {', `http {\n    include ${INC};`).replace('proxy_pass $service_url;', 'proxy_pass http://app;'));
    assert.equal((await tb.nginxTest()).code, 0);
    assert.equal((await tb.reloadNginx()).code, 0);
    const { run, load } = await underLoad(tb, async () => runAction(tb, baseInputs(tb, await tb.makeJar('up-named'), byName)));
    assert.equal(run.code, 0, explain(run));
    assert.equal(load.non2xx, 0, load.raw);
    assert.equal(await tb.readInclude(), `upstream app {\n    server ${name}:8080;\n}\n`);
    assert.match((await tb.get('/version')).body, /version=up-named port=8080/);
  } finally {
    await writeFile(conf, original);
  }
});
