// The post step's work, loaded by post.ts only when the main step left something unfinished:
// if it died mid-deploy, finish the rollback from its saved journal and release its locks.
import * as core from '@actions/core';
import { actionsUi, maskSecrets, readInputs } from './github.ts';
import { errorText } from './errors.ts';
import { DeployRun } from './strategies/deployrun.ts';
import { decodeState, postNeeded } from './strategies/state.ts';
import { undoJournal } from './strategies/journal.ts';
import { releaseLock } from './commands/lock.ts';
import { hostPort } from './config/hosts.ts';

async function post(): Promise<void> {
  const raw = core.getState('recovery');
  if (!postNeeded(raw)) return;
  let state;
  try {
    state = decodeState(raw);
  } catch (e) {
    core.setFailed(`post step: ${errorText(e)}; nothing was rolled back -- check the servers`);
    return;
  }
  maskSecrets();
  const ui = actionsUi();
  let ctx: DeployRun | undefined;
  try {
    ctx = new DeployRun(readInputs(), { ...ui, saveState: () => undefined });
    if (state.committed) {
      core.warning('the deploy step died after the switch: the new version serves; the old process may still be running on the old port');
    } else if (state.journal.length > 0) {
      core.warning('the deploy step ended before it finished: finishing its rollback');
      const problems = await undoJournal(ctx, state.journal);
      if (problems.length > 0) core.setFailed(`rollback incomplete, MANUAL ACTION NEEDED: ${problems.join('; ')}`);
      else core.info('rolled back: the previous version keeps serving');
    }
    for (const l of state.locks) {
      const addr = ctx.cfg.nginxHosts.find((n) => hostPort(n.host, n.port) === l.nginx);
      if (!addr) continue;
      const r = await ctx.pool.get(addr, 'nginx host').catch(() => undefined);
      await r?.run(releaseLock(l.dir, l.info, ctx.cmdOptions()), ctx.cfg.commandTimeoutMs);
    }
  } catch (e) {
    core.setFailed(`post-step rollback failed: ${errorText(e)}`);
  } finally {
    await ctx?.pool.dispose();
  }
}

void post();
