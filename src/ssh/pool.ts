// One SSH connection per distinct address for the whole run, shared by every role a host plays
// (an nginx host may also be an app host). Reconnects after a lost connection for the rollback.
import type { SshAddress } from '../config/hosts.ts';
import { hostPort } from '../config/hosts.ts';
import { DeployError, errorText } from '../errors.ts';
import { Remote, type SshOptions } from './remote.ts';

export class Pool {
  private remotes = new Map<string, Promise<Remote>>();
  private opts: SshOptions;

  constructor(opts: SshOptions) {
    this.opts = opts;
  }

  /** The connection to addr, opened on first use; a failure names the role and the address. */
  get(addr: SshAddress, role: string): Promise<Remote> {
    const key = hostPort(addr.host, addr.port);
    let p = this.remotes.get(key);
    if (!p) {
      p = Remote.connect(addr, this.opts).catch((e) => {
        this.remotes.delete(key);
        throw new DeployError('connect', `${role} ${key}`, errorText(e));
      });
      this.remotes.set(key, p);
    }
    return p;
  }

  /** Opens again every connection that was lost (for a rollback); failures are left to the commands. */
  async reconnectLost(info: (m: string) => void): Promise<void> {
    await Promise.all(
      [...this.remotes.values()].map(async (p) => {
        const r = await p.catch(() => undefined);
        if (!r || r.connected) return;
        await r.reconnect().then(() => info(`reconnected to ${r.label} for the rollback`), () => undefined);
      }),
    );
  }

  async dispose(): Promise<void> {
    for (const p of this.remotes.values()) (await p.catch(() => undefined))?.dispose();
    this.remotes.clear();
  }
}
