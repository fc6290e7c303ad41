// One app instance (host:port): inspect the port, upload the jar, start, wait until healthy (and
// reachable from every nginx host), stop, and read how a running process was started.
import { hostPort } from '../config/hosts.ts';
import { healthHint, portInUseHint, startFailureLines } from '../config/spring.ts';
import { DeployError, errorText } from '../errors.ts';
import * as A from '../commands/app.ts';
import type { Cmd } from '../commands/shell.ts';
import { gatedStart, removeFile } from '../commands/shell.ts';
import { failureText, ForwardingRefused, isConnectFailed, type Lane, type Remote, type RunResult } from '../ssh/remote.ts';
import type { OpContext } from '../run/context.ts';
import { sleep } from '../util/async.ts';
import type { Artifact } from './artifact.ts';
import * as H from '../commands/http.ts';
import { AppProbe, forwardingRefused, judgeHttpGet, markForwardingRefused } from './probe.ts';
import { undici, type ProbeResult } from './health.ts';
import { logText, tailCommand, type LogSource, type ReleaseStart, type RunBackend } from './backend.ts';
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

/** What would let the deploy user see who holds a port (a PortState with no pid), in words; doc: the backend's sudoersDoc. */
export function toSeePort(ctx: OpContext, port: number, st: A.PortState, doc: string): string {
  const cfg = ctx.cfg;
  if (!cfg.sudo) return `set sudo: true and add '${A.SS_COMMAND(port)}' to the sudoers rule (${doc}), or run the app as '${cfg.sshUser}'`;
  if (st.unprivileged) return `sudo refused \`ss -Htlnp 'sport = :${port}'\`: add '${A.SS_COMMAND(port)}' to the deploy user's sudoers rule (${doc})`;
  return 'not even through sudo (is /proc mounted with hidepid, or does the process run in a container?)';
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
 * Starts a process; its undo (stop it) is recorded before the start is sent. Returns its pid.
 * gate: the start waits on the host behind it (a gated upload's, uploadJar), for up to limitMs more.
 */
export const startProcess = (...a: Parameters<typeof startOn>): Promise<number> => a[0].span(a[2].remote.label, 'start', () => startOn(...a));

async function startOn(ctx: OpContext, backend: RunBackend, app: AppNode, port: number, spec: ReleaseStart, step: string, guard = true, gate?: { cmd: Cmd; rcFile: string; limitMs: number }, oomScoreAdj = 0): Promise<number> {
  // A gated start may still run on the host after the runner gave up on it: its undo closes the gate first.
  const entry = { kind: 'started' as const, app: app.host.ssh, port, pid: undefined as number | undefined, ...(gate ? { gate: gate.rcFile } : {}), backend: backend.kind };
  ctx.record(entry);
  const cfg = ctx.cfg;
  let cmd = await backend.startCommand(app, port, spec, guard ? guardSec(ctx) : 0, oomScoreAdj);
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
  ctx.ui.info(`${app.remote.label}: started pid ${pid} on port ${port} (${logText(spec.log)})`);
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
async function waitOpen(ctx: OpContext, app: AppNode, port: number, pid: number, log: LogSource, deadline: number): Promise<HostCheck | undefined> {
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
async function logTail(ctx: OpContext, app: AppNode, log: LogSource, port: number): Promise<string> {
  const { cmd, what: from } = tailCommand(ctx, log);
  const all = (await app.remote.run(cmd, ctx.cfg.commandTimeoutMs)).stdout.trim();
  const t = startFailureLines(all);
  const what = /APPLICATION FAILED TO START/.test(t) ? "Spring Boot's failure report in" : 'last lines of';
  return t ? `\n--- ${what} ${from} ---\n${t}${portInUseHint(ctx.cfg, t, port)}` : '';
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

async function healthyOn(ctx: OpContext, app: AppNode, port: number, pid: number, opts: { log: LogSource; nginx: Remote[]; verify?: Promise<RunResult>; ahead?: Promise<AheadCheck | undefined> }): Promise<number> {
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

/** Tells a start waiting on the host behind the jar never to run: aborted, decided (it passed) or none. */
export async function closeGate(ctx: OpContext, app: AppNode, rcFile: string): Promise<'aborted' | 'decided' | 'none'> {
  const r = await app.remote.run(A.abortGate(rcFile, ctx.o()), ctx.cfg.commandTimeoutMs).catch(() => undefined);
  const said = r?.stdout.trim();
  return said === 'aborted' || said === 'decided' ? said : 'none';
}

/** Whether pid still runs, and its start time (a PortState's start) when it does. */
export async function processStart(ctx: OpContext, app: AppNode, pid: number, step: string): Promise<{ dead: boolean; start?: string }> {
  const c = await app.remote.must(step, A.procState(pid, 0, ctx.o()), ctx.cfg.commandTimeoutMs);
  return { dead: c.trim() === 'dead', start: /^start=(\d+)/m.exec(c)?.[1] };
}
