// Entry point: wires inputs, the chosen strategy and the runner's outputs and summary together.
import * as core from '@actions/core';
import { actionsUi, maskSecrets, readInputs } from './github.ts';
import { failureMarkdown, summaryMarkdown } from './summary.ts';
import { errorText } from './errors.ts';
import { DeployRun } from './strategies/deployrun.ts';
import { runStrategy } from './strategies/frame.ts';
import { strategyFor } from './strategies/index.ts';
import { dropEarlyTcp } from './ssh/early-tcp.ts';
import { failedStepOf, type OutcomeKind } from './strategies/outcome.ts';
import { springWarnings } from './config/spring.ts';

async function main(): Promise<void> {
  maskSecrets();
  let cfg;
  try {
    cfg = readInputs();
    for (const w of cfg.warnings) core.warning(w);
  } catch (e) {
    dropEarlyTcp();
    setOutcome('failed-before-switch', failedStepOf(e, undefined), '', []);
    core.setFailed(errorText(e));
    return;
  }
  for (const w of springWarnings(cfg)) core.warning(w);
  const ctx = new DeployRun(cfg, actionsUi());
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
    setOutcome('deployed', '', '', [...new Set([...r.nginxHosts, ...r.instances.map((i) => i.host)])]);
    await core.summary.addRaw(summaryMarkdown(r, ctx.spans)).write().catch(() => undefined);
    core.info(`${cfg.mode === 'deploy' ? 'deployed' : `${cfg.mode}:`} ${r.release} (${r.strategy}) ${r.stagedPort !== undefined ? `staged on port ${r.stagedPort}` : `on port ${r.activePorts.join(',')}`} in ${(r.durationMs / 1000).toFixed(1)} s`);
  } else {
    const f = out.failure!;
    setOutcome(f.outcome, f.step, f.host, f.hosts);
    core.setOutput('release', ctx.audit.release ?? '');
    core.setOutput('duration', ((Date.now() - ctx.t0) / 1000).toFixed(1));
    core.info(`outcome: ${f.outcome}${f.step ? `; failed step: ${f.step}` : ''}${f.hosts.length ? `; hosts: ${f.hosts.join(', ')}` : ''}`);
    await core.summary.addRaw(failureMarkdown(errorText(out.error), out, ctx.spans)).write().catch(() => undefined);
    core.setFailed(errorText(out.error));
  }
}

/** The outputs a workflow can act on, also after a failure (action.yml). */
function setOutcome(outcome: OutcomeKind, step: string, host: string, hosts: string[]): void {
  core.setOutput('outcome', outcome);
  core.setOutput('failed-step', step);
  core.setOutput('failed-host', host);
  core.setOutput('hosts', hosts.join(','));
}

void main();
