// What a finished run means for the workflow that ran it: the `outcome`, `failed-step`,
// `failed-host` and `hosts` outputs, which a notification step can act on. Pure.
import { DeployError, InputError } from '../errors.ts';
import { hostPort } from '../config/hosts.ts';
import type { UndoEntry } from './journal.ts';

/**
 * - deployed: the new version serves (or, for stage, waits on its port);
 * - rolled-back: traffic had moved (in part or in full) to the new version and was put back: the
 *   previous version serves;
 * - failed-before-switch: nginx never sent a request to the new version; what the run started was
 *   stopped again;
 * - manual-action-needed: a rollback could not finish, or a step after the point of no return
 *   failed (the new version serves, the old one may still run): a human must look.
 */
export type OutcomeKind = 'deployed' | 'rolled-back' | 'failed-before-switch' | 'manual-action-needed';

export const OUTCOMES: readonly OutcomeKind[] = ['deployed', 'rolled-back', 'failed-before-switch', 'manual-action-needed'];

/** Whether the journal says nginx may have sent traffic to what this run started. */
export function trafficMoved(journal: readonly UndoEntry[]): boolean {
  return journal.some((e) => e.kind === 'include' && e.hosts.some((h) => h.mayServe !== false));
}

/** The outcome of a failed run, from its state when the error reached the frame. */
export function failureOutcome(o: { committed: boolean; journal: readonly UndoEntry[]; rollbackProblem?: string }): OutcomeKind {
  if (o.rollbackProblem || o.committed) return 'manual-action-needed';
  return trafficMoved(o.journal) ? 'rolled-back' : 'failed-before-switch';
}

/** The host an error names, as an address (`nginx host 10.0.0.2:22` -> `10.0.0.2:22`); a URL for verify-url. */
export function failedHost(e: unknown): string {
  if (!(e instanceof DeployError) || !e.host) return '';
  return e.host.replace(/^(nginx|app) host /, '');
}

/** The step an error is about: the summary's step it left, else the error's own, else `inputs` for a bad input. */
export function failedStepOf(e: unknown, step: string | undefined): string {
  if (e instanceof InputError) return 'inputs';
  return step ?? (e instanceof DeployError ? e.step : '');
}

/** The hosts a failed run changed (journal) or failed on, host:port, in that order, each once. */
export function hostsInvolved(journal: readonly UndoEntry[], failed: string): string[] {
  const out: string[] = [];
  const add = (h: string) => {
    if (h && !out.includes(h)) out.push(h);
  };
  if (failed && !/^[a-z]+:\/\//i.test(failed)) add(failed);
  for (const e of journal) {
    if (e.kind === 'include') for (const h of e.hosts) add(hostPort(h.nginx.host, h.nginx.port));
    else add(hostPort(e.app.host, e.app.port));
  }
  return out;
}
