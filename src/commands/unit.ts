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
import { join } from './quote.ts';
import { type Cmd, type CmdOptions, PROC_FNS, waiting, wrap } from './shell.ts';

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
export const SVC_FN = `svc() { sed -n 's/^0:://p; s/^[0-9]*:name=systemd://p' "/proc/$1/cgroup" 2>/dev/null | grep '\\.service$' | head -n 1 | sed 's|.*/||'; }`;

export const PREFLIGHT = `
command -v systemctl >/dev/null 2>&1 && echo systemctl=yes || echo systemctl=no
[ -d /run/systemd/system ] && echo booted=yes || echo booted=no
echo "user=$(id -un)"
echo "group=$(id -gn)"
echo "uid=$(id -u)"
`;

/** Whether systemd runs the host (PID 1) and who the deploy user is, for the template. */
export function unitPreflight(o: CmdOptions): Cmd {
  return wrap('check systemd', PREFLIGHT, [], o);
}

export function parseUnitPreflight(stdout: string): { systemctl: boolean; booted: boolean; user: string; group: string; uid: number } {
  const get = (k: string) => stdout.split('\n').find((l) => l.startsWith(`${k}=`))?.slice(k.length + 1) ?? '';
  return { systemctl: get('systemctl') === 'yes', booted: get('booted') === 'yes', user: get('user'), group: get('group'), uid: Number(get('uid')) };
}

// Privileged commands are the exact ones docs/systemd.md lists for sudoers: \$P is `sudo -n` when
// the step runs with sudo: true. Everything else runs as the deploy user.
const PRIV = 'P=; [ "$priv" = 1 ] && P="sudo -n"';

export const START = `
priv=$1 name=$2 port=$3 dir=$4 template=$5 startfile=$6 guard=$7 guard_script=$8
${PRIV}
${PROC_FNS}
unit="$name@$port.service"
run="$dir/run"
mkdir -p -- "$run" || exit 1
$P install -D -m 600 /dev/stdin "${ENV_DIR}/$name@$port" || exit 1
printf '%s' "$startfile" > "$run/$port.start.tmp" && mv -f -- "$run/$port.start.tmp" "$run/$port.start" || exit 1
t="${UNIT_DIR}/$name@.service"
if [ "$(cat -- "$t" 2>/dev/null)" != "$(printf '%s' "$template")" ]; then
  printf '%s' "$template" | $P tee "$t" >/dev/null || { echo "cannot write $t, which differs from what the inputs give: allow its tee in sudoers, or install it as root (docs/systemd.md)" >&2; exit 1; }
  $P systemctl daemon-reload || exit 1
  echo reloaded >&2
fi
[ "$($P systemctl is-failed "$unit" 2>/dev/null)" = failed ] && $P systemctl reset-failed "$unit"
if ! $P systemctl start "$unit"; then
  $P journalctl --no-pager -o cat -n 15 -u "$unit" >&2
  exit 1
fi
pid=$($P systemctl show -p MainPID --value "$unit")
[ -n "$pid" ] && [ "$pid" != 0 ] || { echo "systemd started $unit but it has no main process (it exited at once)" >&2; exit 1; }
st=$(starttime "$pid")
printf '%s %s\\n' "$pid" "$st" > "$run/$port.pid"
if [ "$guard" -gt 0 ]; then
  setsid nohup sh -c "$guard_script" guard "$guard" "$pid" "$st" "$unit" "$priv" >/dev/null 2>&1 </dev/null &
  printf '%s\\n' "$!" > "$run/$port.pid.guard"
fi
echo "$pid"
`;

/**
 * Writes the template (when it changed: then daemon-reload), the release's start file and env
 * file (env from stdin, never on a command line), starts NAME@PORT (not enabled), records its MainPID like a detached
 * start, and arms the start guard (it stops the unit unless disarmed). Prints the MainPID.
 */
export function startUnit(priv: boolean, name: string, port: number, remoteDir: string, template: string, startFile: string, env: string, guardSec: number, guardScript: string, o: CmdOptions): Cmd {
  return wrap(`start ${instanceUnit(name, port)}`, START, [priv ? 1 : 0, name, port, remoteDir, template, startFile, Math.ceil(guardSec), guardScript], o, env);
}

export const STOP = `
priv=$1 unit=$2 how=$3 pidfile=$4
${PRIV}
if [ -n "$pidfile" ] && read -r w 2>/dev/null < "$pidfile.guard"; then kill -TERM "-$w" 2>/dev/null; rm -f -- "$pidfile.guard"; fi
state=$($P systemctl is-active "$unit" 2>/dev/null)
case $how in
  stop) $P systemctl stop "$unit" || exit 4 ;;
  disable-now) $P systemctl disable --no-reload --now "$unit" || exit 4 ;;
  disable-now-no-block) $P systemctl disable --no-reload "$unit" && $P systemctl stop --no-block "$unit" || exit 4 ;;
  disable) $P systemctl disable --no-reload "$unit" || exit 4 ;;
esac
[ -n "$pidfile" ] && [ "$how" != disable ] && rm -f -- "$pidfile"
case $state in active | activating | reloading | deactivating) echo "stopped" ;; *) echo "gone" ;; esac
`;

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
  return wrap(`enable ${unit}`, `priv=$1\n${PRIV}\n$P systemctl enable --no-reload "$2" 2>&1`, [priv ? 1 : 0, unit], o);
}

/** Enables and starts a unit (the team's own, given back by a rollback); prints its MainPID. */
export function enableNowUnit(priv: boolean, unit: string, o: CmdOptions): Cmd {
  return wrap(`enable and start ${unit}`, `priv=$1\n${PRIV}\n$P systemctl enable --no-reload --now "$2" >&2 || exit 1\n$P systemctl show -p MainPID --value "$2"`, [priv ? 1 : 0, unit], o);
}

/** The last lines a unit wrote to the journal (its stdout and stderr). */
export function journalTail(priv: boolean, unit: string, o: CmdOptions): Cmd {
  return wrap(`read the journal of ${unit}`, `priv=$1\n${PRIV}\n$P journalctl --no-pager -o cat -n 15 -u "$2" 2>/dev/null || true`, [priv ? 1 : 0, unit], o);
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
      `/usr/bin/journalctl --no-pager -o cat -n 15 -u ${u}`,
    ]),
    ...(takeOver
      ? [
          `/usr/bin/systemctl is-active ${takeOver}`,
          `/usr/bin/systemctl disable --no-reload --now ${takeOver}`,
          `/usr/bin/systemctl disable --no-reload ${takeOver}`,
          `/usr/bin/systemctl enable --no-reload --now ${takeOver}`,
          `/usr/bin/systemctl show -p MainPID --value ${takeOver}`,
          `/usr/bin/journalctl --no-pager -o cat -n 15 -u ${takeOver}`,
        ]
      : []),
  ];
  return `${user} ALL=(root) NOPASSWD: ${cmds.join(', \\\n    ')}\n`;
}
