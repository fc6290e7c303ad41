// The post step: if the main step died mid-deploy, finish the rollback from its saved state.
import * as core from '@actions/core';
import type { RecoveryState } from './deploy.ts';
import { needsRecovery, recover } from './recover.ts';
import { actionsUi, maskSecrets, readInputs } from './runner.ts';
import { errorText } from './errors.ts';

async function post(): Promise<void> {
  const raw = core.getState('recovery');
  if (!raw) return;
  const state = JSON.parse(raw) as RecoveryState;
  if (!needsRecovery(state)) return;
  maskSecrets();
  core.warning(`the deploy step ended during '${state.phase}': finishing its rollback`);
  try {
    const cfg = readInputs();
    const problems = await recover(cfg, state, actionsUi());
    if (problems.length > 0) core.setFailed(`rollback incomplete, MANUAL ACTION NEEDED: ${problems.join('; ')}`);
  } catch (e) {
    core.setFailed(`post-step rollback failed: ${errorText(e)}`);
  }
}

void post();
