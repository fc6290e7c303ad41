// The running hosts: entering a host's namespaces (exec), starting a host's PID 1 and sshd, each
// in its own mount + pid namespace (plain hosts here; systemd hosts: boot.ts), and the waits for it.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import type { ExecOptions, ExecResult, Host } from './types.ts';
import { NSENTER, SSHD, SYS_PATH, UNSHARE, run, shq, sleep } from './proc.ts';
import type { Setup } from './setup.ts';

/** The set-up context once the hosts' files are written: what starting, entering and using the hosts needs. */
export interface HostContext extends Setup {
  /** the machine's cgroup2 hierarchy (found with opts.systemd only) */
  cgRoot: string | undefined;
  /** ns → the mount commands of deployUser's per-host files (writeConfigs) */
  deployBinds: Map<string, string[]>;
  /** ns → root-ns PID of the host's pid-namespace init (sshd's sh, or systemd), once started */
  initPid: Map<string, number>;
  /** ns → the process that started the host (the last one, for a rebooted host) */
  bootChild: Map<string, ChildProcess>;
  /** the testbed dir relative to /tmp, and whether it is in there */
  tmpRel: string;
  underTmp: boolean;
}

export function hostContext(ctx: Setup, cgRoot: string | undefined, deployBinds: Map<string, string[]>): HostContext {
  const tmpRel = path.relative('/tmp', ctx.dir);
  const underTmp = !tmpRel.startsWith('..') && !path.isAbsolute(tmpRel);
  return { ...ctx, cgRoot, deployBinds, initPid: new Map(), bootChild: new Map(), tmpRel, underTmp };
}

export const isNginx = (ctx: Setup, h: Host) => ctx.nginxes.some((n) => n.ns === h.ns);
export const isSystemd = (ctx: Setup, h: Host) => ctx.o.useSystemd && ctx.apps.some((a) => a.ns === h.ns);

/** a systemd host's cgroup, in the machine's cgroup2 hierarchy */
export const cgOf = (ctx: HostContext, h: Host) => path.join(ctx.cgRoot ?? '/nonexistent', `zdd-tb-${h.ns}`);

const hostEnv = (extra?: Record<string, string>) => ({ PATH: SYS_PATH, HOME: '/root', LANG: 'C.UTF-8', USER: 'root', LOGNAME: 'root', ...extra });

/** the command prefix that runs the rest inside host's namespaces (the runner: its network namespace only) */
export function enterArgs(ctx: HostContext, host: Host): string[] {
  if (host.ns === ctx.runner.ns) return [NSENTER, `--net=/run/netns/${host.ns}`, '--'];
  const pid = ctx.initPid.get(host.ns);
  if (!pid) throw new Error(isSystemd(ctx, host) ? `${host.name} is not booted (a reboot failed or is under way)` : `unknown host ${host.name}`);
  if (!isSystemd(ctx, host)) return [NSENTER, `--target=${pid}`, '--mount', '--net', '--pid', '--wd=/', '--'];
  // into the host's cgroup subtree first (from outside: inside, the machine's cgroup the
  // caller is in is out of reach), then into all of its namespaces
  return [
    '/bin/sh',
    '-c',
    '{ echo $$ > "$0"; } 2>/dev/null; exec "$@"',
    path.join(cgOf(ctx, host), 'zdd-exec', 'cgroup.procs'),
    NSENTER,
    `--target=${pid}`,
    '--mount',
    '--net',
    '--pid',
    '--cgroup',
    '--uts',
    '--ipc',
    '--wd=/',
    '--',
  ];
}

/** Testbed.exec */
export function hostExec(ctx: HostContext, host: Host, argv: string[], o: ExecOptions = {}): Promise<ExecResult> {
  if (ctx.state.tornDown) return Promise.reject(new Error('testbed is torn down'));
  return run([...enterArgs(ctx, host), ...argv], { env: hostEnv(o.env), input: o.input, timeoutMs: o.timeoutMs ?? 30_000 });
}

/** starts argv detached (own session), output to logFile (flags 'a' or 'w'); tracked for teardown */
export function spawnHost(ctx: HostContext, h: Host, argv: string[], logFile: string, flags = 'a'): ChildProcess {
  const logFd = fs.openSync(logFile, flags);
  let child: ChildProcess;
  try {
    child = spawn(argv[0], argv.slice(1), { detached: true, stdio: ['ignore', logFd, logFd], env: { PATH: SYS_PATH, HOME: '/root', LANG: 'C.UTF-8' } });
  } finally {
    fs.closeSync(logFd);
  }
  ctx.state.children.add(child);
  child.unref();
  child.on('error', () => {});
  ctx.bootChild.set(h.ns, child);
  return child;
}

export const exited = (c: ChildProcess) => c.exitCode !== null || c.signalCode !== null;

/** the pid-namespace init (the child of unshare) */
export async function findInit(h: Host, child: ChildProcess, deadline: number, why: () => Promise<string>): Promise<number> {
  for (;;) {
    if (exited(child) || Date.now() > deadline) throw new Error(`${h.name} did not start:\n${await why()}`);
    try {
      const kids = (await fsp.readFile(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8')).trim();
      if (kids) return Number(kids.split(/\s+/)[0]);
    } catch {
      /* not yet */
    }
    await sleep(10);
  }
}

/** both listen sockets of the host's sshd */
export async function waitSshd(h: Host, child: ChildProcess, deadline: number, why: () => Promise<string>): Promise<void> {
  for (;;) {
    const r = await run([NSENTER, `--net=/run/netns/${h.ns}`, '--', 'ss', '-Htln', 'sport = :22']);
    if (r.stdout.includes(`${h.ip}:22`) && r.stdout.includes('127.0.0.1:22')) return;
    if (exited(child) || Date.now() > deadline) throw new Error(`sshd for ${h.name} is not listening:\n${await why()}`);
    await sleep(20);
  }
}

/** plain hosts: sh (then sshd) is PID 1 */
export async function startPlain(ctx: HostContext, h: Host): Promise<void> {
  const { dir, deployBinds, tmpRel, underTmp } = ctx;
  // A clean /root per host: the machine's own may source slow shell start-up files
  // (sshd runs every command through the user's shell).
  fs.mkdirSync(path.join(h.dir, 'home-root'), { recursive: true });
  const binds = [`mount --bind ${shq(h.dir + '/opt')} /opt`, `mount --bind ${shq(h.dir + '/home-root')} /root`];
  if (isNginx(ctx, h)) {
    binds.push(`mount --bind ${shq(h.dir + '/etc-nginx')} /etc/nginx`);
    binds.push(`mount --bind ${shq(h.dir + '/log-nginx')} /var/log/nginx`);
  }
  binds.push(...(deployBinds.get(h.ns) ?? []));
  if (underTmp) {
    // a private /tmp that still shows the testbed dir at its own path
    const keep = path.join(h.dir, 'tmp', tmpRel);
    await fsp.mkdir(keep, { recursive: true });
    binds.push(`mount --bind ${shq(dir)} ${shq(keep)}`);
    binds.push(`mount --rbind ${shq(h.dir + '/tmp')} /tmp`);
  } else {
    binds.push(`mount --bind ${shq(h.dir + '/tmp')} /tmp`);
  }
  const script = `set -e\n${binds.join('\n')}\nexec ${SSHD} -D -e -f ${shq(h.dir + '/sshd_config')}\n`;
  const logFile = path.join(h.dir, 'sshd.log');
  const why = () => fsp.readFile(logFile, 'utf8').catch(() => '');
  const child = spawnHost(
    ctx,
    h,
    [NSENTER, `--net=/run/netns/${h.ns}`, '--', UNSHARE, '--mount', '--pid', '--fork', '--mount-proc', '--kill-child=SIGKILL', '--propagation', 'private', '/bin/sh', '-c', script],
    logFile,
  );
  const deadline = Date.now() + 5000;
  ctx.initPid.set(h.ns, await findInit(h, child, deadline, why));
  await waitSshd(h, child, deadline, why);
}
