// A far-away runner: every SSH connection goes through a user-space relay that adds 100 ms of
// round-trip time (this kernel has no netem), the way a GitHub-hosted runner sees servers in
// another region. The deploy must work unchanged, under load, with 0 5xx.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createTestbed, cleanupStale, type Testbed } from '../testbed/testbed.ts';
import { startRelays } from '../testbed/relay.ts';
import { baseInputs, runAction, explain } from './harness.ts';
import { underLoad } from './load.ts';

let tb: Testbed;
before(async () => {
  await cleanupStale('zddfar');
  tb = await createTestbed({ prefix: 'zddfar', subnet: 72, appHosts: 1, form: 'set' });
  await tb.startSeedApp(tb.apps[0], 8080, 'v0');
});
after(async () => {
  await tb?.teardown();
});

test('through a 100 ms RTT link: a blue/green deploy works as on a LAN, 0 5xx; every connection really crosses the relay', async () => {
  const relay = await startRelays(tb, 100);
  try {
    const t0 = Date.now();
    const { run, load } = await underLoad(tb, async () => runAction(tb, baseInputs(tb, await tb.makeJar('far1'), relay.inputs)));
    const wall = Date.now() - t0;
    assert.equal(run.code, 0, explain(run));
    assert.equal(load.non2xx, 0, load.raw);
    assert.match((await tb.get('/version')).body, /version=far1 port=8081/);
    // The relay is in the path: the action connected to 127.0.0.1, and each command cost a round trip.
    assert.match(run.stdout, /connected: nginx 127\.0\.0\.1:\d+; app 127\.0\.0\.1:\d+/);
    const cmds = run.stdout.split('\n').filter((l) => /^::debug::127\.0\.0\.1:\d+: .*: exit \d+ in (\d+) ms$/.test(l));
    assert.ok(cmds.length > 5, 'remote commands were traced');
    assert.ok(cmds.every((l) => Number(/in (\d+) ms$/.exec(l)![1]) >= 95), `every command took at least one RTT:\n${cmds.join('\n')}`);
    assert.ok(wall > 1000, `took ${wall} ms`);
    // Both connections took the TCP socket that dist/main.cjs opened before loading the action.
    for (const port of relay.ports.values()) assert.match(run.stdout, new RegExp(`^::debug::127\\.0\\.0\\.1:${port}: the TCP connection opened at start-up`, 'm'));
  } finally {
    relay.stop();
  }
});
