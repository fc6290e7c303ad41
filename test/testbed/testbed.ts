/**
 * End-to-end testbed: real sshd, real nginx, real JVMs, each "host" in its own Linux network
 * namespace on a private subnet with no route out. Needs root. No Docker.
 *
 *   const tb = await createTestbed({ appHosts: 2, form: 'upstream' });
 *   try { ... } finally { await tb.teardown(); }
 *
 * Options (TestbedOptions, all optional):
 *   prefix, subnet     namespace prefix and third octet (see below)
 *   appHosts           1..16, default 1
 *   nginxHosts         1..4, default 1: `nginx`, `nginx2`, `nginx3`, `nginx4`, identical and
 *                      independent (own sshd, nginx.conf, include, pid file, logs)
 *   form               'set' (default; `set $service_url http://IP:PORT;` inside the server)
 *                      or 'upstream' (`upstream app { server IP:PORT; ... }` at http level)
 *   instances          [{app, port}] (app = 0-based index into apps): the instances the initial
 *                      include names, in order. Default one per app host at 8080 (form
 *                      'set': only the first app host). Several on one host = the rolling
 *                      layout, e.g. form 'upstream' with [{app:0,port:8080},{app:0,port:8081}]
 *                      gives
 *                      `upstream app {\n    server APP1:8080;\n    server APP1:8081;\n}\n`
 *                      (= upstreamIncludeText(...)). With form 'set' at most one entry.
 *   initialInclude     default true: write the include on every nginx host and start them all
 *   keyPassphrase      also provide an encrypted copy of the client key
 *   deployUser         default false. true: every sshd host (nginx and app hosts) has a real
 *                      non-root user `zdddeploy` (DEPLOY_USER; uid = gid = 2950, DEPLOY_UID,
 *                      shell /bin/sh, home /home/zdddeploy) with passwordless sudo for
 *                      everything, and tb.sshUser is 'zdddeploy'. The machine's /etc is NOT
 *                      touched: inside each host's mount namespace per-host copies of
 *                      /etc/passwd, /etc/group, /etc/shadow (and /etc/gshadow) with the user
 *                      appended are bound over the originals, a per-host /etc/sudoers.d (the
 *                      machine's files + a 0440 root-owned drop-in `zdddeploy` with
 *                      `zdddeploy ALL=(ALL) NOPASSWD: ALL`) over /etc/sudoers.d (and, only if the
 *                      machine's /etc/sudoers has no `@includedir /etc/sudoers.d`, a per-host
 *                      copy of it with that line), and `${host.dir}/home` over /home. The user
 *                      logs in with the same client key. /opt/app exists and is owned by the
 *                      user on every host (app hosts: the action's remote dir; nginx hosts: its
 *                      lock dir); /etc/nginx (conf.d) and /var/log/nginx stay root-owned, so
 *                      writing the include needs `sudo -n`. /tmp is mode 1777 on every host, the
 *                      testbed dir 0711 and authorized_keys 0644 (sshd reads it as the user).
 *                      Needs the `sudo` package.
 *   sudoersByHost      with deployUser: { 'app1': TEXT, ... } that host's drop-in instead
 *   sudoers            with deployUser: the text of that drop-in instead (e.g. exactly the
 *                      minimal rule a doc gives); a trailing newline is added if missing. Checked
 *                      with `visudo -cf` at setup: invalid text fails createTestbed, with
 *                      visudo's message.
 *   systemd            default false. true: every APP host runs a real systemd
 *                      (/lib/systemd/systemd) as PID 1, its sshd is the unit `ssh.service`
 *                      (alias sshd.service) there; see "systemd app hosts" below. nginx hosts
 *                      and the runner are unchanged.
 *   allowTcpForwarding per sshd host name ('nginx', 'nginx2', 'app1', ...): false writes
 *                      `AllowTcpForwarding no` into that host's sshd_config (ssh -W / -L /
 *                      direct-tcpip channels are refused there). Default true for every host.
 *   verbose            setup steps to stderr
 *
 * Topology (N = opts.subnet, default 7; P = opts.prefix, default `zddtb${N}`):
 *   `${P}-sw`      switch namespace, a bridge `br0`; every host has a veth into it
 *   `${P}-runner`  10.213.N.10   where the action runs (no sshd, no mount namespace of its own)
 *   `${P}-nginx`   10.213.N.20   sshd + nginx (listens on .20:80 and 127.0.0.1:80)
 *   `${P}-nginxK`  10.213.N.(18+K), K = 2..nginxHosts   more nginx hosts (.21, .22, .23),
 *                  each set up exactly like `nginx`
 *   `${P}-appI`    10.213.N.(30+I), I = 1..appHosts   sshd; nft: TCP 1024-65535 only from
 *                  every nginx host, 127.0.0.0/8 and itself (the runner reaches app ports only
 *                  via SSH)
 *
 * nginx.conf (every nginx host) logs each request to /var/log/nginx/access.log in format `zdd`:
 *   log_format zdd '$msec $status $upstream_addr $upstream_status $upstream_response_time $request_time';
 *   e.g. `1718000000.123 200 10.213.7.31:8080 200 0.004 0.004` (`-` fields when no upstream
 *   was tried; `a, b` lists, with a space, in the upstream fields when nginx tried several,
 *   e.g. `1718000000.123 200 10.213.7.31:8080, 10.213.7.31:8081 502, 200 0.001, 0.004 0.006`).
 *   Read it at tb.localPath(host, '/var/log/nginx/access.log').
 *
 * Every host except the runner (and the systemd app hosts, see below) is started as
 *   nsenter --net=/run/netns/NS unshare --mount --pid --fork --mount-proc --propagation private
 *     sh -c 'mount --bind ...; exec sshd -D'
 * so each host has its own network, mount AND pid namespace; sshd is PID 1 there (it reaps
 * orphans, e.g. `setsid nohup java &`). Per host, `${host.dir}/opt` is bound over /opt and
 * `${host.dir}/tmp` over /tmp (the testbed dir stays visible at its own path); on each nginx
 * host also `${dir}/etc-nginx` over /etc/nginx and `${dir}/log-nginx` over /var/log/nginx.
 * nginx's pid file is `${host.dir}/run/nginx.pid`, named in that host's nginx.conf, so
 * `nginx -s reload` / `nginx -t` run over SSH act on that host's testbed nginx. `ps`, `ss -p`,
 * `lsof`, `kill` over SSH (or via `exec`) see only that host's processes and use that host's pid
 * numbers.
 *
 * systemd app hosts (opts.systemd):
 *   /bin/sh boot.sh is started as
 *     sh -c 'echo $$ > CG/cgroup.procs; exec nsenter --net=/run/netns/NS unshare --cgroup --mount
 *       --pid --uts --ipc --fork --mount-proc --kill-child=SIGKILL --propagation private sh boot.sh'
 *   (CG = `zdd-tb-NS` in the machine's cgroup2 hierarchy, e.g. /sys/fs/cgroup/unified: the root
 *   of the host's cgroup namespace). `${host.dir}/boot.sh` mounts, in the host's mount namespace:
 *   tmpfs on /run, /tmp, /var/tmp (the testbed dir bound back at its own path), a /dev of its
 *   own (null zero full random urandom tty, a devpts instance, shm; /dev/console = /dev/null),
 *   a read-only sysfs of its netns on /sys, a fresh cgroup2 on /sys/fs/cgroup, /proc/sys
 *   read-only but /proc/sys/net, an overlay on /etc (upper `${host.dir}/overlay/etc/upper`, kept
 *   across reboots, with a machine-id of its own), `${host.dir}/opt` on /opt, the deployUser
 *   binds, `${host.dir}/systemd-etc` on /etc/systemd/system, `${host.dir}/systemd-local` on
 *   /usr/local/lib/systemd/system (an overlay of /usr/local/lib supplies the mount point when
 *   the machine lacks it), an empty dir on /lib/systemd/system-generators (no fstab, sysv,
 *   getty... units), tmpfs on /var/log/journal; then `exec setpriv --bounding-set
 *   -sys_module,-sys_time systemd --system --unit=multi-user.target --log-target=journal` with
 *   container=zdd-testbed. systemd-etc starts as the machine's /etc/systemd/system without its
 *   enablements and aliases, plus SYSTEMD_MASKED_UNITS masked (what would write to the machine:
 *   tmpfiles, sysusers, sysctl, udev, timers, getty, logind, dbus, nftables, ...) and
 *   ssh.service enabled. So: units written to /etc/systemd/system or
 *   /usr/local/lib/systemd/system, their enablement, /etc changes and /opt survive a reboot;
 *   /run, /tmp, /var/tmp and the (volatile) journal do not. The machine's /tmp, /etc, /dev and
 *   sysctls are never written. Boot (parallel over hosts) takes ~0.3 s: createTestbed and
 *   reboot return once sshd listens and `systemctl is-system-running` says running or degraded
 *   (else they fail after 60 s, listing `systemctl --failed` and the journal).
 *   exec/execAs join all of the host's namespaces (cgroup too) and its cgroup `/zdd-exec`, so a
 *   `setsid nohup` process started there is reparented to (and reaped by) systemd. SSH sessions
 *   run in ssh.service's cgroup (no logind, no PAM). journalctl -u UNIT shows a unit's output.
 *   There is no D-Bus: systemctl works as root (private socket) and via `sudo -n systemctl`,
 *   but as a non-root user it fails ("Failed to connect to bus").
 *
 * API (all async functions are bounded in time):
 *   createTestbed(opts?: TestbedOptions): Promise<Testbed>
 *   DEPLOY_USER = 'zdddeploy', DEPLOY_UID = 2950      the deployUser account (gid = uid)
 *   cleanupStale(prefix?: string): Promise<string[]>   kill + delete leftover `${prefix}-*` ns/dirs
 *   buildAppClasses(): Promise<string>                 javac once, cached in test/app/build/<hash>
 *   parseInfo(body): Record<string,string>             parses the app's /info answer
 *   nsPids(ns): Promise<number[]>                      root-ns PIDs of all processes in netns NS
 *   SYSTEMD_MASKED_UNITS: readonly string[]            units masked on every systemd host
 *   upstreamIncludeText(entries: {ip, port}[]): string `upstream app {...}` text, one server each
 *   initialIncludeText(form, apps, port = 8080): string  the default include for those apps
 *   Testbed:
 *     dir, prefix, subnet, form, runner, nginx, nginxes, apps, hosts, instances, sshUser,
 *     privateKey, privateKeyPath, publicKey, encryptedKey?, knownHosts, knownHostsHashed,
 *     knownHostsPath, knownHostsHashedPath
 *         nginx = nginxes[0]; hosts = [...nginxes, ...apps] (every sshd host, all in known_hosts);
 *         instances = [{host, port}] named by the initial include; sshUser: string, 'root', or
 *         'zdddeploy' with deployUser (root can always log in too)
 *     exec(host, argv, {timeoutMs?, input?, env?})  → {code, stdout, stderr, timedOut}
 *         argv runs as root inside that host's namespaces (the same ones its sshd uses); no shell
 *         unless you pass ['sh','-c',...]. On the runner: only its network namespace.
 *     execAs(host, user, argv, {timeoutMs?, input?, env?})  → {code, stdout, stderr, timedOut}
 *         like exec, but argv runs as `user` (name or uid as that host's `getent passwd` knows
 *         it, e.g. tb.sshUser): after entering the namespaces, `setpriv --reuid --regid
 *         --init-groups`; env HOME/USER/LOGNAME/SHELL from the passwd entry; cwd /.
 *     runInRunner(argv, {env, timeoutMs, cwd?, input?}) → {code, stdout, stderr, timedOut}
 *         env is the WHOLE environment (PATH is added if missing).
 *     spawnInRunner(argv, {env?, cwd?, stdio?}): ChildProcess   killed by teardown if still alive
 *     get(path, {timeoutMs?, headers?, nginx?}) → {status, body}  GET http://NGINX_IP<path> from
 *         the runner with curl (opts.nginx: that nginx host, default the first); status 0
 *         (body = curl's error) when no HTTP answer came.
 *     makeJar(version): Promise<string>   local jar path (visible at the same path on every host)
 *     startSeedApp(host, port, version, javaOpts?, {waitMs?, appArgs?, env?, jarName?, user?})
 *         copies the jar to /opt/app/<jarName> (default `app-<port>.jar`) and runs
 *         `setsid nohup java <javaOpts> -Dserver.port=<port> -jar JAR >/opt/app/app-<port>.log
 *         2>&1 </dev/null &` from /opt/app; waits until the port listens (waitMs, default 15 s;
 *         0 = don't wait); returns the pid (in that host's pid namespace). user (default root):
 *         do all of that as this user (via execAs), e.g. tb.sshUser with deployUser.
 *     pidOnPort(host, port): Promise<number|null>   LISTEN socket owner via `ss -Htlnp`
 *     readInclude(host?): Promise<string|null>; writeInclude(text, host?)
 *         that nginx host's /etc/nginx/conf.d/service_url.inc (host: one of nginxes, default the
 *         first; any other host throws)
 *     startNginx(host?); reloadNginx(host?); nginxTest(host?)   → exec results on that nginx host
 *         (default the first; startNginx throws on failure)
 *     localPath(host, remotePath): string   a host's /opt, /tmp file; on nginx hosts also
 *         /etc/nginx, /var/log/nginx; on systemd hosts also /etc/systemd/system and
 *         /usr/local/lib/systemd/system, while /tmp, /var/tmp and /run map to
 *         /proc/<its systemd's pid>/root/... (valid until the host's next reboot)
 *     systemd: boolean   opts.systemd
 *     systemctl(host, ...args) → exec(host, ['systemctl', ...args]) (30 s timeout)
 *     reboot(host): Promise<void>   systemd hosts: SIGKILL the host's systemd (that ends its pid
 *         namespace: every process of the host), run boot.sh again, wait as at setup. The
 *         network namespace, nft rules, sshd host key and the per-host dirs stay.
 *     teardown(): Promise<void>   idempotent; kills every process in our namespaces by PID
 *         (a systemd host's PID 1 first, with SIGKILL; then SIGTERM, then SIGKILL), deletes the
 *         namespaces, the systemd hosts' cgroups and the temp dir.
 *
 * Gotchas:
 *  - The PIDs returned by exec/startSeedApp/pidOnPort are in the host's pid namespace, as the
 *    action sees them over SSH; signal them with tb.exec(host, ['kill', ...]).
 *  - `initialInclude: false` writes nginx.conf but no include and does not start nginx; write
 *    the include (or let the action do it) and call startNginx() (per nginx host).
 *  - createTestbed refuses to run if namespaces with its prefix exist: call cleanupStale(prefix).
 *  - systemd EnvironmentFile=: `KEY="value"` with every `\` written `\\` and every `"` written `\"`
 *    round-trips any value (spaces, quotes, $, backticks, =, #, %, tabs, newlines, leading and
 *    trailing blanks): inside "..." systemd takes \" \\ \` \$ as the character, drops a
 *    backslash-newline, keeps any other backslash, and expands neither $VAR nor %specifiers.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ExecOptions, ExecResult, GetOptions, Host, RunOptions, SeedAppOptions, SpawnOptions, Testbed, TestbedOptions } from './types.ts';
import { DEPLOY_USER, ETC_UNITS, IP, LOCAL_UNITS, NGINX, NSENTER, SETPRIV, SSHD, SYS_PATH, UNSHARE, VISUDO, must, run, shq, sleep, withNewline } from './proc.ts';
import { alive, cgroup2Root, checkPrefix, inNetns, killNamespaceProcs, listNamespaces, ourNsRegex, removeCgroup, removeDir, systemdInits } from './namespaces.ts';
import { buildAppClasses } from './javaapp.ts';
import { appFirewall, nginxConf, sshdConfig, upstreamIncludeText } from './config.ts';
import { overlayForMountPoint, seedEtcUnits } from './systemd.ts';
import { prepareDeployUser, readMachineEtc } from './etc.ts';

export type { ExecOptions, ExecResult, GetOptions, Host, RunOptions, SeedAppOptions, SpawnOptions, Testbed, TestbedOptions } from './types.ts';
export { DEPLOY_UID, DEPLOY_USER } from './proc.ts';
export { cleanupStale, nsPids } from './namespaces.ts';
export { buildAppClasses, parseInfo } from './javaapp.ts';
export { initialIncludeText, upstreamIncludeText } from './config.ts';
export { SYSTEMD_MASKED_UNITS } from './systemd.ts';

/**
 * systemd, booted only by createTestbed's boot script below, as PID 1 of a host's own pid + mount
 * namespace, after private tmpfs mounts on /run, /tmp and /var/tmp: systemd-tmpfiles empties /tmp
 * at boot, and it must never see the machine's (../shared/testbed-systemd.md).
 */
const SYSTEMD = '/lib/systemd/systemd';

// ---------------------------------------------------------------------------------------------

export async function createTestbed(opts: TestbedOptions = {}): Promise<Testbed> {
  const subnet = opts.subnet ?? 7;
  if (!Number.isInteger(subnet) || subnet < 1 || subnet > 254) throw new Error(`bad subnet ${subnet}`);
  const prefix = opts.prefix ?? `zddtb${subnet}`;
  checkPrefix(prefix);
  const appCount = opts.appHosts ?? 1;
  if (!Number.isInteger(appCount) || appCount < 1 || appCount > 16) throw new Error(`appHosts must be 1..16, got ${appCount}`);
  const nginxCount = opts.nginxHosts ?? 1;
  if (!Number.isInteger(nginxCount) || nginxCount < 1 || nginxCount > 4) throw new Error(`nginxHosts must be 1..4, got ${nginxCount}`);
  const form = opts.form ?? 'set';
  const instanceSpec = opts.instances ?? (form === 'set' ? [{ app: 0, port: 8080 }] : Array.from({ length: appCount }, (_, app) => ({ app, port: 8080 })));
  if (instanceSpec.length < 1) throw new Error('instances must not be empty');
  for (const i of instanceSpec) {
    if (!Number.isInteger(i.app) || i.app < 0 || i.app >= appCount) throw new Error(`instances: app must be 0..${appCount - 1}, got ${i.app}`);
    if (!Number.isInteger(i.port) || i.port < 1 || i.port > 65535) throw new Error(`instances: port must be 1..65535, got ${i.port}`);
  }
  if (opts.instances && form === 'set' && instanceSpec.length > 1) throw new Error(`form 'set' names one instance, got ${instanceSpec.length}`);
  const initialInclude = opts.initialInclude ?? true;
  const deployUser = opts.deployUser ?? false;
  const useSystemd = opts.systemd ?? false;
  if (typeof useSystemd !== 'boolean') throw new Error('systemd must be a boolean');
  if (opts.sudoers !== undefined && !deployUser) throw new Error('sudoers needs deployUser: true');
  if (opts.sudoers !== undefined && typeof opts.sudoers !== 'string') throw new Error('sudoers must be a string');
  if (opts.sudoersByHost !== undefined && !deployUser) throw new Error('sudoersByHost needs deployUser: true');
  const sudoersText =
    opts.sudoers === undefined
      ? `# zdd testbed: the deploy user may run anything as anyone, without a password\n${DEPLOY_USER} ALL=(ALL) NOPASSWD: ALL\n`
      : opts.sudoers.endsWith('\n')
        ? opts.sudoers
        : `${opts.sudoers}\n`;
  const sshHostNames = [...Array.from({ length: nginxCount }, (_, i) => (i === 0 ? 'nginx' : `nginx${i + 1}`)), ...Array.from({ length: appCount }, (_, i) => `app${i + 1}`)];
  for (const [name, allow] of Object.entries(opts.allowTcpForwarding ?? {})) {
    if (!sshHostNames.includes(name)) throw new Error(`allowTcpForwarding: no sshd host ${JSON.stringify(name)} (hosts: ${sshHostNames.join(', ')})`);
    if (typeof allow !== 'boolean') throw new Error(`allowTcpForwarding.${name} must be a boolean`);
  }
  const log = (m: string) => {
    if (opts.verbose) process.stderr.write(`[testbed ${prefix}] ${m}\n`);
  };
  const t0 = Date.now();

  if (typeof process.getuid === 'function' && process.getuid() !== 0) throw new Error('the testbed needs root');
  const re = ourNsRegex(prefix);
  const existing = (await listNamespaces()).filter((n) => re.test(n));
  if (existing.length) {
    throw new Error(`namespaces ${existing.join(', ')} already exist: another testbed runs with prefix ${prefix}, or a crashed one left them (cleanupStale('${prefix}'))`);
  }

  const machineEtc = deployUser ? await readMachineEtc() : undefined;
  const cgRoot = useSystemd ? cgroup2Root() : undefined;
  if (useSystemd) {
    if (!fs.existsSync(SYSTEMD)) throw new Error(`systemd hosts need ${SYSTEMD} (the systemd package)`);
    if (!cgRoot) throw new Error('systemd hosts need a cgroup2 hierarchy on the machine (none mounted)');
  }

  const classes = buildAppClasses(); // runs in parallel with the namespace setup
  classes.catch(() => {});

  // --- tracked state, so teardown works whatever point setup reached
  const createdNs: string[] = [];
  const children = new Set<ChildProcess>();
  /** ns → root-ns PID of a systemd host's systemd (its pid namespace's PID 1) */
  const systemdPids = new Map<string, number>();
  /** the per-host cgroups (machine's cgroup2 hierarchy) systemd hosts run in */
  const createdCgroups: string[] = [];
  let dir = '';
  let tornDown: Promise<void> | undefined;

  const teardown = (): Promise<void> => {
    tornDown ??= (async () => {
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
      if (dir) {
        try {
          await removeDir(dir);
        } catch (e) {
          errors.push(String(e));
        }
      }
      log(`teardown done${errors.length ? ' with errors' : ''}`);
      if (errors.length) throw new Error(`testbed teardown: ${errors.join('\n')}`);
    })();
    return tornDown;
  };

  try {
    dir = await fsp.mkdtemp(path.join(os.tmpdir(), `zdd-tb-${prefix}-`));
    for (const text of [...(opts.sudoers !== undefined ? [sudoersText] : []), ...Object.values(opts.sudoersByHost ?? {}).map(withNewline)]) {
      // the drop-in as sudo will read it: visudo checks syntax (and owner and mode)
      const check = path.join(dir, 'sudoers-check');
      await fsp.writeFile(check, text, { mode: 0o440 });
      const r = await run([VISUDO, '-c', '-f', check]);
      if (r.code !== 0) throw new Error(`sudoers: visudo -cf rejects the text:\n${(r.stderr + r.stdout).split(check).join('<sudoers>').trim()}\n--- text:\n${text}`);
      await fsp.rm(check);
    }
    if (useSystemd && /[,:\s]/.test(dir)) throw new Error(`systemd hosts need a testbed dir without ',', ':' or spaces (overlay options, unit files): ${dir}`);
    if (useSystemd && ['/run', '/dev'].some((p) => !path.relative(p, dir).startsWith('..'))) throw new Error(`systemd hosts get a new /run and /dev: the testbed dir cannot be in there (${dir}; set TMPDIR)`);
    const net = `10.213.${subnet}`;
    const mkHost = (name: string, ip: string): Host => ({ name, ns: `${prefix}-${name}`, ip, dir: path.join(dir, 'hosts', name) });
    const runner = mkHost('runner', `${net}.10`);
    const nginxes = Array.from({ length: nginxCount }, (_, i) => mkHost(i === 0 ? 'nginx' : `nginx${i + 1}`, `${net}.${20 + i}`));
    const nginx = nginxes[0];
    const apps = Array.from({ length: appCount }, (_, i) => mkHost(`app${i + 1}`, `${net}.${31 + i}`));
    const instances = instanceSpec.map((i) => ({ host: apps[i.app], port: i.port }));
    const sshHosts = [...nginxes, ...apps];
    const all = [runner, ...sshHosts];
    const isNginx = (h: Host) => nginxes.some((n) => n.ns === h.ns);
    for (const h of all) {
      for (const sub of ['opt', 'tmp', 'run', 'var']) await fsp.mkdir(path.join(h.dir, sub), { recursive: true });
    }
    for (const n of nginxes) {
      await fsp.mkdir(path.join(n.dir, 'etc-nginx', 'conf.d'), { recursive: true });
      await fsp.mkdir(path.join(n.dir, 'log-nginx'), { recursive: true });
    }
    await fsp.mkdir(path.join(dir, 'jars'), { recursive: true });
    await fsp.mkdir('/run/sshd', { recursive: true });

    // --- network
    const sw = `${prefix}-sw`;
    const addNs = async (ns: string) => {
      await must([IP, 'netns', 'add', ns]);
      createdNs.push(ns);
      await must([IP, '-n', ns, 'link', 'set', 'lo', 'up']);
      // Sustained Connection: close load makes nginx open a new upstream connection per request;
      // without reuse of TIME_WAIT ports the namespace runs out of ephemeral ports after
      // ~30k requests and nginx answers 502 (a load-generator artifact, not a deploy fault).
      await must([IP, 'netns', 'exec', ns, 'sysctl', '-q', '-w', 'net.ipv4.tcp_tw_reuse=1', 'net.ipv4.ip_local_port_range=1024 65000']);
    };
    await addNs(sw);
    await must([IP, '-n', sw, 'link', 'add', 'br0', 'type', 'bridge']);
    await must([IP, '-n', sw, 'link', 'set', 'br0', 'up']);
    for (const h of all) await addNs(h.ns);
    await Promise.all(
      all.map(async (h) => {
        const v = `v-${h.name}`;
        await must([IP, '-n', sw, 'link', 'add', v, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', h.ns]);
        await must([IP, '-n', sw, 'link', 'set', v, 'master', 'br0']);
        await must([IP, '-n', sw, 'link', 'set', v, 'up']);
        await must([IP, '-n', h.ns, 'addr', 'add', `${h.ip}/24`, 'dev', 'eth0']);
        await must([IP, '-n', h.ns, 'link', 'set', 'eth0', 'up']);
      }),
    );
    log(`network up (${Date.now() - t0} ms)`);

    // --- keys
    const keysDir = path.join(dir, 'keys');
    await fsp.mkdir(keysDir);
    const privateKeyPath = path.join(keysDir, 'id_ed25519');
    const keygen = (file: string, comment: string) => must(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', file]);
    await Promise.all([
      keygen(privateKeyPath, 'zdd-testbed-client'),
      ...sshHosts.map((h) => keygen(path.join(h.dir, 'ssh_host_ed25519_key'), `zdd-testbed-${h.name}`)),
    ]);
    await fsp.chmod(privateKeyPath, 0o600);
    const privateKey = await fsp.readFile(privateKeyPath, 'utf8');
    const publicKey = await fsp.readFile(`${privateKeyPath}.pub`, 'utf8');
    const authorizedKeys = path.join(keysDir, 'authorized_keys');
    await fsp.writeFile(authorizedKeys, publicKey, { mode: 0o600 });
    let encryptedKey: Testbed['encryptedKey'];
    if (opts.keyPassphrase !== undefined) {
      const encPath = path.join(keysDir, 'id_ed25519_enc');
      await fsp.copyFile(privateKeyPath, encPath);
      await fsp.chmod(encPath, 0o600);
      await must(['ssh-keygen', '-q', '-p', '-P', '', '-N', opts.keyPassphrase, '-f', encPath]);
      encryptedKey = { key: await fsp.readFile(encPath, 'utf8'), passphrase: opts.keyPassphrase, path: encPath };
    }
    let knownHosts = '';
    for (const h of sshHosts) {
      const pub = (await fsp.readFile(path.join(h.dir, 'ssh_host_ed25519_key.pub'), 'utf8')).trim().split(/\s+/);
      knownHosts += `${h.ip} ${pub[0]} ${pub[1]}\n`;
    }
    const knownHostsPath = path.join(keysDir, 'known_hosts');
    const knownHostsHashedPath = path.join(keysDir, 'known_hosts_hashed');
    await fsp.writeFile(knownHostsPath, knownHosts);
    await fsp.writeFile(knownHostsHashedPath, knownHosts);
    await must(['ssh-keygen', '-q', '-H', '-f', knownHostsHashedPath]);
    await fsp.rm(`${knownHostsHashedPath}.old`, { force: true });
    const knownHostsHashed = await fsp.readFile(knownHostsHashedPath, 'utf8');

    // --- configs
    for (const h of sshHosts) await fsp.writeFile(path.join(h.dir, 'sshd_config'), sshdConfig(h, authorizedKeys, opts.allowTcpForwarding?.[h.name] ?? true));
    const deployBinds = new Map<string, string[]>();
    if (machineEtc) {
      // sshd reads AuthorizedKeysFile as the user: let it through the testbed dir to the file
      await fsp.chmod(dir, 0o711);
      await fsp.chmod(authorizedKeys, 0o644);
      for (const h of sshHosts) {
        const own = opts.sudoersByHost?.[h.name];
        deployBinds.set(h.ns, await prepareDeployUser(h, machineEtc, own !== undefined ? withNewline(own) : sudoersText));
      }
    }
    const includeText =
      form === 'set'
        ? `set $service_url http://${instances[0].host.ip}:${instances[0].port};\n`
        : upstreamIncludeText(instances.map((i) => ({ ip: i.host.ip, port: i.port })));
    for (const n of nginxes) {
      const etcNginx = path.join(n.dir, 'etc-nginx');
      await fsp.copyFile('/etc/nginx/mime.types', path.join(etcNginx, 'mime.types'));
      await fsp.writeFile(path.join(etcNginx, 'nginx.conf'), nginxConf(n, form));
      if (initialInclude) await fsp.writeFile(path.join(etcNginx, 'conf.d', 'service_url.inc'), includeText);
    }
    await Promise.all(
      apps.map(async (a) => {
        const f = path.join(a.dir, 'firewall.nft');
        await fsp.writeFile(f, appFirewall(a, nginxes.map((n) => n.ip)));
        await must([NSENTER, `--net=/run/netns/${a.ns}`, '--', 'nft', '-f', f]);
      }),
    );

    // --- start sshd per host, each in its own mount + pid namespace
    const initPid = new Map<string, number>();
    const tmpRel = path.relative('/tmp', dir);
    const underTmp = !tmpRel.startsWith('..') && !path.isAbsolute(tmpRel);
    const isSystemd = (h: Host) => useSystemd && apps.some((a) => a.ns === h.ns);
    const bootChild = new Map<string, ChildProcess>();
    const cgOf = (h: Host) => path.join(cgRoot ?? '/nonexistent', `zdd-tb-${h.ns}`);

    const hostEnv = (extra?: Record<string, string>) => ({ PATH: SYS_PATH, HOME: '/root', LANG: 'C.UTF-8', USER: 'root', LOGNAME: 'root', ...extra });
    const enterArgs = (host: Host): string[] => {
      if (host.ns === runner.ns) return [NSENTER, `--net=/run/netns/${host.ns}`, '--'];
      const pid = initPid.get(host.ns);
      if (!pid) throw new Error(isSystemd(host) ? `${host.name} is not booted (a reboot failed or is under way)` : `unknown host ${host.name}`);
      if (!isSystemd(host)) return [NSENTER, `--target=${pid}`, '--mount', '--net', '--pid', '--wd=/', '--'];
      // into the host's cgroup subtree first (from outside: inside, the machine's cgroup the
      // caller is in is out of reach), then into all of its namespaces
      return [
        '/bin/sh',
        '-c',
        '{ echo $$ > "$0"; } 2>/dev/null; exec "$@"',
        path.join(cgOf(host), 'zdd-exec', 'cgroup.procs'),
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
    };
    const exec = (host: Host, argv: string[], o: ExecOptions = {}): Promise<ExecResult> => {
      if (tornDown) return Promise.reject(new Error('testbed is torn down'));
      return run([...enterArgs(host), ...argv], { env: hostEnv(o.env), input: o.input, timeoutMs: o.timeoutMs ?? 30_000 });
    };

    /** starts argv detached (own session), output to logFile (flags 'a' or 'w'); tracked for teardown */
    const spawnHost = (h: Host, argv: string[], logFile: string, flags = 'a'): ChildProcess => {
      const logFd = fs.openSync(logFile, flags);
      let child: ChildProcess;
      try {
        child = spawn(argv[0], argv.slice(1), { detached: true, stdio: ['ignore', logFd, logFd], env: { PATH: SYS_PATH, HOME: '/root', LANG: 'C.UTF-8' } });
      } finally {
        fs.closeSync(logFd);
      }
      children.add(child);
      child.unref();
      child.on('error', () => {});
      bootChild.set(h.ns, child);
      return child;
    };
    const exited = (c: ChildProcess) => c.exitCode !== null || c.signalCode !== null;
    /** the pid-namespace init (the child of unshare) */
    const findInit = async (h: Host, child: ChildProcess, deadline: number, why: () => Promise<string>): Promise<number> => {
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
    };
    /** both listen sockets of the host's sshd */
    const waitSshd = async (h: Host, child: ChildProcess, deadline: number, why: () => Promise<string>): Promise<void> => {
      for (;;) {
        const r = await run([NSENTER, `--net=/run/netns/${h.ns}`, '--', 'ss', '-Htln', 'sport = :22']);
        if (r.stdout.includes(`${h.ip}:22`) && r.stdout.includes('127.0.0.1:22')) return;
        if (exited(child) || Date.now() > deadline) throw new Error(`sshd for ${h.name} is not listening:\n${await why()}`);
        await sleep(20);
      }
    };

    // plain hosts: sh (then sshd) is PID 1
    const startPlain = async (h: Host) => {
      // A clean /root per host: the machine's own may source slow shell start-up files
      // (sshd runs every command through the user's shell).
      fs.mkdirSync(path.join(h.dir, 'home-root'), { recursive: true });
      const binds = [`mount --bind ${shq(h.dir + '/opt')} /opt`, `mount --bind ${shq(h.dir + '/home-root')} /root`];
      if (isNginx(h)) {
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
        h,
        [NSENTER, `--net=/run/netns/${h.ns}`, '--', UNSHARE, '--mount', '--pid', '--fork', '--mount-proc', '--kill-child=SIGKILL', '--propagation', 'private', '/bin/sh', '-c', script],
        logFile,
      );
      const deadline = Date.now() + 5000;
      initPid.set(h.ns, await findInit(h, child, deadline, why));
      await waitSshd(h, child, deadline, why);
    };

    // systemd hosts: the boot script (written once, run at every boot) ends in `exec systemd`
    const ttyGid = Number(/^tty:[^:]*:(\d+):/m.exec(fs.readFileSync('/etc/group', 'utf8'))?.[1] ?? 5);
    const prepareSystemd = async (h: Host): Promise<void> => {
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
      const cg = cgOf(h);
      await fsp.mkdir(path.join(cg, 'zdd-exec'), { recursive: true });
      createdCgroups.push(cg);
    };
    const systemdDiag = async (h: Host): Promise<string> => {
      const parts = [`--- ${path.join(h.dir, 'boot.log')} (this boot):\n${await fsp.readFile(path.join(h.dir, 'boot.log'), 'utf8').catch(() => '')}`];
      if (initPid.has(h.ns)) {
        for (const argv of [
          ['systemctl', 'is-system-running'],
          ['systemctl', '--failed', '--no-pager', '--full'],
          ['journalctl', '-b', '--no-pager', '-n', '40'],
        ]) {
          const r = await exec(h, argv, { timeoutMs: 5000 }).catch((e: unknown) => ({ stdout: '', stderr: String(e) }));
          parts.push(`--- ${argv.join(' ')}:\n${r.stdout}${r.stderr}`);
        }
      }
      return parts.join('\n');
    };
    /** runs the boot script; resolves when sshd listens and systemd says running/degraded */
    const bootSystemd = async (h: Host, timeoutMs: number): Promise<void> => {
      const t = Date.now();
      const deadline = t + timeoutMs;
      const why = () => systemdDiag(h);
      const child = spawnHost(
        h,
        [
          '/bin/sh',
          '-c',
          `echo $$ > ${shq(path.join(cgOf(h), 'cgroup.procs'))} && exec "$@"`,
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
      initPid.set(h.ns, pid);
      systemdPids.set(h.ns, pid);
      await waitSshd(h, child, deadline, why);
      let state: string;
      for (;;) {
        const r = await exec(h, ['systemctl', 'is-system-running'], { timeoutMs: 5000 });
        state = r.stdout.trim();
        if (state === 'running' || state === 'degraded') break;
        if (exited(child) || Date.now() > deadline) throw new Error(`${h.name}: systemd is ${JSON.stringify(state || r.stderr.trim())} after ${Date.now() - t} ms, not running:\n${await why()}`);
        await sleep(30);
      }
      log(`${h.name}: systemd ${state} (pid ${pid}) in ${Date.now() - t} ms`);
    };

    if (useSystemd) await Promise.all(apps.map(prepareSystemd));
    await Promise.all(sshHosts.map((h) => (isSystemd(h) ? bootSystemd(h, 60_000) : startPlain(h))));
    log(`sshd up on ${sshHosts.length} hosts (${Date.now() - t0} ms)`);

    // --- the testbed object
    const users = new Map<string, Promise<{ name: string; uid: number; gid: number; home: string; shell: string }>>();
    const lookupUser = (host: Host, user: string) => {
      const key = `${host.ns}\0${user}`;
      let p = users.get(key);
      if (!p) {
        p = (async () => {
          const r = await exec(host, ['getent', 'passwd', user], { timeoutMs: 5000 });
          const f = r.stdout.split('\n')[0].split(':');
          if (r.code !== 0 || f.length < 7) throw new Error(`execAs: no user ${JSON.stringify(user)} on ${host.name}`);
          return { name: f[0], uid: Number(f[2]), gid: Number(f[3]), home: f[5], shell: f[6] };
        })();
        users.set(key, p);
        p.catch(() => users.delete(key));
      }
      return p;
    };
    const execAs = async (host: Host, user: string, argv: string[], o: ExecOptions = {}): Promise<ExecResult> => {
      if (tornDown) throw new Error('testbed is torn down');
      const u = await lookupUser(host, user);
      const env = { PATH: SYS_PATH, HOME: u.home, LANG: 'C.UTF-8', USER: u.name, LOGNAME: u.name, SHELL: u.shell, ...o.env };
      const setpriv = ['setpriv', `--reuid=${u.uid}`, `--regid=${u.gid}`, '--init-groups', '--'];
      return run([...enterArgs(host), ...setpriv, ...argv], { env, input: o.input, timeoutMs: o.timeoutMs ?? 30_000 });
    };
    const runnerEnv = (env: Record<string, string> | undefined) => ({ PATH: SYS_PATH, ...(env ?? {}) });
    const runInRunner = (argv: string[], o: RunOptions): Promise<ExecResult> => {
      if (tornDown) return Promise.reject(new Error('testbed is torn down'));
      return run([...enterArgs(runner), ...argv], { env: runnerEnv(o.env), cwd: o.cwd, input: o.input, timeoutMs: o.timeoutMs });
    };
    const spawnInRunner = (argv: string[], o: SpawnOptions = {}): ChildProcess => {
      if (tornDown) throw new Error('testbed is torn down');
      const c = spawn(NSENTER, [`--net=/run/netns/${runner.ns}`, '--', ...argv], {
        env: runnerEnv(o.env),
        cwd: o.cwd,
        stdio: o.stdio ?? ['ignore', 'pipe', 'pipe'],
      });
      children.add(c);
      c.on('exit', () => children.delete(c));
      return c;
    };
    const nginxHost = (host: Host | undefined): Host => {
      if (host === undefined) return nginx;
      const n = nginxes.find((x) => x.ns === host.ns);
      if (!n) throw new Error(`${host.name} is not an nginx host (${nginxes.map((x) => x.name).join(', ')})`);
      return n;
    };
    const get = async (urlPath: string, o: GetOptions = {}) => {
      const target = nginxHost(o.nginx);
      const timeoutMs = o.timeoutMs ?? 5000;
      const marker = '\n__zdd_status__';
      const argv = ['curl', '-sS', '--noproxy', '*', '--max-time', String(timeoutMs / 1000), '-w', `${marker}%{http_code}`];
      for (const [k, v] of Object.entries(o.headers ?? {})) argv.push('-H', `${k}: ${v}`);
      argv.push(`http://${target.ip}${urlPath.startsWith('/') ? '' : '/'}${urlPath}`);
      const r = await runInRunner(argv, { env: {}, timeoutMs: timeoutMs + 2000 });
      const i = r.stdout.lastIndexOf(marker);
      if (r.code !== 0 || i < 0) return { status: 0, body: (r.stderr || r.stdout).trim() };
      return { status: Number(r.stdout.slice(i + marker.length)), body: r.stdout.slice(0, i) };
    };
    const jars = new Map<string, Promise<string>>();
    let jarSeq = 0;
    const makeJar = (version: string): Promise<string> => {
      let p = jars.get(version);
      if (!p) {
        p = (async () => {
          const cls = await classes;
          const n = ++jarSeq;
          const stage = path.join(dir, 'jars', `stage-${n}`);
          await fsp.cp(cls, stage, { recursive: true });
          await fsp.writeFile(path.join(stage, 'version.txt'), `${version}\n`);
          const safe = version.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 60);
          const jarPath = path.join(dir, 'jars', `app-${safe}-${n}.jar`);
          await must(['jar', '-J-XX:-UsePerfData', '--create', '--file', jarPath, '--main-class', 'App', '-C', stage, '.'], { timeoutMs: 60_000 });
          await fsp.rm(stage, { recursive: true, force: true });
          return jarPath;
        })();
        jars.set(version, p);
        p.catch(() => jars.delete(version));
      }
      return p;
    };
    const pidOnPort = async (host: Host, port: number): Promise<number | null> => {
      const r = await exec(host, ['ss', '-Htlnp', `sport = :${port}`], { timeoutMs: 5000 });
      const m = /pid=(\d+)/.exec(r.stdout);
      return m ? Number(m[1]) : null;
    };
    const startSeedApp = async (host: Host, port: number, version: string, javaOpts: string[] = [], o: SeedAppOptions = {}): Promise<number> => {
      const jar = await makeJar(version);
      const jarName = o.jarName ?? `app-${port}.jar`;
      const dest = `/opt/app/${jarName}`;
      const envPrefix = Object.entries(o.env ?? {})
        .map(([k, v]) => `${k}=${shq(v)} `)
        .join('');
      const cmd = [
        'mkdir -p /opt/app',
        `cp ${shq(jar)} ${shq(dest)}`,
        'cd /opt/app',
        `${envPrefix}setsid nohup java ${javaOpts.map(shq).join(' ')} -Dserver.port=${port} -jar ${shq(dest)} ${(o.appArgs ?? []).map(shq).join(' ')} > /opt/app/app-${port}.log 2>&1 < /dev/null &`,
        'echo $!',
      ].join('\n');
      const r = o.user === undefined ? await exec(host, ['sh', '-c', cmd], { timeoutMs: 10_000 }) : await execAs(host, o.user, ['sh', '-c', cmd], { timeoutMs: 10_000 });
      if (r.code !== 0) throw new Error(`startSeedApp on ${host.name}${o.user === undefined ? '' : ` as ${o.user}`}: ${r.stderr}`);
      const pid = Number(r.stdout.trim());
      const waitMs = o.waitMs ?? 15_000;
      if (waitMs > 0) {
        const deadline = Date.now() + waitMs;
        for (;;) {
          const owner = await pidOnPort(host, port);
          if (owner === pid) break;
          const alive = await exec(host, ['kill', '-0', String(pid)], { timeoutMs: 5000 });
          if (alive.code !== 0 || Date.now() > deadline) {
            const logText = await fsp.readFile(path.join(host.dir, 'opt', 'app', `app-${port}.log`), 'utf8').catch(() => '');
            throw new Error(`seed app ${version} on ${host.name}:${port} (pid ${pid}) did not listen${owner ? ` (port held by pid ${owner})` : ''}:\n${logText}`);
          }
          await sleep(50);
        }
      }
      return pid;
    };
    const includeLocal = (host?: Host) => path.join(nginxHost(host).dir, 'etc-nginx', 'conf.d', 'service_url.inc');
    const readInclude = async (host?: Host) => {
      const file = includeLocal(host);
      try {
        return await fsp.readFile(file, 'utf8');
      } catch {
        return null;
      }
    };
    const writeInclude = async (text: string, host?: Host) => {
      const file = includeLocal(host);
      const tmp = `${file}.tb-tmp`;
      await fsp.writeFile(tmp, text);
      await fsp.rename(tmp, file);
    };
    const nginxTest = (host?: Host) => exec(nginxHost(host), [NGINX, '-t'], { timeoutMs: 10_000 });
    const reloadNginx = (host?: Host) => exec(nginxHost(host), [NGINX, '-s', 'reload'], { timeoutMs: 10_000 });
    const startNginx = async (host?: Host) => {
      const n = nginxHost(host);
      const r = await exec(n, [NGINX], { timeoutMs: 10_000 });
      if (r.code !== 0) throw new Error(`nginx did not start on ${n.name}: ${r.stderr}`);
      const deadline = Date.now() + 5000;
      for (;;) {
        const s = await exec(n, ['ss', '-Htln', 'sport = :80'], { timeoutMs: 5000 });
        if (s.stdout.includes(`${n.ip}:80`)) break;
        if (Date.now() > deadline) throw new Error(`nginx on ${n.name} is not listening on :80`);
        await sleep(20);
      }
      return r;
    };
    const localPath = (host: Host, remotePath: string): string => {
      const p = path.posix.normalize(remotePath);
      const under = (remote: string) => p === remote || p.startsWith(remote + '/');
      if (isSystemd(host)) {
        // tmpfs of the running boot: reachable through its PID 1's root
        for (const remote of ['/tmp', '/var/tmp', '/run']) {
          if (under(remote)) {
            const pid = initPid.get(host.ns);
            if (!pid) throw new Error(`${host.name} is not booted`);
            return `/proc/${pid}/root${p}`;
          }
        }
      }
      const map: [string, string][] = [['/opt', 'opt']];
      if (isSystemd(host)) map.push([ETC_UNITS, 'systemd-etc'], [LOCAL_UNITS, 'systemd-local']);
      else map.push(['/tmp', 'tmp']);
      if (isNginx(host)) map.push(['/etc/nginx', 'etc-nginx'], ['/var/log/nginx', 'log-nginx']);
      for (const [remote, local] of map) {
        if (under(remote)) return path.join(host.dir, local, p.slice(remote.length));
      }
      throw new Error(`${remotePath} is not a per-host path on ${host.name}`);
    };
    const reboot = async (host: Host): Promise<void> => {
      if (tornDown) throw new Error('testbed is torn down');
      const h = apps.find((a) => a.ns === host.ns);
      if (!h || !isSystemd(h)) throw new Error(`reboot: ${host.name} is not a systemd host (createTestbed({ systemd: true }) makes every app host one)`);
      const t = Date.now();
      const pid = initPid.get(h.ns);
      const child = bootChild.get(h.ns);
      initPid.delete(h.ns);
      systemdPids.delete(h.ns);
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
      if (child) children.delete(child);
      await bootSystemd(h, 60_000);
      log(`${h.name} rebooted in ${Date.now() - t} ms`);
    };
    const systemctl = (host: Host, ...args: string[]) => exec(host, ['systemctl', ...args], { timeoutMs: 30_000 });

    if (initialInclude) await Promise.all(nginxes.map((n) => startNginx(n)));
    await classes;
    log(`ready (${Date.now() - t0} ms)`);

    return {
      dir,
      prefix,
      subnet,
      form,
      runner,
      nginx,
      nginxes,
      apps,
      hosts: sshHosts,
      instances,
      sshUser: deployUser ? DEPLOY_USER : 'root',
      privateKey,
      privateKeyPath,
      publicKey,
      encryptedKey,
      knownHosts,
      knownHostsHashed,
      knownHostsPath,
      knownHostsHashedPath,
      exec,
      execAs,
      runInRunner,
      spawnInRunner,
      get,
      makeJar,
      startSeedApp,
      pidOnPort,
      readInclude,
      writeInclude,
      startNginx,
      reloadNginx,
      nginxTest,
      localPath,
      systemd: useSystemd,
      reboot,
      systemctl,
      teardown,
    };
  } catch (e) {
    try {
      await teardown();
    } catch (e2) {
      process.stderr.write(`testbed teardown after failed setup: ${String(e2)}\n`);
    }
    throw e;
  }
}
