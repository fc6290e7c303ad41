// The run backend of a run, chosen once from the inputs: systemd-unit: NAME runs each release as
// the unit NAME@PORT.service, otherwise as a detached process.
import type { OpContext } from '../run/context.ts';
import type { RunBackend } from './backend.ts';
import { DetachedBackend } from './detached.ts';
import { UnitBackend } from './systemd.ts';

export function chooseBackend(ctx: OpContext): RunBackend {
  const name = ctx.cfg.systemdUnit;
  // Under systemd-unit a process that is no unit's is another user's app only on a takeover, which
  // the exact systemctl commands do instead of `sudo -n sh -c`: its pid commands run without sudo.
  return name === undefined ? new DetachedBackend(ctx, ctx.cfg.sudo) : new UnitBackend(ctx, name, new DetachedBackend(ctx, false));
}
