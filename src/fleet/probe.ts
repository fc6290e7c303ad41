// Health checks of a process on an app host: HTTP over a channel of the host's SSH connection,
// or, where its sshd refuses TCP forwarding (AllowTcpForwarding no), curl or wget run on the
// host itself over the exec channel. The refusal is seen at the first check, not after
// health-timeout.
import * as httpCmd from '../commands/http.ts';
import { hostPort } from '../config/hosts.ts';
import type { Remote } from '../ssh/remote.ts';
import type { OpContext } from '../run/context.ts';
import { HealthProber, judge, type Probe, type ProbeResult } from './health.ts';
import { healthPortOf } from '../config/spring.ts';

const noForwarding = new WeakSet<Remote>();

/**
 * A GET made on the host (HTTP_GET's output), judged as the prober judges its own answers;
 * fatal when the host has neither curl nor wget.
 */
export function judgeHttpGet(ctx: OpContext, stdout: string): ProbeResult {
  const a = httpCmd.parseHttpGet(stdout);
  if ('error' in a) return { ok: false, detail: a.error, fatal: a.noClient === true };
  return judge({ path: ctx.cfg.healthPath, status: ctx.cfg.healthStatus, body: ctx.cfg.healthBody }, a.status, a.body);
}

class ExecProber implements Probe {
  private ctx: OpContext;
  private remote: Remote;
  private url: string;
  constructor(ctx: OpContext, remote: Remote, url: string) {
    this.ctx = ctx;
    this.remote = remote;
    this.url = url;
  }
  async probe(timeoutMs: number): Promise<ProbeResult> {
    const r = await this.remote.run(httpCmd.httpGet(this.url, timeoutMs / 1000, this.ctx.cmdOptions(false, timeoutMs / 1000 + 5)), timeoutMs + 5000);
    if (r.code !== 0) return { ok: false, detail: r.code === null ? 'the SSH connection was lost' : `exit code ${r.code}: ${r.stderr.trim()}` };
    return judgeHttpGet(this.ctx, r.stdout);
  }
  prime(): void {}
  async close(): Promise<void> {}
}

/** Health of host:port as seen from `remote` (default: the app on that host itself). */
export class AppProbe implements Probe {
  private ctx: OpContext;
  private remote: Remote;
  private port: number;
  private host: string;
  private inner: Probe;

  /** port: the instance's; its health checks go to health-port when that is set */
  constructor(ctx: OpContext, remote: Remote, port: number, host = '127.0.0.1') {
    this.ctx = ctx;
    this.remote = remote;
    this.port = healthPortOf(ctx.cfg, port);
    this.host = host;
    this.inner = noForwarding.has(remote) ? this.exec() : this.channel();
  }

  private channel(): Probe {
    const c = this.ctx.cfg;
    return new HealthProber(() => this.remote.forward(this.port, this.host), { path: c.healthPath, status: c.healthStatus, body: c.healthBody }, this.port);
  }

  private exec(): Probe {
    return new ExecProber(this.ctx, this.remote, `http://${hostPort(this.host, this.port)}${this.ctx.cfg.healthPath}`);
  }

  async probe(timeoutMs: number): Promise<ProbeResult> {
    const r = await this.inner.probe(timeoutMs);
    if (r.ok || !r.forwardingRefused) return r;
    if (!noForwarding.has(this.remote)) {
      noForwarding.add(this.remote);
      this.ctx.ui.warn(`${r.detail}; checking with curl/wget on the host instead`);
    }
    await this.inner.close();
    this.inner = this.exec();
    return this.inner.probe(timeoutMs);
  }

  prime(): void {
    this.inner.prime();
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

/** Does the host reach host:port at all? True when forwarding is refused there (the caller falls back). */
export function forwardingRefused(remote: Remote): boolean {
  return noForwarding.has(remote);
}

export function markForwardingRefused(remote: Remote): void {
  noForwarding.add(remote);
}
