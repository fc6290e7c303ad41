// The wait until a started process is healthy: the host's own first check as the port opens, then
// health-passes checks in a row through the host's SSH connection, the ownership of the port, and
// reachability from every nginx host (fleet/reach.ts); a failure says why, with the end of its log.
import { healthHint, portInUseHint, startFailureLines } from '../config/spring.ts';
import { DeployError } from '../errors.ts';
import * as appCmd from '../commands/app.ts';
import { failureText, type Remote, type RunResult } from '../ssh/remote.ts';
import type { OpContext } from '../run/context.ts';
import { sleep } from '../util/async.ts';
import { AppProbe, judgeHttpGet } from './probe.ts';
import { loadHttpClient, type ProbeResult } from './health.ts';
import { tailCommand, type LogSource } from './backend.ts';
import { healthRequestMs, hostHealthUrl, type AheadCheck, type AppNode } from './node.ts';
import { listenWait, openWaitMs, readyKey } from './start.ts';
import { probeFromNginx } from './reach.ts';

/** A health check's answer, and how long ago (ms) the check began. */
type HostCheck = ProbeResult & { beganMsAgo: number };

/**
 * The health check WAIT_LISTEN made as the port opened, judged here as the prober's would be;
 * undefined when it made none (the host has neither curl nor wget: the prober makes the first).
 */
function hostCheck(ctx: OpContext, stdout: string): HostCheck | undefined {
  const got = appCmd.waitListenGet(stdout);
  if (got === undefined) return undefined;
  const r = judgeHttpGet(ctx, got.out);
  return r.fatal ? undefined : { ...r, beganMsAgo: got.ms };
}

/**
 * After a check failed on an open port (the app listens before it is ready): the host GETs the
 * health path itself until it answers as expected (appCmd.waitHealthyHint), once per health wait, so
 * that the next check goes out when it does instead of a health-interval later. True: it did.
 * Each of its GETs gets the prober's request timeout, so a slow health endpoint is waited for as
 * long by the hint as by the check.
 */
function askHint(ctx: OpContext, app: AppNode, port: number, pid: number, deadline: number, reqTimeoutMs: number): Promise<boolean> {
  const cfg = ctx.cfg;
  const ms = Math.max(0, Math.min(openWaitMs(ctx), deadline - Date.now()));
  const url = hostHealthUrl(ctx, port);
  const cmd = appCmd.waitHealthyHint(appCmd.layout(cfg.remoteDir, '', port).pidFile, port, ms, url, cfg.healthStatus, cfg.healthBody, reqTimeoutMs / 1000, ctx.cmdOptions(false, (ms + reqTimeoutMs) / 1000 + 10));
  return app.remote.run(cmd, ms + reqTimeoutMs + cfg.commandTimeoutMs).then(
    (h) => h.code === 0 && appCmd.parseWaitHealthy(h.stdout, pid) === 'healthy',
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
  let r = app.remote.takeAhead<Promise<RunResult>>(readyKey(port));
  while (r) {
    const res = await r;
    const said = res.code === 0 ? appCmd.parseWaitListen(res.stdout, pid) : undefined;
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
  const pidFile = appCmd.layout(cfg.remoteDir, '', port).pidFile;
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
  loadHttpClient().catch(() => undefined);
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
          owner = app.remote.run(appCmd.procState(pid, port, ctx.cmdOptions(), pidFile), cfg.commandTimeoutMs);
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
        const st = await app.remote.run(appCmd.procState(pid, 0, ctx.cmdOptions()), cfg.commandTimeoutMs);
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
