// A demo deploy on a local sandbox: real sshd, nginx and JVMs in network namespaces on this
// machine (no route out), the bundled action run as the GitHub runner runs it.
//
//   npm run demo            (as root: network namespaces need it)
//
// It starts v0 the way the seed scripts do (nohup java -jar on 8080), then deploys v1 and v2
// with the action while a bounded load runs through nginx, and shows what nginx served.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createTestbed, cleanupStale } from '../test/testbed/testbed.ts';
import { baseInputs, runAction, ROOT } from '../test/e2e/harness.ts';
import path from 'node:path';

const need: [string, string][] = [
  ['ip', 'iproute2'],
  ['nginx', 'nginx'],
  ['sshd', 'openssh-server'],
  ['ssh-keygen', 'openssh-client'],
  ['nft', 'nftables'],
  ['curl', 'curl'],
  ['java', 'openjdk-17-jdk-headless'],
  ['javac', 'openjdk-17-jdk-headless'],
];
const which = (c: string) => {
  try {
    execFileSync('sh', ['-c', `command -v ${c} || test -x /usr/sbin/${c}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
};
const missing = need.filter(([c]) => !which(c)).map(([, p]) => p);
if (missing.length > 0) {
  console.error(`missing: ${[...new Set(missing)].join(' ')}\ninstall them with:\n  sudo apt-get update && sudo apt-get install -y ${[...new Set(missing)].join(' ')}`);
  process.exit(1);
}
if (process.getuid?.() !== 0) {
  console.error('the sandbox uses network namespaces: run as root (sudo npm run demo)');
  process.exit(1);
}
if (!existsSync(path.join(ROOT, 'dist/main.cjs'))) execFileSync('node', ['scripts/build.mjs'], { cwd: ROOT, stdio: 'inherit' });

const show = (s: string) => console.log(`\x1b[1m${s}\x1b[0m`);
const wrk = which('wrk');

await cleanupStale('zdddemo');
const tb = await createTestbed({ prefix: 'zdddemo', subnet: 99, appHosts: 1, form: 'set' });
try {
  show(`sandbox: nginx ${tb.nginx.ip}, app host ${tb.apps[0].ip} (each its own sshd), runner ${tb.runner.ip}`);
  await tb.startSeedApp(tb.apps[0], 8080, 'v0', ['-Dstart.delay.ms=2000'], { waitMs: 20_000 });
  show(`v0 started the seed-script way; nginx serves: ${(await tb.get('/version')).body}`);
  show(`include: ${(await tb.readInclude())!.trim()}`);
  for (const v of ['v1', 'v2']) {
    show(`\n=== deploying ${v} with the action (${wrk ? 'wrk load running through nginx' : 'no load: install wrk to see it'}) ===`);
    const load = wrk
      ? tb.spawnInRunner(['wrk', '-t1', '-c8', '-d12s', '-H', 'Connection: close', `http://${tb.nginx.ip}/version`], { stdio: ['ignore', 'pipe', 'pipe'] })
      : undefined;
    let loadOut = '';
    load?.stdout?.on('data', (c) => (loadOut += c));
    const r = await runAction(tb, baseInputs(tb, await tb.makeJar(v), { 'java-opts': '-Dstart.delay.ms=2000', 'health-interval': '0.25' }));
    for (const line of r.stdout.split('\n')) {
      // ::debug:: lines show only with step debug on, as on a runner (RUNNER_DEBUG=1 npm run demo)
      if (line.startsWith('::add-mask::') || line.startsWith('::endgroup::') || line === '') continue;
      if (line.startsWith('::debug::') && process.env.RUNNER_DEBUG !== '1') continue;
      console.log(line.startsWith('::group::') ? `\n  ▸ ${line.slice(9)}` : `    ${line}`);
    }
    if (r.code !== 0) throw new Error(`deploy failed: ${r.error}`);
    show(`outputs: ${JSON.stringify(r.outputs)}`);
    if (load) {
      await new Promise((res) => load.on('close', res));
      const reqs = /(\d+) requests in/.exec(loadOut)?.[1];
      const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(loadOut)?.[1] ?? '0';
      const errs = /Socket errors: (.*)/.exec(loadOut)?.[1] ?? 'none';
      show(`load during the deploy: ${reqs} requests, ${non2xx} non-2xx answers, socket errors: ${errs}`);
    }
    show(`nginx now serves: ${(await tb.get('/version')).body}`);
    show(`include: ${(await tb.readInclude())!.trim()}`);
  }
  show('\ndemo done: two zero-downtime deploys; tearing the sandbox down');
} finally {
  await tb.teardown();
}
