// Opening a connection: our own TCP socket (Nagle off), host key checking against known-hosts
// (and a certificate a @cert-authority line vouches for), the ciphers, the session channel opened
// right behind the authentication, and errors that say what to fix.
import { NodeSSH } from 'node-ssh';
import type { ConnectConfig } from 'ssh2';
import type { Duplex } from 'node:stream';
import { connect as netConnect, type Socket } from 'node:net';
import { takeEarlyTcp } from './early-tcp.ts';
import { errorText } from '../errors.ts';
import { checkHostKey, hostKeyAlgorithms, type KnownHostEntry } from '../config/knownhosts.ts';
import type { SshAddress } from '../config/hosts.ts';
import type { Config } from '../config/inputs.ts';
import { hostPort } from '../config/hosts.ts';

const CIPHERS = ['aes128-gcm@openssh.com', 'aes256-gcm@openssh.com', 'aes128-ctr', 'aes192-ctr', 'aes256-ctr', 'chacha20-poly1305@openssh.com'];

export interface SshOptions {
  user: string;
  privateKey: string;
  passphrase?: string;
  knownHosts: KnownHostEntry[];
  insecure: boolean;
  connectTimeoutMs: number;
  jump?: SshAddress;
  /** called with a warning to show the user (insecure mode) */
  warn: (msg: string) => void;
  /** called with a line per remote command (what, host, exit, ms): the step-debug log */
  debug?: (msg: string) => void;
}


/** The SSH options every connection of a deploy uses, from the validated config. */
export function sshOptions(
  cfg: Pick<Config, 'sshUser' | 'sshKey' | 'sshKeyPassphrase' | 'knownHosts' | 'insecureSkipHostKeyCheck' | 'connectTimeoutMs' | 'jumpHost'>,
  warn: (msg: string) => void,
  debug?: (msg: string) => void,
): SshOptions {
  return {
    user: cfg.sshUser,
    privateKey: cfg.sshKey,
    passphrase: cfg.sshKeyPassphrase,
    knownHosts: cfg.knownHosts,
    insecure: cfg.insecureSkipHostKeyCheck,
    connectTimeoutMs: cfg.connectTimeoutMs,
    jump: cfg.jumpHost,
    warn,
    debug,
  };
}

function hostKeyConfig(
  addr: SshAddress,
  o: SshOptions,
  onReject: (reason: string) => void,
  onPending: (key: Buffer, authorities: KnownHostEntry[]) => void,
): Pick<ConnectConfig, 'hostVerifier' | 'algorithms'> {
  if (o.insecure) {
    return {
      hostVerifier: () => {
        o.warn(`HOST KEY NOT VERIFIED for ${hostPort(addr.host, addr.port)} (insecure-skip-host-key-check: true): anyone on the path can intercept this deploy`);
        return true;
      },
    };
  }
  const algos = hostKeyAlgorithms(o.knownHosts, addr.host, addr.port);
  return {
    ...(algos ? { algorithms: { serverHostKey: algos as never } } : {}),
    hostVerifier: (key: Buffer): boolean => {
      const v = checkHostKey(o.knownHosts, addr.host, addr.port, key);
      if (!v.ok) onReject(v.reason);
      else if (v.authorities) onPending(key, v.authorities);
      return v.ok;
    },
  };
}

/** The TCP socket under each connection this program opened itself. */
const sockets = new WeakMap<NodeSSH, Socket>();

/**
 * Ends a connection. ssh2 only half-closes its socket: towards a host that is cut off, no FIN
 * ever comes back, and the socket would keep the process (the step) alive for good. It gets a
 * second to close, then it is destroyed.
 */
export function close(ssh: NodeSSH): void {
  ssh.dispose();
  const tcp = sockets.get(ssh);
  if (!tcp || tcp.destroyed) return;
  const t = setTimeout(() => tcp.destroy(), 1000);
  tcp.once('close', () => clearTimeout(t));
}

/** A host key that only a @cert-authority line matched: its certificate must vouch for it before anything runs. */
export interface PendingCert {
  key: Buffer;
  authorities: KnownHostEntry[];
}

/** A connection (with its host key still to vouch for, if so); jump: a jump host's, which only forwards. */
export async function open(addr: SshAddress, o: SshOptions, sock?: Duplex, jump = false): Promise<{ ssh: NodeSSH; pending?: PendingCert }> {
  const ssh = new NodeSSH();
  let rejected: string | undefined;
  let pending: { key: Buffer; authorities: KnownHostEntry[] } | undefined;
  const hk = hostKeyConfig(
    addr,
    o,
    (r) => (rejected = r),
    (key, authorities) => (pending = { key, authorities }),
  );
  // Our own TCP socket, so that Nagle's algorithm is off from the first byte: with it on, each of
  // the handshake's and the authentication's round trips waits for a delayed ACK (connect took
  // ~260 ms on the testbed, ~45 ms without). ssh2 waits for it to connect, under readyTimeout.
  // The one opened at start-up (early-tcp.ts), if it is still good: its handshake is done or under way.
  const early = sock ? undefined : takeEarlyTcp(addr);
  if (early) o.debug?.(`${hostPort(addr.host, addr.port)}: the TCP connection opened at start-up (${early.connecting ? 'still connecting' : 'connected'})`);
  const tcp = sock ? undefined : (early ?? netConnect({ host: addr.host, port: addr.port }).setNoDelay(true)).on('error', () => undefined); // ssh2 reports it
  if (tcp) sockets.set(ssh, tcp);
  try {
    await ssh.connect({
      host: addr.host,
      port: addr.port,
      sock: (sock ?? tcp) as never,
      // The key is the only method we offer: no 'none' attempt first (one round trip less).
      authHandler: ['publickey'],
      username: o.user,
      privateKey: o.privateKey,
      passphrase: o.passphrase,
      readyTimeout: o.connectTimeoutMs,
      keepaliveInterval: 5000,
      keepaliveCountMax: 3,
      tryKeyboard: false,
      // AES-GCM runs in OpenSSL; ssh2's chacha20-poly1305 is JavaScript without its optional
      // native add-on: preferring GCM doubles upload throughput on the testbed.
      // No compression: delayed compression (zlib@openssh.com) would start between the
      // authentication request and the channels opened right behind it.
      algorithms: { cipher: CIPHERS as never, compress: ['none'], ...hk.algorithms },
      hostVerifier: hk.hostVerifier,
      // The session channel of the connection's one shell (session.ts), opened right behind the
      // authentication request (scripts/build.mjs: the bundle's ssh2 only; from source this is
      // ignored): its commands answer one round trip sooner.
      ...({ zddPreopen: jump ? 0 : 1 } as object),
    });
  } catch (e) {
    ssh.dispose();
    tcp?.destroy();
    throw new Error(rejected ?? explainConnectError(errorText(e), o), { cause: e });
  }
  // ssh2 emits 'error' on the client for a lost connection (e.g. keepalive timeout); without a
  // listener that would end the process instead of failing the command that is waiting. Why it
  // ended goes to the step-debug log: the commands only see that it is gone.
  ssh.connection?.on('error', (e: unknown) => {
    o.debug?.(`${hostPort(addr.host, addr.port)}: the SSH connection ended: ${errorText(e)}`);
    ssh.dispose();
  });
  // Nagle off on the connection through a jump host too (ours is already off): every small
  // command would otherwise wait for delayed ACKs (~90 ms per command on the testbed).
  ssh.connection?.setNoDelay(true);
  return { ssh, pending };
}

function explainConnectError(msg: string, o: SshOptions): string {
  if (/All configured authentication methods failed/i.test(msg)) {
    return `authentication failed for user '${o.user}': the server did not accept ssh-key (is its public key in ~${o.user}/.ssh/authorized_keys?)`;
  }
  if (/Timed out while waiting for handshake/i.test(msg)) return `no SSH answer within ${o.connectTimeoutMs / 1000}s (connect-timeout)`;
  if (/ECONNREFUSED/.test(msg)) return 'connection refused: is sshd running on that port?';
  if (/EHOSTUNREACH|ENETUNREACH/.test(msg)) return 'host unreachable';
  if (/Encrypted private OpenSSH key detected, but no passphrase given|bad passphrase|Bad passphrase/i.test(msg)) {
    return 'cannot decrypt ssh-key: set ssh-key-passphrase to the key\'s passphrase';
  }
  return msg;
}
