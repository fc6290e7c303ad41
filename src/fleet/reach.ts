// Reachability from nginx: each nginx host's sshd opens a TCP connection to the new process's
// address and port (or, where it refuses forwarding, the host GETs it itself).
import { hostPort } from '../config/hosts.ts';
import { DeployError, errorText } from '../errors.ts';
import * as httpCmd from '../commands/http.ts';
import { ForwardingRefused, isConnectFailed, type Remote } from '../ssh/remote.ts';
import type { OpContext } from '../run/context.ts';
import { sleep } from '../util/async.ts';
import { forwardingRefused, markForwardingRefused } from './probe.ts';

/**
 * nginx must reach the new process at the address it will proxy to: a firewall open to the
 * live port only, a wrong `=address`, or an app bound to 127.0.0.1 would pass every check made
 * on the app host itself. Each nginx host's sshd opens a TCP connection to target:port (a
 * forwarded channel opens only once that connect succeeded) and closes it at once: nothing is
 * sent to the app, so its own request counters and health state are not touched.
 */
export async function probeFromNginx(ctx: OpContext, nginx: Remote[], target: string, port: number): Promise<void> {
  await Promise.all(
    nginx.map(async (n) => {
      const deadline = Date.now() + 5000;
      let last: string;
      for (;;) {
        const r = forwardingRefused(n) ? await connectWithCurl(ctx, n, target, port) : await connectThroughSsh(n, target, port, deadline);
        if (r instanceof ForwardingRefused) {
          markForwardingRefused(n);
          continue;
        }
        last = r.detail;
        if (last === '' || r.fatal || Date.now() >= deadline) break;
        await sleep(200);
      }
      if (last === '') return;
      throw new DeployError(
        'reachability',
        `nginx host ${n.label}`,
        `cannot reach the new version at ${target}:${port} (${last}), although it is healthy on its own host; ` +
          'nginx would send traffic to a wall. Check the firewall between them, the =address in app-hosts, and that the app listens on that address, not only on 127.0.0.1',
      );
    }),
  );
}

/** '' when the nginx host's sshd could open a TCP connection to target:port, else why not. */
/** What one try saw: detail '' when it connected; fatal: no point in trying again. */
interface Reached {
  detail: string;
  fatal?: boolean;
}

async function connectThroughSsh(n: Remote, target: string, port: number, deadline: number): Promise<Reached | ForwardingRefused> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<Reached>((res) => (timer = setTimeout(() => res({ detail: 'no answer within 5s (a firewall dropping the packets?)' }), Math.max(500, deadline - Date.now()))));
  try {
    return await Promise.race([
      n.forward(port, target).then(
        (ch): Reached => {
          ch.destroy();
          return { detail: '' };
        },
        (e: unknown) => (e instanceof ForwardingRefused ? e : { detail: isConnectFailed(e) ? 'connection refused' : errorText(e) }),
      ),
      late,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** The same from the nginx host itself when its sshd refuses forwarding: any HTTP answer will do. */
async function connectWithCurl(ctx: OpContext, n: Remote, target: string, port: number): Promise<Reached> {
  const r = await n.run(httpCmd.httpGet(`http://${hostPort(target, port)}${ctx.cfg.healthPath}`, 5, ctx.cmdOptions(false, 10)), 15_000);
  const a = httpCmd.parseHttpGet(r.stdout);
  return 'error' in a ? { detail: a.error, fatal: a.noClient } : { detail: '' };
}
