import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { envFileText, execArg, instanceUnit, startScriptText, templateText } from '../../src/commands/unit.ts';

test('the template unit: the deploy user, the release files under run/, a clean stop at SIGTERM, restart on failure, started at boot', () => {
  const t = templateText({ name: 'shop', user: 'deploy', group: 'deploy', remoteDir: '/opt/app', stopTimeoutSec: 30 });
  for (const line of [
    'User=deploy',
    'Group=deploy',
    'WorkingDirectory=/opt/app',
    'EnvironmentFile=/etc/default/shop@%i',
    'ExecStart=/bin/sh "/opt/app/run/%i.start"',
    'SuccessExitStatus=143',
    'TimeoutStopSec=30',
    'Restart=on-failure',
    'KillMode=mixed',
    'WantedBy=multi-user.target',
  ]) {
    assert.ok(t.split('\n').includes(line), `${line} in\n${t}`);
  }
  assert.match(t, /\/etc\/systemd\/system\/shop@\.service\.d\/\*\.conf/, 'says where the team puts its own settings');
  assert.equal(instanceUnit('shop', 8081), 'shop@8081.service');
});

test('execArg: quotes, backslashes, % and $ reach systemd as data', () => {
  assert.equal(execArg('a b'), '"a b"');
  assert.equal(execArg('50%'), '"50%%"');
  assert.equal(execArg('$HOME'), '"$$HOME"');
  assert.equal(execArg('say "hi" \\o/'), '"say \\"hi\\" \\\\o/"');
});

test('the start file runs argv as given from the release directory (sh runs it: checked here)', () => {
  const d = mkdtempSync(path.join(tmpdir(), 'zdd-unit-'));
  try {
    const argv = ['printf', '%s|', 'a b', "it's", '$(id)', '`x`', 'c;d'];
    const f = path.join(d, 'p.start');
    writeFileSync(f, startScriptText(d, argv));
    assert.equal(execFileSync('sh', [f]).toString(), "a b|it's|$(id)|`x`|c;d|");
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});

test('the env file: KEY="VALUE" with \\, ", $ and a backquote escaped; names that are not shell names and values with newlines are left out', () => {
  assert.equal(
    envFileText([
      ['A', 'plain'],
      ['B', 'a b=c'],
      ['C', 'q"uote \\ back $HOME `cmd`'],
      ['bad-name', 'x'],
      ['D', 'two\nlines'],
    ]),
    'A="plain"\nB="a b=c"\nC="q\\"uote \\\\ back \\$HOME \\`cmd\\`"\n',
  );
});

test('docs/systemd.md shows the sudoers rule the scripts need, exactly as sudoersRule writes it (no wildcard)', async () => {
  const { sudoersRule } = await import('../../src/commands/unit.ts');
  const { readFileSync } = await import('node:fs');
  const rule = sudoersRule('deploy', 'shop', [8080, 8081], 'shop.service');
  assert.ok(readFileSync(new URL('../../docs/systemd.md', import.meta.url), 'utf8').includes(rule), rule);
  assert.doesNotMatch(rule, /\*/);
  for (const cmd of ['systemctl start shop@8081.service', 'systemctl disable --no-reload --now shop@8080.service', 'install -D -m 600 /dev/stdin /etc/default/shop@8080', 'systemctl show -p MainPID --value shop@8080.service']) {
    assert.ok(rule.includes(cmd), cmd);
  }
});

test('the start guard of a unit stops it through systemctl, with sudo when the start used it (the deploy user cannot stop a system unit)', async () => {
  const { GUARD } = await import('../../src/commands/app.ts');
  const { spawn } = await import('node:child_process');
  const { existsSync } = await import('node:fs');
  const d = mkdtempSync(path.join(tmpdir(), 'zdd-guard-'));
  const child = spawn('sleep', ['30'], { detached: true, stdio: 'ignore' });
  try {
    // Stand-ins for sudo and systemctl on PATH that record how they were called.
    writeFileSync(path.join(d, 'sudo'), `#!/bin/sh\necho "sudo $*" >> ${d}/calls\n`, { mode: 0o755 });
    writeFileSync(path.join(d, 'systemctl'), `#!/bin/sh\necho "systemctl $*" >> ${d}/calls\n`, { mode: 0o755 });
    const { readFileSync } = await import('node:fs');
    const start = readFileSync(`/proc/${child.pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ')[19];
    const env = { PATH: `${d}:${process.env.PATH}` };
    for (const [priv, want] of [['1', `sudo -n systemctl stop shop@8081.service`], ['0', 'systemctl stop shop@8081.service']]) {
      rmSync(path.join(d, 'calls'), { force: true });
      execFileSync('sh', ['-c', GUARD, 'guard', '0', String(child.pid), start, 'shop@8081.service', priv], { env });
      assert.equal(existsSync(path.join(d, 'calls')) ? readFileSync(path.join(d, 'calls'), 'utf8').trim() : '', want);
    }
  } finally {
    child.kill();
    rmSync(d, { recursive: true, force: true });
  }
});
