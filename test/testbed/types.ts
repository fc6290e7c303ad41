// The testbed's public types: its options, hosts, results and the Testbed handle.
import type { ChildProcess, StdioOptions } from 'node:child_process';

export interface TestbedOptions {
  /** namespace name prefix, [a-z0-9]{1,16}; default `zddtb${subnet}` */
  prefix?: string;
  /** third octet of 10.213.N.0/24, 1..254; default 7 */
  subnet?: number;
  /** number of app hosts, 1..16; default 1 */
  appHosts?: number;
  /** number of nginx hosts, 1..4; default 1 (`nginx`, `nginx2`, `nginx3`, `nginx4`) */
  nginxHosts?: number;
  /**
   * app instances named by the initial include, in this order (app = 0-based index into apps);
   * default one per app host at port 8080 (form 'set': app 0 at 8080). With form 'upstream'
   * each becomes a `server` line (several per host = the rolling layout); with form 'set' give
   * at most one entry.
   */
  instances?: { app: number; port: number }[];
  /** include form; default 'set' */
  form?: 'set' | 'upstream';
  /** write the include and start nginx; default true */
  initialInclude?: boolean;
  /** also provide a passphrase-encrypted copy of the client key with this passphrase */
  keyPassphrase?: string;
  /**
   * give every sshd host a non-root user DEPLOY_USER (uid/gid DEPLOY_UID) with passwordless sudo,
   * owning /opt/app, via per-host /etc files bound in the host's mount namespace (the machine's
   * /etc is not changed); tb.sshUser becomes DEPLOY_USER. Default false.
   */
  deployUser?: boolean;
  /** with deployUser: its login shell (sshd runs every command through it); default /bin/sh */
  deployUserShell?: string;
  /** per sshd host name ('nginx', 'nginx2', 'app1', ...): false = `AllowTcpForwarding no`; default true */
  allowTcpForwarding?: Record<string, boolean>;
  /**
   * every app host boots a real systemd as PID 1 of its own pid + mount namespace, and its sshd
   * runs as the unit `ssh.service` there (see the header comment). Default false.
   */
  systemd?: boolean;
  /**
   * with deployUser: the content of the sudoers drop-in `/etc/sudoers.d/zdddeploy` on every sshd
   * host, instead of `zdddeploy ALL=(ALL) NOPASSWD: ALL`; checked with `visudo -cf` at setup
   */
  sudoers?: string;
  /** with deployUser: per sshd host name ('nginx', 'app1', ...), its drop-in instead of `sudoers` (e.g. a narrow rule on the app hosts only) */
  sudoersByHost?: Record<string, string>;
  /** print setup steps to stderr */
  verbose?: boolean;
}

export interface Host {
  name: string;
  ns: string;
  ip: string;
  /** local per-host directory (sshd config, logs, and the dirs bound over /opt, /tmp, ...) */
  dir: string;
}

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

export interface ExecOptions {
  timeoutMs?: number;
  input?: string;
  env?: Record<string, string>;
}

export interface RunOptions {
  env: Record<string, string>;
  timeoutMs: number;
  cwd?: string;
  input?: string;
}

export interface SpawnOptions {
  env?: Record<string, string>;
  cwd?: string;
  stdio?: StdioOptions;
}

export interface SeedAppOptions {
  /** wait until the port listens; default 15000, 0 = return right after starting */
  waitMs?: number;
  /** arguments after the jar */
  appArgs?: string[];
  /** extra environment for the JVM */
  env?: Record<string, string>;
  /** file name under /opt/app; default `app-<port>.jar` */
  jarName?: string;
  /** copy and start the app as this user (via execAs); default root */
  user?: string;
}

export interface GetOptions {
  timeoutMs?: number;
  headers?: Record<string, string>;
  /** send the request to this nginx host (one of `nginxes`); default the first */
  nginx?: Host;
}

export interface Testbed {
  dir: string;
  prefix: string;
  subnet: number;
  form: 'set' | 'upstream';
  runner: Host;
  /** the first nginx host (= nginxes[0]) */
  nginx: Host;
  /** all nginx hosts, nginx first */
  nginxes: Host[];
  apps: Host[];
  /** nginxes + apps (the hosts running sshd) */
  hosts: Host[];
  /** the app instances the initial include names (resolved opts.instances or its default) */
  instances: { host: Host; port: number }[];
  /** 'root', or DEPLOY_USER with opts.deployUser */
  sshUser: string;
  privateKey: string;
  privateKeyPath: string;
  publicKey: string;
  encryptedKey?: { key: string; passphrase: string; path: string };
  knownHosts: string;
  knownHostsHashed: string;
  knownHostsPath: string;
  knownHostsHashedPath: string;
  exec(host: Host, argv: string[], opts?: ExecOptions): Promise<ExecResult>;
  /** like exec, but argv runs as `user` (a name or uid known to that host) */
  execAs(host: Host, user: string, argv: string[], opts?: ExecOptions): Promise<ExecResult>;
  runInRunner(argv: string[], opts: RunOptions): Promise<ExecResult>;
  spawnInRunner(argv: string[], opts?: SpawnOptions): ChildProcess;
  get(urlPath: string, opts?: GetOptions): Promise<{ status: number; body: string }>;
  makeJar(version: string): Promise<string>;
  startSeedApp(host: Host, port: number, version: string, javaOpts?: string[], opts?: SeedAppOptions): Promise<number>;
  pidOnPort(host: Host, port: number): Promise<number | null>;
  /** the host argument defaults to the first nginx host; it must be one of `nginxes` */
  readInclude(host?: Host): Promise<string | null>;
  writeInclude(text: string, host?: Host): Promise<void>;
  startNginx(host?: Host): Promise<ExecResult>;
  reloadNginx(host?: Host): Promise<ExecResult>;
  nginxTest(host?: Host): Promise<ExecResult>;
  localPath(host: Host, remotePath: string): string;
  /** opts.systemd: true (then every app host runs systemd as its PID 1) */
  systemd: boolean;
  /** systemd hosts only: SIGKILL its systemd PID 1 (ends its pid namespace) and boot it again */
  reboot(host: Host): Promise<void>;
  /** `systemctl ...args` as root inside that host (exec with a 30 s timeout) */
  systemctl(host: Host, ...args: string[]): Promise<ExecResult>;
  teardown(): Promise<void>;
}
