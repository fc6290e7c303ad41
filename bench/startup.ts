// Benchmark: how soon the step's first TCP connection goes out, this bundle against a baseline.
// Each start is `node dist/main.cjs` with the inputs a runner passes (action.yml's defaults, an
// nginx host and an app host at a loopback listener); measured: spawn → the listener's accept.
// The step then fails to connect (the listener is no sshd) and exits. Nothing leaves loopback.
//   node bench/startup.ts [--runs N] [--baseline REV]
// Writes bench/results/startup.md.
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { actionDefaults } from '../test/action-defaults.ts';
import { writeBaselineDist } from './baseline.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values: opt } = parseArgs({ options: { runs: { type: 'string', default: '20' }, baseline: { type: 'string', default: '878dfaa' } } });
const RUNS = Number(opt.runs);

const dir = mkdtempSync(path.join(tmpdir(), 'zdd-startup-'));
const server = createServer((c) => {
  accepted ??= Date.now();
  c.destroy();
});
let accepted: number | undefined;
try {
  const baseDir = writeBaselineDist(opt.baseline, path.join(dir, 'baseline-dist'));
  const jar = path.join(dir, 'app.jar');
  writeFileSync(jar, 'not a jar: the step never gets to send it');
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  const env: Record<string, string> = { PATH: process.env.PATH ?? '', HOME: dir, RUNNER_TEMP: dir };
  const inputs = { ...actionDefaults(), 'nginx-host': `127.0.0.1:${port}`, 'app-hosts': `127.0.0.1:${port}=10.0.0.9`, 'ssh-user': 'deploy', 'ssh-key': '-----BEGIN OPENSSH PRIVATE KEY-----\nx\n-----END OPENSSH PRIVATE KEY-----', artifact: jar, 'known-hosts': `[127.0.0.1]:${port} ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIH5mQ8Tm7nQk1Rz0y1qkq0gYwq4m1tq2t6z0mFJ8b1Qm`, 'connect-timeout': '2' };
  for (const [k, v] of Object.entries(inputs)) env[`INPUT_${k.toUpperCase()}`] = v;
  const bundles = { this: path.join(ROOT, 'dist/main.cjs'), [`baseline ${opt.baseline}`]: path.join(baseDir, 'main.cjs') };
  const ms: Record<string, number[]> = {};
  for (let i = 0; i < RUNS; i++) {
    // Alternating, so that both see the same machine.
    for (const [name, main] of i % 2 ? Object.entries(bundles).reverse() : Object.entries(bundles)) {
      accepted = undefined;
      const t0 = Date.now();
      const child = spawn(process.execPath, [main], { env, stdio: 'ignore' });
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await new Promise((r) => child.on('exit', r));
      clearTimeout(timer);
      // The accept is noticed on this side's event loop: give it a moment after a quick exit.
      for (let k = 0; k < 50 && accepted === undefined; k++) await new Promise((r) => setTimeout(r, 10));
      if (accepted === undefined) throw new Error(`${name}: no connection reached the listener`);
      (ms[name] ??= []).push(accepted - t0);
    }
  }
  const med = (v: number[]) => [...v].sort((a, b) => a - b)[v.length >> 1];
  const md = [
    `# Start-up benchmark (\`node bench/startup.ts --runs ${RUNS} --baseline ${opt.baseline}\`)`,
    '',
    `\`node dist/main.cjs\` with a runner's inputs (action.yml's defaults, both hosts at a loopback listener): spawn → the listener's first accept, ${RUNS} starts per bundle, alternating. Node ${process.version}.`,
    '',
    '| bundle | median | fastest | slowest |',
    '|---|---|---|---|',
    ...Object.entries(ms).map(([n, v]) => `| ${n} | **${med(v)} ms** | ${Math.min(...v)} ms | ${Math.max(...v)} ms |`),
    '',
  ].join('\n');
  writeFileSync(path.join(ROOT, 'bench/results/startup.md'), md);
  process.stdout.write(md);
} finally {
  server.close();
  rmSync(dir, { recursive: true, force: true });
}
