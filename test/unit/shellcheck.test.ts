// Every remote script the action runs passes shellcheck (Debian's package, scripts/setup.sh
// installs it) as POSIX sh, warnings included: each is a fixed script of this program, so a
// warning is a bug in it (one found this way: wget's exit code was read after an echo).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';

const MODULES = ['app', 'http', 'lock', 'nginx', 'preflight', 'releases', 'shell', 'unit'];
/** Exported strings that are not scripts (paths, names). */
const NOT_SCRIPTS = new Set(['UNIT_DIR', 'ENV_DIR', 'JOURNAL']);

test('every remote script passes shellcheck -s sh -S warning', async () => {
  const which = spawnSync('shellcheck', ['--version']);
  assert.equal(which.status, 0, 'shellcheck is installed (sh scripts/setup.sh)');
  const scripts: [string, string][] = [];
  for (const m of MODULES) {
    const mod = (await import(`../../src/commands/${m}.ts`)) as Record<string, unknown>;
    for (const [k, v] of Object.entries(mod)) if (typeof v === 'string' && !NOT_SCRIPTS.has(k)) scripts.push([`${m}.ts ${k}`, v]);
  }
  assert.ok(scripts.length >= 30, `found ${scripts.length} scripts`);
  const problems: string[] = [];
  for (const [name, body] of scripts) {
    const r = spawnSync('shellcheck', ['-s', 'sh', '-S', 'warning', '-f', 'gcc', '-'], { input: `#!/bin/sh\n${body}\n` });
    if (r.status !== 0) problems.push(`${name}:\n${r.stdout.toString().replaceAll('-:', '  line ')}`);
  }
  assert.deepEqual(problems, []);
});
