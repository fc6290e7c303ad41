// A port set by the user where it outranks the one the action gives each colour. Pure.
//
// The action starts every release with -Dserver.port=<one of ports> first on the command line.
// Spring Boot's precedence (highest first, of what a deploy can set): command-line arguments
// (--server.port=, in app-args), SPRING_APPLICATION_JSON (env, or -Dspring.application.json in
// java-opts), Java system properties (-D: the JVM keeps the last of a name, so one in java-opts
// wins over the action's), OS environment variables (SERVER_PORT: below -D, harmless).
import { InputError } from '../errors.ts';

/** Spring Boot's relaxed binding, enough for a property name: case and dashes do not count. */
const canonical = (name: string) => name.toLowerCase().replace(/-/g, '');
const isServerPort = (name: string) => canonical(name) === 'server.port';
const isAppJson = (name: string) => canonical(name) === 'spring.application.json';

/** The server.port a JSON text sets (flat "server.port" key or nested {"server":{"port"}}), if any. */
export function jsonServerPort(text: string): string | undefined {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  const walk = (o: unknown, prefix: string): string | undefined => {
    if (o === null || typeof o !== 'object' || Array.isArray(o)) return undefined;
    for (const [k, val] of Object.entries(o)) {
      const name = prefix ? `${prefix}.${k}` : k;
      if (isServerPort(name) && (typeof val === 'number' || typeof val === 'string')) return String(val);
      const inner = walk(val, name);
      if (inner !== undefined) return inner;
    }
    return undefined;
  };
  return walk(v, '');
}

const ALLOWED = '{port}';
const pinned = (v: string) => v.trim() !== ALLOWED;

/**
 * Throws an InputError naming the input and the setting when java-opts, app-args or env set the
 * port the app listens on to anything but {port}: both colours would aim at one port.
 */
export function refusePortOverrides(javaOpts: string[], appArgs: string[], env: [string, string][]): void {
  const both = (v: string) => `so both colours would aim at ${/^\d+$/.test(v.trim()) ? `port ${v.trim()}` : `'${v}'`} and the second would fail to bind`;
  for (const w of javaOpts) {
    const m = /^-D([^=]+)=(.*)$/s.exec(w);
    if (!m) continue;
    if (isServerPort(m[1]) && pinned(m[2])) {
      throw new InputError(
        'java-opts',
        `'${w}' sets the port the app listens on, which the action gives each colour (-Dserver.port=<one of ports>, ahead of java-opts); the JVM keeps the last -D of a name, ${both(m[2])}. Remove it, or write -D${m[1]}={port}`,
      );
    }
    const jp = isAppJson(m[1]) ? jsonServerPort(m[2]) : undefined;
    if (jp !== undefined && pinned(jp)) {
      throw new InputError('java-opts', `-D${m[1]} sets server.port (${jp}), which Spring Boot ranks above the -Dserver.port the action gives each colour, ${both(jp)}. Remove server.port from it`);
    }
  }
  for (const w of appArgs) {
    const m = /^--([^=]+)(?:=(.*))?$/s.exec(w);
    if (!m) continue;
    const v = m[2] ?? '';
    if (isServerPort(m[1]) && pinned(v)) {
      throw new InputError(
        'app-args',
        `'${w}' sets the port the app listens on: Spring Boot ranks command-line arguments above the -Dserver.port the action gives each colour, ${both(v)}. Remove it (the action sets the port), or write --${m[1]}={port}`,
      );
    }
    const jp = isAppJson(m[1]) ? jsonServerPort(v) : undefined;
    if (jp !== undefined && pinned(jp)) {
      throw new InputError('app-args', `--${m[1]} sets server.port (${jp}), which Spring Boot ranks above the -Dserver.port the action gives each colour, ${both(jp)}. Remove server.port from it`);
    }
  }
  for (const [k, v] of env) {
    if (k !== 'SPRING_APPLICATION_JSON') continue;
    // env gets no {port}: any port there is the same for both colours.
    const jp = jsonServerPort(v);
    if (jp !== undefined) {
      throw new InputError(
        'env',
        `SPRING_APPLICATION_JSON sets server.port (${jp}), which Spring Boot ranks above the -Dserver.port the action gives each colour, ${both(jp)}. Remove server.port from it (SERVER_PORT in env is harmless: it ranks below -Dserver.port)`,
      );
    }
  }
}
