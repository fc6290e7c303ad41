// Finishing a rollback from the post step, when the main step died mid-deploy (the runner
// killed it after a cancel, or the process crashed). It works only from the saved state and
// what it reads on the servers.
import type { Config } from './inputs.ts';
import type { RecoveryState, Ui } from './deploy.ts';
import { hostPort } from './hosts.ts';
import { Remote, sshOptions } from './ssh.ts';
import * as R from './remote.ts';
import { errorText } from './errors.ts';
import { restoreInclude } from './restore.ts';

export function needsRecovery(s: RecoveryState): boolean {
  return s.phase === 'started' || s.phase === 'switching' || s.phase === 'switched';
}

export async function recover(cfg: Config, s: RecoveryState, ui: Ui): Promise<string[]> {
  const problems: string[] = [];
  const o = (sudo: boolean): R.CmdOptions => ({ sudo: sudo && cfg.sudo, timeoutSec: cfg.commandTimeoutMs / 1000 });
  const connect = (addr: { host: string; port: number }) => Remote.connect(addr, sshOptions(cfg, (m) => ui.warn(m)));
  const nginx = await connect(cfg.nginxHost).catch((e) => {
    problems.push(`cannot reach the nginx host: ${errorText(e)}`);
    return undefined;
  });
  try {
    if (s.phase === 'switched') {
      ui.warn('the main step died after the switch: the new version serves; the old process may still be running on the old port');
    } else {
      if (nginx) {
        const inc = R.parseReadInclude((await nginx.run(R.readInclude(cfg.includeFile, o(true)), cfg.commandTimeoutMs)).stdout);
        if (inc.kind === 'present' && inc.text === s.includeNew && inc.text !== s.includeOld) {
          const res = await restoreInclude(nginx, cfg, s.includeOld, s.idlePort);
          if (res.problem) problems.push(res.problem);
          if (res.done) ui.info(res.done);
        } else {
          ui.info(`${cfg.includeFile} was not switched; nothing to restore there`);
        }
      }
      for (const st of s.started) {
        const host = cfg.appHosts.find((h) => hostPort(h.ssh.host, h.ssh.port) === st.host);
        if (!host) continue;
        try {
          const sameAsNginx = nginx && nginx.label === st.host;
          const r = sameAsNginx ? nginx : await connect(host.ssh);
          const res = await r.run(R.stopProcess(st.pid, 10, `${cfg.remoteDir}/run/${st.port}.pid`, { ...o(true), timeoutSec: 40 }), 45_000);
          if (res.code === 0) ui.info(`${st.host}: stopped the new process pid ${st.pid} (${res.stdout.trim()})`);
          else problems.push(`${st.host}: could not stop pid ${st.pid}: ${res.stderr.trim()}`);
          if (!sameAsNginx) r.dispose();
        } catch (e) {
          problems.push(`${st.host}: ${errorText(e)}`);
        }
      }
    }
    if (nginx && s.lock) await nginx.run(R.releaseLock(s.lock.dir, s.lock.info, o(true)), cfg.commandTimeoutMs);
  } finally {
    nginx?.dispose();
  }
  return problems;
}
