// Parsing of host entries. Pure.
//
//   nginx-host:  host | host:port | [ipv6] | [ipv6]:port
//   app-hosts:   the same, optionally followed by `=proxy-address`, the address nginx uses
//                to reach the app when it differs from the SSH address, e.g.
//                `app1.example.com:2222=10.0.1.5`.

export interface SshAddress {
  host: string;
  port: number;
}

export interface AppHost {
  /** where the runner connects over SSH */
  ssh: SshAddress;
  /** the address nginx proxies to (no port: the port is one of `ports`) */
  target: string;
  /** the entry as written, for messages */
  label: string;
}

const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?(\.[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?)*\.?$/;
const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const IPV6 = /^[0-9A-Fa-f:.]+(%[A-Za-z0-9_.-]+)?$/;

export function isValidHost(host: string): boolean {
  if (host.includes(':')) return IPV6.test(host) && host.split(':').length >= 3;
  if (/^[\d.]+$/.test(host)) return IPV4.test(host);
  return HOSTNAME.test(host);
}

export function parsePort(text: string): number | undefined {
  if (!/^\d{1,5}$/.test(text)) return undefined;
  const n = Number(text);
  return n >= 1 && n <= 65535 ? n : undefined;
}

/** Parses `host`, `host:port`, `[v6]`, `[v6]:port`. Returns an error string when invalid. */
export function parseSshAddress(entry: string, defaultPort: number): SshAddress | string {
  const text = entry.trim();
  if (text === '') return 'empty host';
  let host: string;
  let portText: string | undefined;
  const bracketed = /^\[([^\]]+)\](?::(.*))?$/.exec(text);
  if (bracketed) {
    host = bracketed[1];
    portText = bracketed[2];
  } else {
    const parts = text.split(':');
    if (parts.length > 2) return `'${text}' looks like an IPv6 address: write it as [${text}] or [${text}]:port`;
    host = parts[0];
    portText = parts[1];
  }
  if (!isValidHost(host)) return `'${host}' is not a valid host name or IP address`;
  let port = defaultPort;
  if (portText !== undefined) {
    const p = parsePort(portText);
    if (p === undefined) return `'${portText}' in '${text}' is not a port (1-65535)`;
    port = p;
  }
  return { host, port };
}

export function parseAppHost(entry: string, defaultPort: number): AppHost | string {
  const text = entry.trim();
  const eq = text.indexOf('=');
  const sshPart = eq >= 0 ? text.slice(0, eq) : text;
  const ssh = parseSshAddress(sshPart, defaultPort);
  if (typeof ssh === 'string') return ssh;
  let target = ssh.host;
  if (eq >= 0) {
    let t = text.slice(eq + 1).trim();
    const b = /^\[([^\]]+)\]$/.exec(t);
    if (b) t = b[1];
    if (t === '') return `'${text}': nothing after '=' (expected the address nginx proxies to)`;
    if (!isValidHost(t)) return `'${t}' after '=' in '${text}' is not a valid host name or IP address (no port: ports come from 'ports')`;
    target = t;
  }
  return { ssh, target, label: text };
}

/** Formats host:port the way nginx and OpenSSH write it (IPv6 in brackets). */
export function hostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Splits a comma- or newline-separated list, dropping blanks and `#` comments. */
export function splitList(text: string): string[] {
  return text
    .split(/[\n,]/)
    .map((s) => s.replace(/#.*$/, '').trim())
    .filter((s) => s !== '');
}
