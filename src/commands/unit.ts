// Releases as systemd services (systemd-unit: NAME): every instance is NAME@PORT.service. Pure:
// the files the action writes and the commands it runs, built as data; nothing here connects.
//
//   /etc/systemd/system/NAME@.service    the template (the same for every release): User, Group,
//                                        restart, stop, journal; written when it changes only
//   <remote-dir>/run/PORT.start          the release on that port: `cd RELEASE && exec java ...`
//   /etc/default/NAME@PORT               its `env` input, the unit's EnvironmentFile (root, 600):
//                                        systemd reads it as root, so it must not be in a
//                                        directory the deploy user could swap a symlink into
//
// A release changes only those two files, which systemd reads at each start, so a deploy needs no
// daemon-reload unless the template itself changed. The team's own settings go in
// /etc/systemd/system/NAME@.service.d/*.conf, which the action never writes.
import { SS_COMMAND } from './app.ts';
import { join } from '../util/quote.ts';
import { type Cmd, type CmdOptions, waiting, wrap } from './shell.ts';
import * as SH from './scripts.gen.ts';

export const UNIT_DIR = '/etc/systemd/system';
export const ENV_DIR = '/etc/default';

/** A systemd unit name prefix: what may go before `@PORT.service`. */
export const UNIT_PREFIX = /^[A-Za-z0-9_.:-]{1,200}$/;

export const instanceUnit = (name: string, port: number) => `${name}@${port}.service`;

/** A value in a unit file: `%` is a specifier there, a backslash escapes. Paths only. */
function unitValue(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/%/g, '%%');
}

/** One argument of ExecStart: double-quoted, with `\`, `"`, `%` and `$` escaped. */
export function execArg(v: string): string {
  return `"${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/%/g, '%%').replace(/\$/g, '$$$$')}"`;
}

export interface TemplateSpec {
  name: string;
  user: string;
  group: string;
  remoteDir: string;
  stopTimeoutSec: number;
}

/** The template unit NAME@.service. */
export function templateText(t: TemplateSpec): string {
  const run = `${t.remoteDir}/run`;
  return `# Written by the jar deploy action (systemd-unit: ${t.name}); it is rewritten on deploys.
# Your own settings (MemoryMax=, LimitNOFILE=, Environment=, ...) go in a drop-in the action
# never writes: ${UNIT_DIR}/${t.name}@.service.d/*.conf
[Unit]
Description=${t.name} on port %i
After=network.target

[Service]
Type=exec
User=${unitValue(t.user)}
Group=${unitValue(t.group)}
WorkingDirectory=${unitValue(t.remoteDir)}
# The release on port %i, and its env input (root, mode 600), as the last deploy to that port left them.
EnvironmentFile=${ENV_DIR}/${unitValue(t.name)}@%i
ExecStart=/bin/sh ${execArg(`${run}/`).slice(0, -1)}%i.start"
SyslogIdentifier=${unitValue(t.name)}-%i
# A JVM stopped by SIGTERM exits 143: a clean stop, not a failure to restart after.
SuccessExitStatus=143
KillMode=mixed
TimeoutStopSec=${Math.max(1, Math.ceil(t.stopTimeoutSec))}
Restart=on-failure
RestartSec=2

[Install]
WantedBy=multi-user.target
`;
}

/** run/PORT.start: the release's command line (argv, from its release directory). */
export function startScriptText(cwd: string, argv: string[]): string {
  return `# Written by the jar deploy action: the release systemd starts on this port.\ncd ${join([cwd])} || exit 1\nexec ${join(argv)}\n`;
}

/**
 * run/PORT.env in EnvironmentFile syntax: KEY="VALUE" with `\`, `"`, `$` and a backquote
 * escaped by a backslash, so every printable value arrives as it was given.
 */
export function envFileText(env: [string, string][]): string {
  return env
    .filter(([k, v]) => /^[A-Za-z_][A-Za-z0-9_]*$/.test(k) && !/[\n\r\0]/.test(v))
    .map(([k, v]) => `${k}="${v.replace(/[\\"$`]/g, (c) => `\\${c}`)}"\n`)
    .join('');
}

// Shell: the service unit a pid belongs to (cgroup v2, or v1's name=systemd hierarchy).
export const SVC_FN = SH.UNIT_SVC_FN;

export const PREFLIGHT = SH.UNIT_PREFLIGHT;

/** Whether systemd runs the host (PID 1) and who the deploy user is, for the template. */
export function unitPreflight(o: CmdOptions): Cmd {
  return wrap('check systemd', PREFLIGHT, [], o);
}

export function parseUnitPreflight(stdout: string): { systemctl: boolean; booted: boolean; user: string; group: string; uid: number } {
  const get = (k: string) => stdout.split('\n').find((l) => l.startsWith(`${k}=`))?.slice(k.length + 1) ?? '';
  return { systemctl: get('systemctl') === 'yes', booted: get('booted') === 'yes', user: get('user'), group: get('group'), uid: Number(get('uid')) };
}

// Privileged commands are the exact ones docs/systemd.md lists for sudoers: $P (sh/unit/_priv.sh)
// is `sudo -n` when the step runs with sudo: true. Everything else runs as the deploy user.

export const START = SH.UNIT_START;

/**
 * Writes the template (when it changed: then daemon-reload), the release's start file and env
 * file (env from stdin, never on a command line), starts NAME@PORT (not enabled), records its MainPID like a detached
 * start, and arms the start guard (it stops the unit unless disarmed). Prints the MainPID.
 */
export function startUnit(priv: boolean, name: string, port: number, remoteDir: string, template: string, startFile: string, env: string, guardSec: number, guardScript: string, o: CmdOptions): Cmd {
  return wrap(`start ${instanceUnit(name, port)}`, START, [priv ? 1 : 0, name, port, remoteDir, template, startFile, Math.ceil(guardSec), guardScript], o, env);
}

export const STOP = SH.UNIT_STOP;

export type UnitStop = 'stop' | 'disable-now' | 'disable-now-no-block' | 'disable';

/**
 * Stops a service unit (systemd sends SIGTERM, SIGKILL after its TimeoutStopSec), disabling it
 * too unless `stop`; `disable` leaves it running (a warm standby nothing starts at boot). The
 * start guard of pidFile, if any, goes first. Prints `stopped` or `gone` (it was not running).
 */
export function stopUnit(priv: boolean, unit: string, how: UnitStop, pidFile: string, o: CmdOptions): Cmd {
  return waiting(wrap(`${how === 'stop' ? 'stop' : how === 'disable' ? 'disable' : 'stop and disable'} ${unit}`, STOP, [priv ? 1 : 0, unit, how, pidFile], o));
}

/** Enables a unit (a reboot starts it); no daemon-reload: the symlinks are what boot reads. */
export function enableUnit(priv: boolean, unit: string, o: CmdOptions): Cmd {
  return wrap(`enable ${unit}`, SH.UNIT_ENABLE, [priv ? 1 : 0, unit], o);
}

/** Enables and starts a unit (the team's own, given back by a rollback); prints its MainPID. */
export function enableNowUnit(priv: boolean, unit: string, o: CmdOptions): Cmd {
  return wrap(`enable and start ${unit}`, SH.UNIT_ENABLE_NOW, [priv ? 1 : 0, unit], o);
}

/** The last lines a unit wrote to the journal (its stdout and stderr). */
export function journalTail(priv: boolean, unit: string, o: CmdOptions): Cmd {
  return wrap(`read the journal of ${unit}`, SH.UNIT_JOURNAL_TAIL, [priv ? 1 : 0, unit], o);
}

/**
 * The sudoers rule a non-root deploy user needs for systemd-unit: NAME, on each app host (the
 * exact commands the scripts above run through \$P); takeOver adds the stop of a team's unit.
 */
export function sudoersRule(user: string, name: string, ports: number[], takeOver?: string): string {
  // No wildcard: in sudoers a '*' in the arguments also matches spaces, so 'start NAME@*.service'
  // would allow 'start NAME@x.service any-other.service'. Every command is spelled out per port.
  const units = ports.map((p) => instanceUnit(name, p));
  const cmds = [
    `/usr/bin/tee ${UNIT_DIR}/${name}@.service`,
    // who holds each port, also a process of another user (commands/app.ts portState)
    ...ports.map(SS_COMMAND),
    '/usr/bin/systemctl daemon-reload',
    ...ports.map((p) => `/usr/bin/install -D -m 600 /dev/stdin ${ENV_DIR}/${name}@${p}`),
    ...units.flatMap((u) => [
      `/usr/bin/systemctl is-active ${u}`,
      `/usr/bin/systemctl is-failed ${u}`,
      `/usr/bin/systemctl show -p MainPID --value ${u}`,
      `/usr/bin/systemctl reset-failed ${u}`,
      `/usr/bin/systemctl start ${u}`,
      `/usr/bin/systemctl stop ${u}`,
      `/usr/bin/systemctl stop --no-block ${u}`,
      `/usr/bin/systemctl enable --no-reload ${u}`,
      `/usr/bin/systemctl disable --no-reload ${u}`,
      `/usr/bin/systemctl disable --no-reload --now ${u}`,
      `/usr/bin/journalctl --no-pager -o cat -n 300 -u ${u}`,
    ]),
    ...(takeOver
      ? [
          `/usr/bin/systemctl is-active ${takeOver}`,
          `/usr/bin/systemctl disable --no-reload --now ${takeOver}`,
          `/usr/bin/systemctl disable --no-reload ${takeOver}`,
          `/usr/bin/systemctl enable --no-reload --now ${takeOver}`,
          `/usr/bin/systemctl show -p MainPID --value ${takeOver}`,
          `/usr/bin/journalctl --no-pager -o cat -n 300 -u ${takeOver}`,
        ]
      : []),
  ];
  return `${user} ALL=(root) NOPASSWD: ${cmds.join(', \\\n    ')}\n`;
}
