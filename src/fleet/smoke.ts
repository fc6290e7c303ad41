// smoke-test: the team's own check of the new version, run on the runner before any traffic moves.
// Each new instance is reachable at http://127.0.0.1:PORT on the runner, forwarded through its
// host's SSH connection (as the health checks are), so the check needs no route to the servers.
import { createServer, type Server, type Socket } from 'node:net';
import * as exec from '@actions/exec';
import * as io from '@actions/io';
import { DeployError, errorText } from '../errors.ts';
import type { OpContext } from '../run/context.ts';
import type { AppNode } from './node.ts';

/** A local port on the runner that forwards every connection to port on the app host. */
async function forwardLocally(app: AppNode, port: number): Promise<{ server: Server; url: string; open: Set<Socket> }> {
  const open = new Set<Socket>();
  const server = createServer((sock) => {
    open.add(sock);
    sock.on('close', () => open.delete(sock));
    app.remote.forward(port).then(
      (ch) => {
        sock.pipe(ch).pipe(sock);
        ch.on('error', () => sock.destroy());
        sock.on('error', () => ch.destroy());
      },
      () => sock.destroy(),
    );
  });
  await new Promise<void>((res, rej) => {
    server.once('error', rej);
    server.listen(0, '127.0.0.1', () => res());
  });
  const addr = server.address();
  if (addr === null || typeof addr === 'string') throw new Error('no local port for the smoke test');
  return { server, url: `http://127.0.0.1:${addr.port}`, open };
}

/**
 * Runs smoke-test as `bash -e -c COMMAND` (under `timeout` when the runner has it) with
 * CANDIDATE_URL (the first app host's new instance), CANDIDATE_URLS (all, space-separated),
 * RELEASE and PREVIOUS_RELEASE; its output streams into the log. A non-zero exit (a command not
 * found is 127) fails the step, naming the command and the exit code.
 */
export async function smokeTest(ctx: OpContext, targets: { app: AppNode; port: number }[], release: string, previous: string | undefined): Promise<void> {
  const cfg = ctx.cfg;
  const command = cfg.smokeTest!;
  const forwards = await Promise.all(targets.map((t) => forwardLocally(t.app, t.port)));
  try {
    const urls = forwards.map((f) => f.url);
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v;
    Object.assign(env, { CANDIDATE_URL: urls[0], CANDIDATE_URLS: urls.join(' '), RELEASE: release, PREVIOUS_RELEASE: previous ?? '' });
    ctx.ui.info(`smoke-test: ${command} (CANDIDATE_URL=${urls[0]}: ${targets[0].app.remote.label} port ${targets[0].port}${targets.length > 1 ? `; CANDIDATE_URLS has all ${targets.length}` : ''})`);
    const timeoutBin = await io.which('timeout', false);
    const sec = Math.ceil(cfg.smokeTestTimeoutMs / 1000);
    const [tool, args] = timeoutBin ? [timeoutBin, ['-k', '10', String(sec), 'bash', '-e', '-c', command]] : ['bash', ['-e', '-c', command]];
    let code: number;
    try {
      code = await exec.exec(tool, args, { env, ignoreReturnCode: true });
    } catch (e) {
      throw new DeployError('smoke test', undefined, `smoke-test could not be run (${errorText(e)}): nothing was switched`);
    }
    if (code !== 0) {
      const why = timeoutBin && code === 124 ? `did not finish within ${sec}s (smoke-test-timeout)` : `exited with code ${code}${code === 127 ? ' (a command not found)' : ''}`;
      throw new DeployError('smoke test', undefined, `smoke-test '${command}' ${why}: nothing was switched, and the new version is stopped`);
    }
    ctx.ui.info('smoke-test passed');
  } finally {
    for (const f of forwards) for (const s of f.open) s.destroy();
    await Promise.all(forwards.map((f) => new Promise((res) => f.server.close(res))));
  }
}
