// Putting the previous include back and reloading nginx: the mirror of the switch, shared by the
// in-process rollback and the post step's recovery.
import type { Config } from './inputs.ts';
import type { Remote } from './ssh.ts';
import * as R from './remote.ts';

export interface RestoreResult {
  /** what was done, for the log */
  done?: string;
  /** what could not be done, for the error */
  problem?: string;
}

export async function restoreInclude(
  nginx: Remote,
  cfg: Pick<Config, 'includeFile' | 'nginxTestCommand' | 'nginxReloadCommand' | 'commandTimeoutMs' | 'sudo'>,
  oldText: string | null,
  newPort: number,
): Promise<RestoreResult> {
  const o: R.CmdOptions = { sudo: cfg.sudo, timeoutSec: cfg.commandTimeoutMs / 1000 };
  const f = cfg.includeFile;
  const w = await nginx.run(oldText === null ? R.removeFile(f, o) : R.writeInclude(f, oldText, o), cfg.commandTimeoutMs);
  if (w.code !== 0) {
    return { problem: `could not restore ${f} on ${nginx.label}: ${w.stderr.trim() || 'connection lost'} -- MANUAL ACTION NEEDED: nginx may point at port ${newPort}` };
  }
  const t = await nginx.run(R.runArgv('nginx -t', cfg.nginxTestCommand, o), cfg.commandTimeoutMs);
  if (t.code !== 0) {
    // First deploy: with its include gone, a config that needs it cannot pass; nothing served before.
    if (oldText === null) return { done: `removed ${f} (first deploy)` };
    return { problem: `restored ${f} but nginx -t still fails (the problem is elsewhere in the config): ${(t.stderr || t.stdout).trim()}` };
  }
  const r = await nginx.run(R.runArgv('reload nginx', cfg.nginxReloadCommand, o), cfg.commandTimeoutMs);
  if (r.code !== 0) return { problem: `restored ${f} but the reload failed: ${(r.stderr || r.stdout).trim()}` };
  return { done: `restored ${f} and reloaded nginx` };
}
