// The jar on the runner: resolve the glob to exactly one file, hash it.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { glob, stat } from 'node:fs/promises';
import path from 'node:path';
import { InputError } from '../errors.ts';

export interface Artifact {
  path: string;
  size: number;
  sha256: string;
}

export async function resolveArtifact(pattern: string, cwd = process.cwd()): Promise<Artifact> {
  const matches: string[] = [];
  if (!/[*?[{]/.test(pattern)) {
    matches.push(pattern);
  } else {
    for await (const m of glob(pattern, { cwd })) matches.push(m);
  }
  const files: string[] = [];
  for (const m of matches) {
    const p = path.resolve(cwd, m);
    const s = await stat(p).catch(() => undefined);
    if (s?.isFile()) files.push(p);
  }
  if (files.length === 0) {
    throw new InputError('artifact', `'${pattern}' matches no file (relative to ${cwd}); build the jar first or fix the path`);
  }
  if (files.length > 1) {
    const shown = files.slice(0, 5).map((f) => path.relative(cwd, f)).join(', ');
    throw new InputError('artifact', `'${pattern}' matches ${files.length} files (${shown}${files.length > 5 ? ', ...' : ''}); it must match exactly one, e.g. name the jar with bootJar { archiveFileName = 'app.jar' } and give build/libs/app.jar, or exclude the -plain.jar`);
  }
  const file = files[0];
  const size = (await stat(file)).size;
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return { path: file, size, sha256: hash.digest('hex') };
}

/** Default release label: the commit and the jar, e.g. 1a2b3c4-5d6e7f80. */
export function defaultRelease(sha256: string, commit: string | undefined): string {
  const c = (commit ?? '').replace(/[^0-9a-fA-F]/g, '').slice(0, 7);
  return `${c || 'local'}-${sha256.slice(0, 8)}`;
}
