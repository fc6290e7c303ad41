// One app instance (host:port): inspect the port, upload the jar, start, wait until healthy (and
// reachable from every nginx host), stop, and read how a running process was started.
import { hostPort } from '../config/hosts.ts';
import { appCommand, type Config } from '../config/inputs.ts';
import { healthHint, portInUseHint, startFailureLines } from '../config/spring.ts';
import { DeployError, errorText } from '../errors.ts';
import * as A from '../commands/app.ts';
import * as U from '../commands/unit.ts';
import type { Cmd } from '../commands/shell.ts';
import { gatedStart, parseNeedsRoot, removeFile } from '../commands/shell.ts';
import { failureText, ForwardingRefused, isConnectFailed, type Lane, type Remote, type RunResult } from '../ssh/remote.ts';
import type { OpContext } from '../run/context.ts';
import { sleep } from '../util/async.ts';
import type { Artifact } from './artifact.ts';
import * as H from '../commands/http.ts';
import { AppProbe, forwardingRefused, judgeHttpGet, markForwardingRefused } from './probe.ts';
import { undici, type ProbeResult } from './health.ts';
import { take } from './early.ts';
import { healthRequestMs, hostHealthUrl, openUpload, type AheadCheck, type AppNode, type OpenUpload } from './node.ts';

export { healthRequestMs, hostHealthUrl, openUpload, type AheadCheck, type AppNode, type OpenUpload } from './node.ts';

/** asked: the same read, sent earlier (fleet/early.ts). */
export async function inspectPort(ctx: OpContext, app: AppNode, port: number, step: string, asked?: Promise<string>): Promise<A.PortState> {
  const out = await (asked ?? app.remote.must(step, A.portState(port, A.layout(ctx.cfg.remoteDir, '', port).pidFile, ctx.o(), ctx.privPorts), ctx.cfg.commandTimeoutMs));
  const st = A.parsePortState(out);
  if (typeof st === 'string') throw new DeployError(step, app.remote.label, st);
  return st;
}

/**
 * The deploy user may not take over another user's process (the exact sudoers rule names no
 * command that could): what to do, and how to go back to the exact rule afterwards.
 */
export function takeoverNeedsRoot(ctx: OpContext, pid: number, port: number, owner: string, user = ctx.cfg.sshUser, after = ''): string {
  return (
    `pid ${pid} on port ${port} runs as user '${owner}', not as '${user}': taking it over (keeping how it was started, then stopping it after the switch) needs root over another user's process, ` +
    `which the exact sudoers rule does not give (sudo refused \`sh -c\`: a password is required). This is a one-time step, for an app another user started (the seed scripts start it as root): ` +
    `for this deploy allow '${user}' the broad rule (${user} ALL=(root) NOPASSWD: ALL), and once the action's own release serves (it runs as '${user}'), put the exact rule back ` +
    `(docs/server-setup.md, "Taking over an app another user started")${after}`
  );
}

/** What would let the deploy user see who holds a port (a PortState with no pid), in words. */
export function toSeePort(ctx: OpContext, port: number, st: A.PortState): string {
  const cfg = ctx.cfg;
  const doc = cfg.systemdUnit !== undefined ? 'docs/systemd.md, "The sudoers rule"' : 'docs/server-setup.md, "The sudo rule"';
  if (!cfg.sudo) return `set sudo: true and add '${A.SS_COMMAND(port)}' to the sudoers rule (${doc}), or run the app as '${cfg.sshUser}'`;
  if (st.unprivileged) return `sudo refused \`ss -Htlnp 'sport = :${port}'\`: add '${A.SS_COMMAND(port)}' to the deploy user's sudoers rule (${doc})`;
  return 'not even through sudo (is /proc mounted with hidepid, or does the process run in a container?)';
}

/**
 * A process systemd manages cannot be replaced by stopping it: with Restart=always it comes back
 * (and the next deploy finds a stranger on its port). Refuse, and say what to do.
 */
export function refuseUnit(app: AppNode, port: number, st: A.PortState, step: string, ctx?: OpContext, live = false): void {
  if (!st.unit || st.pid === undefined) return;
  // Also one this action started through systemd (systemd-unit: NAME before): it is the unit's.
  const name = ctx?.cfg.systemdUnit;
  if (name !== undefined) {
    // NAME@PORT is this action's; another unit on the live port is taken over after the switch.
    if (st.unit === U.instanceUnit(name, port) || live) return;
    throw new DeployError(step, app.remote.label, `port ${port} is held by pid ${st.pid} of the systemd unit ${st.unit}, which nginx does not point to; stop it (systemctl disable --now ${st.unit}) or choose other ports`);
  }
  throw new DeployError(
    step,
    app.remote.label,
    `the process on port ${port} (pid ${st.pid}) belongs to the systemd unit ${st.unit}; systemd would start it again after it is stopped. ` +
      `Set systemd-unit: NAME, and the action runs each release as NAME@PORT.service and takes ${st.unit} over on its first deploy (docs/systemd.md); ` +
        `or stop and disable the unit (systemctl disable --now ${st.unit}) and deploy again (a setting such as Restart=no does not help: the process still belongs to the unit)`,
  );
}

export interface Uploaded {
  /** what was done, for the log ('' while a gated jar is still on its way: see pending) */
  upload: string;
  /** the checksum check of a fresh upload, which runs while the JVM starts */
  verify?: Promise<RunResult>;
  /**
   * gated and sent: the jar is on its way and the start may be sent right behind it, after gate
   * (commands/shell.ts andThen), with limitMs more to run. arrived: the upload's text, or its
   * failure; prepared: the release directory's answer, or why it refuses the jar (both may still
   * come when the start is sent); after a failure, abort() makes the waiting gate give up, and
   * says whether it ends now (false: it can never pass, and need not be waited for).
   */
  pending?: { gate: Cmd; rcFile: string; limitMs: number; arrived: Promise<string>; prepared: Promise<void>; abort(): Promise<boolean> };
}

/**
 * Puts the jar at releases/<release>/app.jar unless an identical one is there. Returns what was
 * done, and the checksum check of a fresh upload, which runs while the JVM starts. known: what
 * the release directory said while the lock was taken, still true now it is ours (fleet/early.ts):
 * `need` sends the jar at once, while the directories are made. gated: a fresh upload returns as
 * soon as the jar is on its way (pending), so that the start follows it without a round trip;
 * sent at once, it returns before the release directory answered (the gate needs nothing of it:
 * RECEIVE makes the directory, and never replaces a kept jar).
 */
export async function uploadJar(ctx: OpContext, app: AppNode, art: Artifact, release: string, step: string, opened?: OpenUpload, known?: Promise<string>, gated = false): Promise<Uploaded> {
  const cfg = ctx.cfg;
  const paths = A.layout(cfg.remoteDir, release);
  const up = opened ?? openUpload(ctx, app, art, release);
  const first = gated ? 'go rc' : 'go';
  const preparing = app.remote.must(step, A.prepareRelease(cfg.remoteDir, release, art.sha256, ctx.o()), cfg.commandTimeoutMs).then((p) => p.trim());
  const early = known ? await known.then((k) => k.trim()).catch(() => undefined) : undefined;
  let sending: Promise<RunResult> | undefined;
  let s = Date.now();
  if (early === 'need') {
    sending = up.channel.send(art.path, first);
    sending.catch(() => undefined);
  }
  const { part, limitSec } = up;
  /** what the release directory said refuses this jar: the error, else undefined */
  const refusal = async (prep: string): Promise<DeployError | undefined> => {
    if (sending && prep !== 'need') {
      // Nothing but a deploy holding the lock changes a release directory: this is someone's hand.
      // The jar goes to a temp file; RECEIVE never moves it over a verified one.
      await sending;
      return new DeployError(step, app.remote.label, `${paths.jar} changed while this deploy held the lock (it now says '${prep}'); deploy again`);
    }
    if (prep.startsWith('taken')) {
      return new DeployError(step, app.remote.label, `${paths.jar} is another jar (sha256 ${prep.slice(6)}) than ${art.path} (sha256 ${art.sha256}); a kept release is never overwritten: nothing was changed`);
    }
    return undefined;
  };
  const arriving = (sent: Promise<RunResult>, prepared: Promise<void>): Uploaded => {
    const arrived = sent.then(async (r) => {
      if (r.code !== 0) {
        // The script removes its temp file itself; after a lost connection, try again.
        if (r.code === null || r.timedOut) await app.remote.run(removeFile(part, ctx.o()), cfg.commandTimeoutMs).catch(() => undefined);
        const msg = failureText(r, limitSec * 1000);
        throw new DeployError(step, app.remote.label, `upload of ${art.path} failed: ${/No space|ENOSPC/i.test(msg) ? `${msg} (the disk under ${cfg.remoteDir} is full)` : msg}`);
      }
      return `${(art.size / 1048576).toFixed(1)} MiB in ${((Date.now() - s) / 1000).toFixed(1)} s`;
    });
    arrived.catch(() => undefined);
    prepared.catch(() => undefined);
    const checking = () => app.remote.run(A.verifyJar(paths.jar, art.sha256, ctx.o(false, 600)), 600_000);
    const failed = (e: unknown): RunResult => ({ code: 1, stdout: '', stderr: errorText(e), timedOut: false });
    return {
      upload: '',
      // Not before the release directory answered: the check writes the jar's .sha256, and the
      // release directory would then say `have` to a jar it was asked to make room for.
      verify: arrived.then(() => prepared).then(checking, failed),
      pending: {
        gate: A.gate(part, limitSec, ctx.o(false, limitSec + 10)),
        rcFile: A.gateFile(part),
        limitMs: (limitSec + 10) * 1000,
        arrived,
        prepared,
        abort: async () => /aborted|decided/.test((await app.remote.run(A.abortGate(A.gateFile(part), ctx.o()), cfg.commandTimeoutMs)).stdout),
      },
    };
  };
  if (gated && sending) {
    return arriving(
      sending,
      preparing.then(async (prep) => {
        const no = await refusal(prep);
        if (no) throw no;
      }),
    );
  }
  let prep = '';
  try {
    prep = await preparing;
  } finally {
    if (prep !== 'need' && !sending) up.channel.skip();
  }
  // (No exit code file can be there: a gated jar already on its way returned above.)
  const no = await refusal(prep);
  if (no) throw no;
  if (prep !== 'need') return { upload: prep === 'have' ? 'already there (0 bytes)' : 'copied on host (0 bytes)' };
  if (!sending) s = Date.now();
  const u = arriving(sending ?? up.channel.send(art.path, first), Promise.resolve());
  return gated ? u : { upload: await u.pending!.arrived, verify: u.verify };
}

/**
 * How long a started process may live undisarmed: the longest a healthy start can take to be
 * confirmed (health-timeout, one more probe, the ownership check) plus a margin.
 */
export function guardSec(ctx: OpContext): number {
  const c = ctx.cfg;
  return Math.ceil((c.healthTimeoutMs + 10_000 + 2 * c.commandTimeoutMs + c.connectTimeoutMs) / 1000) + 10;
}

/**
 * The start of a release on a port with its command: java -Dserver.port=<port> <java-opts> -jar
 * <its jar> <app-args>, from its release directory, with its env.
 */
export function releaseSpec(ctx: OpContext, release: string, port: number, cmd: Pick<Config, 'java' | 'javaOpts' | 'appArgs' | 'env'>): A.StartSpec {
  const l = A.layout(ctx.cfg.remoteDir, release, port);
  const unit = ctx.cfg.systemdUnit;
  return { cwd: l.releaseDir, argv: appCommand(cmd, port, A.layout(ctx.cfg.remoteDir, release).jar), env: cmd.env, log: unit === undefined ? l.log : `${JOURNAL}${U.instanceUnit(unit, port)}` };
}

/** A StartSpec log that is a unit's journal: `journal:NAME@PORT.service`. */
export const JOURNAL = 'journal:';

/** systemd-unit: systemd runs the host, and the deploy user can manage system units. */
export async function unitPreflight(ctx: OpContext, app: AppNode): Promise<void> {
  const cfg = ctx.cfg;
  if (cfg.systemdUnit === undefined || app.unitUser) return;
  const p = U.parseUnitPreflight(await (take(app, 'unit') ?? app.remote.must('preflight', U.unitPreflight(ctx.o()), cfg.commandTimeoutMs)));
  if (!p.systemctl || !p.booted) {
    throw new DeployError(
      'preflight',
      app.remote.label,
      `systemd-unit is set, but ${!p.systemctl ? 'systemctl is not installed' : 'systemd is not what runs this host (no /run/systemd/system: PID 1 is another init, e.g. in a container)'}; leave systemd-unit empty to run releases as detached processes`,
    );
  }
  if (p.uid !== 0 && !cfg.sudo) {
    throw new DeployError('preflight', app.remote.label, `systemd-unit writes ${U.UNIT_DIR}/${cfg.systemdUnit}@.service and runs systemctl, which user '${p.user}' cannot do: set sudo: true (docs/systemd.md has the sudoers rule it needs)`);
  }
  app.unitUser = { user: p.user, group: p.group };
}

/** The template unit this host gets (the dry run shows it). */
export function unitTemplate(ctx: OpContext, app: AppNode): string {
  const cfg = ctx.cfg;
  return U.templateText({ name: cfg.systemdUnit!, user: app.unitUser!.user, group: app.unitUser!.group, remoteDir: cfg.remoteDir, stopTimeoutSec: cfg.stopTimeoutMs / 1000 });
}

/**
 * Starts a process; its undo (stop it) is recorded before the start is sent. Returns its pid.
 * gate: the start waits on the host behind it (a gated upload's, uploadJar), for up to limitMs more.
 */
export const startProcess = (...a: Parameters<typeof startOn>): Promise<number> => a[0].span(a[1].remote.label, 'start', () => startOn(...a));

async function startOn(ctx: OpContext, app: AppNode, port: number, spec: A.StartSpec, step: string, guard = true, detached = false, gate?: { cmd: Cmd; rcFile: string; limitMs: number }, oomScoreAdj = 0): Promise<number> {
  // A gated start may still run on the host after the runner gave up on it: its undo closes the gate first.
  const entry = { kind: 'started' as const, app: app.host.ssh, port, pid: undefined as number | undefined, ...(gate ? { gate: gate.rcFile } : {}) };
  ctx.record(entry);
  const cfg = ctx.cfg;
  let cmd: Cmd;
  if (cfg.systemdUnit !== undefined && !detached) {
    await unitPreflight(ctx, app);
    const env = A.envLines(spec.env).length > 0 ? U.envFileText(spec.env) : '';
    const argv = app.javaPath && spec.argv[0] === cfg.java ? [app.javaPath, ...spec.argv.slice(1)] : spec.argv;
    spec = { ...spec, argv };
    cmd = U.startUnit(ctx.privUnit, cfg.systemdUnit, port, cfg.remoteDir, unitTemplate(ctx, app), U.startScriptText(spec.cwd, spec.argv), env, guard ? guardSec(ctx) : 0, A.GUARD, ctx.o());
  } else {
    cmd = A.startApp(cfg.remoteDir, port, spec, guard ? guardSec(ctx) : 0, ctx.o(), cfg.logMaxBytes, oomScoreAdj);
  }
  if (gate) cmd = gatedStart(gate.cmd, cmd, gate.rcFile);
  const lane = app.remote.lane();
  const started = app.remote.must(step, cmd, cfg.commandTimeoutMs + (gate?.limitMs ?? 0), lane);
  // Right behind the start, in its shell (waitHealthy takes it).
  app.remote.early.set(readyKey(port), listenWait(ctx, app, port, lane));
  const out = await started.catch((e: unknown) => {
    app.remote.early.delete(readyKey(port));
    throw e;
  });
  const pid = Number(out.trim());
  if (!Number.isInteger(pid) || pid <= 1) throw new DeployError(step, app.remote.label, `start printed no pid: '${out.trim()}'`);
  entry.pid = pid;
  ctx.save();
  ctx.ui.info(`${app.remote.label}: started pid ${pid} on port ${port} (${spec.log.startsWith(JOURNAL) ? `${spec.log.slice(JOURNAL.length)}, its log in the journal` : `log ${spec.log}`})`);
  return pid;
}

const readyKey = (port: number) => `open ${port}`;
/** One wait on the host for a port to open: at most 5 s, so a cancel is seen between them. */
const openWaitMs = (ctx: OpContext) => Math.min(5000, ctx.cfg.healthTimeoutMs);

/**
 * The host waits for the port to open (every 20 ms, one answer), in the lane given, and GETs the
 * health path once as it opens: the first health check, whose answer the runner judges
 * (hostCheck), made without the round trips of opening a channel to a port that just opened.
 */
function listenWait(ctx: OpContext, app: AppNode, port: number, lane: Lane | undefined, ms = openWaitMs(ctx)): Promise<RunResult> {
  const cfg = ctx.cfg;
  const pidFile = A.layout(cfg.remoteDir, '', port).pidFile;
  const reqMs = healthRequestMs(ctx);
  const check = { url: hostHealthUrl(ctx, port), timeoutSec: reqMs / 1000 };
  return app.remote.run(A.waitListen(pidFile, port, ms, ctx.o(false, (ms + reqMs) / 1000 + 10), check), ms + reqMs + cfg.commandTimeoutMs, lane);
}

/** A health check's answer, and how long ago (ms) the check began. */
type HostCheck = ProbeResult & { beganMsAgo: number };

/**
 * The health check WAIT_LISTEN made as the port opened, judged here as the prober's would be;
 * undefined when it made none (the host has neither curl nor wget: the prober makes the first).
 */
function hostCheck(ctx: OpContext, stdout: string): HostCheck | undefined {
  const got = A.waitListenGet(stdout);
  if (got === undefined) return undefined;
  const r = judgeHttpGet(ctx, got.out);
  return r.fatal ? undefined : { ...r, beganMsAgo: got.ms };
}

/**
 * After a check failed on an open port (the app listens before it is ready): the host GETs the
 * health path itself until it answers as expected (A.waitHealthyHint), once per health wait, so
 * that the next check goes out when it does instead of a health-interval later. True: it did.
 * Each of its GETs gets the prober's request timeout, so a slow health endpoint is waited for as
 * long by the hint as by the check.
 */
function askHint(ctx: OpContext, app: AppNode, port: number, pid: number, deadline: number, reqTimeoutMs: number): Promise<boolean> {
  const cfg = ctx.cfg;
  const ms = Math.max(0, Math.min(openWaitMs(ctx), deadline - Date.now()));
  const url = hostHealthUrl(ctx, port);
  const cmd = A.waitHealthyHint(A.layout(cfg.remoteDir, '', port).pidFile, port, ms, url, cfg.healthStatus, cfg.healthBody, reqTimeoutMs / 1000, ctx.o(false, (ms + reqTimeoutMs) / 1000 + 10));
  return app.remote.run(cmd, ms + reqTimeoutMs + cfg.commandTimeoutMs).then(
    (h) => h.code === 0 && A.parseWaitHealthy(h.stdout, pid) === 'healthy',
    () => false,
  );
}

/**
 * Until the new process listens, the host waits for it (every 20 ms, one answer) instead of the
 * runner polling through the connection; dead before that: the start failed, said with its log.
 * Returns when the port is open, with the first health check the host made then (hostCheck), or
 * when the host could not tell (the prober then decides).
 */
async function waitOpen(ctx: OpContext, app: AppNode, port: number, pid: number, log: string, deadline: number): Promise<HostCheck | undefined> {
  let r = app.remote.take<Promise<RunResult>>(readyKey(port));
  while (r) {
    const res = await r;
    const said = res.code === 0 ? A.parseWaitListen(res.stdout, pid) : undefined;
    if (said === 'dead') throw new DeployError('health check', app.remote.label, `the new process (pid ${pid}) exited before becoming healthy${await logTail(ctx, app, log, port)}`);
    if (said === 'listening') return hostCheck(ctx, res.stdout);
    if (said !== 'waiting' || Date.now() >= deadline) return undefined;
    ctx.checkpoint();
    r = listenWait(ctx, app, port, undefined, Math.min(openWaitMs(ctx), deadline - Date.now()));
  }
  return undefined;
}

/**
 * The end of a start's log for an error: Spring Boot's failure report whole when there is one
 * (looked for in the log's or the unit journal's last 300 lines), else the last 15 lines; and
 * what a port in use that is not the app's own means.
 */
async function logTail(ctx: OpContext, app: AppNode, log: string, port: number): Promise<string> {
  const unit = log.startsWith(JOURNAL) ? log.slice(JOURNAL.length) : undefined;
  const cmd = unit ? U.journalTail(ctx.privUnit, unit, ctx.o()) : A.tailLog(log, 300, ctx.o());
  const all = (await app.remote.run(cmd, ctx.cfg.commandTimeoutMs)).stdout.trim();
  const t = startFailureLines(all);
  const what = /APPLICATION FAILED TO START/.test(t) ? "Spring Boot's failure report in" : 'last lines of';
  return t ? `\n--- ${what} ${unit ? `the journal of ${unit}` : log} ---\n${t}${portInUseHint(ctx.cfg, t, port)}` : '';
}

/**
 * nginx must reach the new process at the address it will proxy to: a firewall open to the
 * live port only, a wrong `=address`, or an app bound to 127.0.0.1 would pass every check made
 * on the app host itself. Each nginx host's sshd opens a TCP connection to target:port (a
 * forwarded channel opens only once that connect succeeded) and closes it at once: nothing is
 * sent to the app, so its own request counters and health state are not touched.
 */
export async function probeFromNginx(ctx: OpContext, nginx: Remote[], target: string, port: number): Promise<void> {
  await Promise.all(
    nginx.map(async (n) => {
      const deadline = Date.now() + 5000;
      let last: string;
      for (;;) {
        last = forwardingRefused(n) ? await connectWithCurl(ctx, n, target, port) : await connectThroughSsh(n, target, port, deadline);
        if (/refuses TCP forwarding/.test(last)) {
          markForwardingRefused(n);
          continue;
        }
        if (last === '' || /neither curl nor wget/.test(last) || Date.now() >= deadline) break;
        await sleep(200);
      }
      if (last === '') return;
      throw new DeployError(
        'reachability',
        `nginx host ${n.label}`,
        `cannot reach the new version at ${target}:${port} (${last}), although it is healthy on its own host; ` +
          'nginx would send traffic to a wall. Check the firewall between them, the =address in app-hosts, and that the app listens on that address, not only on 127.0.0.1',
      );
    }),
  );
}

/** '' when the nginx host's sshd could open a TCP connection to target:port, else why not. */
async function connectThroughSsh(n: Remote, target: string, port: number, deadline: number): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<string>((res) => (timer = setTimeout(() => res('no answer within 5s (a firewall dropping the packets?)'), Math.max(500, deadline - Date.now()))));
  try {
    return await Promise.race([
      n.forward(port, target).then(
        (ch) => {
          ch.destroy();
          return '';
        },
        (e: unknown) => (e instanceof ForwardingRefused ? e.message : isConnectFailed(e) ? 'connection refused' : errorText(e)),
      ),
      late,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** The same from the nginx host itself when its sshd refuses forwarding: any HTTP answer will do. */
async function connectWithCurl(ctx: OpContext, n: Remote, target: string, port: number): Promise<string> {
  const r = await n.run(H.httpGet(`http://${hostPort(target, port)}${ctx.cfg.healthPath}`, 5, ctx.o(false, 10)), 15_000);
  const a = H.parseHttpGet(r.stdout);
  return 'error' in a ? a.error : '';
}

/**
 * Waits until the process answers health-passes checks in a row (the first made by its host as the
 * port opened, where the host has curl or wget, the others through a channel of its host's SSH
 * connection; each judged here), is the one listening on the port, and is reachable from every nginx host; the
 * last two are checked alongside the last health checks. Disarms the start guard. Returns when it
 * became healthy.
 */
export const waitHealthy = (...a: Parameters<typeof healthyOn>): Promise<number> => a[0].span(a[1].remote.label, 'health', () => healthyOn(...a));

async function healthyOn(ctx: OpContext, app: AppNode, port: number, pid: number, opts: { log: string; nginx: Remote[]; verify?: Promise<RunResult>; ahead?: Promise<AheadCheck | undefined> }): Promise<number> {
  const cfg = ctx.cfg;
  const step = 'health check';
  const label = app.remote.label;
  const pidFile = A.layout(cfg.remoteDir, '', port).pidFile;
  const prober = new AppProbe(ctx, app.remote, port);
  const deadline = Date.now() + cfg.healthTimeoutMs;
  const reqTimeout = healthRequestMs(ctx);
  let passes = 0;
  let last: string | undefined;
  let lastStatus: number | undefined;
  let owner: Promise<RunResult> | undefined;
  let reach: Promise<unknown> | undefined;
  let healthyAt: number;
  let aliveAt = 0;
  // The HTTP client loads (~80 ms) while the port is waited for, not after it opened.
  undici().catch(() => undefined);
  // The first check: the one the host made as the port opened, when it could.
  let first = await waitOpen(ctx, app, port, pid, opts.log, deadline);
  // A process already running (a warm standby): its host's GET made while the lock was taken, when
  // health-passes leaves a check after it; counted from its answer's arrival, so the next one is
  // at least a health-interval after it on the host too.
  if (first === undefined && opts.ahead && cfg.healthPasses >= 2) {
    const a = await opts.ahead;
    const r = a && judgeHttpGet(ctx, a.stdout);
    if (a && r && !r.fatal) {
      first = { ...r, beganMsAgo: Date.now() - a.at };
      ctx.ui.debug?.(`${label}: port ${port}: the first health check is the host's GET made ${first.beganMsAgo} ms ago, while the lock was taken (${r.detail})`);
    }
  }
  // Open, and not healthy at a check: the host says when it is (one answer, instead of the next
  // check a health-interval later); the checks stay the judge.
  let hintAsked = false;
  try {
    for (;;) {
      ctx.checkpoint();
      // health-interval counts from a check's start: the host's began before its answer came.
      const began = Date.now() - (first?.beganMsAgo ?? 0);
      const fromHost = first !== undefined;
      const r = first ?? (await prober.probe(Math.max(100, Math.min(reqTimeout, deadline - began))));
      first = undefined;
      last = r.detail;
      lastStatus = r.status;
      if (r.fatal) throw new DeployError(step, label, last);
      if (r.ok) {
        passes++;
        // Who owns the port, and can nginx reach it: asked while the remaining checks run.
        if (passes === Math.max(1, cfg.healthPasses - 1)) {
          owner = app.remote.run(A.procState(pid, port, ctx.o(), pidFile), cfg.commandTimeoutMs);
          reach = probeFromNginx(ctx, opts.nginx, app.host.target, port).then(
            () => undefined,
            (e: unknown) => e,
          );
        }
        if (passes >= cfg.healthPasses) {
          healthyAt = Date.now();
          break;
        }
        // The next check goes through a channel: opened now, while the health-interval passes.
        if (fromHost) prober.prime();
      } else {
        passes = 0;
        owner = undefined;
        reach = undefined;
      }
      // Not listening yet: look again within ~50 ms, so the first healthy answer is seen as soon
      // as the port opens; is it still alive: asked at most every 500 ms (and at every answer).
      const notListening = !r.ok && /not listening yet/.test(last);
      if (!r.ok && (!notListening || Date.now() - aliveAt >= 500)) {
        aliveAt = Date.now();
        const st = await app.remote.run(A.procState(pid, 0, ctx.o()), cfg.commandTimeoutMs);
        if (st.code === null && !app.remote.connected) {
          throw new DeployError(step, label, `the SSH connection was lost while waiting for the new process (pid ${pid}) to become healthy`);
        }
        if (st.code === 0 && st.stdout.trim() === 'dead') {
          throw new DeployError(step, label, `the new process (pid ${pid}) exited before becoming healthy${await logTail(ctx, app, opts.log, port)}`);
        }
      }
      const wait = began + (notListening ? Math.min(50, cfg.healthIntervalMs) : cfg.healthIntervalMs) - Date.now();
      if (Date.now() + Math.max(0, wait) >= deadline) {
        throw new DeployError(
          step,
          label,
          `not healthy after ${cfg.healthTimeoutMs / 1000}s (health-timeout): GET ${hostHealthUrl(ctx, port)} answered ${last || 'nothing'}; ` +
            `expected status ${cfg.healthStatus}${cfg.healthBody ? ` with '${cfg.healthBody}' in the body` : ''}${healthHint(cfg, lastStatus)}${await logTail(ctx, app, opts.log, port)}`,
        );
      }
      if (wait > 0) {
        if (r.ok || notListening || hintAsked) await sleep(wait);
        else {
          // The runner does not check while the host does: two probers at once would interleave
          // their GETs, and checks that were not in a row would count as health-passes in a row.
          hintAsked = true;
          if (!(await askHint(ctx, app, port, pid, deadline, reqTimeout))) await sleep(Math.max(0, began + cfg.healthIntervalMs - Date.now()));
        }
      }
    }
  } finally {
    // Not waited for: the channel's close is answered a round trip later, and nothing needs it.
    prober.close().catch(() => undefined);
  }
  if (opts.verify) {
    const v = await opts.verify;
    if (v.code !== 0) throw new DeployError('upload and start', label, `the uploaded jar failed its check: ${failureText(v, 600_000)}`);
  }
  // The answer must come from the process we started, not from something else on the port.
  const res = await owner!;
  if (res.code !== 0) throw new DeployError(step, label, `checking which process owns port ${port} failed: ${failureText(res, cfg.commandTimeoutMs)}`);
  if (!res.stdout.includes('owns-port')) {
    const listener = /listener=(\d*)/.exec(res.stdout)?.[1];
    throw new DeployError(
      step,
      label,
      res.stdout.trim().startsWith('dead')
        ? `the new process (pid ${pid}) exited right after passing the health check${await logTail(ctx, app, opts.log, port)}`
        : `port ${port} is answered by pid ${listener || 'unknown'}, not by the process just started (pid ${pid})`,
    );
  }
  const unreachable = await reach;
  if (unreachable) throw unreachable;
  ctx.ui.info(`${label}: healthy (${last}), pid ${pid} owns port ${port}${opts.nginx.length ? `, reachable from nginx at ${app.host.target}:${port}` : ''}`);
  return healthyAt;
}

/**
 * SIGTERM, SIGKILL after stop-timeout (waitSec). Returns what happened, in words. detach: returns
 * right after SIGTERM (wait-for-exit: false), and says what is still pending and what finishes it.
 * `start`: the pid's start time when it was chosen (a PortState's); without it, the one this
 * action recorded for the port. A pid that has become another process since is never signalled.
 */
export const stopProcess = (...a: Parameters<typeof stopOn>): Promise<string> => a[0].span(a[1].remote.label, 'stop', () => stopOn(...a));

async function stopOn(ctx: OpContext, app: AppNode, pid: number, port: number, step: string, waitSec = ctx.cfg.stopTimeoutMs / 1000, detach = false, start?: string, unit?: StopUnit, lane?: Lane): Promise<string> {
  const cfg = ctx.cfg;
  if (unit && cfg.systemdUnit !== undefined) {
    const how: U.UnitStop = !unit.disable ? 'stop' : detach ? 'disable-now-no-block' : 'disable-now';
    const pidFile = A.layout(cfg.remoteDir, '', port).pidFile;
    const said = (await app.remote.must(step, U.stopUnit(ctx.privUnit, unit.name, how, pidFile, ctx.o(false, waitSec + 30)), waitSec * 1000 + 2 * cfg.commandTimeoutMs + (lane ? cfg.drainTimeoutMs : 0), lane)).trim();
    const what = unit.disable ? `${unit.name} stopped and disabled` : `${unit.name} stopped`;
    if (said === 'gone') return `${unit.name} was not running${unit.disable ? ' (disabled)' : ''}`;
    return detach ? `${unit.name} disabled, stopping (wait-for-exit: false: systemd finishes the stop, SIGKILL after TimeoutStopSec=${Math.ceil(waitSec)})` : what;
  }
  const out = (
    await app.remote.must(step, A.stopProcess(pid, waitSec, A.layout(cfg.remoteDir, '', port).pidFile, ctx.oApp(waitSec + 30), detach, start ?? ''), (detach ? 0 : waitSec * 1000) + cfg.commandTimeoutMs + (lane ? cfg.drainTimeoutMs : 0), lane)
  ).trim();
  const denied = parseNeedsRoot(out);
  if (denied) throw new DeployError(step, app.remote.label, takeoverNeedsRoot(ctx, pid, port, `uid ${denied.uid}`, denied.user));
  if (out === 'killed') ctx.ui.warn(`${app.remote.label}: pid ${pid} ignored SIGTERM for ${waitSec}s (stop-timeout) and was killed`);
  const d = A.parseDetachedStop(out);
  if (d) {
    const at = new Date(d.killAt).toISOString().slice(11, 19);
    return `sent SIGTERM, still exiting (wait-for-exit: false): watchdog pid ${d.watchdog} on the host SIGKILLs it at ${at} UTC if it still runs (stop-timeout ${waitSec}s)`;
  }
  return { gone: 'had already exited', terminated: 'stopped (SIGTERM)', killed: `SIGKILLed after ${waitSec}s` }[out] ?? out;
}

/**
 * A new version running next to the live one is the kernel's first pick if memory runs out
 * (oom_score_adj OVERLAP_OOM_SCORE_ADJ), when the action can put it back to 0 once it serves:
 * lowering a score needs root, so only as ssh-user root (sudo: true names exact commands, and a
 * pid is no exact command: the exact sudoers rule could not put it back), and not with
 * systemd-unit (systemd starts the unit). Otherwise 0: the score stays the host's default throughout.
 */
export function overlapOomScoreAdj(ctx: OpContext): number {
  return ctx.cfg.systemdUnit === undefined && ctx.cfg.sshUser === 'root' ? A.OVERLAP_OOM_SCORE_ADJ : 0;
}

/** After the switch: the new live processes' OOM scores back to 0 (see overlapOomScoreAdj); a failure is a warning. */
export async function resetOomScores(ctx: OpContext, started: { app: AppNode; port: number; pid: number }[]): Promise<void> {
  if (overlapOomScoreAdj(ctx) === 0) return;
  await Promise.all(
    started.map(async ({ app, port, pid }) => {
      const r = await app.remote.run(A.oomReset(A.layout(ctx.cfg.remoteDir, '', port).pidFile, pid, ctx.oApp()), ctx.cfg.commandTimeoutMs);
      if (r.code !== 0) ctx.ui.warn(`${app.remote.label}: could not put the OOM score of pid ${pid} back to 0 (${failureText(r, ctx.cfg.commandTimeoutMs)}): it stays ${A.OVERLAP_OOM_SCORE_ADJ}, the kernel's first pick if memory runs out`);
    }),
  );
}

/** systemd-unit: the service a process to stop belongs to; disable: a reboot must not start it again. */
export interface StopUnit {
  name: string;
  disable: boolean;
}

/** systemd-unit: the unit to stop instead of a pid, when the process on the port is a service's. */
export function unitOf(ctx: OpContext, st: Pick<A.PortState, 'unit'>, disable: boolean): StopUnit | undefined {
  if (ctx.cfg.systemdUnit === undefined) return undefined;
  return st.unit ? { name: st.unit, disable } : undefined;
}

/** Keeps how a running process was started (argv, cwd, environment) in a file on its host, mode 600, to start it again on a rollback; returns the file's path. */
export async function captureStart(ctx: OpContext, app: AppNode, pid: number, port: number, step: string): Promise<string> {
  const save = A.capturePath(ctx.cfg.remoteDir, port);
  const said = (await app.remote.must(step, A.captureProcess(pid, save, ctx.oApp()), ctx.cfg.commandTimeoutMs)).trim();
  const denied = parseNeedsRoot(said);
  if (denied) throw new DeployError(step, app.remote.label, takeoverNeedsRoot(ctx, pid, port, `uid ${denied.uid}`, denied.user));
  if (said === 'dead') throw new DeployError(step, app.remote.label, `the old process (pid ${pid}) on port ${port} exited before it was replaced`);
  if (said !== 'saved') throw new DeployError(step, app.remote.label, `could not keep how the old process (pid ${pid}) on port ${port} was started: ${said} (permission? set sudo: true)`);
  return save;
}

/** How a process captureStart kept is started again: read back from its file on the host. */
export async function capturedSpec(ctx: OpContext, app: AppNode, save: string, log: string): Promise<A.StartSpec> {
  const c = A.parseCapture(await app.remote.must('rollback', A.readCaptured(save, ctx.o()), ctx.cfg.commandTimeoutMs));
  if (typeof c === 'string') throw new DeployError('rollback', app.remote.label, `${save}: ${c === 'dead' ? 'empty' : c}`);
  return { ...c, log };
}

