// Every remote script the action runs is a shell file (src/commands/sh/<module>/*.sh), and passes
// shellcheck (Debian's package, scripts/setup.sh installs it) as POSIX sh, warnings included: each
// is a fixed script of this program, so a warning is a bug in it (one found this way: wget's exit
// code was read after an echo). They are checked as they run: includes expanded.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { generate, OUT, scripts } from '../../scripts/gen-scripts.ts';
import * as SH from '../../src/commands/scripts.gen.ts';
import { ENV_DIR, UNIT_DIR } from '../../src/commands/unit.ts';

test('every remote script passes shellcheck -s sh -S warning', () => {
  const which = spawnSync('shellcheck', ['--version']);
  assert.equal(which.status, 0, 'shellcheck is installed (sh scripts/setup.sh)');
  const all = scripts();
  assert.ok(all.length >= 40, `found ${all.length} scripts`);
  const problems: string[] = [];
  // A fragment (_NAME.sh) is checked inside every script that includes it, where its variables are set.
  for (const [, rel, body] of all.filter(([, rel]) => !rel.split('/').pop()!.startsWith('_'))) {
    const r = spawnSync('shellcheck', ['-s', 'sh', '-S', 'warning', '-f', 'gcc', '-'], { input: `#!/bin/sh\n${body}\n` });
    if (r.status !== 0) problems.push(`sh/${rel}:\n${r.stdout.toString().replaceAll('-:', '  line ')}`);
  }
  assert.deepEqual(problems, []);
});

test('src/commands/scripts.gen.ts is the generation of the .sh files (npm run gen-scripts)', () => {
  assert.equal(readFileSync(OUT, 'utf8'), generate(), 'stale: run npm run gen-scripts and commit it');
  // The paths the systemd start script writes are the ones the TypeScript names.
  assert.ok(SH.UNIT_START.includes(`${UNIT_DIR}/`) && SH.UNIT_START.includes(`${ENV_DIR}/`));
});
