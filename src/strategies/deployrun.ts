// What a strategy's run owns besides what every host-level operation gets (run/context.ts): the
// SSH pool, the steps and their timings, and what the report and the audit line will say.
import type { Config } from '../config/settings.ts';
import { Pool } from '../ssh/pool.ts';
import { sshOptions } from '../ssh/remote.ts';
import { OpContext, RUN, type Ui } from '../run/context.ts';
import type { AuditEntry } from '../traffic/audit.ts';
import type { CanaryStep } from '../traffic/canary.ts';
import type { RunBackend } from '../fleet/backend.ts';
import { chooseBackend } from '../fleet/backends.ts';

export { Cancelled, OpContext, RUN, type RecoveryState, type Span, type Ui } from '../run/context.ts';

export class DeployRun extends OpContext {
  readonly pool: Pool;
  /** how releases run on the app hosts (a detached process or a systemd unit), chosen once per run */
  readonly backend: RunBackend;
  readonly t0 = Date.now();
  readonly timings: { step: string; ms: number }[] = [];
  /** canary: each judged step's figures, for the summary (also of a failed run) */
  canarySteps: CanaryStep[] = [];
  /** what the audit line of this run will say, filled in as it goes */
  readonly audit: Partial<AuditEntry> = {};
  /** the step the run failed in (the innermost one an error left), for the outputs */
  failedStep?: string;

  constructor(cfg: Config, ui: Ui) {
    super(cfg, ui);
    this.pool = new Pool(sshOptions(cfg, (m) => ui.warn(m), ui.debug?.bind(ui)));
    this.backend = chooseBackend(this);
  }

  async step<T>(name: string, fn: () => Promise<T>): Promise<T> {
    this.checkpoint();
    const s = Date.now();
    try {
      const v = await this.ui.group(name, fn);
      this.mark([RUN], name, s);
      return v;
    } catch (e) {
      if (!this.undoing) this.failedStep ??= name;
      this.mark([RUN], name, s, true);
      throw e;
    } finally {
      this.timings.push({ step: name, ms: Date.now() - s });
    }
  }
}
