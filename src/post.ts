// The post step. After a deploy that finished (almost every run) there is nothing to do, and it
// ends without loading the SSH code: ~0.13 s of the job's time on an idle runner, more on a busy
// one. Otherwise it loads the rest (recover.ts, its own file in dist/) and finishes the work.
import { postNeeded } from './strategies/state.ts';

// @actions/core's getState reads the same variable; it is not loaded for this one look.
if (postNeeded(process.env.STATE_recovery)) void import('./recover.ts');
