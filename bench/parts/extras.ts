// Benchmark part: extras (bench/bench.ts runs it in its own testbed).
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import path from 'node:path';
import { type Testbed } from '../../test/testbed/testbed.ts';
import { baseInputs } from '../../test/e2e/harness.ts';
import { ACTION_INPUTS, at, log, mean, runAction, sleep, steps } from '../common.ts';
// ------------------------------------------------------------------------------------ extras

export interface Upload {
  bytes: number;
  scpMs: number[];
  actionMs: number;
  actionReported: string;
  scpMBs: number;
  actionMBs: number;
  ratio: number;
  resolveArtifactS?: number;
  secondDeploy: string;
  secondDeployZeroBytes: boolean;
}

/** A valid jar padded with a 100 MB random stored entry; scp vs the action's upload; redeploy = 0 bytes. */
export async function measureUpload(tb: Testbed): Promise<Upload> {
  const small = await tb.makeJar('big');
  const big = path.join(tb.dir, 'jars', 'big.jar');
  const pad = path.join(tb.dir, 'jars', 'pad.bin');
  fs.copyFileSync(small, big);
  const fd = fs.openSync(pad, 'w');
  for (let i = 0; i < 100; i++) fs.writeSync(fd, randomBytes(1_000_000));
  fs.closeSync(fd);
  const z = spawnSync('zip', ['-0', '-q', '-j', big, pad]);
  if (z.status !== 0) throw new Error(`zip: ${z.stderr}`);
  fs.rmSync(pad);
  const bytes = fs.statSync(big).size;
  const scp = async () => {
    const t0 = Date.now();
    const r = await tb.runInRunner(['scp', '-q', '-i', tb.privateKeyPath, '-o', `UserKnownHostsFile=${tb.knownHostsPath}`, big, `root@${tb.apps[0].ip}:/opt/app/scp-test.jar`], { env: {}, timeoutMs: 120_000 });
    const ms = Date.now() - t0;
    if (r.code !== 0) throw new Error(`scp: ${r.stderr}`);
    await tb.exec(tb.apps[0], ['rm', '-f', '/opt/app/scp-test.jar']);
    return ms;
  };
  const scpMs = [await scp()];
  const a1 = await runAction(tb, baseInputs(tb, big, ACTION_INPUTS));
  scpMs.push(await scp());
  const a2 = await runAction(tb, baseInputs(tb, big, ACTION_INPUTS));
  if (a1.code !== 0 || a2.code !== 0) throw new Error(`big-jar deploy failed: ${[...a1.lines, ...a2.lines].filter((l) => l.text.startsWith('::error::')).map((l) => l.text).join(' ')}`);
  // the action's upload: from the start of its upload step (port checks, prepare, sftp, remote sha256, mv) to its report line
  const from = at(a1.lines, /^::group::Upload/)!;
  const jarLine = a1.lines.find((l) => /: jar .*MiB in/.test(l.text))!;
  const actionMs = jarLine.t - from;
  const second = a2.lines.find((l) => /: jar /.test(l.text))?.text ?? '';
  const mbs = (ms: number) => bytes / 1e6 / (ms / 1000);
  return {
    bytes,
    scpMs,
    actionMs,
    actionReported: jarLine.text.replace(/^.*: jar /, ''),
    scpMBs: mbs(mean(scpMs)),
    actionMBs: mbs(actionMs),
    ratio: mbs(actionMs) / mbs(mean(scpMs)),
    resolveArtifactS: steps(a1.summary)['Resolve the artifact'],
    secondDeploy: second.replace(/^.*: jar /, ''),
    secondDeployZeroBytes: /already there \(0 bytes\)|copied on host \(0 bytes\)/.test(second),
  };
}

export async function unloadedDeploys(tb: Testbed, label: string, n: number): Promise<{ wallMs: number[]; steps: Record<string, number>[] }> {
  const out = { wallMs: [] as number[], steps: [] as Record<string, number>[] };
  for (let i = 0; i < n; i++) {
    const a = await runAction(tb, baseInputs(tb, await tb.makeJar(`${label}-${i}`), ACTION_INPUTS));
    if (a.code !== 0) throw new Error(`${label} deploy ${i} failed: ${a.lines.map((l) => l.text).filter((t) => t.startsWith('::error::')).join(' ')}`);
    out.wallMs.push(a.wallMs);
    out.steps.push(steps(a.summary));
    log(`${label} unloaded deploy ${i}: ${a.wallMs} ms`);
  }
  return out;
}

/** Spawn of `node main.cjs` to the first TCP accept on its nginx-host (a listener, not sshd). */
export async function measureStartup(tb: Testbed, n: number): Promise<number[]> {
  const js = `const s=require('net').createServer(c=>{process.stdout.write('ACCEPT '+Date.now()+'\\n');c.destroy()});` + `s.listen(2222,'127.0.0.1',()=>process.stdout.write('LISTEN\\n'));setTimeout(()=>process.exit(0),300000);`;
  const listener = tb.spawnInRunner([process.execPath, '-e', js], { cwd: '/' });
  const accepts: number[] = [];
  let ready!: () => void;
  const listening = new Promise<void>((r) => (ready = r));
  listener.stdout!.on('data', (d: Buffer) => {
    for (const l of d.toString().split('\n')) {
      if (l === 'LISTEN') ready();
      if (l.startsWith('ACCEPT ')) accepts.push(Number(l.slice(7)));
    }
  });
  const out: number[] = [];
  try {
    await Promise.race([listening, sleep(5000).then(() => Promise.reject(new Error('listener did not start')))]);
    const jar = await tb.makeJar('startup');
    const key = tb.knownHosts.split('\n')[0].split(' ').slice(1).join(' ');
    const inputs = { ...baseInputs(tb, jar), 'nginx-host': '127.0.0.1:2222', 'app-hosts': '127.0.0.1:2222', 'known-hosts': `[127.0.0.1]:2222 ${key}`, 'connect-timeout': '2' };
    for (let i = 0; i < n; i++) {
      accepts.length = 0;
      const t0 = Date.now();
      await runAction(tb, inputs, undefined, 15_000); // fails (no sshd there), which is fine
      if (accepts.length) out.push(accepts[0] - t0);
    }
  } finally {
    listener.kill('SIGTERM');
  }
  return out;
}
