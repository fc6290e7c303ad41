// What the deploy will do, decided from the config and the include file alone. Pure.
import type { Config } from '../config/settings.ts';
import type { AppHost } from '../config/hosts.ts';
import { type IncludeForm, IncludeError, formAddresses, parseInclude, renderInclude } from './include.ts';

export interface SwitchPlan {
  /** the port nginx points at now; null on a first deploy */
  livePort: number | null;
  idlePort: number;
  /** app hosts the include points at now (they serve the old version) */
  liveHosts: AppHost[];
  form: IncludeForm | null;
  /** the include as it is now; null when the file does not exist */
  oldText: string | null;
  newText: string;
}

export class PlanError extends Error {}

/** `includeFile`: the include's path on the host, for messages. */
export function planSwitch(cfg: Pick<Config, 'appHosts' | 'ports'>, includeFile: string, includeText: string | null): SwitchPlan {
  const targets = cfg.appHosts.map((h) => h.target);
  let form: IncludeForm | null;
  try {
    form = includeText === null ? null : parseInclude(includeText, targets);
  } catch (e) {
    if (e instanceof IncludeError) throw new PlanError(`${includeFile} ${e.message}`);
    throw e;
  }
  if (form === null) {
    return {
      livePort: null,
      idlePort: cfg.ports[0],
      liveHosts: [],
      form,
      oldText: includeText,
      newText: renderInclude(includeText ?? '', null, targets, cfg.ports[0]),
    };
  }
  const addrs = formAddresses(form);
  const unknown = addrs.filter((a) => !targets.includes(a.host)).map((a) => a.host);
  if (unknown.length > 0) {
    throw new PlanError(
      `${includeFile} points at ${[...new Set(unknown)].join(', ')}, which ${unknown.length > 1 ? 'are' : 'is'} not in app-hosts ` +
        `(${targets.join(', ')}). A human must look: add the host to app-hosts (host=address if nginx reaches it by another address) or remove it from the include`,
    );
  }
  const ports = [...new Set(addrs.map((a) => a.port))];
  if (ports.length > 1) {
    throw new PlanError(
      `${includeFile} points at different ports (${addrs.map((a) => `${a.host}:${a.port}`).join(', ')}); ` +
        'a previous deploy may have been cut short. A human must look: make every entry use the port that serves now',
    );
  }
  const live = ports[0];
  if (!cfg.ports.includes(live)) {
    throw new PlanError(`${includeFile} points at port ${live}, which is not one of ports (${cfg.ports.join(',')})`);
  }
  if (form.kind === 'set' && targets.length > 1) {
    throw new PlanError(
      `${includeFile} uses the 'set $${form.variable}' form, which points at one host, but app-hosts lists ${targets.length}: ` +
        'use the upstream form for several hosts (docs/server-setup.md, "The nginx include")',
    );
  }
  const idle = cfg.ports[0] === live ? cfg.ports[1] : cfg.ports[0];
  const liveTargets = new Set(addrs.map((a) => a.host));
  return {
    livePort: live,
    idlePort: idle,
    liveHosts: cfg.appHosts.filter((h) => liveTargets.has(h.target)),
    form,
    oldText: includeText,
    newText: renderInclude(includeText!, form, targets, idle),
  };
}
