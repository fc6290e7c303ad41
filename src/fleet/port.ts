// Who owns a port on an app host: the port's state as the host reads it (pid, start time, user,
// unit), whether a process still runs, and what to say when the deploy user may not take one over.
import { DeployError } from '../errors.ts';
import * as appCmd from '../commands/app.ts';
import type { OpContext } from '../run/context.ts';
import type { AppNode } from './node.ts';

/** asked: the same read, sent earlier (fleet/lockreads.ts). */
export async function inspectPort(ctx: OpContext, app: AppNode, port: number, step: string, asked?: Promise<string>): Promise<appCmd.PortState> {
  const out = await (asked ?? app.remote.must(step, appCmd.portState(port, appCmd.layout(ctx.cfg.remoteDir, '', port).pidFile, ctx.cmdOptions(), ctx.privPorts), ctx.cfg.commandTimeoutMs));
  const st = appCmd.parsePortState(out);
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
export function toSeePort(ctx: OpContext, port: number, st: appCmd.PortState, doc: string): string {
  const cfg = ctx.cfg;
  if (!cfg.sudo) return `set sudo: true and add '${appCmd.SS_COMMAND(port)}' to the sudoers rule (${doc}), or run the app as '${cfg.sshUser}'`;
  if (st.unprivileged) return `sudo refused \`ss -Htlnp 'sport = :${port}'\`: add '${appCmd.SS_COMMAND(port)}' to the deploy user's sudoers rule (${doc})`;
  return 'not even through sudo (is /proc mounted with hidepid, or does the process run in a container?)';
}


/** Whether pid still runs, and its start time (a PortState's start) when it does. */
export async function processStart(ctx: OpContext, app: AppNode, pid: number, step: string): Promise<{ dead: boolean; start?: string }> {
  const c = await app.remote.must(step, appCmd.procState(pid, 0, ctx.cmdOptions()), ctx.cfg.commandTimeoutMs);
  return { dead: c.trim() === 'dead', start: /^start=(\d+)/m.exec(c)?.[1] };
}
