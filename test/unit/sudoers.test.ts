// The exact sudoers rules (src/commands/sudoers.ts): the nginx host's include change and nginx
// read run, under a stand-in sudo that logs what it is asked, only the commands the rule names
// (new content only through the include validator, run here from a copy in the test's directory);
// without the validator, only the broad rule's unchecked commands; a command the rule does not
// name is refused by name, and nothing stays changed; the docs print the rules exactly as the
// code builds them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import * as N from '../../src/commands/nginx.ts';
import { appSudoersRule, includeCommands, nginxRuleForInputs, nginxSudoersRule, sudoersCommand, sudoersWord, unvalidatedIncludeCommands } from '../../src/commands/sudoers.ts';
import { VALIDATOR_PATH, VALIDATOR_TEXT, validatorInstallCommand } from '../../src/commands/validator.ts';
import { sudoersRule } from '../../src/commands/unit.ts';
import { parseNginxRead } from '../../src/traffic/nginxconf.ts';
import type { Cmd } from '../../src/commands/shell.ts';
import { fakeDump, tmp } from './sh.ts';

// A stand-in sudo: logs each command (one tab-separated line; -l asks go to LOG.l), refuses the
// ones holding ZDD_REFUSE as sudo does (a password is required), runs the others as they are.
const STUB = `#!/bin/sh
[ "$1" = -n ] || { echo "stub sudo: no -n" >&2; exit 99; }
shift
l=
[ "$1" = -l ] && { l=.l; shift; }
if [ -n "$ZDD_REFUSE" ]; then case " $* " in *"$ZDD_REFUSE"*) echo "sudo: a password is required" >&2; exit 1 ;; esac; fi
{ printf '%s\\t' "$@"; echo; } >> "$ZDD_LOG$l"
[ -n "$l" ] && exit 0
exec "$@"
`;

function bed() {
  const d = tmp();
  const bin = path.join(d, 'bin');
  execFileSync('mkdir', ['-p', bin, path.join(d, 'conf.d')]);
  writeFileSync(path.join(bin, 'sudo'), STUB);
  chmodSync(path.join(bin, 'sudo'), 0o755);
  const log = path.join(d, 'sudo.log');
  // The include validator, as an admin installs it (here in the test's directory).
  const validator = path.join(d, 'include-install');
  writeFileSync(validator, VALIDATOR_TEXT);
  chmodSync(validator, 0o755);
  const run = (cmd: Cmd, refuse = '') =>
    execFileSync('sh', ['-c', cmd.line], { input: cmd.stdin ?? '', env: { ...process.env, PATH: `${bin}:${process.env.PATH}`, ZDD_LOG: log, ZDD_REFUSE: refuse } }).toString();
  const logged = () => (existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter(Boolean).map((l) => l.replace(/\t$/, '').split('\t')) : []);
  // What the stand-in saw, with the validator's copy named by its path on the hosts.
  const loggedAsOnHost = () => logged().map((a) => (a[0] === validator ? [VALIDATOR_PATH, ...a.slice(1)] : a));
  return { d, f: path.join(d, 'conf.d/service_url.inc'), run, logged, validator, loggedAsOnHost };
}

const sha = (t: string) => createHash('sha256').update(t).digest('hex');
// Includes as the action writes them (the validator accepts nothing else).
const inc = (port: number) => `set $service_url http://10.0.0.5:${port};\n`;
// The rule's words for a command as the stand-in saw it (a bare name where Debian keeps it).
const ruleLines = (rule: string) => rule.replace(/^\S+ ALL=\(root\) NOPASSWD: /, '').split(', \\\n    ').map((l) => l.trim());

test('a switch with sudo runs only the exact commands of the nginx host rule, and uses each of the include\'s', () => {
  const b = bed();
  const spec = (content: string | null, over: Partial<N.ChangeSpec> = {}): N.ChangeSpec => ({
    content,
    expect: '-',
    target: content === null ? 'absent' : sha(content),
    reload: false,
    test: ['true'],
    dump: fakeDump(b.f),
    loadedAs: b.f,
    reloadCmd: ['true'],
    waitSec: 1,
    commandSec: 5,
    priv: true,
    validator: b.validator,
    ...over,
  });
  const ch = (s: N.ChangeSpec, refuse = '') => N.parseChange(b.run(N.changeInclude(b.f, s, { timeoutSec: 20 }), refuse));
  // The first deploy: no include yet; a failed test removes it again.
  assert.equal(ch(spec(inc(1), { test: ['false'] })).outcome?.kind, 'test-failed');
  assert.equal(existsSync(b.f), false);
  assert.deepEqual(ch(spec(inc(1))).outcome, { kind: 'staged' });
  assert.equal(readFileSync(b.f, 'utf8'), inc(1));
  assert.equal(execFileSync('stat', ['-c', '%a', b.f]).toString().trim(), '644');
  // A failed test puts the previous one back; a removal, and its put-back.
  assert.equal(ch(spec(inc(2), { test: ['false'] })).outcome?.kind, 'test-failed');
  assert.equal(readFileSync(b.f, 'utf8'), inc(1));
  assert.equal(ch(spec(null, { test: ['false'] })).outcome?.kind, 'removed-untestable');
  assert.equal(readFileSync(b.f, 'utf8'), inc(1));
  assert.deepEqual(ch(spec(inc(3))).outcome, { kind: 'staged' });
  // The copy refused: nothing was written.
  const refusedCopy = ch(spec(inc(4)), 'cp -p');
  assert.equal(refusedCopy.outcome?.kind, 'sudo-refused');
  assert.equal(readFileSync(b.f, 'utf8'), inc(3));
  // Content the validator refuses: nothing written, nothing left beside the include.
  const evil = ch(spec(`${inc(4)}include /etc/shadow;\n`));
  assert.equal(evil.outcome?.kind, 'content-refused');
  assert.match(evil.outcome?.kind === 'content-refused' ? evil.outcome.detail : '', /refused: line 2: .*include \/etc\/shadow/);
  assert.equal(readFileSync(b.f, 'utf8'), inc(3));
  assert.deepEqual(readdirSync(path.dirname(b.f)), ['service_url.inc'], 'no staged or kept file stays');

  const rule = nginxSudoersRule('deploy', { include: b.f, test: ['true'], dump: fakeDump(b.f), reload: ['true'] });
  // The changes above ran `false` as their test command too: its rule is the same with it.
  const allowed = new Set([...ruleLines(rule), ...ruleLines(nginxSudoersRule('deploy', { include: b.f, test: ['false'], dump: [], reload: ['true'] }))]);
  const used = new Set<string>();
  for (const argv of b.loggedAsOnHost()) {
    const line = sudoersCommand(argv);
    assert.ok(allowed.has(line), `ran \`${line}\`, which the rule does not name:\n${rule}`);
    used.add(line);
  }
  for (const c of includeCommands(b.f)) assert.ok(used.has(sudoersCommand(c)), `the rule's ${sudoersCommand(c)} is run by some change`);
});

test('without this version\'s validator (a broad rule), a switch writes the include unchecked, with the commands of unvalidatedIncludeCommands only', () => {
  const b = bed();
  const s = (content: string | null, test = ['true']): N.ChangeSpec => ({ content, expect: '-', target: content === null ? 'absent' : sha(content), reload: false, test, dump: fakeDump(b.f), loadedAs: b.f, reloadCmd: ['true'], waitSec: 1, commandSec: 5, priv: true, validator: path.join(b.d, 'absent') });
  const ch = (x: N.ChangeSpec) => N.parseChange(b.run(N.changeInclude(b.f, x, { timeoutSec: 20 }))).outcome?.kind;
  assert.equal(ch(s('a\n')), 'staged');
  assert.equal(ch(s('b\n', ['false'])), 'test-failed');
  assert.equal(ch(s(null, ['false'])), 'removed-untestable');
  assert.equal(readFileSync(b.f, 'utf8'), 'a\n', 'not checked: the broad rule is root anyway');
  writeFileSync(b.validator, `${VALIDATOR_TEXT}# changed\n`);
  assert.equal(ch({ ...s('c\n'), validator: b.validator }), 'staged', 'another version of the validator is not used');
  const allowed = new Set(unvalidatedIncludeCommands(b.f).map((c) => sudoersCommand(c)));
  for (const argv of b.logged().filter((a) => !['true', 'false', 'sh'].includes(a[0]))) assert.ok(allowed.has(sudoersCommand(argv)), argv.join(' '));
});

test('a refused command is named with its full path, and nothing changes; a refused reload leaves the tested include, unsignalled', () => {
  const b = bed();
  const [OLD, NEW] = [inc(1), inc(2)];
  writeFileSync(b.f, OLD);
  const s: N.ChangeSpec = { content: NEW, expect: sha(OLD), target: sha(NEW), reload: true, test: ['true'], dump: fakeDump(b.f), loadedAs: b.f, reloadCmd: ['true'], waitSec: 1, commandSec: 5, priv: true, validator: b.validator };
  const r = N.parseChange(b.run(N.changeInclude(b.f, s, { timeoutSec: 20 }), 'include-install'));
  assert.deepEqual(r, { written: false, outcome: { kind: 'sudo-refused', refused: { user: execFileSync('id', ['-un']).toString().trim(), argv: [b.validator, b.f] } } });
  assert.equal(readFileSync(b.f, 'utf8'), OLD);
  assert.deepEqual(readdirSync(path.dirname(b.f)), ['service_url.inc'], 'the kept copy went again');
  const t = N.parseChange(b.run(N.changeInclude(b.f, { ...s, test: ['true', 'REFUSE-ME'] }, { timeoutSec: 20 }), 'REFUSE-ME'));
  assert.equal(t.outcome?.kind === 'sudo-refused' && t.outcome.refused.argv.join(' '), `${execFileSync('sh', ['-c', 'command -v true']).toString().trim()} REFUSE-ME`);
  assert.equal(readFileSync(b.f, 'utf8'), OLD, 'a refused test puts the include back');
  const rl = N.parseChange(b.run(N.changeInclude(b.f, { ...s, reloadCmd: ['true', 'RELOAD'] }, { timeoutSec: 20 }), 'RELOAD'));
  assert.equal(rl.outcome?.kind, 'sudo-refused');
  assert.equal(rl.written, true, 'written and tested; the reload was refused');
  assert.equal(readFileSync(b.f, 'utf8'), NEW);
});

test('readNginx with sudo: only the dump goes through sudo; an include the rule does not name is refused before anything starts', () => {
  const b = bed();
  writeFileSync(b.f, 'set $u http://10.0.0.5:8080;\n');
  const main = path.join(b.d, 'nginx.conf');
  writeFileSync(main, 'http { include conf.d/service_url.inc; }\n');
  const read = (refuse: string) => parseNginxRead(b.run(N.readNginx('k', b.f, fakeDump(main, b.f), 5, { timeoutSec: 20 }, [], true, [], b.validator), refuse), 'k');
  const ok = read('');
  assert.ok(typeof ok === 'object' && ok.status === 0 && !ok.refused?.length, JSON.stringify(ok));
  assert.deepEqual(b.logged().map((a) => a[0]), ['sh'], 'the dump, and nothing else, ran through sudo');
  const no = read('include-install');
  assert.ok(typeof no === 'object');
  assert.deepEqual(no.refused, [{ user: execFileSync('id', ['-un']).toString().trim(), argv: [b.validator, b.f] }]);
  // The test and the reload a switch would run: asked with sudo -l, never run by the read.
  const checks = (refuse: string) => parseNginxRead(b.run(N.readNginx('k', b.f, fakeDump(main, b.f), 5, { timeoutSec: 20 }, [], true, [['true', 'TEST'], ['true', 'RELOAD', 'a b']], b.validator), refuse), 'k');
  const rl = checks('RELOAD');
  assert.ok(typeof rl === 'object' && rl.status === 0);
  assert.deepEqual(rl.refused?.map((x) => x.argv.slice(1)), [['RELOAD', 'a b']]);
  assert.deepEqual(readFileSync(`${b.d}/sudo.log.l`, 'utf8').split('\n').filter((l) => l.includes('TEST')).length, 1, 'asked, with -l');
  const nodump = read('for f');
  assert.ok(typeof nodump === 'object' && nodump.status === 1 && nodump.refused?.[0].argv[0].endsWith('/sh'));
});

test('the rules: exact words, sudoers specials escaped, no wildcard; docs/server-setup.md prints each as the code builds it', () => {
  assert.equal(sudoersWord('a,b:c=d\\e*'), 'a\\,b\\:c\\=d\\\\e\\*');
  // The defaults: nginx -t runs as nginx -T (it tests and lists the files at once).
  const nginxRule = nginxRuleForInputs('deploy', '/etc/nginx/conf.d/service_url.inc', ['nginx', '-t'], ['nginx', '-s', 'reload']);
  assert.deepEqual(ruleLines(nginxRule), [
    '/usr/bin/cp -p /etc/nginx/conf.d/service_url.inc /etc/nginx/conf.d/.service_url.inc.zdd-prev',
    '/usr/local/libexec/jar-bluegreen-deploy/include-install /etc/nginx/conf.d/service_url.inc',
    '/usr/bin/mv -f /etc/nginx/conf.d/.service_url.inc.zdd-prev /etc/nginx/conf.d/service_url.inc',
    '/usr/bin/rm -f /etc/nginx/conf.d/service_url.inc',
    '/usr/bin/rm -f /etc/nginx/conf.d/.service_url.inc.zdd-prev',
    '/usr/sbin/nginx -T',
    '/usr/sbin/nginx -s reload',
  ]);
  const appRule = appSudoersRule('deploy', [8080, 8081]);
  assert.equal(appRule, 'deploy ALL=(root) NOPASSWD: /usr/bin/ss -Htlnp sport \\= \\:8080, \\\n    /usr/bin/ss -Htlnp sport \\= \\:8081\n');
  const docs = readFileSync(new URL('../../docs/server-setup.md', import.meta.url), 'utf8');
  // A test command without -t is named as given, with nginx -T for the read.
  assert.ok(nginxRuleForInputs('deploy', '/x/a.inc', ['/usr/local/bin/check-nginx'], ['systemctl', 'reload', 'nginx']).endsWith('/usr/local/bin/check-nginx, \\\n    /usr/sbin/nginx -T, \\\n    /usr/bin/systemctl reload nginx\n'));
  // The validator's install command, with the whole script as the code runs it.
  assert.ok(docs.includes(`\`\`\`sh\n${validatorInstallCommand()}\`\`\``), 'docs/server-setup.md shows the validator\'s install command (the script as generated)');
  for (const rule of [nginxRule, appRule]) {
    assert.ok(docs.includes(rule), `docs/server-setup.md shows\n${rule}`);
    assert.doesNotMatch(rule, /(?<!\\)\*/);
  }
  // The systemd-unit app host's rule (docs/systemd.md) holds the app host's ss lines too.
  for (const l of ruleLines(appRule)) assert.ok(sudoersRule('deploy', 'shop', [8080, 8081]).includes(l), l);
});

test('a process of another user is stopped or read only through `sudo -n sh -c` (a broad rule); refused, it is said and left alone; the user\'s own needs no sudo', { skip: process.getuid?.() !== 0 && 'needs root (runs the scripts as nobody)' }, async () => {
  const { spawn } = await import('node:child_process');
  const A = await import('../../src/commands/app.ts');
  const { parseNeedsRoot } = await import('../../src/commands/shell.ts');
  const b = bed();
  execFileSync('chmod', ['-R', 'a+rX', b.d]);
  const asNobody = (cmd: Cmd, refuse: string) =>
    execFileSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'sh', '-c', cmd.line], {
      cwd: '/',
      env: { ...process.env, PATH: `${b.d}/bin:${process.env.PATH}`, ZDD_LOG: '/dev/null', ZDD_REFUSE: refuse },
    }).toString();
  const roots = spawn('sleep', ['30'], { stdio: 'ignore' });
  const own = spawn('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'sleep', '30'], { stdio: 'ignore' });
  try {
    await new Promise((r) => setTimeout(r, 200));
    const o = { timeoutSec: 20, sudo: true };
    const out = asNobody(A.stopProcess(roots.pid!, 1, '', o), 'sh -c');
    assert.deepEqual(parseNeedsRoot(out), { uid: 0, user: 'nobody' });
    assert.equal(roots.exitCode, null, 'root\'s process is alive');
    assert.deepEqual(parseNeedsRoot(asNobody(A.captureProcess(roots.pid!, `${b.d}/kept`, o), 'sh -c')), { uid: 0, user: 'nobody' });
    assert.equal(existsSync(`${b.d}/kept`), false);
    // Its own process: no sudo asked at all (a stand-in that refuses everything changes nothing).
    assert.equal(asNobody(A.stopProcess(own.pid!, 5, '', o), 'sh').trim(), 'terminated');
  } finally {
    roots.kill('SIGKILL');
    own.kill('SIGKILL');
  }
});
