// Benchmark part: seed (bench/bench.ts runs it in its own testbed).
import * as fs from 'node:fs';
import path from 'node:path';
import { type Testbed } from '../../test/testbed/testbed.ts';
import { ROOT } from '../../test/e2e/harness.ts';
import { type ClientKind } from '../load.ts';
import { type Line, at, underLoad } from '../common.ts';
// ------------------------------------------------------------------------------------ seed

export const SEED_SCRIPT = path.join(ROOT, 'bench/seed/deploy_no_stop.sh');

/** The seed's files on the app host, as its CodeDeploy setup had them (under /opt/app = /home/ubuntu). */
export function setupSeed(tb: Testbed): void {
  const p = (f: string) => tb.localPath(tb.apps[0], `/opt/app/build/${f}`);
  fs.mkdirSync(p('build/libs'), { recursive: true });
  fs.mkdirSync(p('scripts'), { recursive: true });
  fs.writeFileSync(p('was_ip.env'), `${tb.apps[0].ip}\n`);
  fs.writeFileSync(p('nginx_ip.env'), `${tb.nginx.ip}\n`);
  fs.copyFileSync(tb.privateKeyPath, p('build/libs/hype-ec2-key.pem'));
  fs.chmodSync(p('build/libs/hype-ec2-key.pem'), 0o600);
  fs.copyFileSync(tb.knownHostsPath, p('known_hosts'));
  fs.copyFileSync(SEED_SCRIPT, p('scripts/deploy_no_stop.sh'));
}

export async function seedDeploy(tb: Testbed, kind: ClientKind, version: string, i: number) {
  const jar = await tb.makeJar(version);
  const p = (f: string) => tb.localPath(tb.apps[0], `/opt/app/build/${f}`);
  // CodeDeploy's `files:` step, untimed: the new jar at the fixed path (rename: the running JVM keeps its inode)
  fs.copyFileSync(jar, p('build/libs/pearls-1.0.jar.new'));
  fs.renameSync(p('build/libs/pearls-1.0.jar.new'), p('build/libs/pearls-1.0.jar'));
  const logName = `seed-${i}.log`;
  // Timestamp every output line; stop reading at the sentinel (the java it starts keeps the pipe open).
  const cmd =
    `cd /opt/app/build && { bash scripts/deploy_no_stop.sh; echo "__EXIT $?"; } 2>&1 | ` +
    `while IFS= read -r l; do printf '%s %s\\n' "$(date +%s.%N)" "$l"; case "$l" in "__EXIT "*) break;; esac; done > ${logName}`;
  return underLoad(tb, kind, 45, async (startLong) => {
    const t0 = Date.now();
    const poll = setInterval(() => {
      if (fs.existsSync(p(logName)) && fs.readFileSync(p(logName), 'utf8').includes('> Health Check Success')) startLong();
    }, 20);
    const r = await tb.exec(tb.apps[0], ['bash', '-c', cmd], { timeoutMs: 150_000 });
    const wallMs = Date.now() - t0;
    clearInterval(poll);
    const lines: Line[] = fs
      .readFileSync(p(logName), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => ({ t: Math.round(Number(l.slice(0, l.indexOf(' '))) * 1000), text: l.slice(l.indexOf(' ') + 1) }));
    const healthy = at(lines, /^> Health Check Success/);
    const switched = at(lines, /^> kill -15 /); // right after the reload returns (and one lsof)
    const exit = lines.find((l) => l.text.startsWith('__EXIT '))?.text.slice(7);
    const served = (await tb.get('/version')).body.includes(`version=${version} `);
    return {
      ok: r.code === 0 && exit === '0' && served,
      wallMs,
      healthyToSwitchedMs: healthy && switched ? switched - healthy : null,
      switchAt: switched,
      note: exit === '0' ? (served ? undefined : 'new version not served') : `exit ${exit}: ${lines.map((l) => l.text).join(' | ').slice(-300)}`,
    };
  });
}
