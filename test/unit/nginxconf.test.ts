import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ChoiceError, chooseInclude, parseDump } from '../../src/traffic/nginxconf.ts';
import { globMatches, includeDirectives, resolvers, unresolvableName, type LoadedFile, type NginxRead } from '../../src/traffic/nginxfiles.ts';
import { dumpCommand } from '../../src/config/inputs.ts';
import { parseInclude } from '../../src/traffic/include.ts';

const MAIN = `http {
    include /etc/nginx/conf.d/*.conf;
    server {
        listen 80;
        include /etc/nginx/conf.d/service-url.inc;
        location / { proxy_pass $service_url; }
    }
}
`;
const file = (name: string, text: string, real = name): LoadedFile => ({ name, real, writable: true, text });
const read = (files: LoadedFile[], want?: NginxRead['want'], resolved = new Map<string, string>()): NginxRead => ({ uid: 0, user: 'root', workers: 2, status: 0, error: '', files, want, resolved });
const DASH = file('/etc/nginx/conf.d/service-url.inc', 'set $service_url http://127.0.0.1:8081;\n');
const T = ['127.0.0.1'];

test('parseDump: each file is its content exactly (nginx adds one LF after each)', () => {
  const dump = '# configuration file /a:\nx\n\n# configuration file /b:\ny\n# configuration file /c:\n\n';
  assert.deepEqual(parseDump(dump), [
    { name: '/a', text: 'x\n' },
    { name: '/b', text: 'y' },
    { name: '/c', text: '' },
  ]);
});

test('dumpCommand: nginx-test-command with -T for -t, or nginx -T', () => {
  assert.deepEqual(dumpCommand(['nginx', '-t']), { argv: ['nginx', '-T'], isTest: true });
  assert.deepEqual(dumpCommand(['/usr/sbin/nginx', '-q', '-t', '-c', '/srv/nginx.conf']), { argv: ['/usr/sbin/nginx', '-q', '-T', '-c', '/srv/nginx.conf'], isTest: true });
  assert.deepEqual(dumpCommand(['sudo', 'nginx', '-qt']), { argv: ['sudo', 'nginx', '-qT'], isTest: true });
  assert.deepEqual(dumpCommand(['sh', '-c', 'nginx -t && true']), { argv: ['nginx', '-T'], isTest: false });
});

test('the default finds the one loaded file that looks like the include: the dash name of the seeds and the book', () => {
  const c = chooseInclude(read([file('/etc/nginx/nginx.conf', MAIN), DASH]), undefined, T, 'nginx -T');
  assert.equal(c.path, DASH.name);
  assert.equal(c.text, DASH.text);
  assert.match(c.how, /found: .*set \$service_url http:\/\/127\.0\.0\.1:8081, used by proxy_pass/);
  assert.equal(c.form?.kind === 'set' && c.form.port, 8081);
});

test('the default refuses none or several candidates, and lists them', () => {
  const two = read([file('/etc/nginx/nginx.conf', MAIN), DASH, file('/etc/nginx/conf.d/app.conf', 'upstream app { server 127.0.0.1:8080; }\n')]);
  assert.throws(() => chooseInclude(two, undefined, T, 'nginx -T'), (e: Error) => e instanceof ChoiceError && /2 files nginx loads look like the include: .*service-url\.inc.*app\.conf \(upstream app naming an app host\)/.test(e.message));
  // A set line whose variable no proxy_pass uses, an upstream of other hosts: not the include.
  const none = read([file('/etc/nginx/nginx.conf', 'http { server { set $x http://10.9.9.9:80; } }\n'), file('/etc/nginx/conf.d/ws.conf', 'upstream ws { server 10.9.9.9:9000; }\n')]);
  assert.throws(() => chooseInclude(none, undefined, T, 'nginx -T'), /no file nginx loads looks like the include.*nginx loads \/etc\/nginx\/nginx\.conf, \/etc\/nginx\/conf\.d\/ws\.conf/);
});

test('an explicit include-file must be loaded by nginx (by its name or through a symlink)', () => {
  const files = [file('/etc/nginx/nginx.conf', MAIN), DASH];
  const wrong = { state: 'present' as const, writable: true, owner: 'root', real: '/etc/nginx/conf.d/service_url.inc' };
  assert.throws(() => chooseInclude(read(files, wrong), '/etc/nginx/conf.d/service_url.inc', T, 'nginx -T'), /exists, but nginx does not load it .*look like the include: \/etc\/nginx\/conf\.d\/service-url\.inc/);
  const linked = [file('/etc/nginx/nginx.conf', MAIN), file('/etc/nginx/sites-enabled/app', DASH.text, '/etc/nginx/sites-available/app')];
  const c = chooseInclude(read(linked, { state: 'present', writable: true, owner: 'root', real: '/etc/nginx/sites-available/app' }), '/etc/nginx/sites-available/app', T, 'nginx -T');
  assert.deepEqual([c.path, c.loadedAs], ['/etc/nginx/sites-available/app', '/etc/nginx/sites-enabled/app']);
});

test('a first deploy: allowed where an include directive picks the new file up (a glob), refused where nginx -t fails without the file', () => {
  const files = [file('/etc/nginx/nginx.conf', 'http {\n  include conf.d/*.inc;  # relative to nginx.conf\n  server { proxy_pass http://app; }\n}\n')];
  const absent = (real: string) => ({ state: 'absent' as const, writable: true, owner: 'root', real });
  const c = chooseInclude(read(files, absent('/etc/nginx/conf.d/app.inc')), '/etc/nginx/conf.d/app.inc', T, 'nginx -T');
  assert.equal(c.text, null);
  assert.match(c.how, /through 'include conf\.d\/\*\.inc;' in \/etc\/nginx\/nginx\.conf/);
  assert.throws(
    () => chooseInclude(read(files, absent('/etc/nginx/app.inc')), '/etc/nginx/app.inc', T, 'nginx -T'),
    /no include directive .*'include conf\.d\/\*\.inc;' in \/etc\/nginx\/nginx\.conf/,
  );
  // nginx.conf includes exactly that missing file: nginx -T fails naming it, and that is a first deploy.
  const r: NginxRead = { ...read([], absent('/etc/nginx/conf.d/service_url.inc')), status: 1, error: 'nginx: [emerg] open() "/etc/nginx/conf.d/service_url.inc" failed (2: No such file or directory) in /etc/nginx/nginx.conf:20' };
  assert.throws(
    () => chooseInclude(r, '/etc/nginx/conf.d/service_url.inc', T, 'nginx -T', 'set $service_url http://127.0.0.1:8080;\n'),
    /includes \/etc\/nginx\/conf\.d\/service_url\.inc by name and it does not exist, so `nginx -T` fails: an nginx restart.*Create it first, pointing at one of ports .*printf '%s\\n' 'set \$service_url http:\/\/127\.0\.0\.1:8080;' \| sudo tee \/etc\/nginx\/conf\.d\/service_url\.inc && sudo nginx -t\. Nothing was changed/,
  );
  // A glob matching nothing yet, while the server block already uses the variable.
  const unknown = { ...r, error: 'nginx: [emerg] unknown "service_url" variable' };
  assert.throws(() => chooseInclude(unknown, '/etc/nginx/conf.d/service_url.inc', T, 'nginx -T', 'set $service_url http://127.0.0.1:8080;\n'), /unknown "service_url" variable: .*Create it first/);
  assert.throws(() => chooseInclude({ ...r, error: 'nginx: [emerg] unknown directive "x"' }, '/etc/nginx/conf.d/service_url.inc', T, 'nginx -T'), /could not list the files nginx loads: `nginx -T` exited 1: .*unknown directive/);
});

test('include directives and glob(3) matching', () => {
  assert.deepEqual(
    includeDirectives([{ name: '/etc/nginx/nginx.conf', text: '# include /x/*;\ninclude mime.types;\ninclude "/etc/nginx/conf.d/*.conf";' }]).map((d) => d.absolute),
    ['/etc/nginx/mime.types', '/etc/nginx/conf.d/*.conf'],
  );
  assert.ok(globMatches('/etc/nginx/conf.d/*.inc', '/etc/nginx/conf.d/service_url.inc'));
  assert.ok(!globMatches('/etc/nginx/conf.d/*.inc', '/etc/nginx/conf.d/sub/x.inc'));
  assert.ok(globMatches('/etc/nginx/conf.d/app?.[ic]nc', '/etc/nginx/conf.d/app1.inc'));
  assert.ok(!globMatches('/etc/nginx/conf.d/[!a]*.inc', '/etc/nginx/conf.d/app.inc'));
  assert.ok(!globMatches('/etc/nginx/conf.d/x.inc', '/etc/nginx/conf.d/xxinc'));
});

test('several upstream blocks: the one naming the app hosts is managed, the others kept', () => {
  const text = 'upstream ws { server 10.9.9.9:9000; }\nupstream app {\n    server 10.0.0.5:8080;\n}\n';
  const f = parseInclude(text, ['10.0.0.5']);
  assert.equal(f?.kind === 'upstream' && f.name, 'app');
  assert.throws(() => parseInclude(text), /2 upstream blocks/);
});

test('a host name in the set form needs a resolver: refused with the address the host resolves it to, and both ways out', () => {
  const main = file('/etc/nginx/nginx.conf', MAIN);
  const named = file(DASH.name, 'set $service_url http://app1.internal:8081;\n');
  const r = read([main, named], undefined, new Map([['app1.internal', '10.0.1.5']]));
  const why = unresolvableName(r, { path: named.name, form: parseInclude(named.text, ['app1.internal']) }, ['app1.internal']);
  assert.match(why ?? '', /^app-hosts names 'app1\.internal', which \/etc\/nginx\/conf\.d\/service-url\.inc would hand nginx in 'set \$service_url http:\/\/app1\.internal:PORT;'/);
  assert.match(why ?? '', /app-hosts: app1\.internal=10\.0\.1\.5 \(what app1\.internal resolves to on this nginx host\)/);
  assert.match(why ?? '', /resolver 127\.0\.0\.53;/);
  // A first deploy of one host writes the set form too; a name that does not resolve says so.
  assert.match(unresolvableName(read([main]), { path: '/x.inc', form: null }, ['app1.internal']) ?? '', /app1\.internal=ADDRESS \(app1\.internal does not resolve on this nginx host\)/);
  // A resolver (not in a comment), an address, or the upstream form: nothing to refuse.
  const withResolver = file('/etc/nginx/nginx.conf', MAIN.replace('http {', 'http {\n    resolver 127.0.0.53 valid=10s;'));
  assert.deepEqual(resolvers([withResolver]), ['resolver 127.0.0.53 valid=10s;']);
  assert.deepEqual(resolvers([file('/a', '# resolver 1.1.1.1;\n')]), []);
  assert.equal(unresolvableName(read([withResolver, named]), { path: named.name, form: parseInclude(named.text, ['app1.internal']) }, ['app1.internal']), undefined);
  assert.equal(unresolvableName(read([main, DASH]), { path: DASH.name, form: parseInclude(DASH.text, T) }, T), undefined);
  const up = 'upstream app { server app1.internal:8080; server app2.internal:8080; }\n';
  assert.equal(unresolvableName(read([main]), { path: '/u.inc', form: parseInclude(up, ['app1.internal', 'app2.internal']) }, ['app1.internal', 'app2.internal']), undefined);
});
