// Booting a systemd app host: what it needs from the machine, its boot script (written once, run
// at every boot) that ends in `exec systemd`, the wait until systemd runs, and reboot.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import type { Host } from './types.ts';
import { ETC_UNITS, LOCAL_UNITS, NSENTER, SETPRIV, UNSHARE, shq, sleep } from './proc.ts';
import { alive, inNetns, systemdInits } from './namespaces.ts';
import { overlayForMountPoint, seedEtcUnits } from './systemd.ts';
import { cgOf, exited, findInit, hostExec, isSystemd, spawnHost, waitSshd, type HostContext } from './hosts.ts';

/**
 * systemd, booted only by the boot script below (prepareSystemd), as PID 1 of a host's own pid +
 * mount namespace, after private tmpfs mounts on /run, /tmp and /var/tmp: systemd-tmpfiles empties
 * /tmp at boot, and it must never see the machine's (../shared/testbed-systemd.md).
 */
const SYSTEMD = '/lib/systemd/systemd';

/** before anything is set up: systemd and a cgroup2 hierarchy (cgRoot) on the machine */
export function checkSystemdMachine(cgRoot: string | undefined): void {
  if (!fs.existsSync(SYSTEMD)) throw new Error(`systemd hosts need ${SYSTEMD} (the systemd package)`);
  if (!cgRoot) throw new Error('systemd hosts need a cgroup2 hierarchy on the machine (none mounted)');
}

/** the testbed dir goes into overlay options and unit files, and must survive the new /run and /dev */
export function checkSystemdDir(dir: string): void {
  if (/[,:\s]/.test(dir)) throw new Error(`systemd hosts need a testbed dir without ',', ':' or spaces (overlay options, unit files): ${dir}`);
  if (['/run', '/dev'].some((p) => !path.relative(p, dir).startsWith('..'))) throw new Error(`systemd hosts get a new /run and /dev: the testbed dir cannot be in there (${dir}; set TMPDIR)`);
}

/** the machine's tty group (the gid of a systemd host's devpts) */
export const machineTtyGid = () => Number(/^tty:[^:]*:(\d+):/m.exec(fs.readFileSync('/etc/group', 'utf8'))?.[1] ?? 5);

/** writes `${h.dir}/boot.sh` and the host's dirs, and creates its cgroup (tracked for teardown) */
export async function prepareSystemd(ctx: HostContext, h: Host, ttyGid: number): Promise<void> {
  const { dir, underTmp, deployBinds } = ctx;
  const d = (sub: string) => path.join(h.dir, sub);
  for (const sub of ['home-root', 'systemd-local', 'empty', 'overlay/etc/upper', 'overlay/etc/work']) await fsp.mkdir(d(sub), { recursive: true });
  await seedEtcUnits(h, d('systemd-etc'));
  // a machine-id of its own (in the host's /etc overlay: systemd never writes the machine's)
  await fsp.writeFile(d('overlay/etc/upper/machine-id'), `${createHash('sha256').update(`${dir}\0${h.ns}\0${Math.random()}`).digest('hex').slice(0, 32)}\n`, { mode: 0o444 });
  const keep = underTmp || !path.relative('/var/tmp', dir).startsWith('..');
  const L = ['set -e', 'mount --make-rprivate /'];
  // the copies of the machine's netns mounts (other testbeds' too) are not the host's
  L.push('if mountpoint -q /run/netns; then umount -R -l /run/netns; fi');
  // fresh /run, /tmp, /var/tmp (nothing the host's systemd-tmpfiles or apps do there reaches
  // the machine); the testbed dir is parked in /run meanwhile and moved back to its path
  L.push('mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs /run');
  if (keep) L.push('mkdir /run/zdd-keep', `mount --bind ${shq(dir)} /run/zdd-keep`);
  L.push('mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /tmp', 'mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /var/tmp');
  if (keep) L.push(`mkdir -p ${shq(dir)}`, `mount --move /run/zdd-keep ${shq(dir)}`, 'rmdir /run/zdd-keep');
  // a /dev of its own: the harmless character devices, its own devpts, shm, no console
  L.push(
    'mount -t tmpfs -o mode=0755,nosuid tmpfs /dev',
    'mknod -m 666 /dev/null c 1 3; mknod -m 666 /dev/zero c 1 5; mknod -m 666 /dev/full c 1 7',
    'mknod -m 666 /dev/random c 1 8; mknod -m 666 /dev/urandom c 1 9; mknod -m 666 /dev/tty c 5 0',
    'touch /dev/console; mount --bind /dev/null /dev/console',
    'mkdir /dev/pts /dev/shm /dev/mqueue',
    `mount -t devpts -o newinstance,ptmxmode=0666,mode=0620,gid=${ttyGid},nosuid,noexec devpts /dev/pts`,
    'ln -s pts/ptmx /dev/ptmx',
    'mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /dev/shm',
    'ln -s /proc/self/fd /dev/fd; ln -s /proc/self/fd/0 /dev/stdin; ln -s /proc/self/fd/1 /dev/stdout; ln -s /proc/self/fd/2 /dev/stderr',
  );
  // the kernel's settings read-only (systemd raises fs.file-max otherwise), except the
  // host's own network namespace; a sysfs of that namespace; a cgroup2 of its own subtree
  L.push(
    'mount -t sysfs -o ro,nosuid,nodev,noexec sysfs /sys',
    'mount -t cgroup2 -o nosuid,nodev,noexec cgroup2 /sys/fs/cgroup',
    'mount --bind /proc/sys /proc/sys; mount -o remount,bind,ro /proc/sys',
    'mount --bind /proc/sys/net /proc/sys/net; mount -o remount,bind,rw /proc/sys/net',
    'if [ -e /proc/sysrq-trigger ]; then mount --bind /proc/sysrq-trigger /proc/sysrq-trigger; mount -o remount,bind,ro /proc/sysrq-trigger; fi',
  );
  // /etc: the machine's, with the host's changes in an overlay (kept across reboots)
  L.push(`mount -t overlay overlay -o ${shq(`lowerdir=/etc,upperdir=${d('overlay/etc/upper')},workdir=${d('overlay/etc/work')}`)} /etc`);
  L.push(`mount --bind ${shq(d('opt'))} /opt`, `mount --bind ${shq(d('home-root'))} /root`);
  L.push(...(deployBinds.get(h.ns) ?? []));
  L.push(`mount --bind ${shq(d('systemd-etc'))} ${ETC_UNITS}`);
  L.push(...(await overlayForMountPoint(h, LOCAL_UNITS)), `mount --bind ${shq(d('systemd-local'))} ${LOCAL_UNITS}`);
  // no generators: they turn the machine's fstab, init.d scripts, gettys... into units
  if (fs.existsSync('/lib/systemd/system-generators')) L.push(`mount --bind ${shq(d('empty'))} /lib/systemd/system-generators`);
  if (fs.existsSync('/var/log/journal')) L.push('mount -t tmpfs -o mode=2755,nosuid,nodev tmpfs /var/log/journal');
  L.push(
    'export container=zdd-testbed',
    `exec ${SETPRIV} --bounding-set -sys_module,-sys_time -- ${SYSTEMD} --system --unit=multi-user.target --log-target=journal --show-status=false`,
  );
  await fsp.writeFile(d('boot.sh'), `${L.join('\n')}\n`);
  const cg = cgOf(ctx, h);
  await fsp.mkdir(path.join(cg, 'zdd-exec'), { recursive: true });
  ctx.state.createdCgroups.push(cg);
}

async function systemdDiag(ctx: HostContext, h: Host): Promise<string> {
  const parts = [`--- ${path.join(h.dir, 'boot.log')} (this boot):\n${await fsp.readFile(path.join(h.dir, 'boot.log'), 'utf8').catch(() => '')}`];
  if (ctx.initPid.has(h.ns)) {
    for (const argv of [
      ['systemctl', 'is-system-running'],
      ['systemctl', '--failed', '--no-pager', '--full'],
      ['journalctl', '-b', '--no-pager', '-n', '40'],
    ]) {
      const r = await hostExec(ctx, h, argv, { timeoutMs: 5000 }).catch((e: unknown) => ({ stdout: '', stderr: String(e) }));
      parts.push(`--- ${argv.join(' ')}:\n${r.stdout}${r.stderr}`);
    }
  }
  return parts.join('\n');
}

/** runs the boot script; resolves when sshd listens and systemd says running/degraded */
export async function bootSystemd(ctx: HostContext, h: Host, timeoutMs: number): Promise<void> {
  const t = Date.now();
  const deadline = t + timeoutMs;
  const why = () => systemdDiag(ctx, h);
  const child = spawnHost(
    ctx,
    h,
    [
      '/bin/sh',
      '-c',
      `echo $$ > ${shq(path.join(cgOf(ctx, h), 'cgroup.procs'))} && exec "$@"`,
      'boot',
      NSENTER,
      `--net=/run/netns/${h.ns}`,
      '--',
      UNSHARE,
      '--cgroup',
      '--mount',
      '--pid',
      '--uts',
      '--ipc',
      '--fork',
      '--mount-proc',
      '--kill-child=SIGKILL',
      '--propagation',
      'private',
      '/bin/sh',
      path.join(h.dir, 'boot.sh'),
    ],
    path.join(h.dir, 'boot.log'),
    'w',
  );
  const pid = await findInit(h, child, Math.min(deadline, Date.now() + 10_000), why);
  ctx.initPid.set(h.ns, pid);
  ctx.state.systemdPids.set(h.ns, pid);
  await waitSshd(h, child, deadline, why);
  let state: string;
  for (;;) {
    const r = await hostExec(ctx, h, ['systemctl', 'is-system-running'], { timeoutMs: 5000 });
    state = r.stdout.trim();
    if (state === 'running' || state === 'degraded') break;
    if (exited(child) || Date.now() > deadline) throw new Error(`${h.name}: systemd is ${JSON.stringify(state || r.stderr.trim())} after ${Date.now() - t} ms, not running:\n${await why()}`);
    await sleep(30);
  }
  ctx.log(`${h.name}: systemd ${state} (pid ${pid}) in ${Date.now() - t} ms`);
}

/** Testbed.reboot */
export async function reboot(ctx: HostContext, host: Host): Promise<void> {
  const { state: tracked, initPid, bootChild } = ctx;
  if (tracked.tornDown) throw new Error('testbed is torn down');
  const h = ctx.apps.find((a) => a.ns === host.ns);
  if (!h || !isSystemd(ctx, h)) throw new Error(`reboot: ${host.name} is not a systemd host (createTestbed({ systemd: true }) makes every app host one)`);
  const t = Date.now();
  const pid = initPid.get(h.ns);
  const child = bootChild.get(h.ns);
  initPid.delete(h.ns);
  tracked.systemdPids.delete(h.ns);
  if (pid && (await systemdInits([pid])).length && (await inNetns(pid, h.ns))) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  // the unshare process exits once its child, the pid namespace's init, is reaped
  const until = Date.now() + 10_000;
  while ((child && !exited(child)) || (pid && alive(pid))) {
    if (Date.now() > until) throw new Error(`reboot ${h.name}: systemd (pid ${pid}) still there 10 s after SIGKILL`);
    await sleep(10);
  }
  if (child) tracked.children.delete(child);
  await bootSystemd(ctx, h, 60_000);
  ctx.log(`${h.name} rebooted in ${Date.now() - t} ms`);
}
