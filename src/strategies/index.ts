// The strategies by name: adding one means adding its module and a line here.
import type { Strategy as StrategyName } from '../config/inputs.ts';
import { blueGreen } from './bluegreen.ts';
import { rolling } from './rolling.ts';
import type { Strategy } from './run.ts';

export const strategies: Record<StrategyName, Strategy> = {
  'blue-green': blueGreen,
  rolling,
};
