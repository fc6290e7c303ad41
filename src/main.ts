// Entry point: wires inputs, the orchestrator and the runner's outputs and summary together.
import * as core from '@actions/core';
import { Deployment } from './deploy.ts';
import { actionsUi, maskSecrets, readInputs } from './runner.ts';
import { summaryMarkdown } from './summary.ts';
import { errorText } from './errors.ts';
import { hostPort } from './hosts.ts';

async function main(): Promise<void> {
  maskSecrets();
  const started = Date.now();
  let cfg;
  try {
    cfg = readInputs();
  } catch (e) {
    core.setFailed(errorText(e));
    return;
  }
  const d = new Deployment(cfg, actionsUi());
  const onSignal = (sig: string) => {
    core.warning(`received ${sig}: stopping at the next safe point and rolling back`);
    d.cancel(sig);
  };
  process.on('SIGINT', () => onSignal('SIGINT'));
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  try {
    const r = await d.run();
    core.setOutput('active-port', String(r.activePort));
    core.setOutput('previous-port', r.previousPort === null ? '' : String(r.previousPort));
    core.setOutput('release', r.release);
    core.setOutput('duration', ((Date.now() - started) / 1000).toFixed(1));
    await core.summary.addRaw(summaryMarkdown(r, hostPort(cfg.nginxHost.host, cfg.nginxHost.port))).write().catch(() => undefined);
    core.info(`deployed ${r.release} to port ${r.activePort} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  } catch (e) {
    await core.summary
      .addRaw(
        `### Deploy failed\n\n${errorText(e).replace(/\n/g, '  \n')}\n\n` +
          (d.rollbackProblem ? `**Rollback incomplete:** ${d.rollbackProblem}\n` : d.rolledBack ? 'Rolled back: the previous version keeps serving.\n' : ''),
      )
      .write()
      .catch(() => undefined);
    core.setFailed(errorText(e));
  } finally {
    process.exitCode = process.exitCode ?? 0;
  }
}

void main();
