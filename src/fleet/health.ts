// The one HTTP health prober. It talks HTTP (undici) over a channel that the app host's sshd
// opens to 127.0.0.1:PORT on that host, so it works where app ports are firewalled and open
// to nginx alone. It never opens a TCP connection from the runner to an app host.
import type { Client } from 'undici';
import type { Duplex } from 'node:stream';
import { errorText } from '../errors.ts';
import { isForwardingRefused } from '../ssh/remote.ts';

export interface HealthSpec {
  path: string;
  status: number;
  body: string;
}

export interface ProbeResult {
  ok: boolean;
  /** no point in trying again (a missing tool) */
  fatal?: boolean;
  /** what was seen, for logs: `200 {"status":"UP"}` or an error */
  detail: string;
  /** the HTTP status, when an answer came */
  status?: number;
  /** the host's sshd refuses TCP forwarding: only a check on the host itself can work */
  forwardingRefused?: boolean;
}

export type ChannelOpener = () => Promise<Duplex>;

/**
 * The HTTP client (undici), loaded on first use: evaluating it takes ~80 ms, which would otherwise sit between the
 * workflow starting the step and the first SSH connection. The first health check comes while
 * the new JVM is still starting, so there it costs nothing.
 */
export const loadHttpClient = (): Promise<typeof import('undici')> => import('undici');

/** undici's `connect` option: every connection is a channel from open (an SSH forward). */
export function viaChannel(open: ChannelOpener) {
  return (_opts: unknown, cb: (err: Error | null, socket: never) => void): void => {
    open().then(
      (ch) => cb(null, ch as never),
      (e) => cb(e as Error, null as never),
    );
  };
}

/** Decides whether one response passes. Pure. */
export function judge(spec: HealthSpec, status: number, body: string): ProbeResult {
  const shown = `${status} ${body.replace(/\s+/g, ' ').slice(0, 120)}`.trim();
  if (status !== spec.status) return { ok: false, detail: `${shown} (expected status ${spec.status})`, status };
  if (spec.body !== '' && !body.includes(spec.body)) return { ok: false, detail: `${shown} (body lacks '${spec.body}')`, status };
  return { ok: true, detail: shown, status };
}

/** Anything that can be asked "are you healthy?" once at a time. */
export interface Probe {
  probe(timeoutMs: number): Promise<ProbeResult>;
  /** Get ready for the next probe (open its channel now); a no-op where there is nothing to open. */
  prime(): void;
  close(): Promise<void>;
}

export class HealthProber implements Probe {
  private client?: Promise<Client>;
  /** A channel opened ahead (prime), which the next connection takes. */
  private primed?: Promise<Duplex>;
  private spec: HealthSpec;
  private open: ChannelOpener;
  private port: number;

  constructor(open: ChannelOpener, spec: HealthSpec, port: number) {
    this.spec = spec;
    this.open = open;
    this.port = port;
  }

  private async makeClient(): Promise<Client> {
    const { Client } = await loadHttpClient();
    return new Client(`http://127.0.0.1:${this.port}`, {
      connect: viaChannel(() => {
        const ch = this.primed;
        this.primed = undefined;
        return ch ?? this.open();
      }),
      keepAliveTimeout: 10_000,
      pipelining: 1,
    });
  }

  prime(): void {
    if (this.client || this.primed) return;
    this.primed = this.open();
    this.primed.catch(() => undefined);
  }

  async probe(timeoutMs: number): Promise<ProbeResult> {
    // Belt and braces: whatever happens inside the HTTP client, a probe ends in time.
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<ProbeResult>((resolve) => {
      timer = setTimeout(() => resolve({ ok: false, detail: 'no answer in time' }), timeoutMs + 1000);
    });
    try {
      return await Promise.race([this.attempt(timeoutMs), late]);
    } finally {
      clearTimeout(timer);
    }
  }

  private async attempt(timeoutMs: number): Promise<ProbeResult> {
    try {
      const client = await (this.client ??= this.makeClient());
      const res = await client.request({
        method: 'GET',
        path: this.spec.path,
        headers: { 'user-agent': 'jar-bluegreen-deploy health check' },
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
        signal: AbortSignal.timeout(timeoutMs),
      });
      let body = '';
      for await (const chunk of res.body) {
        if (body.length < 65536) body += chunk.toString();
      }
      return judge(this.spec, res.statusCode, body);
    } catch (e) {
      return { ok: false, detail: shortError(e), ...(isForwardingRefused(e) ? { forwardingRefused: true } : {}) };
    }
  }

  async close(): Promise<void> {
    const client = this.client;
    const primed = this.primed;
    this.client = undefined;
    this.primed = undefined;
    primed?.then(
      (ch) => ch.destroy(),
      () => undefined,
    );
    if (client) await (await client).destroy().catch(() => undefined);
  }
}

function shortError(e: unknown): string {
  const msg = errorText(e);
  if (/refuses TCP forwarding/.test(msg)) return msg;
  if (/Connection refused|ECONNREFUSED|open failed|Connect failed/i.test(msg)) return 'connection refused (not listening yet)';
  if (/aborted|timeout/i.test(msg)) return 'no answer in time';
  return msg;
}

/** GET a URL directly from the runner (verify-url through nginx). */
export async function fetchStatus(url: string, timeoutMs: number): Promise<ProbeResult> {
  try {
    const { request } = await loadHttpClient();
    const res = await request(url, { method: 'GET', headersTimeout: timeoutMs, bodyTimeout: timeoutMs, signal: AbortSignal.timeout(timeoutMs) });
    const body = await res.body.text();
    const ok = res.statusCode >= 200 && res.statusCode < 400;
    return { ok, detail: `${res.statusCode} ${body.replace(/\s+/g, ' ').slice(0, 120)}` };
  } catch (e) {
    return { ok: false, detail: shortError(e) };
  }
}
