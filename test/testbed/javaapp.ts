// The test app (test/app/App.java): compiled once, and its /info answer parsed.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { APP_BUILD, APP_SRC, must } from './proc.ts';

export let classesPromise: Promise<string> | undefined;

/** Compiles test/app/App.java once (cached by content hash); returns the classes directory. */
export function buildAppClasses(): Promise<string> {
  classesPromise ??= (async () => {
    const src = await fsp.readFile(APP_SRC);
    const hash = createHash('sha256').update(src).digest('hex').slice(0, 12);
    const dest = path.join(APP_BUILD, hash);
    if (fs.existsSync(path.join(dest, 'App.class'))) return dest;
    await fsp.mkdir(APP_BUILD, { recursive: true });
    const tmp = await fsp.mkdtemp(path.join(APP_BUILD, 'tmp-'));
    try {
      // -XX:-UsePerfData: no /tmp/hsperfdata_root/<pid> on the machine (its /tmp stays as it is)
      await must(['javac', '-J-XX:-UsePerfData', '-nowarn', '--release', '17', '-d', tmp, APP_SRC], { timeoutMs: 60_000 });
      try {
        await fsp.rename(tmp, dest);
      } catch (e) {
        if (!fs.existsSync(path.join(dest, 'App.class'))) throw e; // lost a race: fine
      }
    } finally {
      await fsp.rm(tmp, { recursive: true, force: true });
    }
    return dest;
  })();
  classesPromise.catch(() => {
    classesPromise = undefined;
  });
  return classesPromise;
}

/** Parses the app's /info answer (`key=value` lines, \n \r \\ escaped) into a record. */
export function parseInfo(body: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of body.split('\n')) {
    const i = line.indexOf('=');
    if (i < 0) continue;
    out[line.slice(0, i)] = line.slice(i + 1).replace(/\\(.)/g, (_m, c: string) => (c === 'n' ? '\n' : c === 'r' ? '\r' : c));
  }
  return out;
}
