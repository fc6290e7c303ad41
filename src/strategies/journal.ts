// The journal: every change a run makes to a server, recorded before it is made, with what undoes
// it. A rollback, in this process or in the post step after it died, undoes it from the end:
// includes are put back (and the old nginx workers drained) before the processes they named are
// stopped; processes stopped for a rolling batch are started again as they were.
import type { SshAddress } from '../config/hosts.ts';
import { hostPort } from '../config/hosts.ts';
import { errorText } from '../errors.ts';
import { restoreIncludes } from '../traffic/nginx.ts';
import { formAddresses, parseInclude, renderDown } from '../traffic/include.ts';
import { drain } from '../traffic/drain.ts';
import { closeGate } from '../fleet/upload.ts';
import { inspectPort } from '../fleet/port.ts';
import { startProcess } from '../fleet/start.ts';
import { waitHealthy } from '../fleet/healthy.ts';
import { type AppNode } from '../fleet/node.ts';
import { stopTeamUnit } from '../fleet/systemd.ts';
import type { DeployRun } from './deployrun.ts';
import type { IncludeUndo, UndoEntry } from '../run/undo.ts';
import { sleep } from '../util/async.ts';

export type { IncludeUndo, UndoEntry } from '../run/undo.ts';

/** The entries not undone yet, newest first, in runs of one kind: each run is undone together. Pure. */
export function pendingGroups(journal: UndoEntry[]): UndoEntry[][] {
  const groups: UndoEntry[][] = [];
  for (const e of [...journal].reverse()) {
    if (e.undone) continue;
    const g = groups[groups.length - 1];
    if (g && g[0].kind === e.kind) g.push(e);
    else groups.push([e]);
  }
  return groups;
}

/**
 * A run of include changes (newest first: a canary's steps, a rolling batch put back then the
 * next one taken out) as one change per host, from what the newest wrote straight back to what
 * the oldest found. Pure.
 */
export function mergeIncludes(run: IncludeUndo[]): IncludeUndo {
  const key = (h: IncludeUndo['hosts'][number]) => `${h.nginx.host}:${h.nginx.port}:${h.path}`;
  let merged: IncludeUndo = { kind: 'include', hosts: run[0].hosts };
  for (const e of run.slice(1)) {
    const older = new Map(e.hosts.map((h) => [key(h), h]));
    merged = {
      kind: 'include',
      hosts: [
        ...merged.hosts.map((h) => {
          const o = older.get(key(h));
          return o ? { ...h, before: o.before, mayServe: h.mayServe !== false || o.mayServe !== false } : h;
        }),
        ...e.hosts.filter((h) => !merged.hosts.some((m) => key(m) === key(h))),
      ],
    };
  }
  return merged;
}

/** The journal as it is undone: pendingGroups, each run of include changes merged into one. Pure. */
export function undoGroups(journal: UndoEntry[]): UndoEntry[][] {
  return pendingGroups(journal).map((g) => (g[0].kind === 'include' ? [mergeIncludes(g as IncludeUndo[])] : g));
}

/** The `address:port`s an include text names (null: no file, none); undefined: it cannot be read. */
function namedBy(text: string | null | undefined, targets: string[]): string[] | undefined {
  if (text === undefined) return undefined;
  try {
    const form = text === null ? null : parseInclude(text, targets);
    return form === null ? [] : formAddresses(form).map((a) => hostPort(a.host, a.port));
  } catch {
    return undefined;
  }
}

/**
 * An include text to put back, with the instances that could not be started again marked down: a
 * rollback never sends traffic to a port where nothing runs. Pure.
 */
export function withoutDead(text: string | null, targets: string[], dead: Set<string>): string | null {
  if (text === null || dead.size === 0) return text;
  try {
    const form = parseInclude(text, targets);
    return form?.kind === 'upstream' ? renderDown(text, form, dead) : text;
  } catch {
    return text;
  }
}

/** Undoes the journal from its end; returns what could not be undone (empty: all of it). */
export async function undoJournal(ctx: DeployRun, journal: UndoEntry[]): Promise<string[]> {
  const problems: string[] = [];
  const cfg = ctx.cfg;
  ctx.undoing = true;
  await ctx.pool.reconnectLost((m) => ctx.ui.info(m));
  const nginxRemotes = async () => (await Promise.all(cfg.nginxHosts.map((n) => ctx.pool.get(n, 'nginx host').catch(() => undefined)))).filter((r) => r !== undefined);
  const app = async (addr: SshAddress): Promise<AppNode | undefined> => {
    const host = cfg.appHosts.find((h) => h.ssh.host === addr.host && h.ssh.port === addr.port);
    if (!host) return undefined;
    try {
      return { host, remote: await ctx.pool.get(addr, 'app host') };
    } catch (e) {
      problems.push(`${hostPort(addr.host, addr.port)}: ${errorText(e)}`);
      return undefined;
    }
  };
  // Each entry is marked undone once its undo is complete, and the state saved: a run killed
  // while it rolls back (the runner's SIGKILL 10 s after a cancel) is resumed by its post step
  // from what is left, not replayed. Anything left as it was (a problem) stays to be undone.
  const done = (...entries: UndoEntry[]) => {
    for (const e of entries) e.undone = true;
    ctx.save();
  };
  // What an include that could not be put back may still send traffic to: never stopped.
  const stillNamed = new Map<string, string>();
  // Instances whose old process could not be started again: an include put back marks them down.
  const dead = new Set<string>();
  let unknownInclude: string | undefined;
  for (const sources of pendingGroups(journal)) {
    const kind = sources[0].kind;
    const g = kind === 'include' ? [mergeIncludes(sources as IncludeUndo[])] : sources;
    if (kind === 'include') {
      const merged = g[0] as IncludeUndo;
      const targets = cfg.appHosts.map((h) => h.target);
      const e: IncludeUndo = dead.size === 0 ? merged : { ...merged, hosts: merged.hosts.map((h) => ({ ...h, before: withoutDead(h.before, targets, dead) })) };
      const downMsg = `${[...dead].join(', ')} marked down in the include put back, because nothing runs there -- MANUAL ACTION NEEDED: start it, then remove 'down'`;
      if (dead.size > 0 && !problems.includes(downMsg)) problems.push(downMsg);
      const hosts = (
        await Promise.all(
          e.hosts.map(async (h) => {
            const remote = await ctx.pool.get(h.nginx, 'nginx host').catch((err) => {
              problems.push(`${errorText(err)} -- MANUAL ACTION NEEDED: restore ${h.path} there`);
              return undefined;
            });
            return remote ? { ...h, remote } : undefined;
          }),
        )
      ).filter((h) => h !== undefined);
      const res = await restoreIncludes(ctx, hosts);
      problems.push(...res.problems);
      // Not put back, or not even reached for it: such a host may still hold what the run wrote.
      const label = (h: IncludeUndo['hosts'][number]) => hostPort(h.nginx.host, h.nginx.port);
      const unreached = e.hosts.filter((h) => !hosts.some((x) => x.remote.label === label(h))).map((h) => ({ label: label(h), mayHold: h.after }));
      for (const u of [...res.unrestored, ...unreached]) {
        // nginx there never ran what this run wrote: what it runs names none of the new processes.
        if (e.hosts.find((h) => label(h) === u.label)?.mayServe === false) continue;
        const named = namedBy(u.mayHold, cfg.appHosts.map((h) => h.target));
        if (named === undefined) unknownInclude = u.label;
        else for (const n of named) stillNamed.set(n, u.label);
        problems.push(`nginx host ${u.label} ${named === undefined ? 'points at what its include holds now (unknown)' : `may still point at ${named.join(', ') || 'nothing'} (the include this run wrote)`}`);
      }
      // The old workers may still proxy to what is about to be stopped: let them finish.
      if (res.drain.length > 0) await drain(ctx, { nginx: res.drain, ports: [] }, 'the new version');
      if (res.unrestored.length === 0 && unreached.length === 0 && dead.size === 0) done(...sources);
    } else if (kind === 'unit-started') {
      await Promise.all(
        (g as Extract<UndoEntry, { kind: 'unit-started' }>[]).map(async (e) => {
          const a = await app(e.app);
          if (!a) return;
          const code = await stopTeamUnit(ctx, a, e.unit);
          if (code === 0) {
            ctx.ui.info(`${a.remote.label}: ${e.unit} stopped and disabled again`);
            done(e);
          } else problems.push(`${a.remote.label}: could not stop and disable ${e.unit} again (exit ${code}) -- MANUAL ACTION NEEDED`);
        }),
      );
    } else if (kind === 'started') {
      await Promise.all(
        (g as Extract<UndoEntry, { kind: 'started' }>[]).map(async (e) => {
          const a = await app(e.app);
          if (!a) return;
          const addr = hostPort(a.host.target, e.port);
          const by = unknownInclude ?? stillNamed.get(addr);
          if (by !== undefined) {
            problems.push(
              `${a.remote.label}: the new process${e.pid ? ` (pid ${e.pid})` : ''} on port ${e.port} was left running, because the include on nginx host ${by} ` +
                `${unknownInclude ? 'holds unknown content' : `may still send to ${addr}`} -- MANUAL ACTION NEEDED: point nginx back at the old version, then stop it`,
            );
            return;
          }
          let pid = e.pid;
          if (pid === undefined) {
            // The start command was cut off, or its answer never came: a gated one may still be
            // waiting on the host, and is told never to start (or, past its gate, is waited for).
            const gate = e.gate ? await closeGate(ctx, a, e.gate) : 'none';
            // Its pid file (pid + start time) says what it started.
            let st = await inspectPort(ctx, a, e.port, 'rollback').catch(() => undefined);
            for (let i = 0; gate === 'decided' && st?.ours === undefined && i < 50; i++) {
              await sleep(200);
              st = await inspectPort(ctx, a, e.port, 'rollback').catch(() => undefined);
            }
            pid = st?.ours;
            if (pid === undefined) {
              if (st && gate !== 'decided') {
                if (e.gate) ctx.ui.info(`${a.remote.label}: the start on port ${e.port} waiting behind the jar was told not to run: nothing was started`);
                done(e);
              }
              return;
            }
          }
          try {
            // A unit started by this run is stopped, its enablement left as it was.
            const backend = ctx.backend.of(e.backend);
            const how = await backend.stop(a, pid, e.port, 'rollback', { waitSec: Math.min(10, cfg.stopTimeoutMs / 1000), unit: backend.ownInstance(undefined, e.port) });
            ctx.ui.info(`${a.remote.label}: the new process (pid ${pid}) on port ${e.port} ${how}`);
            done(e);
          } catch (err) {
            problems.push(`${a.remote.label}: could not stop the new process pid ${pid}: ${errorText(err)}`);
          }
        }),
      );
    } else {
      const nginx = await nginxRemotes();
      await Promise.all(
        (g as Extract<UndoEntry, { kind: 'stopped' }>[]).map(async (e) => {
          const a = await app(e.app);
          if (!a) {
            problems.push(`${hostPort(e.app.host, e.app.port)}: the old process on port ${e.port} could not be started again -- MANUAL ACTION NEEDED`);
            const target = cfg.appHosts.find((h) => h.ssh.host === e.app.host && h.ssh.port === e.app.port)?.target;
            if (target) dead.add(hostPort(target, e.port));
            return;
          }
          try {
            // What it ran under: a unit runs the release it ran, a detached process as it was captured.
            const backend = ctx.backend.of(e.backend);
            const now = await inspectPort(ctx, a, e.port, 'rollback');
            let log = backend.restartLog(e.port, e);
            let pid: number;
            if (e.restarting && now.ours !== undefined && (now.free || now.pid === now.ours)) {
              // A rollback cut off while it started it again: the process its pid file names (alive,
              // same start time) is that restart, listening already or still starting.
              pid = now.ours;
              ctx.ui.info(`${a.remote.label}: the previous version was being started again on port ${e.port} (pid ${pid}); waiting until it is healthy`);
            } else {
              if (!now.free) throw new Error(`port ${e.port} is held by pid ${now.pid ?? 'unknown'}`);
              const spec = await backend.restartStart(a, e.port, e);
              log = spec.log;
              e.restarting = true;
              ctx.save();
              // No start guard: this is the version that ran before, and it must keep running
              // whatever becomes of this run (a guard would stop it minutes after a cancel). A
              // process that ran detached is started detached again.
              pid = await startProcess(ctx, backend, a, e.port, spec, 'rollback', false);
            }
            await waitHealthy(ctx, a, e.port, pid, { log, nginx });
            ctx.ui.info(`${a.remote.label}: the previous version runs again on port ${e.port} (pid ${pid})`);
            await backend.forgetRestart(a, e);
            done(e);
          } catch (err) {
            problems.push(`${a.remote.label}: could not start the previous version on port ${e.port} again: ${errorText(err)} -- MANUAL ACTION NEEDED`);
            dead.add(hostPort(a.host.target, e.port));
          }
        }),
      );
    }
  }
  return problems;
}
