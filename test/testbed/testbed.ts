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
 *   buildSpringBootJar(): Promise<string>              the Spring Boot app (test/springboot/), built
 *                                                      with mvn once, cached in test/springboot/build/<hash>
 *   makeSpringJar(dir, version): Promise<string>       a copy of it under dir whose /version is version
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
import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Testbed, TestbedOptions } from './types.ts';
import { DEPLOY_USER } from './proc.ts';
import { buildAppClasses } from './javaapp.ts';
import { resolveOptions } from './options.ts';
import { Tracked } from './state.ts';
import { checkSudoers, layOut, makeHostDirs, preflight, setupNetwork, writeConfigs, type Setup } from './setup.ts';
import { makeKeys } from './keys.ts';
import { hostContext, isSystemd, startPlain } from './hosts.ts';
import { bootSystemd, checkSystemdDir, machineTtyGid, prepareSystemd } from './boot.ts';
import { testbedMethods } from './methods.ts';

export type { ExecOptions, ExecResult, GetOptions, Host, RunOptions, SeedAppOptions, SpawnOptions, Testbed, TestbedOptions } from './types.ts';
export { DEPLOY_UID, DEPLOY_USER } from './proc.ts';
export { cleanupStale, nsPids } from './namespaces.ts';
export { buildAppClasses, parseInfo } from './javaapp.ts';
export { buildSpringBootJar, makeSpringJar, springProjectHash } from './springboot.ts';
export { initialIncludeText, upstreamIncludeText } from './config.ts';
export { SYSTEMD_MASKED_UNITS } from './systemd.ts';

// ---------------------------------------------------------------------------------------------
// The set-up steps, in order; each part is a file of its own: options.ts (checks, defaults),
// state.ts (what was created, teardown), setup.ts (machine checks, hosts, dirs, network, config
// files), keys.ts, hosts.ts (entering hosts, plain hosts' sshd), boot.ts (systemd hosts),
// methods.ts (the Testbed's methods).

export async function createTestbed(opts: TestbedOptions = {}): Promise<Testbed> {
  const o = resolveOptions(opts);
  const { prefix, subnet, form, initialInclude, deployUser, useSystemd } = o;
  const log = (m: string) => {
    if (o.verbose) process.stderr.write(`[testbed ${prefix}] ${m}\n`);
  };
  const t0 = Date.now();

  const { machineEtc, cgRoot } = await preflight(o);

  const classes = buildAppClasses(); // runs in parallel with the namespace setup
  classes.catch(() => {});

  // tracked state, so teardown works whatever point setup reached
  const state = new Tracked(log);
  const { teardown } = state;

  try {
    state.dir = await fsp.mkdtemp(path.join(os.tmpdir(), `zdd-tb-${prefix}-`));
    const { dir } = state;
    await checkSudoers(o, dir);
    if (useSystemd) checkSystemdDir(dir);
    const setup: Setup = { o, log, t0, state, dir, ...layOut(o, dir) };
    const { runner, nginx, nginxes, apps, instances, sshHosts } = setup;
    await makeHostDirs(setup);
    await setupNetwork(setup);
    const keys = await makeKeys(setup);
    const { privateKey, privateKeyPath, publicKey, encryptedKey, knownHosts, knownHostsHashed, knownHostsPath, knownHostsHashedPath } = keys;
    const deployBinds = await writeConfigs(setup, keys, machineEtc);

    // start sshd per host, each in its own mount + pid namespace
    const ctx = hostContext(setup, cgRoot, deployBinds);
    const ttyGid = machineTtyGid();
    if (useSystemd) await Promise.all(apps.map((h) => prepareSystemd(ctx, h, ttyGid)));
    await Promise.all(sshHosts.map((h) => (isSystemd(ctx, h) ? bootSystemd(ctx, h, 60_000) : startPlain(ctx, h))));
    log(`sshd up on ${sshHosts.length} hosts (${Date.now() - t0} ms)`);

    const methods = testbedMethods(ctx, classes);

    if (initialInclude) await Promise.all(nginxes.map((n) => methods.startNginx(n)));
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
      ...methods,
      systemd: useSystemd,
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
