// Benchmark part: rollback (bench/bench.ts runs it in its own testbed).
import { type Testbed } from '../../test/testbed/testbed.ts';
import { baseInputs } from '../../test/e2e/harness.ts';
import { KINDS, type ClientKind } from '../load.ts';
import { ACTION_INPUTS, type ActionRun, ROLLBACK_N, SWITCHED, at, bench, errorOf, errors, log, notServing, record, runAction, steps, underLoad } from '../common.ts';
// ------------------------------------------------------------------------------------ rollback

export interface RollbackCycle {
  i: number;
  kind: ClientKind;
  /** A (deployed), B (deployed with keep-previous; rolled back from to A's warm standby), C
   *  (deployed under load; rolled back from to A's kept jar) */
  releases: string[];
  /** the two unloaded deploys that set the cycle up (A, B) */
  setupWallMs: number[];
  /** where A stayed up as the warm standby after B (previous-port), and its pid there */
  standbyPort: number | null;
  warmPid: number | null;
}

/** One action run under wrk load, no long requests: ok when it exits 0, `version` is then served
 *  through nginx, it logged the switch, and check() finds nothing wrong. */
export function loadedAction(tb: Testbed, kind: ClientKind, inputs: Record<string, string>, version: string, check?: (a: ActionRun) => Promise<string[]>) {
  return underLoad(tb, kind, 60, async () => {
    const a = await runAction(tb, inputs);
    const stale = await notServing(tb, version, false);
    const extra = check ? await check(a) : [];
    const switchAt = at(a.lines, SWITCHED);
    const h2s = /from healthy to switched (\d+) ms/.exec(a.summary);
    const problems = [
      ...(a.code === 0 ? [] : [errorOf(a)]),
      ...(stale.length ? [`${version} not served: ${stale.join('; ')}`] : []),
      ...(switchAt === undefined ? ['no "now sends traffic to port" line'] : []),
      ...extra,
    ];
    return {
      ok: problems.length === 0,
      wallMs: a.wallMs,
      healthyToSwitchedMs: h2s ? Number(h2s[1]) : null,
      steps: steps(a.summary),
      switchAt,
      switchedMs: switchAt === undefined ? null : switchAt - a.t0,
      note: problems.join(' | ') || undefined,
    };
  });
}

export async function rollbackPart(tb: Testbed): Promise<RollbackCycle[]> {
  const app = tb.apps[0];
  const cycles: RollbackCycle[] = [];
  const deployInputs = async (release: string, extra: Record<string, string> = {}) => baseInputs(tb, await tb.makeJar(release), { ...ACTION_INPUTS, release, ...extra });
  const rollbackInputs = baseInputs(tb, '', { ...ACTION_INPUTS, mode: 'rollback' });
  for (let c = 0; c < ROLLBACK_N && !bench.stopping; c++) {
    const kind = KINDS[c % 2];
    const [ra, rb, rc] = ['a', 'b', 'c'].map((x) => `rb${c}${x}`);
    try {
      const a = await runAction(tb, await deployInputs(ra));
      if (a.code !== 0) throw new Error(`deploy ${ra} failed: ${errorOf(a)}`);
      const b = await runAction(tb, await deployInputs(rb, { 'keep-previous': 'true' }));
      if (b.code !== 0) throw new Error(`deploy ${rb} (keep-previous) failed: ${errorOf(b)}`);
      const standbyPort = Number(b.outputs['previous-port']) || null;
      const warmPid = standbyPort === null ? null : await tb.pidOnPort(app, standbyPort);
      cycles.push({ i: c, kind, releases: [ra, rb, rc], setupWallMs: [a.wallMs, b.wallMs], standbyPort, warmPid });
      log(`rollback cycle ${c}: ${ra} ${a.wallMs} ms, ${rb} (keep-previous) ${b.wallMs} ms; ${ra} warm on port ${standbyPort ?? '–'} (pid ${warmPid ?? '–'})`);
      await record('rollback-warm', kind, c, () =>
        loadedAction(tb, kind, rollbackInputs, ra, async () => {
          if (standbyPort === null || warmPid === null) return [`no warm standby after the keep-previous deploy (previous-port '${b.outputs['previous-port'] ?? ''}')`];
          const now = await tb.pidOnPort(app, standbyPort);
          return now === warmPid ? [] : [`not served by the warm standby: port ${standbyPort} pid ${warmPid} → ${now ?? 'none'}`];
        }),
      );
      await record('rollback-deploy', kind, c, async () => loadedAction(tb, kind, await deployInputs(rc), rc));
      await record('rollback-kept', kind, c, () => loadedAction(tb, kind, rollbackInputs, ra));
    } catch (e) {
      errors.push(`rollback cycle ${c}: ${String(e)}`);
      log(`ERROR rollback cycle ${c}: ${String(e)}`);
    }
  }
  return cycles;
}
