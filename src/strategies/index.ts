// The strategies, and the mode variants of each: adding one means adding its module and a line here.
import type { Config } from '../config/settings.ts';
import { blueGreen } from './bluegreen.ts';
import { rolling } from './rolling.ts';
import { canary } from './canary.ts';
import { stage } from './stage.ts';
import { promote } from './promote.ts';
import { blueGreenRollback, rollingRollback } from './rollback.ts';
import type { Runbook } from './types.ts';

const table: Record<Config['strategy'], Partial<Record<Config['mode'], Runbook>>> = {
  'blue-green': { deploy: blueGreen, stage, promote, rollback: blueGreenRollback },
  rolling: { deploy: rolling, rollback: rollingRollback },
  canary: { deploy: canary, rollback: blueGreenRollback },
};

/** The runbook for a strategy and mode (the config already refused the pairs that do not exist). */
export function strategyFor(cfg: Pick<Config, 'strategy' | 'mode'>): Runbook {
  const s = table[cfg.strategy][cfg.mode];
  if (!s) throw new Error(`mode ${cfg.mode} does not exist for strategy ${cfg.strategy}`);
  return s;
}
