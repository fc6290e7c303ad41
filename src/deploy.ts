// The orchestrator. It reads like the deploy:
//   connect -> lock -> plan -> upload + start (all hosts) -> wait healthy -> switch -> drain -> stop old
// and every step that changes a server has its mirror in rollback().
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { Config } from './inputs.ts';
import { appCommand } from './inputs.ts';
import type { AppHost, SshAddress } from './hosts.ts';
import { hostPort } from './hosts.ts';
import { DeployError, errorText } from './errors.ts';
import { planSwitch, PlanError, type SwitchPlan } from './plan.ts';
import { type Artifact, defaultRelease, resolveArtifact } from './artifact.ts';
import * as R from './remote.ts';
import { Remote, failureText, sshOptions, type RunResult } from './ssh.ts';
import { HealthProber, fetchStatus } from './health.ts';
import { restoreInclude } from './restore.ts';

export interface Ui {
  info(msg: string): void;
  warn(msg: string): void;
  group<T>(title: string, fn: () => Promise<T>): Promise<T>;
  /** persists what the post step needs to finish a rollback if this process dies */
  saveState(state: RecoveryState): void;
}

/** What the post step needs to undo a deploy cut short. */
export interface RecoveryState {
  phase: 'started' | 'switching' | 'switched' | 'done' | 'rolled-back';
  includeOld: string | null;
  includeNew: string;
  idlePort: number;
  started: { host: string; port: number; pid: number }[];
  lock?: { dir: string; info: string };
}

export interface HostReport {
  host: string;
  target: string;
  upload: string;
  oldPid?: number;
  newPid?: number;
  stopped?: string;
}

export interface DeployResult {
  release: string;
  activePort: number;
  previousPort: number | null;
  durationMs: number;
  healthyToSwitchedMs: number;
  timings: { step: string; ms: number }[];
  hosts: HostReport[];
  artifact: Artifact;
}

interface AppRun {
  host: AppHost;
  remote: Remote;
  report: HostReport;
  /** pid listening on the live port before the switch (the old version) */
  oldPid?: number;
  newPid?: number;
  /** the start command was sent (its pid may be unknown if the connection died) */
  startAttempted?: boolean;
  healthyAt?: number;
  /** the checksum check of a freshly uploaded jar, running alongside the start */
  verify?: Promise<RunResult>;
}

const PARALLEL = 16;

export async function mapLimit<T, U>(items: T[], limit: number, fn: (item: T) => Promise<U>): Promise<U[]> {
  const out: U[] = new Array(items.length);
  let next = 0;
  let failed: unknown;
  let hasFailed = false;
  const worker = async () => {
    while (next < items.length && !hasFailed) {
      const i = next++;
      try {
        out[i] = await fn(items[i]);
      } catch (e) {
        if (!hasFailed) {
          hasFailed = true;
          failed = e;
        }
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (hasFailed) throw failed;
  return out;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class Cancelled extends Error {
  constructor(signal: string) {
    super(`the workflow was cancelled (${signal})`);
  }
}

export class Deployment {
  private cfg: Config;
  private ui: Ui;
  private t0 = Date.now();
  private timings: { step: string; ms: number }[] = [];
  private nginx?: Remote;
  private remotes = new Map<string, Remote>();
  private apps: AppRun[] = [];
  private plan?: SwitchPlan;
  private release = '';
  private includeWritten = false;
  private lock?: { dir: string; info: string };
  private cancelled?: string;
  /** set once the old processes are being stopped: from then on, finishing beats rolling back */
  private committed = false;
  rolledBack = false;
  rollbackProblem?: string;

  constructor(cfg: Config, ui: Ui) {
    this.cfg = cfg;
    this.ui = ui;
  }

  /** Called on SIGINT/SIGTERM: the deploy stops at the next safe point and rolls back. */
  cancel(signal: string): void {
    this.cancelled ??= signal;
  }

  private checkpoint(): void {
    if (this.cancelled && !this.committed) throw new Cancelled(this.cancelled);
  }

  private o(sudo = false, timeoutSec = this.cfg.commandTimeoutMs / 1000): R.CmdOptions {
    return { sudo: sudo && this.cfg.sudo, timeoutSec };
  }

  private async step<T>(name: string, fn: () => Promise<T>): Promise<T> {
    this.checkpoint();
    const s = Date.now();
    try {
      return await this.ui.group(name, fn);
    } finally {
      this.timings.push({ step: name, ms: Date.now() - s });
    }
  }

  private state(phase: RecoveryState['phase']): void {
    if (!this.plan) return;
    this.ui.saveState({
      phase,
      includeOld: this.plan.oldText,
      includeNew: this.plan.newText,
      idlePort: this.plan.idlePort,
      started: this.apps.filter((a) => a.newPid).map((a) => ({ host: a.remote.label, port: this.plan!.idlePort, pid: a.newPid! })),
      lock: this.lock,
    });
  }

  async run(): Promise<DeployResult> {
    try {
      return await this.deploy();
    } catch (e) {
      if (!this.committed) {
        await this.rollback(e).then(
          () => (this.rolledBack = true),
          (re) => {
            this.rollbackProblem = errorText(re);
            this.ui.warn(`rollback incomplete: ${this.rollbackProblem}`);
          },
        );
      }
      throw e;
    } finally {
      await this.unlock();
      for (const r of this.remotes.values()) r.dispose();
    }
  }

  private async deploy(): Promise<DeployResult> {
    const cfg = this.cfg;
    const artifact = await this.step('Resolve the artifact', async () => {
      const a = await resolveArtifact(cfg.artifact);
      this.ui.info(`${a.path} (${(a.size / 1048576).toFixed(1)} MiB, sha256 ${a.sha256})`);
      return a;
    });
    this.release = cfg.release ?? defaultRelease(artifact.sha256, process.env.GITHUB_SHA);

    await this.step('Connect', () => this.connectAll());
    await this.step('Lock', () => this.takeLock());
    const plan = await this.step('Read the nginx include', () => this.readPlan());
    this.plan = plan;
    this.state('started');

    await this.step(`Upload and start ${this.release} on port ${plan.idlePort}`, () =>
      mapLimit(this.apps, PARALLEL, (a) => this.prepareHost(a, artifact, plan)),
    );
    const healthyAt = await this.step('Wait until healthy', async () => {
      await mapLimit(this.apps, PARALLEL, (a) => this.waitHealthy(a, plan.idlePort));
      // The moment the last host passed its last health check.
      return Math.max(...this.apps.map((a) => a.healthyAt ?? 0));
    });
    const switchedAt = await this.step(`Switch nginx to port ${plan.idlePort}`, () => this.switchTraffic(plan));
    this.committed = true;
    this.state('switched');
    await this.step('Drain and stop the old version', () =>
      this.drainAndStop(plan).catch((e) => {
        // Past the switch there is nothing to roll back: say what serves and what is left.
        const d = e instanceof DeployError ? e : new DeployError('stop old', undefined, errorText(e));
        throw new DeployError(d.step, d.host, `${errorText(d).replace(/^\[[^\]]*\]\s*(\S+:\s)?/, '')} -- nginx already serves the new version on port ${plan.idlePort}; the old process on port ${plan.livePort} may still need stopping`);
      }),
    );
    await this.step('Clean up', () => this.cleanup(plan));
    this.state('done');

    return {
      release: this.release,
      activePort: plan.idlePort,
      previousPort: plan.livePort,
      durationMs: Date.now() - this.t0,
      healthyToSwitchedMs: switchedAt - healthyAt,
      timings: this.timings,
      hosts: this.apps.map((a) => a.report),
      artifact,
    };
  }

  // ------------------------------------------------------------ connect and lock

  private async connectOne(addr: SshAddress, role: string): Promise<Remote> {
    const key = hostPort(addr.host, addr.port);
    const existing = this.remotes.get(key);
    if (existing) return existing;
    try {
      const r = await Remote.connect(addr, sshOptions(this.cfg, (m) => this.ui.warn(m)));
      this.remotes.set(key, r);
      return r;
    } catch (e) {
      throw new DeployError('connect', `${role} ${key}`, errorText(e));
    }
  }

  private async connectAll(): Promise<void> {
    // Connect to distinct addresses once each (the nginx host may also be an app host).
    const nginxKey = hostPort(this.cfg.nginxHost.host, this.cfg.nginxHost.port);
    const results = await Promise.allSettled([
      this.connectOne(this.cfg.nginxHost, 'nginx host'),
      ...this.cfg.appHosts.filter((h) => hostPort(h.ssh.host, h.ssh.port) !== nginxKey).map((h) => this.connectOne(h.ssh, 'app host')),
    ]);
    const failed = results.find((r) => r.status === 'rejected');
    if (failed) throw (failed as PromiseRejectedResult).reason;
    this.nginx = this.remotes.get(nginxKey)!;
    for (const h of this.cfg.appHosts) {
      const remote = (await this.connectOne(h.ssh, 'app host'))!;
      this.apps.push({ host: h, remote, report: { host: remote.label, target: h.target, upload: '' } });
    }
    this.ui.info(`connected: nginx ${this.nginx.label}; app ${this.apps.map((a) => a.remote.label).join(', ')}`);
  }

  private async takeLock(): Promise<void> {
    const dir = `${this.cfg.remoteDir}/deploy.lock`;
    const info = [
      `run=${process.env.GITHUB_REPOSITORY ?? 'local'}#${process.env.GITHUB_RUN_ID ?? '-'}`,
      `actor=${process.env.GITHUB_ACTOR ?? '-'}`,
      `runner=${hostname()}`,
      `pid=${process.pid}`,
      `at=${new Date().toISOString()}`,
    ].join(' ');
    const stale = Math.max(1800, (this.cfg.healthTimeoutMs + this.cfg.drainTimeoutMs + this.cfg.stopTimeoutMs) / 1000 + 600);
    const deadline = Date.now() + this.cfg.lockTimeoutMs;
    for (;;) {
      const out = (await this.nginx!.must('lock', R.acquireLock(dir, info, stale, this.o(true)), this.cfg.commandTimeoutMs)).trim();
      if (out === 'acquired' || out.startsWith('recovered')) {
        this.lock = { dir, info };
        if (out.startsWith('recovered')) {
          const [, age, ...owner] = out.split(' ');
          this.ui.warn(`replaced a stale deploy lock (${age}s old, held by ${owner.join(' ') || 'unknown'})`);
        }
        return;
      }
      const [, age, ...owner] = out.split(' ');
      if (Date.now() >= deadline) {
        throw new DeployError(
          'lock',
          `nginx host ${this.nginx!.label}`,
          `another deploy holds ${dir} (for ${age}s, ${owner.join(' ') || 'holder unknown'}). ` +
            `Wait for it, raise lock-timeout to queue behind it, or remove the directory if that deploy is dead (it is treated as stale after ${Math.round(stale)}s)`,
        );
      }
      this.checkpoint();
      await sleep(1000);
    }
  }

  private async unlock(): Promise<void> {
    if (!this.lock || !this.nginx?.connected) return;
    await this.nginx.run(R.releaseLock(this.lock.dir, this.lock.info, this.o(true)), this.cfg.commandTimeoutMs).catch(() => undefined);
    this.lock = undefined;
  }

  // ------------------------------------------------------------ plan

  private async readPlan(): Promise<SwitchPlan> {
    const nginx = this.nginx!;
    const inc = R.parseReadInclude(await nginx.must('read include', R.readInclude(this.cfg.includeFile, this.o(true)), this.cfg.commandTimeoutMs));
    if (inc.kind === 'nodir') {
      throw new DeployError('read include', `nginx host ${nginx.label}`, `the directory of include-file ${this.cfg.includeFile} does not exist; fix include-file or create the directory and include it from nginx.conf`);
    }
    const text = inc.kind === 'present' ? inc.text : null;
    let plan: SwitchPlan;
    try {
      plan = planSwitch(this.cfg, text);
    } catch (e) {
      if (e instanceof PlanError) throw new DeployError('read include', `nginx host ${nginx.label}`, e.message);
      throw e;
    }
    if (plan.livePort === null) this.ui.info(`${this.cfg.includeFile} ${text === null ? 'does not exist' : 'is empty'}: first deploy, to port ${plan.idlePort}`);
    else this.ui.info(`live port ${plan.livePort} on ${plan.liveHosts.map((h) => h.target).join(', ')}; deploying to port ${plan.idlePort}`);
    return plan;
  }

  // ------------------------------------------------------------ upload and start

  private async prepareHost(a: AppRun, art: Artifact, plan: SwitchPlan): Promise<void> {
    const cfg = this.cfg;
    const step = 'upload and start';
    const paths = R.layout(cfg.remoteDir, this.release, plan.idlePort);
    const timeout = cfg.commandTimeoutMs;

    // Both ports at once (two channels on the one connection).
    const hasLive = plan.livePort !== null && plan.liveHosts.includes(a.host);
    const [live, idle] = await Promise.all([hasLive ? this.inspect(a, plan.livePort!, step) : undefined, this.inspect(a, plan.idlePort, step)]);

    // The live process must be one we can signal later; find out now, before anything changes.
    if (live) {
      if (!live.free && live.pid === undefined) {
        throw new DeployError(step, a.remote.label, `port ${plan.livePort} (live) is held by a process user '${cfg.sshUser}' cannot see, so it could not be stopped after the switch; set sudo: true or run the app as '${cfg.sshUser}'`);
      }
      a.oldPid = live.pid;
      a.report.oldPid = live.pid;
      if (live.free) this.ui.warn(`${a.remote.label}: nothing listens on the live port ${plan.livePort}; nginx was pointing at a dead port`);
    }

    // Free the idle port: only a process this action left there may be stopped.
    if (!idle.free) {
      if (idle.pid === undefined) {
        throw new DeployError(step, a.remote.label, `port ${plan.idlePort} is in use by a process user '${cfg.sshUser}' cannot see; free it, or set sudo: true so the action can identify it`);
      }
      if (idle.pid !== idle.ours) {
        throw new DeployError(
          step,
          a.remote.label,
          `port ${plan.idlePort} is in use by pid ${idle.pid} (${idle.cmd || 'unknown command'}), which this action did not start and nginx does not point to; stop it or choose other ports`,
        );
      }
      this.ui.info(`${a.remote.label}: stopping pid ${idle.pid}, left on idle port ${plan.idlePort} by an earlier deploy`);
      await a.remote.must(step, R.stopProcess(idle.pid, cfg.stopTimeoutMs / 1000, paths.pidFile, this.o(true, cfg.stopTimeoutMs / 1000 + 30)), cfg.stopTimeoutMs + timeout);
    }
    this.checkpoint();

    // Upload unless an identical jar is already there.
    const prep = (await a.remote.must(step, R.prepareRelease(cfg.remoteDir, this.release, art.sha256, this.o()), timeout)).trim();
    if (prep === 'need') {
      const s = Date.now();
      const part = `${paths.jar}.part-${randomBytes(4).toString('hex')}`;
      const limitSec = 600 + art.size / 100_000; // generous: 10 min plus 10 s per MB
      const r = await a.remote.runWithFile(R.receiveJar(part, paths.jar, art.size, this.o(false, limitSec)), art.path, limitSec * 1000);
      if (r.code !== 0) {
        // The script removes its temp file itself; after a lost connection, try again.
        if (r.code === null || r.timedOut) await a.remote.run(R.removeFile(part, this.o()), timeout).catch(() => undefined);
        const msg = failureText(r, limitSec * 1000);
        throw new DeployError(step, a.remote.label, `upload of ${art.path} failed: ${/No space|ENOSPC/i.test(msg) ? `${msg} (the disk under ${cfg.remoteDir} is full)` : msg}`);
      }
      const secs = (Date.now() - s) / 1000;
      a.report.upload = `${(art.size / 1048576).toFixed(1)} MiB in ${secs.toFixed(1)} s`;
      // Checked while the JVM starts; awaited before the switch.
      a.verify = a.remote.run(R.verifyJar(paths.jar, art.sha256, this.o(false, 600)), 600_000);
    } else {
      a.report.upload = prep === 'have' ? 'already there (0 bytes)' : 'copied on host (0 bytes)';
    }
    this.ui.info(`${a.remote.label}: jar ${a.report.upload}`);
    this.checkpoint();

    const argv = appCommand(cfg, plan.idlePort, paths.jar);
    a.startAttempted = true;
    const out = await a.remote.must(step, R.startApp(cfg.remoteDir, this.release, plan.idlePort, cfg.env, argv, this.guardSec(), this.o()), timeout);
    const pid = Number(out.trim());
    if (!Number.isInteger(pid) || pid <= 1) throw new DeployError(step, a.remote.label, `start printed no pid: '${out.trim()}'`);
    a.newPid = pid;
    a.report.newPid = pid;
    this.state('started');
    this.ui.info(`${a.remote.label}: started pid ${pid} on port ${plan.idlePort} (log ${paths.log})`);
  }

  /**
   * How long a started process may live undisarmed: the longest a healthy start can take to be
   * confirmed (health-timeout, one more probe, the ownership check) plus a margin.
   */
  private guardSec(): number {
    const c = this.cfg;
    return Math.ceil((c.healthTimeoutMs + 10_000 + 2 * c.commandTimeoutMs + c.connectTimeoutMs) / 1000) + 10;
  }

  private async inspect(a: AppRun, port: number, step: string): Promise<R.PortState> {
    const out = await a.remote.must(step, R.portState(port, R.layout(this.cfg.remoteDir, this.release, port).pidFile, this.o(true)), this.cfg.commandTimeoutMs);
    const st = R.parsePortState(out);
    if (typeof st === 'string') throw new DeployError(step, a.remote.label, st);
    return st;
  }

  // ------------------------------------------------------------ health

  private async logTail(a: AppRun, port: number): Promise<string> {
    const log = R.layout(this.cfg.remoteDir, this.release, port).log;
    const t = (await a.remote.run(R.tailLog(log, 15, this.o()), this.cfg.commandTimeoutMs)).stdout.trim();
    return t ? `\n--- last lines of ${log} ---\n${t}` : '';
  }

  private async waitHealthy(a: AppRun, port: number): Promise<void> {
    const cfg = this.cfg;
    const step = 'health check';
    const pid = a.newPid!;
    const prober = new HealthProber(() => a.remote.forward(port), { path: cfg.healthPath, status: cfg.healthStatus, body: cfg.healthBody }, port);
    const deadline = Date.now() + cfg.healthTimeoutMs;
    const reqTimeout = Math.min(10_000, Math.max(2_000, cfg.healthIntervalMs));
    let passes = 0;
    let last: string | undefined;
    let owner: Promise<RunResult> | undefined;
    try {
      for (;;) {
        this.checkpoint();
        const began = Date.now();
        const r = await prober.probe(Math.max(100, Math.min(reqTimeout, deadline - began)));
        last = r.detail;
        if (r.ok) {
          passes++;
          // Ask who owns the port while the remaining checks run, so it costs no extra round trip.
          if (passes === Math.max(1, cfg.healthPasses - 1)) {
            owner = a.remote.run(R.procState(pid, port, this.o(true), R.layout(cfg.remoteDir, this.release, port).pidFile), cfg.commandTimeoutMs);
          }
          if (passes >= cfg.healthPasses) {
            a.healthyAt = Date.now();
            break;
          }
        } else {
          passes = 0;
          owner = undefined;
          const st = await a.remote.run(R.procState(pid, 0, this.o(true)), cfg.commandTimeoutMs);
          if (st.code === null && !a.remote.connected) {
            throw new DeployError(step, a.remote.label, `the SSH connection was lost while waiting for the new process (pid ${pid}) to become healthy`);
          }
          if (st.code === 0 && st.stdout.trim() === 'dead') {
            throw new DeployError(step, a.remote.label, `the new process (pid ${pid}) exited before becoming healthy${await this.logTail(a, port)}`);
          }
        }
        const wait = began + cfg.healthIntervalMs - Date.now();
        if (Date.now() + Math.max(0, wait) >= deadline) {
          throw new DeployError(
            step,
            a.remote.label,
            `not healthy after ${cfg.healthTimeoutMs / 1000}s (health-timeout): GET http://127.0.0.1:${port}${cfg.healthPath} answered ${last || 'nothing'}; ` +
              `expected status ${cfg.healthStatus}${cfg.healthBody ? ` with '${cfg.healthBody}' in the body` : ''}${await this.logTail(a, port)}`,
          );
        }
        if (wait > 0) await sleep(wait);
      }
    } finally {
      await prober.close();
    }
    if (a.verify) {
      const v = await a.verify;
      if (v.code !== 0) throw new DeployError('upload and start', a.remote.label, `the uploaded jar failed its check: ${failureText(v, 600_000)}`);
    }
    // The answer must come from the process we started, not from something else on the port.
    const res = await owner!;
    if (res.code !== 0) throw new DeployError(step, a.remote.label, `checking which process owns port ${port} failed: ${failureText(res, cfg.commandTimeoutMs)}`);
    const st = res.stdout;
    if (!st.includes('owns-port')) {
      const listener = /listener=(\d*)/.exec(st)?.[1];
      throw new DeployError(
        step,
        a.remote.label,
        st.trim().startsWith('dead')
          ? `the new process (pid ${pid}) exited right after passing the health check${await this.logTail(a, port)}`
          : `port ${port} is answered by pid ${listener || 'unknown'}, not by the process just started (pid ${pid})`,
      );
    }
    this.ui.info(`${a.remote.label}: healthy (${last}), pid ${pid} owns port ${port}`);
  }

  // ------------------------------------------------------------ switch

  private async workers(): Promise<{ pid: number; shutting: boolean }[]> {
    const out = await this.nginx!.must('drain', R.nginxWorkers(this.o()), this.cfg.commandTimeoutMs);
    return R.parseWorkers(out);
  }

  private oldWorkers: number[] = [];

  private async switchTraffic(plan: SwitchPlan): Promise<number> {
    const cfg = this.cfg;
    const nginx = this.nginx!;
    const step = 'switch';
    const where = `nginx host ${nginx.label}`;
    this.checkpoint();
    this.state('switching');
    this.includeWritten = true;
    const limits = { waitSec: 15, commandSec: cfg.commandTimeoutMs / 1000 };
    const cmd = R.switchInclude(cfg.includeFile, plan.newText, cfg.nginxTestCommand, cfg.nginxReloadCommand, limits, this.o(true, 2 * limits.commandSec + 30));
    const r = await nginx.run(cmd, 2 * cfg.commandTimeoutMs + 30_000);
    const res = R.parseSwitch(r.stdout);
    this.oldWorkers = res.oldWorkers;
    // A clean "write-failed" means the mv did not happen; a lost connection leaves it unknown.
    if (!res.written && res.outcome?.kind === 'write-failed') this.includeWritten = false;
    const o = res.outcome;
    if (r.code !== 0 || !o) {
      throw new DeployError(step, where, `the switch command failed: ${failureText(r, cfg.commandTimeoutMs)}`);
    }
    if (o.kind === 'write-failed') {
      throw new DeployError(step, where, `could not write ${cfg.includeFile}: ${o.detail}${cfg.sudo ? '' : ' (if its directory is root-owned, set sudo: true)'}`);
    }
    const why = (x: { code: number; detail: string }) =>
      x.code === 124 ? `timed out after ${limits.commandSec}s (command-timeout)${x.detail ? `: ${x.detail}` : ''}` : x.detail || `exit code ${x.code}, no output`;
    if (o.kind === 'test-failed') {
      throw new DeployError(step, where, `nginx-test-command (${R.describe(cfg.nginxTestCommand)}) did not pass, so nginx was not reloaded: ${why(o)}`);
    }
    if (o.kind === 'reload-failed') {
      throw new DeployError(step, where, `nginx-reload-command (${R.describe(cfg.nginxReloadCommand)}) failed: ${why(o)}`);
    }
    if (o.kind === 'not-applied') {
      // The reload is only a signal: without new workers the new configuration is not live.
      throw new DeployError(step, where, 'nginx did not start new worker processes within 15s of the reload: the new configuration was not applied (see the nginx error log)');
    }
    const switchedAt = Date.now();
    this.ui.info(`nginx now sends traffic to port ${plan.idlePort} (${this.oldWorkers.length} old workers finishing)`);

    if (cfg.verifyUrl) {
      const vDeadline = Date.now() + Math.min(30_000, cfg.healthTimeoutMs);
      let last: string;
      for (;;) {
        const r = await fetchStatus(cfg.verifyUrl, 5000);
        last = r.detail;
        if (r.ok) break;
        if (Date.now() > vDeadline) throw new DeployError(step, cfg.verifyUrl, `verify-url did not answer 2xx/3xx after the switch: ${last}`);
        await sleep(250);
      }
      this.ui.info(`verify-url ${cfg.verifyUrl}: ${last}`);
    }
    return switchedAt;
  }

  // ------------------------------------------------------------ drain and stop

  private async drainAndStop(plan: SwitchPlan): Promise<void> {
    const cfg = this.cfg;
    if (plan.livePort === null) return;
    const livePort = plan.livePort;
    const deadline = Date.now() + cfg.drainTimeoutMs;
    const old = this.apps.filter((a) => plan.liveHosts.includes(a.host));
    for (;;) {
      const [workers, conns] = await Promise.all([
        this.workers(),
        Promise.all(old.map(async (a) => Number((await a.remote.run(R.connectionCount(livePort, this.o()), cfg.commandTimeoutMs)).stdout.trim()) || 0)),
      ]);
      const workersLeft = workers.filter((w) => this.oldWorkers.includes(w.pid)).length;
      const connsLeft = conns.reduce((x, y) => x + y, 0);
      if (workersLeft === 0 && connsLeft === 0) break;
      const remaining = `${workersLeft} old nginx worker(s), ${connsLeft} connection(s) to port ${livePort}`;
      if (Date.now() >= deadline) {
        this.ui.warn(`drain-timeout (${cfg.drainTimeoutMs / 1000}s) reached with ${remaining} left; stopping the old version anyway`);
        break;
      }
      await sleep(100);
    }
    await mapLimit(old, PARALLEL, async (a) => {
      const now = await this.inspect(a, livePort, 'stop old');
      const pid = now.pid ?? a.oldPid;
      if (pid === undefined) {
        a.report.stopped = 'nothing was running';
        return;
      }
      const out = await a.remote.must(
        'stop old',
        R.stopProcess(pid, cfg.stopTimeoutMs / 1000, R.layout(cfg.remoteDir, this.release, livePort).pidFile, this.o(true, cfg.stopTimeoutMs / 1000 + 30)),
        cfg.stopTimeoutMs + cfg.commandTimeoutMs,
      );
      a.report.stopped = { gone: 'had already exited', terminated: 'stopped (SIGTERM)', killed: `SIGKILLed after ${cfg.stopTimeoutMs / 1000}s` }[out.trim()] ?? out.trim();
      if (out.trim() === 'killed') this.ui.warn(`${a.remote.label}: pid ${pid} ignored SIGTERM for ${cfg.stopTimeoutMs / 1000}s (stop-timeout) and was killed`);
      this.ui.info(`${a.remote.label}: old pid ${pid} ${a.report.stopped}`);
    });
  }

  private async cleanup(plan: SwitchPlan): Promise<void> {
    await mapLimit(this.apps, PARALLEL, async (a) => {
      // Independent: the release being recorded is also passed to the pruning as protected.
      const [, r] = await Promise.all([
        a.remote.run(R.recordRelease(this.cfg.remoteDir, plan.idlePort, this.release, this.o()), this.cfg.commandTimeoutMs),
        a.remote.run(R.pruneReleases(this.cfg.remoteDir, this.cfg.keepReleases, [this.release], this.o()), this.cfg.commandTimeoutMs),
      ]);
      const removed = r.stdout.trim().split('\n').filter(Boolean);
      if (removed.length > 0) this.ui.info(`${a.remote.label}: removed old releases ${removed.join(', ')}`);
    });
  }

  // ------------------------------------------------------------ rollback

  private async rollback(cause: unknown): Promise<void> {
    const cfg = this.cfg;
    this.ui.warn(`rolling back: ${errorText(cause)}`);
    const problems: string[] = [];
    // A connection lost mid-deploy is opened again for the rollback.
    await Promise.all(
      [...this.remotes.values()].map((r) =>
        r.connected ? undefined : r.reconnect().then(() => this.ui.info(`reconnected to ${r.label} for the rollback`), () => undefined),
      ),
    );
    if (this.includeWritten && this.plan && this.nginx) {
      const res = await restoreInclude(this.nginx, cfg, this.plan.oldText, this.plan.idlePort);
      if (res.problem) problems.push(res.problem);
      if (res.done) this.ui.info(res.done);
    }
    await Promise.all(
      this.apps
        .filter((a) => a.newPid !== undefined || a.startAttempted)
        .map(async (a) => {
          const pidFile = R.layout(cfg.remoteDir, this.release, this.plan!.idlePort).pidFile;
          if (a.newPid === undefined) {
            // The start command was cut off: its pid file (pid + start time) says what it started.
            const st = await a.remote.run(R.portState(this.plan!.idlePort, pidFile, this.o(true)), cfg.commandTimeoutMs);
            const ps = R.parsePortState(st.stdout);
            if (typeof ps === 'string' || ps.ours === undefined) return;
            a.newPid = ps.ours;
          }
          const r = await a.remote.run(R.stopProcess(a.newPid!, Math.min(10, cfg.stopTimeoutMs / 1000), pidFile, this.o(true, 40)), 45_000);
          if (r.code === 0) this.ui.info(`${a.remote.label}: stopped the new process (pid ${a.newPid}): ${r.stdout.trim()}`);
          else problems.push(`${a.remote.label}: could not stop the new process pid ${a.newPid}: ${r.stderr.trim() || 'connection lost'}`);
        }),
    );
    this.state('rolled-back');
    if (problems.length > 0) throw new Error(problems.join('; '));
  }
}
