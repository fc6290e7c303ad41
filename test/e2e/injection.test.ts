// Values carrying shell metacharacters reach the JVM intact and never run a command.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { createTestbed, cleanupStale, parseInfo, type Testbed } from '../testbed/testbed.ts';
import { baseInputs, runAction, explain } from './harness.ts';

let tb: Testbed;
before(async () => {
  await cleanupStale('zdde2e5');
  tb = await createTestbed({ prefix: 'zdde2e5', subnet: 45, appHosts: 1, form: 'set' });
  await tb.startSeedApp(tb.apps[0], 8080, 'v0');
});
after(async () => {
  await tb?.teardown();
});

test('metacharacters in paths, java-opts, app-args, env, release and health-path stay data', async () => {
  const canary = '/tmp/zdd-canary';
  const evil = `$(touch ${canary})`;
  const remoteDir = `/opt/my app/$(touch ${canary});x`;
  const r = await runAction(
    tb,
    baseInputs(tb, await tb.makeJar('v1'), {
      'remote-dir': remoteDir,
      'java-opts': `-Dgreeting="hello world" '-Devil=${evil}' "-Dq=it's \\"quoted\\"" -Dsemi=a;b -Dport.copy={port}`,
      'app-args': `--name='x y' '--cmd=\`touch ${canary}\`' --amp=a&&b`,
      env: `APP_EVIL=${evil}; echo pwned\nAPP_SPACES=  two  spaces  `,
      release: 'rel-1.0_a',
      'health-path': `/health?x=$(touch$IFS${canary});id&y='q'`,
    }),
  );
  assert.equal(r.code, 0, explain(r));
  for (const h of [tb.nginx, tb.apps[0], tb.runner]) {
    const c = await tb.exec(h, ['sh', '-c', `test -e ${canary} && echo FOUND || echo absent`]);
    assert.equal(c.stdout.trim(), 'absent', `canary on ${h.name}`);
  }
  assert.equal(existsSync(canary), false);
  const info = parseInfo((await tb.get('/info')).body);
  const jvm = Object.entries(info).filter(([k]) => k.startsWith('jvmArg[')).map(([, v]) => v);
  assert.ok(jvm.includes('-Dgreeting=hello world'), JSON.stringify(jvm));
  assert.ok(jvm.includes(`-Devil=${evil}`));
  assert.ok(jvm.includes(`-Dq=it's "quoted"`));
  assert.ok(jvm.includes('-Dsemi=a;b'));
  assert.ok(jvm.includes('-Dport.copy=8081'));
  assert.ok(jvm.includes('-Dserver.port=8081'));
  assert.equal(info['arg[0]'], '--name=x y');
  assert.equal(info['arg[1]'], `--cmd=\`touch ${canary}\``);
  assert.equal(info['arg[2]'], '--amp=a&&b');
  assert.equal(info['env.APP_EVIL'], `${evil}; echo pwned`);
  assert.equal(info['env.APP_SPACES'], '  two  spaces  ');
  assert.equal(info.cwd, `${remoteDir}/releases/rel-1.0_a`);
  assert.equal(r.outputs.release, 'rel-1.0_a');
});
