// The settings a run reads from its inputs (config/inputs.ts readConfig), grouped by concern;
// Config is all of them. Types only, and the values a mode and a strategy may have.
import type { AppHost, SshAddress } from './hosts.ts';
import type { KnownHostEntry } from './knownhosts.ts';

export type Mode = 'deploy' | 'stage' | 'promote' | 'rollback';
export const MODES: Mode[] = ['deploy', 'stage', 'promote', 'rollback'];

export type StrategyName = 'blue-green' | 'rolling' | 'canary';
export const STRATEGIES: StrategyName[] = ['blue-green', 'rolling', 'canary'];

/** Instances replaced at a time by the rolling strategy: a count, or a percentage of them. */
export type BatchSize = { count: number } | { percent: number };

export interface CanaryConfig {
  /** percentages of requests to the new release, ascending, the last 100 */
  steps: number[];
  intervalMs: number;
  /** the access log in the canary format on every nginx host */
  log: string;
  maxErrorRate: number;
  /** undefined: the p99 ratio is not judged */
  maxP99Ratio?: number;
  /** a new p99 at or under this many ms never fails the latency gate */
  p99FloorMs: number;
  /** the median rise (ms) that, confirmed by the rank test, fails a step; undefined: not judged */
  maxMedianShiftMs?: number;
  minRequests: number;
}


/** What the run does: its mode and strategy, and how the old version ends. */
export interface RunSettings {
  /** what the run should warn about before it starts (deprecated inputs) */
  warnings: string[];
  mode: Mode;
  strategy: StrategyName;
  batchSize: BatchSize;
  /** connect, read, check and print the plan; change nothing */
  dryRun: boolean;
  /** blue/green: leave the old process running on the idle port as a warm standby */
  keepPrevious: boolean;
  /** false: the old version's stop returns after SIGTERM; a watchdog on its host finishes it */
  waitForExit: boolean;
  canary: CanaryConfig;
  /** after the switch, the old version waits, warm, while the new one is judged; 0: no bake */
  bakeMs: number;
  release?: string;
}

/** Which hosts, and how to reach them over SSH. */
export interface HostSettings {
  /** every nginx host that must be switched together, in the order locks are taken */
  nginxHosts: SshAddress[];
  appHosts: AppHost[];
  jumpHost?: SshAddress;
  sshUser: string;
  sshKey: string;
  sshKeyPassphrase?: string;
  knownHosts: KnownHostEntry[];
  insecureSkipHostKeyCheck: boolean;
  sudo: boolean;
}

/** The app on the app hosts: the jar, its ports and directory, how it is started and run, what is kept. */
export interface AppSettings {
  /** the jar to deploy; empty for promote and rollback, which need none */
  artifact: string;
  ports: [number, number];
  remoteDir: string;
  /** systemd-unit: every instance is the service NAME@PORT.service; undefined: detached processes */
  systemdUnit?: string;
  java: string;
  javaOpts: string[];
  appArgs: string[];
  env: [string, string][];
  keepReleases: number;
  /** before a new JVM starts next to the live one, its maximum heap must fit in the host's available memory */
  checkMemory: boolean;
  /** log-max-size in bytes: a detached release's stdout log is copied to LOG.1 and truncated past it; 0: no cap */
  logMaxBytes: number;
}

/** The nginx side: the include and the commands that test and reload. */
export interface NginxSettings {
  /** the include nginx serves from; undefined: find it in what nginx loads */
  includeFile?: string;
  nginxTestCommand: string[];
  /** lists the files nginx loads (nginx -T): nginx-test-command with -T for -t, or `nginx -T` */
  nginxDumpCommand: string[];
  /** the dump command is nginx-test-command itself (with -T): run once, it tests and lists */
  nginxTestIsDump: boolean;
  nginxReloadCommand: string[];
}

/** How a new version is judged before and after it takes traffic. */
export interface CheckSettings {
  healthPath: string;
  /** health-port: the port health checks go to, `{port}` being the instance's (e.g. 1{port}); undefined: the app's port */
  healthPort?: string;
  healthStatus: number;
  healthBody: string;
  healthTimeoutMs: number;
  healthIntervalMs: number;
  healthPasses: number;
  /** GET this path warmupRequests times on each new process before the switch; '' = off */
  warmupPath: string;
  warmupRequests: number;
  verifyUrl?: string;
  /** run on the runner against the new version before the switch (bash -e -c) */
  smokeTest?: string;
  smokeTestTimeoutMs: number;
}

/** How long each kind of wait may take. */
export interface TimeoutSettings {
  drainTimeoutMs: number;
  stopTimeoutMs: number;
  commandTimeoutMs: number;
  connectTimeoutMs: number;
  lockTimeoutMs: number;
}

/** Every setting of a run. */
export type Config = RunSettings & HostSettings & AppSettings & NginxSettings & CheckSettings & TimeoutSettings;
