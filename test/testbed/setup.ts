// createTestbed's set-up before any host runs: the checks on the machine, the hosts and their
// dirs, the network, and the files each host gets (sshd_config, deployUser's /etc, nginx.conf
// and the include, the app firewall).
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import type { Host } from './types.ts';
import { IP, NSENTER, VISUDO, must, run, withNewline } from './proc.ts';
import { cgroup2Root, listNamespaces, ourNsRegex } from './namespaces.ts';
import { appFirewall, nginxConf, sshdConfig, upstreamIncludeText } from './config.ts';
import { prepareDeployUser, readMachineEtc, type MachineEtc } from './etc.ts';
import { checkSystemdMachine } from './boot.ts';
import type { Keys } from './keys.ts';
import type { ResolvedOptions } from './options.ts';
import type { Tracked } from './state.ts';

/** The hosts of the topology in testbed.ts's header comment. */
export interface Layout {
  runner: Host;
  /** nginxes[0] */
  nginx: Host;
  nginxes: Host[];
  apps: Host[];
  /** the instances the initial include names */
  instances: { host: Host; port: number }[];
  /** nginxes + apps: the hosts running sshd */
  sshHosts: Host[];
  /** the runner + sshHosts */
  all: Host[];
}

/** What every set-up step works on: the options, the tracked state, the testbed dir and its hosts. */
export interface Setup extends Layout {
  o: ResolvedOptions;
  log: (m: string) => void;
  /** when createTestbed started (the set-up log's times are since then) */
  t0: number;
  state: Tracked;
  dir: string;
}

/** The checks on the machine before anything is created; what deployUser and systemd hosts need from it. */
export async function preflight(o: ResolvedOptions): Promise<{ machineEtc: MachineEtc | undefined; cgRoot: string | undefined }> {
  const { prefix, deployUser, useSystemd } = o;
  if (typeof process.getuid === 'function' && process.getuid() !== 0) throw new Error('the testbed needs root');
  const re = ourNsRegex(prefix);
  const existing = (await listNamespaces()).filter((n) => re.test(n));
  if (existing.length) {
    throw new Error(`namespaces ${existing.join(', ')} already exist: another testbed runs with prefix ${prefix}, or a crashed one left them (cleanupStale('${prefix}'))`);
  }

  const machineEtc = deployUser ? await readMachineEtc() : undefined;
  const cgRoot = useSystemd ? cgroup2Root() : undefined;
  if (useSystemd) checkSystemdMachine(cgRoot);
  return { machineEtc, cgRoot };
}

/** Every sudoers text the options give, checked in the testbed dir. */
export async function checkSudoers(o: ResolvedOptions, dir: string): Promise<void> {
  for (const text of [...(o.sudoers !== undefined ? [o.sudoersText] : []), ...Object.values(o.sudoersByHost ?? {}).map(withNewline)]) {
    // the drop-in as sudo will read it: visudo checks syntax (and owner and mode)
    const check = path.join(dir, 'sudoers-check');
    await fsp.writeFile(check, text, { mode: 0o440 });
    const r = await run([VISUDO, '-c', '-f', check]);
    if (r.code !== 0) throw new Error(`sudoers: visudo -cf rejects the text:\n${(r.stderr + r.stdout).split(check).join('<sudoers>').trim()}\n--- text:\n${text}`);
    await fsp.rm(check);
  }
}

export function layOut(o: ResolvedOptions, dir: string): Layout {
  const { prefix, subnet, nginxCount, appCount, instanceSpec } = o;
  const net = `10.213.${subnet}`;
  const mkHost = (name: string, ip: string): Host => ({ name, ns: `${prefix}-${name}`, ip, dir: path.join(dir, 'hosts', name) });
  const runner = mkHost('runner', `${net}.10`);
  const nginxes = Array.from({ length: nginxCount }, (_, i) => mkHost(i === 0 ? 'nginx' : `nginx${i + 1}`, `${net}.${20 + i}`));
  const nginx = nginxes[0];
  const apps = Array.from({ length: appCount }, (_, i) => mkHost(`app${i + 1}`, `${net}.${31 + i}`));
  const instances = instanceSpec.map((i) => ({ host: apps[i.app], port: i.port }));
  const sshHosts = [...nginxes, ...apps];
  const all = [runner, ...sshHosts];
  return { runner, nginx, nginxes, apps, instances, sshHosts, all };
}

export async function makeHostDirs(ctx: Setup): Promise<void> {
  const { all, nginxes, dir } = ctx;
  for (const h of all) {
    for (const sub of ['opt', 'tmp', 'run', 'var']) await fsp.mkdir(path.join(h.dir, sub), { recursive: true });
  }
  for (const n of nginxes) {
    await fsp.mkdir(path.join(n.dir, 'etc-nginx', 'conf.d'), { recursive: true });
    await fsp.mkdir(path.join(n.dir, 'log-nginx'), { recursive: true });
  }
  await fsp.mkdir(path.join(dir, 'jars'), { recursive: true });
  await fsp.mkdir('/run/sshd', { recursive: true });
}

/** The switch namespace with its bridge; every host's namespace, with a veth into the bridge. */
export async function setupNetwork(ctx: Setup): Promise<void> {
  const { o, state, all, log, t0 } = ctx;
  const sw = `${o.prefix}-sw`;
  const addNs = async (ns: string) => {
    await must([IP, 'netns', 'add', ns]);
    state.createdNs.push(ns);
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
}

/**
 * Writes every sshd host's sshd_config, deployUser's per-host files, every nginx host's
 * nginx.conf (and the include), and loads each app host's firewall. Returns ns → the mount
 * commands of deployUser's files (none without it).
 */
export async function writeConfigs(ctx: Setup, keys: Keys, machineEtc: MachineEtc | undefined): Promise<Map<string, string[]>> {
  const { o, dir, sshHosts, nginxes, apps, instances } = ctx;
  const { authorizedKeys } = keys;
  for (const h of sshHosts) await fsp.writeFile(path.join(h.dir, 'sshd_config'), sshdConfig(h, authorizedKeys, o.allowTcpForwarding?.[h.name] ?? true));
  const deployBinds = new Map<string, string[]>();
  if (machineEtc) {
    // sshd reads AuthorizedKeysFile as the user: let it through the testbed dir to the file
    await fsp.chmod(dir, 0o711);
    await fsp.chmod(authorizedKeys, 0o644);
    for (const h of sshHosts) {
      const own = o.sudoersByHost?.[h.name];
      deployBinds.set(h.ns, await prepareDeployUser(h, machineEtc, own !== undefined ? withNewline(own) : o.sudoersText, o.deployUserShell));
    }
  }
  const includeText =
    o.form === 'set'
      ? `set $service_url http://${instances[0].host.ip}:${instances[0].port};\n`
      : upstreamIncludeText(instances.map((i) => ({ ip: i.host.ip, port: i.port })));
  for (const n of nginxes) {
    const etcNginx = path.join(n.dir, 'etc-nginx');
    await fsp.copyFile('/etc/nginx/mime.types', path.join(etcNginx, 'mime.types'));
    await fsp.writeFile(path.join(etcNginx, 'nginx.conf'), nginxConf(n, o.form));
    if (o.initialInclude) await fsp.writeFile(path.join(etcNginx, 'conf.d', 'service_url.inc'), includeText);
  }
  await Promise.all(
    apps.map(async (a) => {
      const f = path.join(a.dir, 'firewall.nft');
      await fsp.writeFile(f, appFirewall(a, nginxes.map((n) => n.ip)));
      await must([NSENTER, `--net=/run/netns/${a.ns}`, '--', 'nft', '-f', f]);
    }),
  );
  return deployBinds;
}
