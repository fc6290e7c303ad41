// The include nginx really uses (issue 19): the deploy switches the file nginx loads, found from
// `nginx -T` when include-file is empty, and refuses, changing nothing, when include-file is a
// file nginx does not load, when two files look like the include, or when a first deploy would
// write a file nothing includes.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { createTestbed, cleanupStale, type Testbed } from '../testbed/testbed.ts';
import { baseInputs, runAction, explain } from './harness.ts';

let tb: Testbed;
let conf: string;
let original: string;
const INC = '/etc/nginx/conf.d/service_url.inc';
const DASH = '/etc/nginx/conf.d/service-url.inc';
const local = (p: string) => tb.localPath(tb.nginx, p);

before(async () => {
  await cleanupStale('zdde2e19');
  tb = await createTestbed({ prefix: 'zdde2e19', subnet: 61, appHosts: 1, form: 'set' });
  conf = local('/etc/nginx/nginx.conf');
  original = await readFile(conf, 'utf8');
  assert.ok(original.includes(`include ${INC};`), 'the testbed includes the file by name');
});
after(async () => {
  await tb?.teardown();
});

/** nginx.conf with its include line replaced (and a line added at http level), tested and reloaded. */
async function configure(includeLine: string, httpLine = ''): Promise<void> {
  await writeFile(conf, original.replace(`include ${INC};`, includeLine).replace('http {', `http {\n    ${httpLine}`));
  const t = await tb.nginxTest();
  assert.equal(t.code, 0, t.stderr);
  const r = await tb.reloadNginx();
  assert.equal(r.code, 0, r.stderr);
  await new Promise((res) => setTimeout(res, 300));
}

/** What a refusal must leave exactly as it was. */
async function snapshot() {
  const dir = local('/etc/nginx/conf.d');
  const files: Record<string, string> = {};
  for (const f of (await readdir(dir)).sort()) files[f] = await readFile(`${dir}/${f}`, 'utf8');
  return {
    files,
    pids: [await tb.pidOnPort(tb.apps[0], 8080), await tb.pidOnPort(tb.apps[0], 8081)],
    serves: (await tb.get('/version')).body.replace(/ uptime=\S+/, ''),
  };
}

async function refusedWith(inputs: Record<string, string>, error: RegExp): Promise<string> {
  const before = await snapshot();
  const r = await runAction(tb, baseInputs(tb, await tb.makeJar('never'), inputs));
  assert.equal(r.code, 1, explain(r));
  assert.match(r.error, error);
  assert.doesNotMatch(r.stdout, /started pid/);
  assert.deepEqual(await snapshot(), before, 'the include, the processes and what nginx serves are as they were');
  return r.error;
}
const refused = async (inputs: Record<string, string>, error: RegExp) => void (await refusedWith(inputs, error));

test("the seeds' dash name with the default include-file: found in what nginx loads, switched, served", async () => {
  await rm(local(INC));
  await writeFile(local(DASH), `set $service_url http://${tb.apps[0].ip}:8081;\n`);
  await configure(`include ${DASH};`);
  await tb.startSeedApp(tb.apps[0], 8081, 'v0');
  assert.match((await tb.get('/version')).body, /version=v0 port=8081/);

  const dry = await runAction(tb, baseInputs(tb, await tb.makeJar('v1'), { 'dry-run': 'true' }));
  assert.equal(dry.code, 0, explain(dry));
  assert.match(dry.summary, new RegExp(`${DASH} on .*found: the one file nginx loads that looks like the include \\(set \\$service_url`));

  const r = await runAction(tb, baseInputs(tb, await tb.makeJar('v1')));
  assert.equal(r.code, 0, explain(r));
  assert.match(r.stdout, new RegExp(`${DASH}: found: the one file nginx loads`));
  assert.equal(r.outputs['active-port'], '8080');
  assert.match((await tb.get('/version')).body, /version=v1 port=8080/);
  assert.equal(await readFile(local(DASH), 'utf8'), `set $service_url http://${tb.apps[0].ip}:8080;\n`);
  assert.deepEqual(await readdir(local('/etc/nginx/conf.d')), ['service-url.inc'], 'no service_url.inc that nginx never reads');
  assert.equal(await tb.pidOnPort(tb.apps[0], 8081), null);
});

test('an explicit include-file that nginx does not load is refused before anything changes, naming the one it does load', async () => {
  // A leftover copy that looks right, next to the file nginx serves from.
  await writeFile(local(INC), `set $service_url http://${tb.apps[0].ip}:8080;\n`);
  await refused(
    { 'include-file': INC },
    new RegExp(`include-file ${INC} exists, but nginx does not load it .*Files nginx loads that look like the include: ${DASH} \\(set \\$service_url`),
  );
  await rm(local(INC));
});

test('two files that look like the include: the default refuses and lists both', async () => {
  await writeFile(local('/etc/nginx/conf.d/app.conf'), `upstream app { server ${tb.apps[0].ip}:8080; }\n`);
  await configure(`include ${DASH};`, 'include /etc/nginx/conf.d/*.conf;');
  const both = await refusedWith({}, /2 files nginx loads look like the include: /);
  assert.match(both, new RegExp(`${DASH} \\(set \\$service_url http://[0-9.]+:8080, used by proxy_pass\\)`));
  assert.match(both, /\/etc\/nginx\/conf\.d\/app\.conf \(upstream app naming an app host\)/);
  await rm(local('/etc/nginx/conf.d/app.conf'));
});

test('an include reached through a glob is found and switched', async () => {
  await configure('include /etc/nginx/conf.d/*.inc;');
  const r = await runAction(tb, baseInputs(tb, await tb.makeJar('v2')));
  assert.equal(r.code, 0, explain(r));
  assert.equal(r.outputs['active-port'], '8081');
  assert.match((await tb.get('/version')).body, /version=v2 port=8081/);
});

test('a first deploy: refused where nothing includes the path, done where a glob picks the new file up', async () => {
  // nginx serves v2 through the dash file; include-file names a new file that nothing includes.
  await refused({ 'include-file': '/etc/nginx/conf.d/new.conf' }, /include-file \/etc\/nginx\/conf\.d\/new\.conf does not exist, and no include directive .*'include \/etc\/nginx\/conf\.d\/\*\.inc;' in \/etc\/nginx\/nginx\.conf/);
  await refused({ 'include-file': '/etc/nginx/new.inc' }, /include-file \/etc\/nginx\/new\.inc does not exist, and no include directive/);

  // A new site: nginx answers from a fallback until the first deploy writes conf.d/*.inc.
  await rm(local(DASH));
  await configure('set $service_url http://127.0.0.1:9;\n        include /etc/nginx/conf.d/*.inc;');
  assert.equal((await tb.get('/version')).status, 502);
  const r = await runAction(tb, baseInputs(tb, await tb.makeJar('v3'), { 'include-file': INC }));
  assert.equal(r.code, 0, explain(r));
  assert.match(r.stdout, /does not exist yet; nginx will load it through 'include \/etc\/nginx\/conf\.d\/\*\.inc;'/);
  // Nothing to stop, but the step ends only once no old nginx worker can answer from the old configuration.
  // (the wait sent behind the switch, or a later one), inside the drain step.
  const drainStep = /::group::Drain[^\n]*\n([\s\S]*?)::endgroup::/.exec(r.stdout)?.[1] ?? '';
  assert.match(drainStep, /wait for (\d+ old nginx worker\(s\)|the old nginx workers of the switch) to exit: exit 0/, r.stdout);
  assert.match((await tb.get('/version')).body, /version=v3 port=8080/);
  assert.equal(await readFile(local(INC), 'utf8'), `# Managed by the jar blue/green deploy action: it rewrites the addresses below.\nset $service_url http://${tb.apps[0].ip}:8080;\n`);
});
