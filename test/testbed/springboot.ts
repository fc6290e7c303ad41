// The Spring Boot test app (test/springboot/, a Maven project: web + actuator): built with Maven
// once, cached by the hash of the project's files in test/springboot/build/<hash>/app.jar (ignored
// by git; Maven's own ~/.m2 caches the dependencies), and given a version per test jar.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { HERE, must, run, SYS_PATH } from './proc.ts';

export const SPRING_SRC = path.resolve(HERE, '../springboot');
export const SPRING_BUILD = path.join(SPRING_SRC, 'build');

/** The project's files (pom.xml, src/), relative to SPRING_SRC, sorted; build/ and target/ left out. */
function projectFiles(dir = SPRING_SRC, rel = ''): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
    const r = rel ? `${rel}/${e.name}` : e.name;
    if (!rel && (e.name === 'build' || e.name === 'target' || e.name.startsWith('.'))) continue;
    if (e.isDirectory()) out.push(...projectFiles(dir, r));
    else if (e.isFile()) out.push(r);
  }
  return out.sort();
}

/** The hash the cache is keyed on: every file's path and content. */
export function springProjectHash(): string {
  const h = createHash('sha256');
  for (const f of projectFiles()) h.update(`${f}\0`).update(fs.readFileSync(path.join(SPRING_SRC, f))).update('\0');
  return h.digest('hex').slice(0, 12);
}

let jarPromise: Promise<string> | undefined;

/**
 * The Spring Boot app's jar: test/springboot/build/<hash>/app.jar, built by `mvn package` in a
 * copy of the project (the source tree gets no target/) when it is not there yet. The first build
 * downloads the dependencies into ~/.m2 (about a minute); later ones take ~20 s, and a run whose
 * project did not change builds nothing.
 */
export function buildSpringBootJar(): Promise<string> {
  jarPromise ??= (async () => {
    const dest = path.join(SPRING_BUILD, springProjectHash());
    const jar = path.join(dest, 'app.jar');
    if (fs.existsSync(jar)) return jar;
    await fsp.mkdir(SPRING_BUILD, { recursive: true });
    const work = await fsp.mkdtemp(path.join(SPRING_BUILD, 'tmp-'));
    try {
      for (const f of projectFiles()) {
        await fsp.mkdir(path.dirname(path.join(work, f)), { recursive: true });
        await fsp.copyFile(path.join(SPRING_SRC, f), path.join(work, f));
      }
      const env = {
        PATH: process.env.PATH ?? SYS_PATH,
        HOME: process.env.HOME ?? '/root',
        LANG: 'C.UTF-8',
        // no /tmp/hsperfdata_<user> from Maven's JVM or the compiler's
        MAVEN_OPTS: `-XX:-UsePerfData -Djava.io.tmpdir=${work}`,
        ...(process.env.JAVA_HOME ? { JAVA_HOME: process.env.JAVA_HOME } : {}),
      };
      const r = await run(['mvn', '-B', '-q', '-DskipTests', 'package'], { cwd: work, env, timeoutMs: 15 * 60_000 });
      if (r.code !== 0 || !fs.existsSync(path.join(work, 'target', 'app.jar'))) {
        throw new Error(`mvn package of test/springboot failed (exit ${r.code}${r.timedOut ? ', timed out' : ''}):\n${(r.stdout + r.stderr).slice(-6000)}`);
      }
      const staged = path.join(work, 'out');
      await fsp.mkdir(staged);
      await fsp.rename(path.join(work, 'target', 'app.jar'), path.join(staged, 'app.jar'));
      try {
        await fsp.rename(staged, dest);
      } catch (e) {
        if (!fs.existsSync(jar)) throw e; // another run built it first: fine
      }
      // Builds of the project as it was before: not needed again (a jar is ~23 MiB).
      for (const old of await fsp.readdir(SPRING_BUILD)) {
        if (/^[0-9a-f]{12}$/.test(old) && path.join(SPRING_BUILD, old) !== dest) await fsp.rm(path.join(SPRING_BUILD, old), { recursive: true, force: true });
      }
    } finally {
      await fsp.rm(work, { recursive: true, force: true });
    }
    return jar;
  })();
  jarPromise.catch(() => {
    jarPromise = undefined;
  });
  return jarPromise;
}

const versions = new Map<string, Promise<string>>();

/**
 * A copy of the Spring Boot jar under outDir whose /version answers `version`: the copy carries
 * BOOT-INF/classes/version.properties (`app.version=...`), which application.properties imports.
 * Every version is a different jar (a different checksum, so a different release).
 */
export function makeSpringJar(outDir: string, version: string): Promise<string> {
  const key = `${outDir}\0${version}`;
  let p = versions.get(key);
  if (!p) {
    p = (async () => {
      const base = await buildSpringBootJar();
      const safe = version.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 60);
      const dir = path.join(outDir, 'spring-jars');
      const stage = path.join(dir, `stage-${safe}`, 'BOOT-INF', 'classes');
      await fsp.mkdir(stage, { recursive: true });
      await fsp.writeFile(path.join(stage, 'version.properties'), `app.version=${version}\n`);
      const jar = path.join(dir, `sb-${safe}.jar`);
      await fsp.copyFile(base, jar);
      // jar --update keeps BOOT-INF/lib/*.jar stored (uncompressed), as the Boot launcher needs
      await must(['jar', '-J-XX:-UsePerfData', '--update', '--file', jar, '-C', path.join(dir, `stage-${safe}`), 'BOOT-INF/classes/version.properties'], { timeoutMs: 60_000 });
      await fsp.rm(path.join(dir, `stage-${safe}`), { recursive: true, force: true });
      return jar;
    })();
    versions.set(key, p);
    p.catch(() => versions.delete(key));
  }
  return p;
}
