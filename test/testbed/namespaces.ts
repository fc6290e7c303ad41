// Namespaces and the processes in them: finding, ending and cleaning up what a testbed left.
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { IP, run, sleep } from './proc.ts';

/** PIDs (root pid namespace) of every process whose network namespace is /run/netns/NS. */
export async function nsPids(ns: string): Promise<number[]> {
  let st: fs.Stats;
  try {
    st = await fsp.stat(`/run/netns/${ns}`);
  } catch {
    return [];
  }
  const entries = await fsp.readdir('/proc');
  const pids: number[] = [];
  await Promise.all(
    entries.map(async (e) => {
      if (!/^\d+$/.test(e)) return;
      try {
        const s = await fsp.stat(`/proc/${e}/ns/net`);
        if (s.ino === st.ino && s.dev === st.dev) pids.push(Number(e));
      } catch {
        /* exited or zombie */
      }
    }),
  );
  return pids;
}

/**
 * Those of pids that are a systemd running as PID 1 of a pid namespace below ours (a systemd
 * testbed host's init; /proc/PID/status `NSpid: <pid> 1`).
 */
export async function systemdInits(pids: number[]): Promise<number[]> {
  const out: number[] = [];
  await Promise.all(
    pids.map(async (pid) => {
      try {
        const status = await fsp.readFile(`/proc/${pid}/status`, 'utf8');
        const nspid = /^NSpid:\s+(.*)$/m.exec(status)?.[1].trim().split(/\s+/) ?? [];
        if (nspid.length < 2 || nspid[nspid.length - 1] !== '1') return;
        if ((await fsp.readFile(`/proc/${pid}/comm`, 'utf8')).trim() === 'systemd') out.push(pid);
      } catch {
        /* exited */
      }
    }),
  );
  return out;
}

/** true if process pid is in network namespace /run/netns/NS */
export async function inNetns(pid: number, ns: string): Promise<boolean> {
  try {
    const [a, b] = await Promise.all([fsp.stat(`/proc/${pid}/ns/net`), fsp.stat(`/run/netns/${ns}`)]);
    return a.ino === b.ino && a.dev === b.dev;
  } catch {
    return false;
  }
}

export const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

export async function killNamespaceProcs(namespaces: string[], graceMs = 1500): Promise<void> {
  const all = async () => (await Promise.all(namespaces.map(nsPids))).flat();
  const signal = (pids: number[], sig: NodeJS.Signals) => {
    for (const pid of pids) {
      try {
        process.kill(pid, sig);
      } catch {
        /* gone */
      }
    }
  };
  let pids = await all();
  if (pids.length === 0) return;
  // A systemd PID 1 first, with SIGKILL (to systemd, SIGTERM means "re-execute yourself"): its
  // death ends its pid namespace, the kernel kills everything in there.
  const inits = await systemdInits(pids);
  if (inits.length) {
    signal(inits, 'SIGKILL');
    const until = Date.now() + 5000;
    while (inits.some(alive) && Date.now() < until) await sleep(20);
    pids = await all();
    if (pids.length === 0) return;
  }
  signal(pids, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    await sleep(50);
    pids = await all();
    if (pids.length === 0) return;
  }
  for (let i = 0; i < 40; i++) {
    signal(pids, 'SIGKILL');
    await sleep(50);
    pids = await all();
    if (pids.length === 0) return;
  }
  throw new Error(`processes survived SIGKILL in ${namespaces.join(',')}: ${pids.join(' ')}`);
}

export async function listNamespaces(): Promise<string[]> {
  const r = await run([IP, 'netns', 'list']);
  return r.stdout
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0])
    .filter(Boolean);
}

export function ourNsRegex(prefix: string): RegExp {
  return new RegExp(`^${prefix}-(sw|runner|nginx\\d*|app\\d+)$`);
}

export function mountPointsUnder(dir: string): string[] {
  const text = fs.readFileSync('/proc/self/mountinfo', 'utf8');
  return text
    .split('\n')
    .map((l) => l.split(' ')[4])
    .filter((m): m is string => !!m && (m === dir || m.startsWith(dir + '/')));
}

export async function removeDir(dir: string): Promise<void> {
  const mounts = mountPointsUnder(dir);
  if (mounts.length) throw new Error(`refusing to delete ${dir}: mount points inside: ${mounts.join(' ')}`);
  await fsp.rm(dir, { recursive: true, force: true });
}

/** the mount point of the machine's cgroup2 hierarchy (e.g. /sys/fs/cgroup/unified), if any */
export function cgroup2Root(): string | undefined {
  for (const l of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const f = l.split(' ');
    const sep = f.indexOf('-');
    if (sep > 0 && f[sep + 1] === 'cgroup2' && f[3] === '/') return f[4];
  }
  return undefined;
}

/** Kills whatever is left in cgroup dir (cgroup.kill, else SIGKILL by PID), then rmdirs it depth-first. */
export async function removeCgroup(cg: string): Promise<void> {
  if (!fs.existsSync(cg)) return;
  const procs = async (d: string): Promise<number[]> => {
    const own = (await fsp.readFile(path.join(d, 'cgroup.procs'), 'utf8').catch(() => '')).split('\n').filter(Boolean).map(Number);
    const subs = (await fsp.readdir(d, { withFileTypes: true }).catch(() => [])).filter((e) => e.isDirectory());
    return [...own, ...(await Promise.all(subs.map((e) => procs(path.join(d, e.name))))).flat()];
  };
  const rmTree = async (d: string): Promise<void> => {
    for (const e of await fsp.readdir(d, { withFileTypes: true }).catch(() => [])) if (e.isDirectory()) await rmTree(path.join(d, e.name));
    await fsp.rmdir(d);
  };
  for (let i = 0; ; i++) {
    const left = await procs(cg);
    if (left.length) {
      if (fs.existsSync(path.join(cg, 'cgroup.kill'))) await fsp.writeFile(path.join(cg, 'cgroup.kill'), '1').catch(() => {});
      for (const pid of left) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
    }
    try {
      await rmTree(cg);
      return;
    } catch (e) {
      if (i >= 100) throw new Error(`cannot remove cgroup ${cg}: ${String(e)} (processes: ${left.join(' ') || 'none'})`, { cause: e });
      await sleep(20);
    }
  }
}

export function checkPrefix(prefix: string): void {
  if (!/^[a-z0-9]{1,16}$/.test(prefix)) throw new Error(`bad testbed prefix ${JSON.stringify(prefix)}: use [a-z0-9]{1,16}`);
}

/**
 * Removes what a crashed run with this prefix left: kills every process in `${prefix}-*`
 * namespaces (by PID), deletes those namespaces and `${tmpdir}/zdd-tb-${prefix}-*` dirs.
 * Returns the names of the namespaces it deleted.
 */
export async function cleanupStale(prefix = 'zddtb7'): Promise<string[]> {
  checkPrefix(prefix);
  const re = ourNsRegex(prefix);
  const stale = (await listNamespaces()).filter((n) => re.test(n));
  await killNamespaceProcs(stale);
  for (const ns of stale) await run([IP, 'netns', 'del', ns]);
  // systemd hosts' cgroups (whatever is still in there belongs to such a host: killed)
  const cg = cgroup2Root();
  if (cg) {
    const cgRe = new RegExp(`^zdd-tb-${prefix}-app\\d+$`);
    for (const e of await fsp.readdir(cg).catch(() => [] as string[])) {
      if (cgRe.test(e)) await removeCgroup(path.join(cg, e));
    }
  }
  const dirRe = new RegExp(`^zdd-tb-${prefix}-[A-Za-z0-9]{6}$`);
  for (const e of await fsp.readdir(os.tmpdir())) {
    if (dirRe.test(e)) await removeDir(path.join(os.tmpdir(), e));
  }
  return stale;
}
