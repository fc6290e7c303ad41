// What the unit tests that run the remote scripts in a local sh share: temp directories removed
// when the test file is done, a command run as the host runs it, and a stand-in for `nginx -T`.
import { after } from 'node:test';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Cmd } from '../../src/commands/shell.ts';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A temp directory of the test file's, removed when the file is done. */
export function tmp(prefix = 'zdd-unit-'): string {
  const d = mkdtempSync(path.join(tmpdir(), prefix));
  dirs.push(d);
  return d;
}

/** Runs a command line in sh with its stdin: exit code, and stdout (then stderr, when it failed). */
export function run(cmd: Pick<Cmd, 'line' | 'stdin'>): { code: number; out: string } {
  try {
    return { code: 0, out: execFileSync('sh', ['-c', cmd.line], { input: cmd.stdin ?? '' }).toString() };
  } catch (e) {
    const err = e as { status: number; stdout: Buffer; stderr: Buffer };
    return { code: err.status, out: err.stdout.toString() + err.stderr.toString() };
  }
}

/** A stand-in for `nginx -T`: dumps the given files as nginx does (header, content, one LF). */
export const fakeDump = (...files: string[]) => ['sh', '-c', 'for f; do printf "# configuration file %s:\\n" "$f"; cat -- "$f"; echo; done', 'sh', ...files];
