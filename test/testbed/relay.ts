// A far-away link for the testbed, in user space (this kernel has no sch_netem): a TCP relay that
// holds every byte for RTT/2 in each direction and adds the TCP handshake's round trip before the
// first byte, in front of one host's sshd. It runs as its own process in the runner's namespace
// (where the action runs), so the action reaches the host at 127.0.0.1:PORT, and through
// `app-hosts: 127.0.0.1:PORT=ADDRESS` nginx still reaches the app at its own address.
//
//   node test/testbed/relay.ts RTT_MS TARGET_HOST:TARGET_PORT [TARGET_HOST:TARGET_PORT ...]
// prints one line `relay LOCAL_PORT TARGET` per target once listening (on 127.0.0.1), and runs
// until killed. startRelays() does that for a testbed.
import { createConnection, createServer, type Socket } from 'node:net';
import type { Host, Testbed } from './testbed.ts';

/**
 * Forwards a→b, each chunk delivered `delay` ms after it arrived, in order: one queue and one
 * timer per direction. (A timer per chunk does not keep order: two timers due in the same
 * millisecond but set for different durations may fire either way round, and a reordered SSH
 * stream fails its MAC check, which ends the connection.)
 */
function delayed(a: Socket, b: Socket, delay: number): void {
  const queue: { at: number; chunk?: Buffer }[] = [];
  let timer: NodeJS.Timeout | undefined;
  const pump = () => {
    timer = undefined;
    while (queue.length > 0 && queue[0].at <= Date.now()) {
      const { chunk } = queue.shift()!;
      if (chunk) b.write(chunk);
      else b.end();
    }
    if (queue.length > 0) timer = setTimeout(pump, queue[0].at - Date.now());
  };
  const push = (chunk?: Buffer) => {
    queue.push({ at: Date.now() + delay, chunk });
    timer ??= setTimeout(pump, delay);
  };
  a.on('data', (chunk: Buffer) => push(chunk));
  a.on('end', () => push());
  a.on('error', () => b.destroy());
}

function relay(rttMs: number, host: string, port: number): Promise<number> {
  const half = rttMs / 2;
  const server = createServer({ noDelay: true }, (client) => {
    client.pause();
    // The handshake's round trip: the far end answers after one RTT.
    setTimeout(() => {
      const up = createConnection({ host, port, noDelay: true }, () => {
        delayed(client, up, half);
        delayed(up, client, half);
        client.resume();
      });
      up.on('error', () => client.destroy());
      client.on('close', () => up.destroy());
      up.on('close', () => client.destroy());
    }, rttMs);
  });
  return new Promise((res) => server.listen(0, '127.0.0.1', () => res((server.address() as { port: number }).port)));
}

/** The relay process: one listener per target. */
async function main(argv: string[]): Promise<void> {
  const rtt = Number(argv[0]);
  for (const t of argv.slice(1)) {
    const [host, port] = [t.slice(0, t.lastIndexOf(':')), Number(t.slice(t.lastIndexOf(':') + 1))];
    const local = await relay(rtt, host, port);
    process.stdout.write(`relay ${local} ${t}\n`);
  }
}

/**
 * Starts a relay process in the testbed's runner namespace in front of each host's sshd (port 22),
 * with `rttMs` of round-trip time. Returns each host's local port and the inputs that go through
 * it: nginx-host, app-hosts (`127.0.0.1:PORT=ADDRESS`) and known-hosts (`[127.0.0.1]:PORT` lines).
 * The process ends with the testbed (spawnInRunner), or by stop().
 */
export async function startRelays(tb: Testbed, rttMs: number): Promise<{ inputs: Record<string, string>; ports: Map<Host, number>; stop(): void }> {
  const hosts = [...tb.nginxes, ...tb.apps];
  const child = tb.spawnInRunner([process.execPath, new URL(import.meta.url).pathname, String(rttMs), ...hosts.map((h) => `${h.ip}:22`)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const ports = new Map<Host, number>();
  let buf = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`relay: not listening after 10 s (${buf})`)), 10_000);
    child.stdout!.on('data', (c: Buffer) => {
      buf += c.toString();
      for (const m of buf.matchAll(/^relay (\d+) ([\d.]+):22$/gm)) {
        const h = hosts.find((x) => x.ip === m[2]);
        if (h) ports.set(h, Number(m[1]));
      }
      if (ports.size === hosts.length) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.on('exit', (code) => reject(new Error(`relay exited (${code}): ${buf}`)));
  });
  // known_hosts: each host's key line again, under the name the action now connects to.
  const lines = tb.knownHosts.split('\n').filter((l) => l.trim());
  const relayed = hosts.flatMap((h) =>
    lines
      .filter((l) => l.split(/\s+/)[0].split(',').includes(h.ip))
      .map((l) => `[127.0.0.1]:${ports.get(h)} ${l.split(/\s+/).slice(1).join(' ')}`),
  );
  return {
    inputs: {
      'nginx-host': tb.nginxes.map((n) => `127.0.0.1:${ports.get(n)}`).join(','),
      'app-hosts': tb.apps.map((a) => `127.0.0.1:${ports.get(a)}=${a.ip}`).join(','),
      'known-hosts': relayed.join('\n'),
    },
    ports,
    stop: () => child.kill('SIGTERM'),
  };
}

if (process.argv[1] === new URL(import.meta.url).pathname) await main(process.argv.slice(2));
