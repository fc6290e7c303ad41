// The audit trail: <remote-dir>/deploys.log on every nginx host, one JSON line per deploy, stage,
// promote and rollback, appended atomically (one write under PIPE_BUF to an O_APPEND file).
import * as nginxCmd from '../commands/nginx.ts';
import type { Lane, Remote } from '../ssh/remote.ts';
import type { OpContext } from '../run/context.ts';

export interface AuditEntry {
  time: string;
  actor: string;
  repository: string;
  run: string;
  mode: string;
  strategy: string;
  release: string;
  /** the release that served before */
  previous?: string;
  /** ports (blue/green) or instances (rolling), before -> after */
  from: string;
  to: string;
  result: 'ok' | 'failed' | 'rolled back';
  duration_s: number;
  /** a rollback marks the release it left as bad */
  bad?: string;
}

export function auditPath(ctx: OpContext): string {
  return `${ctx.cfg.remoteDir}/deploys.log`;
}

export function runUrl(): string {
  const e = process.env;
  return e.GITHUB_RUN_ID ? `${e.GITHUB_SERVER_URL ?? 'https://github.com'}/${e.GITHUB_REPOSITORY ?? ''}/actions/runs/${e.GITHUB_RUN_ID}` : '-';
}

/** Appends the entry on every nginx host; returns the last `last` entries of the first one's log. */
export async function appendAudit(ctx: OpContext, nginx: Remote[], entry: AuditEntry, last: number, lanes?: Map<Remote, Lane>): Promise<AuditEntry[]> {
  const line = JSON.stringify(entry);
  const logs = await Promise.all(
    nginx.map(async (n, i) => {
      const r = await n.run(nginxCmd.appendLine(auditPath(ctx), line, i === 0 ? last : 0, ctx.cmdOptions()), ctx.cfg.commandTimeoutMs, lanes?.get(n));
      if (r.code !== 0) ctx.ui.warn(`${n.label}: could not append to ${auditPath(ctx)}: ${r.stderr.trim()}`);
      return r.stdout;
    }),
  );
  return parseAudit(logs[0] ?? '').slice(-last);
}

const AUDIT_AHEAD = 'audit';
/** How many of the last lines a rollback reads for its history. */
const HISTORY = 500;

/**
 * A rollback's history read, sent right behind the lock in its shell (like the include read): it
 * runs on the host once the lock is held, and costs no round trip of its own. readAudit takes it.
 */
export function readAuditBehind(ctx: OpContext, nginx: Remote, lane: Lane): void {
  const r = nginx.run(nginxCmd.tailLines(auditPath(ctx), HISTORY, ctx.cmdOptions()), ctx.cfg.commandTimeoutMs, lane);
  r.catch(() => undefined);
  nginx.ahead.set(AUDIT_AHEAD, r);
}

/** The last entries of the audit log (oldest first); lines that are not entries are skipped. */
export async function readAudit(ctx: OpContext, nginx: Remote, n = HISTORY): Promise<AuditEntry[]> {
  const early = nginx.takeAhead<ReturnType<Remote['run']>>(AUDIT_AHEAD);
  const r = await (n === HISTORY && early ? early : nginx.run(nginxCmd.tailLines(auditPath(ctx), n, ctx.cmdOptions()), ctx.cfg.commandTimeoutMs));
  return parseAudit(r.stdout);
}

export function parseAudit(text: string): AuditEntry[] {
  const out: AuditEntry[] = [];
  for (const l of text.split('\n')) {
    if (!l.startsWith('{')) continue;
    try {
      const e = JSON.parse(l) as AuditEntry;
      if (typeof e.release === 'string' && typeof e.mode === 'string') out.push(e);
    } catch {
      /* a torn or foreign line */
    }
  }
  return out;
}

/** The successful switches (deploy, promote, rollback), oldest first. */
const switches = (entries: AuditEntry[]) => entries.filter((e) => e.result === 'ok' && (e.mode === 'deploy' || e.mode === 'promote' || e.mode === 'rollback'));

/** The release the last successful switch went to. */
export function servingRelease(entries: AuditEntry[]): string | undefined {
  return switches(entries).at(-1)?.release;
}

/**
 * The release a plain rollback goes back to: the newest release that served before `current`
 * and was never rolled back from (marked bad). Pure.
 */
export function previousRelease(entries: AuditEntry[], current: string | undefined): string | undefined {
  const bad = new Set(entries.map((e) => e.bad).filter((b): b is string => !!b));
  const served = switches(entries);
  // What serves is what the host records on the live port and what the last successful switch
  // says: when a record could not be written the two differ, and neither is a rollback target.
  const serving = new Set([current, served.at(-1)?.release].filter((r): r is string => !!r));
  for (let i = served.length - 1; i >= 0; i--) {
    for (const r of [served[i].release, served[i].previous]) {
      if (r && !serving.has(r) && !bad.has(r)) return r;
    }
  }
  return undefined;
}
