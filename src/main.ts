// Entry point: wires inputs, the chosen strategy and the runner's outputs and summary together.
import * as core from '@actions/core';
import { actionsUi, maskSecrets, readInputs } from './runner.ts';
import { failureMarkdown, summaryMarkdown } from './summary.ts';
import { errorText } from './errors.ts';
import { Ctx } from './strategies/context.ts';
import { runStrategy } from './strategies/run.ts';
import { strategyFor } from './strategies/index.ts';
import { dropEarlyTcp } from './ssh/early-tcp.ts';
import { springWarnings } from './config/spring.ts';

async function main(): Promise<void> {
  maskSecrets();
  let cfg;
  try {
    cfg = readInputs();
  } catch (e) {
    dropEarlyTcp();
    core.setFailed(errorText(e));
    return;
  }
  for (const w of springWarnings(cfg)) core.warning(w);
  const ctx = new Ctx(cfg, actionsUi());
  const onSignal = (sig: string) => {
    core.warning(`received ${sig}: stopping at the next safe point and rolling back`);
    ctx.cancel(sig);
  };
  process.on('SIGINT', () => onSignal('SIGINT'));
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  const out = await runStrategy(ctx, strategyFor(cfg));
  const r = out.result;
  if (out.dryRun !== undefined) {
    await core.summary.addRaw(out.dryRun).write().catch(() => undefined);
    core.info('dry run: nothing was changed');
  } else if (r) {
    core.setOutput('active-port', r.activePorts.join(','));
    core.setOutput('previous-port', r.previousPorts.join(','));
    core.setOutput('release', r.release);
    core.setOutput('duration', (r.durationMs / 1000).toFixed(1));
    core.setOutput('previous-release', r.previousRelease ?? '');
    core.setOutput('staged-port', r.stagedPort === undefined ? '' : String(r.stagedPort));
    core.setOutput('url', cfg.verifyUrl ?? '');
    await core.summary.addRaw(summaryMarkdown(r)).write().catch(() => undefined);
    core.info(`${cfg.mode === 'deploy' ? 'deployed' : `${cfg.mode}:`} ${r.release} (${r.strategy}) ${r.stagedPort !== undefined ? `staged on port ${r.stagedPort}` : `on port ${r.activePorts.join(',')}`} in ${(r.durationMs / 1000).toFixed(1)} s`);
  } else {
    await core.summary.addRaw(failureMarkdown(errorText(out.error), out)).write().catch(() => undefined);
    core.setFailed(errorText(out.error));
  }
}

void main();
