// What the action can see of a Spring Boot app's settings, from the inputs that start it
// (java-opts, app-args, env), and the advice that follows from them. Pure.
import type { Config } from './inputs.ts';

/** A Spring Boot property as the inputs set it, and where. */
export interface SpringSetting {
  value: string;
  /** the input that sets it: app-args, java-opts or env (with the variable's name) */
  from: string;
}

/**
 * The value of a Spring Boot property set in the inputs, by Spring Boot's order of precedence:
 * a command-line argument (`--key=value` in app-args), then a system property (`-Dkey=value` in
 * java-opts), then an environment variable (relaxed binding: `SPRING_LIFECYCLE_TIMEOUTPERSHUTDOWNPHASE`
 * for `spring.lifecycle.timeout-per-shutdown-phase`). `{port}` is not filled in. Undefined when
 * none sets it (application.properties inside the jar is not seen).
 */
export function springSetting(cfg: Pick<Config, 'javaOpts' | 'appArgs' | 'env'>, key: string): SpringSetting | undefined {
  const last = (words: string[], prefix: string) => {
    let v: string | undefined;
    for (const w of words) if (w.startsWith(prefix)) v = w.slice(prefix.length);
    return v;
  };
  const arg = last(cfg.appArgs, `--${key}=`);
  if (arg !== undefined) return { value: arg, from: 'app-args' };
  const prop = last(cfg.javaOpts, `-D${key}=`);
  if (prop !== undefined) return { value: prop, from: 'java-opts' };
  const name = envName(key);
  const env = cfg.env.filter(([k]) => k === name).pop();
  if (env) return { value: env[1], from: `env (${name})` };
  return undefined;
}

/** The environment variable Spring Boot's relaxed binding reads for a property: dots to `_`, dashes dropped, upper case. */
export function envName(key: string): string {
  return key.replace(/-/g, '').replace(/\./g, '_').toUpperCase();
}

const UNIT_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * A Spring Boot `Duration` property in milliseconds: `20s`, `500ms`, `1m`, a bare number
 * (milliseconds, Spring's default unit), or ISO-8601 (`PT20S`, `PT1M30S`). Undefined when it is
 * none of these (Spring would refuse it at start).
 */
export function springDurationMs(text: string): number | undefined {
  const v = text.trim();
  let m = /^([+-]?\d+)(ns|us|ms|s|m|h|d)?$/i.exec(v);
  if (m) return Number(m[1]) * UNIT_MS[(m[2] ?? 'ms').toLowerCase()];
  m = /^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$/i.exec(v);
  if (m && v.length > 1 && !/T$/i.test(v)) {
    const [d, h, min, s] = m.slice(1).map((x) => Number(x ?? 0));
    return d * 86_400_000 + h * 3_600_000 + min * 60_000 + s * 1000;
  }
  return undefined;
}

export const SHUTDOWN_PHASE = 'spring.lifecycle.timeout-per-shutdown-phase';

/**
 * Warnings about the inputs that start the app, for modes that start it with them (deploy,
 * stage): a stop-timeout shorter than the graceful shutdown Spring Boot may take.
 */
export function springWarnings(cfg: Pick<Config, 'javaOpts' | 'appArgs' | 'env' | 'stopTimeoutMs' | 'mode'>): string[] {
  if (cfg.mode !== 'deploy' && cfg.mode !== 'stage') return [];
  const out: string[] = [];
  const phase = springSetting(cfg, SHUTDOWN_PHASE);
  const ms = phase && springDurationMs(phase.value);
  if (phase && ms !== undefined && ms > cfg.stopTimeoutMs) {
    out.push(
      `stop-timeout (${cfg.stopTimeoutMs / 1000}s) is shorter than ${SHUTDOWN_PHASE} (${phase.value}, from ${phase.from}): ` +
        `a version still finishing its requests in a graceful shutdown is SIGKILLed at stop-timeout, and those requests fail. ` +
        `Set stop-timeout above it (docs/application.md, Graceful shutdown)`,
    );
  }
  return out;
}

/**
 * What a failed health check's status says about a Spring Boot app, in a sentence to add to the
 * error ('' when nothing): a 404 names server.servlet.context-path (with the health-path it
 * calls for when the inputs set it), a 401 or 403 says to permit the health path.
 */
export function healthHint(cfg: Pick<Config, 'javaOpts' | 'appArgs' | 'env' | 'healthPath'>, status: number | undefined): string {
  if (status === 404) {
    const ctxPath = springSetting(cfg, 'server.servlet.context-path');
    const base = ctxPath?.value.replace(/\/+$/, '') ?? '';
    if (ctxPath && base !== '' && !cfg.healthPath.startsWith(`${base}/`)) {
      return (
        `. server.servlet.context-path is ${ctxPath.value} (from ${ctxPath.from}): the app serves every path under it, the actuator's too. ` +
        `Set health-path: ${base}${cfg.healthPath}`
      );
    }
    return (
      `. Nothing answers health-path ${cfg.healthPath}: if the app sets server.servlet.context-path (e.g. /api in application.properties), ` +
      `the health endpoint is under it (health-path: /api${cfg.healthPath}); check too that management.endpoints.web.exposure.include has health`
    );
  }
  if (status === 401 || status === 403) {
    return (
      `. The health endpoint asks for credentials (${status}), so the deploy can never see the new version healthy: ` +
      `permit health-path ${cfg.healthPath} without authentication (Spring Security: ` +
      `.requestMatchers(EndpointRequest.to(HealthEndpoint.class)).permitAll(), or permitAll() on that path)`
    );
  }
  return '';
}

const REPORT = 'APPLICATION FAILED TO START';

/**
 * The lines of a start's log worth showing when it failed: Spring Boot's failure report
 * ("APPLICATION FAILED TO START", Description, Action), whole, from the log line that opens it to
 * its end, when the log holds one; else the last `tail` lines.
 */
export function startFailureLines(log: string, tail = 15): string {
  const lines = log.replace(/\s+$/, '').split('\n');
  const at = lines.map((l) => l.trim()).lastIndexOf(REPORT);
  if (at < 0) return lines.slice(-tail).join('\n');
  // The report opens with a row of stars, after the logger's line (…FailureAnalysisReporter : )
  // and a blank line; it ends with the Action paragraph.
  let from = at;
  while (from > 0 && at - from < 4 && (lines[from - 1].trim() === '' || /^\*+$/.test(lines[from - 1].trim()) || /FailureAnalysisReporter/.test(lines[from - 1]))) from--;
  let to = lines.length;
  const action = lines.findIndex((l, i) => i > at && l.trim() === 'Action:');
  if (action > 0) {
    // the Action paragraph: up to the first blank line after its text
    let i = action + 1;
    while (i < lines.length && lines[i].trim() === '') i++;
    while (i < lines.length && lines[i].trim() !== '') i++;
    to = i;
  }
  return lines.slice(from, Math.min(to, from + 200)).join('\n');
}

/**
 * A start that failed on a port in use that is not the app's own port: most likely a fixed
 * management.server.port (or another fixed port), taken by the version already running. '' when
 * the log says nothing of the kind.
 */
export function portInUseHint(cfg: Pick<Config, 'javaOpts' | 'appArgs' | 'env' | 'healthPort'>, log: string, appPort: number): string {
  const m = /Port (\d+) was already in use/.exec(log);
  if (!m || Number(m[1]) === appPort) return '';
  const mgmt = springSetting(cfg, 'management.server.port');
  return (
    `\nPort ${m[1]} is not the app's port (${appPort}): it is ${mgmt ? `management.server.port (${mgmt.value}, from ${mgmt.from})` : 'most likely management.server.port (the actuator on a port of its own)'}, ` +
    `a fixed port that the version already running holds, so two versions can never run side by side. ` +
    `Derive it from the app's port in each colour: app-args: --management.server.port=1{port}, and health-port: 1{port} to health-check the actuator there (docs/application.md, A management port)`
  );
}

/** The port health checks go to for an instance on `port`: health-port with {port} filled in, or the port itself. */
export function healthPortOf(cfg: Pick<Config, 'healthPort'>, port: number): number {
  if (!cfg.healthPort) return port;
  const n = Number(cfg.healthPort.split('{port}').join(String(port)));
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new Error(`health-port ${cfg.healthPort} gives ${cfg.healthPort.split('{port}').join(String(port))} for port ${port}, not a port number`);
  return n;
}
