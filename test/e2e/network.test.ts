// The network to an app host goes down mid-deploy (two hosts, upstream form).
// Before the switch: the step fails naming the host; nginx keeps pointing at the old port; the
// new process on the reachable host is stopped by the rollback, and the one on the cut-off host
// by its start guard once nobody disarms it. After the switch: the deploy completes on what it
// can reach and says what is left to clean up.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createTestbed, cleanupStale, type Testbed } from '../testbed/testbed.ts';
import { baseInputs, startAction, explain } from './harness.ts';

let tb: Testbed;
before(async () => {
  await cleanupStale('zddnet');
  tb = await createTestbed({ prefix: 'zddnet', subnet: 47, appHosts: 2, form: 'upstream' });
  for (const a of tb.apps) await tb.startSeedApp(a, 8080, 'v0');
});
after(async () => {
  await tb?.teardown();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const link = (h: Testbed['apps'][number], state: 'up' | 'down') => tb.exec(h, ['ip', 'link', 'set', 'eth0', state]);

async function waitFor(what: string, cond: () => Promise<boolean>, ms: number) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await cond()) return;
    await sleep(100);
  }
  assert.fail(`timed out waiting for ${what}`);
}

test('an app host cut off before the switch: step fails naming it, include untouched, nothing left running', async () => {
  const include = await tb.readInclude();
  const [app1, app2] = tb.apps;
  const a = startAction(
    tb,
    baseInputs(tb, await tb.makeJar('v-net'), { 'java-opts': '-Dstart.delay.ms=2500', 'health-timeout': '4', 'command-timeout': '3', 'connect-timeout': '2' }),
  );
  try {
    await waitFor('the new process on app2', async () => (await tb.exec(app2, ['sh', '-c', "pgrep -f '[s]erver.port=8081' || true"])).stdout.trim() !== '', 20_000);
    await link(app2, 'down');
    const run = await a.done;
    assert.equal(run.code, 1, explain(run));
    assert.match(run.error, new RegExp(`\\[(upload and start|health check)\\] ${app2.ip.replaceAll('.', '\\.')}:22: `), explain(run));
    assert.equal(await tb.readInclude(), include, 'include byte-identical');
    assert.equal(await tb.pidOnPort(app1, 8081), null, 'rollback stopped the new process on the reachable host');
    assert.match((await tb.get('/version')).body, /version=v0/);
  } finally {
    await link(app2, 'up');
  }
  // The cut-off host's new process was never disarmed: its guard stops it.
  await waitFor('the guard to stop the orphaned process on app2', async () => (await tb.pidOnPort(app2, 8081)) === null, 60_000);
  await waitFor('the guard itself to exit', async () => (await tb.exec(app2, ['sh', '-c', 'pgrep -fc "[g]uard " || true'])).stdout.trim() === '0', 10_000);
  assert.ok(await tb.pidOnPort(app2, 8080), 'the old version still runs on app2');
});

test('an app host cut off after the switch: the deploy says the new version serves and what is left', async () => {
  const [app1, app2] = tb.apps;
  const before = (await tb.readInclude())!;
  const live = Number(/:(\d+);/.exec(before)![1]);
  const idle = live === 8080 ? 8081 : 8080;
  const a = startAction(tb, baseInputs(tb, await tb.makeJar('v-net2'), { 'command-timeout': '3', 'connect-timeout': '2', 'drain-timeout': '5' }));
  try {
    await waitFor('the switch', async () => (await tb.readInclude()) !== before, 60_000);
    await link(app2, 'down');
    const run = await a.done;
    assert.equal(run.code, 1, explain(run));
    assert.match(run.error, new RegExp(`${app2.ip.replaceAll('.', '\\.')}:22: .* -- nginx already serves the new version on port ${idle}; the old process on port ${live} may still need stopping`));
    assert.equal(await tb.readInclude(), before.replaceAll(`:${live};`, `:${idle};`), 'the switch stands');
    assert.equal(await tb.pidOnPort(app1, live), null, 'the old process on the reachable host was stopped');
  } finally {
    await link(app2, 'up');
  }
  assert.match((await tb.get('/version')).body, /version=v-net2/);
});
