// A benchmark's baseline: another revision's dist/, written out to run side by side with this one.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import path from 'node:path';
import { ROOT } from '../test/e2e/harness.ts';

/** Writes every file of rev's dist/ into dir (later bundles load some of theirs when needed); returns dir. */
export function writeBaselineDist(rev: string, dir: string): string {
  fs.mkdirSync(dir, { recursive: true });
  const files = execFileSync('git', ['-C', ROOT, 'ls-tree', '--name-only', `${rev}:dist`], { encoding: 'utf8' }).split('\n').filter(Boolean);
  for (const f of files) fs.writeFileSync(path.join(dir, f), execFileSync('git', ['-C', ROOT, 'show', `${rev}:dist/${f}`], { maxBuffer: 1 << 26 }));
  return dir;
}
