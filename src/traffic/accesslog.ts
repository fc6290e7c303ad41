// What nginx's own access log (access-log, in the canary log_format) says about each release: read
// by a canary step and by a bake.
import { DeployError } from '../errors.ts';
import * as nginxCmd from '../commands/nginx.ts';
import type { NginxSide } from './nginx.ts';
import { CANARY_LOG_FORMAT, parseLogLine, type Attempt, type Gates, type ReleaseFigures } from './canary.ts';
import type { OpContext } from '../run/context.ts';

const MAX_LOG_BYTES = 64 << 20;

/**
 * The log is read as the deploy user, also with sudo: true (a read from an offset is no exact
 * command a sudoers line could name), so that user must be able to read it.
 */
function unreadable(ctx: OpContext, n: NginxSide, step: string, out: string): DeployError | undefined {
  const u = nginxCmd.parseUnreadable(out);
  if (!u) return undefined;
  const f = ctx.cfg.canary.log;
  return new DeployError(
    step,
    `nginx host ${n.remote.label}`,
    `user '${u.user}' cannot read access-log ${f} (${u.mode}): the canary and the bake read it as the deploy user, never through sudo. ` +
      `Let that user read nginx's logs: on Debian and Ubuntu they belong to the group adm (sudo usermod -aG adm ${u.user}, then a new SSH login), ` +
      `or give the log a group the user is in (docs/server-setup.md, "The sudo rule"). Nothing was changed`,
  );
}

/** Before any traffic moves: the log must be there and hold lines in the canary format. */
export async function checkLog(ctx: OpContext, nginx: NginxSide[], step = 'canary'): Promise<void> {
  const f = ctx.cfg.canary.log;
  await Promise.all(
    nginx.map(async (n) => {
      const out = await n.remote.must(step, nginxCmd.tailLog(f, 200, ctx.cmdOptions()), ctx.cfg.commandTimeoutMs);
      const denied = unreadable(ctx, n, step, out);
      if (denied) throw denied;
      const lines = out.split('\n').filter((l) => l.trim() !== '');
      if (lines.some((l) => (parseLogLine(l)?.length ?? 0) > 0)) return;
      throw new DeployError(
        step,
        `nginx host ${n.remote.label}`,
        `access-log ${f} ${lines.length === 0 ? 'is empty or missing' : `has no line in the canary format (last line: '${lines[lines.length - 1].slice(0, 160)}')`}, so nothing could be judged; ` +
          `add to nginx's http {} block: ${CANARY_LOG_FORMAT} and access_log ${f} canary; (nothing was changed)`,
      );
    }),
  );
}

export async function logOffsets(ctx: OpContext, nginx: NginxSide[]): Promise<number[]> {
  return Promise.all(
    nginx.map(async (n) => {
      const out = (await n.remote.must('canary', nginxCmd.logSize(ctx.cfg.canary.log, ctx.cmdOptions()), ctx.cfg.commandTimeoutMs)).trim();
      const denied = unreadable(ctx, n, 'canary', out);
      if (denied) throw denied;
      return /^\d+$/.test(out) ? Number(out) : 0;
    }),
  );
}

export async function attemptsSince(ctx: OpContext, nginx: NginxSide[], offsets: number[]): Promise<Attempt[]> {
  return (await readSince(ctx, nginx, offsets)).attempts;
}

/**
 * The attempts logged from each host's offset on (up to `until`, when given), and where the next
 * read starts: after the last complete line, so a line nginx is writing is read whole next time.
 */
export async function readSince(ctx: OpContext, nginx: NginxSide[], offsets: number[], until?: number[]): Promise<{ attempts: Attempt[]; next: number[] }> {
  const all = await Promise.all(
    nginx.map(async (n, i) => {
      const max = until ? Math.max(0, until[i] - offsets[i]) : MAX_LOG_BYTES;
      if (max === 0) return { attempts: [] as Attempt[], next: offsets[i] };
      const out = await n.remote.must('analysis', nginxCmd.readLogFrom(ctx.cfg.canary.log, offsets[i], max, ctx.cmdOptions()), ctx.cfg.commandTimeoutMs);
      const whole = until ? out : out.slice(0, out.lastIndexOf('\n') + 1);
      return { attempts: whole.split('\n').flatMap((l) => parseLogLine(l) ?? []), next: offsets[i] + Buffer.byteLength(whole, 'utf8') };
    }),
  );
  return { attempts: all.flatMap((a) => a.attempts), next: all.map((a) => a.next) };
}

export const show = (f: ReleaseFigures) => `${f.requests} requests, ${f.errorRate.toFixed(1)} % 5xx, p50 ${f.p50.toFixed(0)} ms, p99 ${f.p99.toFixed(0)} ms`;

/** The gates a canary step and a bake are judged with (judgeStep). */
export function gatesOf(ctx: OpContext): Gates {
  const c = ctx.cfg.canary;
  return { maxErrorRate: c.maxErrorRate, maxP99Ratio: c.maxP99Ratio, p99FloorMs: c.p99FloorMs, maxMedianShiftMs: c.maxMedianShiftMs, minRequests: c.minRequests };
}
