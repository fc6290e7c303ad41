// systemd app hosts: masked units, the sshd unit, per-host unit directories and overlays.
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import type { Host } from './types.ts';
import { ETC_UNITS, SSHD, must, shq } from './proc.ts';

/**
 * Units masked (symlinked to /dev/null in the host's /etc/systemd/system) on every systemd host:
 * the machine's root filesystem, /dev, kernel and clock are shared with the host, and these
 * would write to them (or start the machine's own daemons, or undo the testbed's network).
 * Masking a unit the machine does not have is harmless.
 */
export const SYSTEMD_MASKED_UNITS: readonly string[] = [
  // tmpfiles: `D /tmp` empties a shared /tmp, and /var/tmp, /var/lib, /dev nodes
  'systemd-tmpfiles-setup.service',
  'systemd-tmpfiles-setup-dev.service',
  'systemd-tmpfiles-setup-dev-early.service',
  'systemd-tmpfiles-clean.service',
  'systemd-tmpfiles-clean.timer',
  // first boot, identity, caches under /etc, /usr and /var
  'systemd-sysusers.service',
  'systemd-firstboot.service',
  'systemd-machine-id-commit.service',
  'systemd-hwdb-update.service',
  'ldconfig.service',
  'systemd-update-done.service',
  'systemd-journal-catalog-update.service',
  // kernel-wide settings and modules
  'systemd-sysctl.service',
  'procps.service',
  'systemd-binfmt.service',
  'proc-sys-fs-binfmt_misc.automount',
  'proc-sys-fs-binfmt_misc.mount',
  'systemd-modules-load.service',
  'kmod-static-nodes.service',
  'kmod.service',
  'modprobe@.service',
  'sys-kernel-debug.mount',
  'sys-kernel-tracing.mount',
  'sys-kernel-config.mount',
  'sys-fs-fuse-connections.mount',
  'dev-hugepages.mount',
  // devices, disks, clock, persistent state of the machine
  'systemd-udevd.service',
  'systemd-udevd-control.socket',
  'systemd-udevd-kernel.socket',
  'systemd-udev-trigger.service',
  'systemd-udev-settle.service',
  'systemd-remount-fs.service',
  'systemd-fsck-root.service',
  'systemd-fsck@.service',
  'systemd-quotacheck.service',
  'quotaon.service',
  'systemd-repart.service',
  'systemd-growfs-root.service',
  'systemd-pstore.service',
  'systemd-random-seed.service',
  'systemd-timesyncd.service',
  'systemd-time-wait-sync.service',
  'hwclock.service',
  'systemd-backlight@.service',
  'systemd-rfkill.service',
  'systemd-rfkill.socket',
  'systemd-sysext.service',
  'systemd-boot-update.service',
  'cryptdisks.service',
  'cryptdisks-early.service',
  'e2scrub_reap.service',
  'e2scrub_all.service',
  'e2scrub_all.timer',
  'fstrim.service',
  'fstrim.timer',
  // the journal stays in the host's /run; no utmp/wtmp records of boots on the machine
  'systemd-journal-flush.service',
  'systemd-journald-audit.socket',
  'systemd-update-utmp.service',
  'systemd-update-utmp-runlevel.service',
  // the machine's periodic jobs
  'apt-daily.service',
  'apt-daily.timer',
  'apt-daily-upgrade.service',
  'apt-daily-upgrade.timer',
  'man-db.service',
  'man-db.timer',
  'logrotate.service',
  'logrotate.timer',
  'dpkg-db-backup.service',
  'dpkg-db-backup.timer',
  'cron.service',
  'anacron.service',
  'anacron.timer',
  // consoles, sessions, bus
  'getty.target',
  'getty@.service',
  'autovt@.service',
  'serial-getty@.service',
  'console-getty.service',
  'container-getty@.service',
  'getty-static.service',
  'debug-shell.service',
  'systemd-ask-password-wall.path',
  'systemd-ask-password-console.path',
  'systemd-logind.service',
  'dbus.service',
  'dbus.socket',
  // network config (nftables.service flushes the ruleset: the app firewall) and machine daemons
  'nftables.service',
  'systemd-networkd.service',
  'systemd-networkd.socket',
  'systemd-networkd-wait-online.service',
  'systemd-resolved.service',
  'rsyslog.service',
  'syslog.socket',
  'rc-local.service',
  'ssh.socket',
  'nginx.service',
  'postgresql.service',
  'postgresql@.service',
];

/** `ssh.service` of a systemd host: its sshd with the testbed's config and host key. */
export function sshdUnit(h: Host): string {
  return `[Unit]
Description=OpenBSD Secure Shell server (zdd testbed host ${h.name})
After=network.target

[Service]
Type=notify
ExecStart=${SSHD} -D -e -f ${h.dir}/sshd_config -o PidFile=none
ExecReload=/bin/kill -HUP $MAINPID
KillMode=process
Restart=on-failure
RestartSec=200ms
RuntimeDirectory=sshd
RuntimeDirectoryMode=0755

[Install]
WantedBy=multi-user.target
Alias=sshd.service
`;
}

/**
 * Seeds a systemd host's /etc/systemd/system (dest, must not exist) from the machine's: its own
 * unit files and drop-ins, masks and targets, but none of its enablements (symlinks in
 * *.wants/, *.requires/, *.upholds/ other than targets) or aliases (top-level symlinks not to
 * /dev/null): those start the machine's daemons (its sshd, nginx, database, getty, timesyncd...).
 * Then the masks of SYSTEMD_MASKED_UNITS and the enabled `ssh.service`.
 */
export async function seedEtcUnits(h: Host, dest: string): Promise<void> {
  if (fs.existsSync(ETC_UNITS)) await must(['cp', '-a', '--no-target-directory', ETC_UNITS, dest]);
  else await fsp.mkdir(dest, { recursive: true });
  const prune = async (d: string, top: boolean): Promise<void> => {
    const wants = /\.(wants|requires|upholds)$/.test(d);
    for (const e of await fsp.readdir(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) await prune(p, false);
      else if (e.isSymbolicLink()) {
        const target = await fsp.readlink(p);
        if ((wants && !e.name.endsWith('.target')) || (top && target !== '/dev/null')) await fsp.rm(p);
      }
    }
  };
  await prune(dest, true);
  for (const u of SYSTEMD_MASKED_UNITS) {
    await fsp.rm(path.join(dest, u), { recursive: true, force: true });
    await fsp.symlink('/dev/null', path.join(dest, u));
  }
  await fsp.rm(path.join(dest, 'ssh.service'), { recursive: true, force: true });
  await fsp.writeFile(path.join(dest, 'ssh.service'), sshdUnit(h));
  await fsp.rm(path.join(dest, 'sshd.service'), { recursive: true, force: true });
  await fsp.symlink(`${ETC_UNITS}/ssh.service`, path.join(dest, 'sshd.service'));
  await fsp.mkdir(path.join(dest, 'multi-user.target.wants'), { recursive: true });
  await fsp.symlink(`${ETC_UNITS}/ssh.service`, path.join(dest, 'multi-user.target.wants', 'ssh.service'));
}

/**
 * Mount commands that put a per-host overlay (upper dir under `${h.dir}/overlay`) on the
 * deepest existing ancestor of `target`, so that `target` exists inside the host without being
 * created on the machine. [] when target exists.
 */
export async function overlayForMountPoint(h: Host, target: string): Promise<string[]> {
  if (fs.existsSync(target)) return [];
  let base = path.dirname(target);
  while (!fs.existsSync(base)) base = path.dirname(base);
  const slug = base.replace(/^\//, '').replace(/\//g, '-') || 'root';
  const o = path.join(h.dir, 'overlay', slug);
  await fsp.mkdir(path.join(o, 'upper', path.relative(base, target)), { recursive: true });
  await fsp.mkdir(path.join(o, 'work'), { recursive: true });
  return [`mount -t overlay overlay -o ${shq(`lowerdir=${base},upperdir=${o}/upper,workdir=${o}/work`)} ${shq(base)}`];
}
