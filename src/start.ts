// What action.yml runs (dist/main.cjs): opens the TCP connections to the hosts first, then loads
// the action itself (dist/deploy.cjs, src/main.ts). See ssh/early-tcp.ts.
import { earlyAddresses, openEarlyTcp } from './ssh/early-tcp.ts';

let dialled = Promise.resolve();
try {
  // The variable @actions/core's getInput reads; @actions/core itself is loaded with the rest.
  dialled = openEarlyTcp(earlyAddresses((name) => process.env[`INPUT_${name.replace(/ /g, '_').toUpperCase()}`] ?? ''));
} catch {
  // Nothing opened early: the connections are made as always.
}
void dialled.then(() => import('./main.ts'));
