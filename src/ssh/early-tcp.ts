// TCP connections to the hosts, opened by the step's first lines (src/start.ts) before the rest
// of the action is loaded and its inputs are validated: node takes ~0.13 s to load and run that
// part, and the TCP handshake's round trip (the first of the connection's four) passes meanwhile.
// Nothing is sent on them here. remote.ts takes the socket for its host:port when it connects;
// one that failed or closed first is not taken (the connection is then made as always, and its
// error reported as always), and the ones nobody takes are closed once the connections are up or
// the inputs are refused. Until taken, a socket does not keep the process alive (unref).
// The state lives on globalThis: start.cjs and deploy.cjs are separate bundles.
import { connect, isIP, type Socket } from 'node:net';
import { hostPort, parseAppHost, parsePort, parseSshAddress, splitList, type SshAddress } from '../config/hosts.ts';

interface Early {
  sock: Socket;
  /** it failed or closed before anyone took it */
  dead: boolean;
}

const KEY = Symbol.for('jar-bluegreen-deploy.early-tcp');

function registry(): Map<string, Early> {
  const g = globalThis as { [KEY]?: Map<string, Early> };
  return (g[KEY] ??= new Map());
}

/**
 * The first hop of every connection the inputs ask for: the jump host alone if there is one, else
 * each nginx and app host. Entries the validation would refuse are left out (it reports them).
 * `get` reads an input as the runner passes it (core.getInput's variable).
 */
export function earlyAddresses(get: (name: string) => string): SshAddress[] {
  const port = parsePort(get('ssh-port').trim() || '22');
  if (port === undefined) return [];
  const jump = get('jump-host').trim();
  if (jump !== '') {
    const j = parseSshAddress(jump, port);
    return typeof j === 'string' ? [] : [j];
  }
  const out: SshAddress[] = [];
  for (const e of splitList(get('nginx-host'))) {
    const a = parseSshAddress(e, port);
    if (typeof a !== 'string') out.push(a);
  }
  for (const e of splitList(get('app-hosts'))) {
    const h = parseAppHost(e, port);
    if (typeof h !== 'string') out.push(h.ssh);
  }
  // The most the validation lets through: 16 nginx hosts and 64 app hosts.
  return out.slice(0, 16 + 64);
}

/**
 * Opens a socket to each address. Resolves once each one's connect has been made (a host name's
 * DNS answer is in), at most `waitMs` later: the rest of the action is loaded only then, because
 * while node loads it (~0.1 s) nothing runs, not even the connect behind a DNS answer. Waiting
 * costs nothing: the connection needs that answer anyway.
 */
export function openEarlyTcp(addrs: SshAddress[], waitMs = 50): Promise<void> {
  const reg = registry();
  const dialled: Promise<void>[] = [];
  for (const a of addrs) {
    const key = hostPort(a.host, a.port);
    if (reg.has(key)) continue;
    const e: Early = { sock: connect({ host: a.host, port: a.port }), dead: false };
    e.sock.setNoDelay(true);
    e.sock.unref();
    e.sock.on('error', () => (e.dead = true)).on('close', () => (e.dead = true));
    reg.set(key, e);
    // An IP address is dialled on the next tick (before any immediate); a name once looked up.
    if (isIP(a.host) === 0) dialled.push(new Promise((r) => e.sock.once('lookup', () => r()).once('error', () => r())));
  }
  let timer: NodeJS.Timeout | undefined;
  const cap = new Promise<void>((r) => (timer = setTimeout(r, waitMs)));
  return Promise.race([Promise.all(dialled), cap])
    .then(() => new Promise<void>((r) => setImmediate(r)))
    .finally(() => clearTimeout(timer));
}

/** The socket opened at start-up for this address, if it is still good; each is taken once. */
export function takeEarlyTcp(addr: SshAddress): Socket | undefined {
  const reg = registry();
  const key = hostPort(addr.host, addr.port);
  const e = reg.get(key);
  if (!e) return undefined;
  reg.delete(key);
  if (e.dead || e.sock.destroyed) {
    e.sock.destroy();
    return undefined;
  }
  e.sock.ref();
  return e.sock;
}

/** Closes the sockets nobody took. */
export function dropEarlyTcp(): void {
  const reg = registry();
  for (const e of reg.values()) e.sock.destroy();
  reg.clear();
}
