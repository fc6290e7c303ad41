// The include validator (src/commands/sh/nginx/include-install.sh), the one command that writes
// the include as root under the exact sudoers rule: the generated script itself, run with sh
// against a directory of the test. It accepts every include the action's own writers produce
// (renderInclude, renderDown, renderCanary) and refuses anything that could make nginx's master
// (root) open a file or run code, leaving the include as it was.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseInclude, renderDown, renderInclude, type UpstreamForm } from '../../src/traffic/include.ts';
import { renderCanary } from '../../src/traffic/canary.ts';
import { isValidHost } from '../../src/config/hosts.ts';
import { REFUSED_CONTENT, VALIDATOR_PATH, VALIDATOR_SHA, VALIDATOR_TEXT, parseValidatorState, validatorInstallCommand, validatorProblem, validatorRefusal } from '../../src/commands/validator.ts';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
function bed() {
  const d = mkdtempSync(path.join(tmpdir(), 'zdd-validator-'));
  dirs.push(d);
  const script = path.join(d, 'include-install');
  writeFileSync(script, VALIDATOR_TEXT);
  const conf = path.join(d, 'conf.d');
  mkdirSync(conf, { mode: 0o755 });
  chmodSync(conf, 0o755);
  const run = (args: string[], input: string | Buffer) => {
    const r = spawnSync('sh', [script, ...args], { input, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', TMPDIR: d } });
    return { code: r.status, out: r.stdout.toString(), err: r.stderr.toString() };
  };
  return { d, conf, f: path.join(conf, 'service_url.inc'), run };
}
const B = bed();
const check = (text: string | Buffer) => B.run(['--check'], text);

// Every shape the action writes, from its own writer functions.
function written(): [string, string][] {
  const out: [string, string][] = [];
  const add = (what: string, t: string) => out.push([what, t]);
  // Every kind of host app-hosts accepts (isValidHost): names with _ and a final dot, IPv4, IPv6 with a zone.
  const kinds = ['10.0.0.5', 'app1.example.com', 'my_app-1.internal.', '_svc.example', 'fd00::5', 'fe80::1%eth0', '::ffff:10.0.0.5'];
  for (const h of kinds) assert.ok(isValidHost(h), h);
  for (const h of kinds) add(`first deploy, set form, ${h}`, renderInclude('', null, [h], 8080));
  add('first deploy, upstream form, every kind of host', renderInclude('', null, kinds, 65535));
  const many = ['10.0.0.5', 'app-2.internal', 'fd00::7'];
  add('first deploy, upstream form', renderInclude('', null, many, 8081));
  add('first deploy over a file of comments', renderInclude('# made by hand\n\n', null, ['10.0.0.5'], 8080));
  // A first deploy's undo puts back what was there: a file of comments, or an empty one.
  add('the undo of a first deploy over a file of comments', '# made by hand\n\n');
  add('the undo of a first deploy over an empty file', '');
  const set = 'set $service_url http://10.0.0.5:8080;\n';
  add('set form switched', renderInclude(set, parseInclude(set), ['10.0.0.5'], 8081));
  const theirs = '# ours, by hand\nset $backend https://10.0.0.5:8080/; # the app\n';
  add('a set line of another variable, https, a slash, a comment', renderInclude(theirs, parseInclude(theirs), ['10.0.0.5'], 8081));
  // The docs' upstream block, with parameters and keepalive, an app host added at the switch.
  const docs = 'upstream app {\n    server 10.0.1.5:8080;\n    server 10.0.1.6:8080 max_fails=2;\n    keepalive 32;\n}\n';
  const targets = ['10.0.1.5', '10.0.1.6', '10.0.1.7'];
  const form = parseInclude(docs, targets) as UpstreamForm;
  const switched = renderInclude(docs, form, targets, 8081);
  add('upstream switched, a host added', switched);
  add('rolling: entries down', renderDown(docs, form, new Set(['10.0.1.5:8080', '10.0.1.6:8080'])));
  for (const w of [1, 5, 50, 95]) add(`canary at ${w} %`, renderCanary(docs, form, 8081, w));
  const kept =
    '# two blocks, a sorry page\nupstream app {\n\tzone app 64k;\n\tleast_conn;\n\tserver [fd00::1]:8080 weight=3 max_conns=100 fail_timeout=10s slow_start=30s;\n' +
    '\tserver sorry.internal:8090 backup;\n\tkeepalive 16;\n\tkeepalive_timeout 60s;\n\tkeepalive_requests 1000;\n\tkeepalive_time 1h;\n}\n\nupstream other { server 10.9.9.9:80; random two least_conn; }\n';
  const keptFixed = kept.replace('upstream other { server 10.9.9.9:80; random two least_conn; }', 'upstream other {\n    server 10.9.9.9:80;\n    random two least_conn;\n    ip_hash;\n}');
  const kf = parseInclude(keptFixed, ['fd00::1']) as UpstreamForm;
  add('two blocks, balancing directives, a backup server', renderInclude(keptFixed, kf, ['fd00::1'], 8081));
  add('its canary', renderCanary(keptFixed, kf, 8081, 10));
  return out;
}

test('accepts every include the action writes (renderInclude, renderDown, renderCanary)', () => {
  const shapes = written();
  assert.ok(shapes.length >= 22);
  for (const [what, text] of shapes) {
    const r = check(text);
    assert.equal(r.code, 0, `${what}:\n${text}\n${r.err}`);
  }
});

const SET = 'set $service_url http://10.0.0.5:8080;\n';
const UP = 'upstream app {\n    server 10.0.0.5:8080;\n}\n';
const refused: [string, string, RegExp][] = [
  ['log_format and access_log at http level (upstream form)', `${UP}log_format x '$remote_addr';\naccess_log /etc/cron.d/x x;\n`, /line 4: not a set line/],
  ['access_log', `${UP}access_log /etc/cron.d/x;\n`, /line 4/],
  ['include', `${SET}include /etc/shadow;\n`, /line 2/],
  ['include inside the block', 'upstream app {\n    server 10.0.0.5:8080;\n    include /etc/shadow;\n}\n', /line 3: not a directive the action keeps/],
  ['error_log', `${UP}error_log /etc/cron.d/x;\n`, /line 4/],
  ['lua', `${UP}lua_shared_dict x 1m;\ninit_by_lua_block { os.execute("id") }\n`, /line 4/],
  ['perl', `${UP}perl_modules /tmp;\nperl_require evil.pm;\n`, /line 4/],
  ['load_module', `load_module /tmp/x.so;\n${UP}`, /line 1/],
  ['a second directive after ; on a server line', 'upstream app {\n    server 10.0.0.5:8080; include /etc/shadow;\n}\n', /line 2: not server HOST:PORT/],
  ['a second directive after ; without a space', 'upstream app {\n    server 10.0.0.5:8080;include /etc/shadow;\n}\n', /line 2/],
  ['a second directive after the set line', 'set $service_url http://10.0.0.5:8080; access_log /etc/cron.d/x;\n', /line 1/],
  ['an escaped ;', 'upstream app {\n    server 10.0.0.5:8080\\;include /etc/shadow;\n}\n', /line 2/],
  ['a # inside a word', 'upstream app {\n    server 10.0.0.5:8080 weight=1#;\n}\n', /line 2/],
  ['a block left open', 'upstream app {\n    server 10.0.0.5:8080;\n', /not closed/],
  ['a } too many', `${UP}}\n`, /line 4: a } without an upstream block/],
  ['a block inside the block', 'upstream app {\n    upstream b {\n    server 10.0.0.5:8080;\n}\n}\n', /line 2/],
  ['a server block', 'server {\n    listen 81;\n}\n', /line 1/],
  ['a one-line block with more in it', 'upstream app { server 10.0.0.5:8080; } access_log /x;\n', /line 1/],
  ['double quotes', 'set $service_url "http://10.0.0.5:8080";\n', /line 1: not set \$VAR/],
  ['single quotes', "upstream app {\n    server '10.0.0.5:8080';\n}\n", /line 2/],
  ['a variable in the address', 'set $service_url http://$host:8080;\n', /line 1/],
  ['a variable in a parameter', 'upstream app {\n    server 10.0.0.5:8080 weight=$w;\n}\n', /line 2/],
  ['hash on a variable', 'upstream app {\n    hash $remote_addr consistent;\n    server 10.0.0.5:8080;\n}\n', /line 2/],
  ['a second set line', `${SET}set $other http://10.0.0.6:8080;\n`, /line 2: a second set line/],
  ['a set line and a block', `${SET}${UP}`, /line 2: an upstream block in a file with a set line/],
  ['a newline inside the address', 'upstream app {\n    server 10.0.0.5\n:8080;\n}\n', /line 2/],
  ['a newline inside the set line', 'set $service_url\nhttp://10.0.0.5:8080;\n', /line 1/],
  ['a unix socket', 'upstream app {\n    server unix:/run/x.sock;\n}\n', /line 2/],
  ['a port out of range', 'set $service_url http://10.0.0.5:99999;\n', /line 1/],
  ['a path after the address', 'set $service_url http://10.0.0.5:8080/etc/shadow;\n', /line 1/],
  ['a parameter the action does not keep', 'upstream app {\n    server 10.0.0.5:8080 route=x;\n}\n', /line 2: not a server parameter/],
  ['proxy_pass', `${SET}proxy_pass http://10.0.0.5:8080;\n`, /line 2/],
  ['a carriage return', 'set $service_url http://10.0.0.5:8080;\r\n', /line 1/],
  ['an overlong line', `${SET}# ${'x'.repeat(1100)}\n`, /line 2: longer than 1024/],
  ['overlong input', `${SET}${'# padding\n'.repeat(7000)}`, /more than 65536 bytes/],
];

test('refuses everything else, with the line and why, exit code 3', () => {
  for (const [what, text, why] of refused) {
    const r = check(text);
    assert.equal(r.code, REFUSED_CONTENT, `${what} is refused:\n${text}\n${r.err}`);
    assert.match(r.err, why, what);
    assert.match(r.err, /^include-install: refused: /m, what);
  }
  const nul = check(Buffer.concat([Buffer.from(SET), Buffer.from([0]), Buffer.from('\n')]));
  assert.equal(nul.code, REFUSED_CONTENT);
  assert.match(nul.err, /a NUL byte/);
  assert.deepEqual(readdirSync(B.d).filter((n) => n.includes('zdd-')), [], 'no temporary file stays');
});

test('writes the include atomically, mode 644, only at the path it is given; refused content leaves it as it was', () => {
  const b = bed();
  const ok = b.run([b.f], SET);
  assert.equal(ok.code, 0, ok.err);
  assert.equal(readFileSync(b.f, 'utf8'), SET);
  assert.equal((statSync(b.f).mode & 0o777).toString(8), '644');
  const ino = statSync(b.f).ino;
  const next = SET.replace('8080', '8081');
  assert.equal(b.run([b.f], next).code, 0);
  assert.equal(readFileSync(b.f, 'utf8'), next);
  assert.notEqual(statSync(b.f).ino, ino, 'a new file renamed over the old one');
  for (const [, text] of refused.slice(0, 5)) assert.equal(b.run([b.f], text).code, REFUSED_CONTENT);
  assert.equal(readFileSync(b.f, 'utf8'), next);
  assert.deepEqual(readdirSync(b.conf), ['service_url.inc'], 'nothing left beside it');
});

test('refuses a target it could be tricked with: relative, .., hidden, a symlink, a directory others may write, other arguments', () => {
  const b = bed();
  writeFileSync(path.join(b.d, 'victim'), 'root:x:0:0\n');
  symlinkSync(path.join(b.d, 'victim'), path.join(b.conf, 'link.inc'));
  const open = path.join(b.d, 'open');
  mkdirSync(open);
  chmodSync(open, 0o777);
  const cases: [string[], RegExp][] = [
    [['conf.d/service_url.inc'], /not an absolute path/],
    [[`${b.conf}/../victim`], /not a plain path/],
    [[`${b.conf}/./service_url.inc`], /not a plain path/],
    [[`${b.conf}//service_url.inc`], /not a plain path/],
    [[`${b.conf}/a b.inc`], /not a plain path/],
    [[`${b.conf}/.service_url.inc.zdd-prev`], /a hidden name/],
    [[path.join(b.conf, 'link.inc')], /a symbolic link/],
    [[b.conf], /not a regular file/],
    [[`${open}/x.inc`], /writable by others than its owner \(mode 777\)/],
    [[`${b.d}/nodir/x.inc`], /not a directory/],
    [[b.f, '--check'], /usage/],
    [[], /usage/],
  ];
  for (const [args, why] of cases) {
    const r = b.run(args, SET);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.err}`);
    assert.match(r.err, why, args.join(' '));
  }
  assert.equal(readFileSync(path.join(b.d, 'victim'), 'utf8'), 'root:x:0:0\n');
  assert.equal(existsSync(`${open}/x.inc`), false);
});

test('the install command holds the script as generated; the state a host reports is judged by sha256, owner and mode', () => {
  const cmd = validatorInstallCommand();
  const body = /<<'(\w+)'\n([\s\S]*?)\n\1\n/.exec(cmd);
  assert.ok(body);
  assert.equal(`${body[2]}\n`, VALIDATOR_TEXT);
  assert.ok(cmd.includes(`/dev/stdin ${VALIDATOR_PATH} <<'`) && cmd.includes(`# ${VALIDATOR_SHA}`));
  // Run as a shell would, with a stand-in sudo and the path moved under the test's directory.
  const b = bed();
  const root = path.join(b.d, 'root');
  writeFileSync(path.join(b.d, 'sudo'), '#!/bin/sh\nexec "$@"\n');
  chmodSync(path.join(b.d, 'sudo'), 0o755);
  const me = `-o ${process.getuid?.()} -g ${process.getgid?.()}`;
  // (the command's own lines only: the script between them is installed as it is)
  const lines = cmd.split('\n');
  const mine = new Set([0, 1, lines.length - 2]);
  const local = lines.map((l, i) => (mine.has(i) ? l.replaceAll('/usr/local/libexec', `${root}/usr/local/libexec`).replaceAll('-o root -g root', me) : l)).join('\n');
  const r = spawnSync('sh', ['-c', local], { env: { PATH: `${b.d}:${process.env.PATH}` } });
  assert.equal(r.status, 0, r.stderr.toString());
  assert.equal(readFileSync(`${root}${VALIDATOR_PATH}`, 'utf8'), VALIDATOR_TEXT);
  assert.match(r.stdout.toString(), new RegExp(`^${VALIDATOR_SHA} `));

  assert.equal(validatorProblem(parseValidatorState(`${VALIDATOR_SHA} 0 755 0 755`)!), undefined);
  assert.equal(validatorProblem(parseValidatorState('absent')!)?.title, 'include validator missing');
  assert.equal(validatorProblem(parseValidatorState(`${'0'.repeat(64)} 0 755 0 755`)!)?.title, 'include validator outdated');
  assert.equal(validatorProblem(parseValidatorState(`${VALIDATOR_SHA} 1000 755 0 755`)!)?.title, 'include validator unsafe');
  assert.equal(validatorProblem(parseValidatorState(`${VALIDATOR_SHA} 0 775 0 755`)!)?.title, 'include validator unsafe');
  assert.equal(validatorProblem(parseValidatorState(`${VALIDATOR_SHA} 0 755 0 1777`)!)?.title, 'include validator unsafe');
  assert.equal(parseValidatorState('garbage'), undefined);
});

test('validatorRefusal, which checks the include where it is read, agrees with the script on every case above', () => {
  const more = ['upstream app {\n    server 10.0.0.5:8080;\n    random\ttwo least_conn;\n}\n', 'upstream app {\n    zone z;\n    server a_b.c.:1 backup;\n}\n', '# é\n' + SET, 'x # y\n', SET.replace(';', ' ;'), '\n\n'];
  for (const text of [...written().map(([, t]) => t), ...refused.map(([, t]) => t), ...more]) {
    const r = check(text);
    const ts = validatorRefusal(text);
    assert.equal(ts === undefined, r.code === 0, `${JSON.stringify(text.slice(0, 200))}: script ${r.code} ${r.err}, validatorRefusal ${ts}`);
    const line = /refused: (line \d+)/.exec(r.err)?.[1];
    if (line) assert.ok(ts?.startsWith(`${line}:`), `${ts} / ${r.err}`);
  }
});

test('where the include is read: this version\'s validator and an include it accepts pass; otherwise the named error, or under a broad rule a warning', async () => {
  const { validatorCheck } = await import('../../src/traffic/explain.ts');
  const { nginxRuleForInputs } = await import('../../src/commands/sudoers.ts');
  type Ctx = Parameters<typeof validatorCheck>[0];
  const ctx = { cfg: { nginxTestCommand: ['nginx', '-t'], nginxReloadCommand: ['nginx', '-s', 'reload'] } } as unknown as Ctx;
  const inc = '/etc/nginx/conf.d/service_url.inc';
  const read = (...lines: string[]) => `zdd-k uid 1000 deploy\n${lines.map((l) => `zdd-k ${l}\n`).join('')}zdd-k status 0\n`;
  const ok = `validator ${VALIDATOR_SHA} 0 755 0 755`;
  assert.deepEqual(validatorCheck(ctx, read(ok), 'k', 'deploy', inc, SET), {});
  assert.deepEqual(validatorCheck(ctx, read(ok), 'k', 'deploy', inc, null), {}, 'no include yet');
  const bad = validatorCheck(ctx, read(ok), 'k', 'deploy', inc, `${SET}include /etc/shadow;\n`);
  assert.match(bad.error ?? '', /would refuse \/etc\/nginx\/conf\.d\/service_url\.inc as it is .*so nothing was changed: include-install: refused: line 2: /);
  const missing = validatorCheck(ctx, read('validator absent', 'broad no'), 'k', 'deploy', inc, SET);
  assert.match(missing.error ?? '', /^include validator missing: \/usr\/local\/libexec\/jar-bluegreen-deploy\/include-install is missing, so nothing was changed/);
  assert.ok(missing.error?.includes(validatorInstallCommand()), 'the install command');
  assert.ok(missing.error?.endsWith(nginxRuleForInputs('deploy', inc, ['nginx', '-t'], ['nginx', '-s', 'reload']).trimEnd()), 'the rule');
  assert.match(validatorCheck(ctx, read(`validator ${'1'.repeat(64)} 0 755 0 755`, 'broad no'), 'k', 'deploy', inc, SET).error ?? '', /^include validator outdated/);
  assert.match(validatorCheck(ctx, read(`validator ${VALIDATOR_SHA} 1000 755 0 755`, 'broad no'), 'k', 'deploy', inc, SET).error ?? '', /^include validator unsafe/);
  const broad = validatorCheck(ctx, read('validator absent', 'broad yes'), 'k', 'deploy', inc, `${SET}include /etc/shadow;\n`);
  assert.equal(broad.error, undefined);
  assert.match(broad.warning ?? '', /^include validator missing: .*broad \(NOPASSWD: ALL\), so the include is written without it/);
  assert.match(validatorCheck(ctx, 'zdd-k uid 0 root\n', 'k', 'root', inc, SET).error ?? '', /^include validator unreadable/);
});
