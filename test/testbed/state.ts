// What a testbed has created, tracked as it goes, so teardown works whatever point setup reached.
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import { IP, run, sleep } from './proc.ts';
import { alive, inNetns, killNamespaceProcs, removeCgroup, removeDir, systemdInits } from './namespaces.ts';

export class Tracked {
  readonly createdNs: string[] = [];
  readonly children = new Set<ChildProcess>();
  /** ns → root-ns PID of a systemd host's systemd (its pid namespace's PID 1) */
  readonly systemdPids = new Map<string, number>();
  /** the per-host cgroups (machine's cgroup2 hierarchy) systemd hosts run in */
  readonly createdCgroups: string[] = [];
  /** the testbed dir, '' until it is created */
  dir = '';
  /** set by the first teardown(): every method but teardown refuses from then on */
  tornDown: Promise<void> | undefined;
  readonly #log: (m: string) => void;

  constructor(log: (m: string) => void) {
    this.#log = log;
  }

  /** Testbed.teardown (idempotent); a property, so it can be handed on unbound. */
  readonly teardown = (): Promise<void> => {
    const { createdNs, children, systemdPids, createdCgroups } = this;
    this.tornDown ??= (async () => {
      const errors: string[] = [];
      // systemd hosts: SIGKILL their PID 1 (ends the pid namespace and everything in it), if
      // that PID still is a systemd init in the host's network namespace
      const inits: number[] = [];
      for (const [ns, pid] of systemdPids) if ((await systemdInits([pid])).length && (await inNetns(pid, ns))) inits.push(pid);
      for (const pid of inits) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
      for (const until = Date.now() + 5000; inits.some(alive) && Date.now() < until; ) await sleep(20);
      for (const c of children) {
        if (c.exitCode === null && c.signalCode === null && c.pid) {
          try {
            process.kill(c.pid, 'SIGTERM');
          } catch {
            /* gone */
          }
        }
      }
      try {
        await killNamespaceProcs([...createdNs]);
      } catch (e) {
        errors.push(String(e));
      }
      for (const c of children) {
        if (c.exitCode === null && c.signalCode === null && c.pid) {
          try {
            process.kill(c.pid, 'SIGKILL');
          } catch {
            /* gone */
          }
        }
      }
      for (const ns of [...createdNs].reverse()) {
        const r = await run([IP, 'netns', 'del', ns]);
        if (r.code !== 0 && fs.existsSync(`/run/netns/${ns}`)) errors.push(`ip netns del ${ns}: ${r.stderr}`);
      }
      for (const cg of createdCgroups) {
        try {
          await removeCgroup(cg);
        } catch (e) {
          errors.push(String(e));
        }
      }
      if (this.dir) {
        try {
          await removeDir(this.dir);
        } catch (e) {
          errors.push(String(e));
        }
      }
      this.#log(`teardown done${errors.length ? ' with errors' : ''}`);
      if (errors.length) throw new Error(`testbed teardown: ${errors.join('\n')}`);
    })();
    return this.tornDown;
  };
}
