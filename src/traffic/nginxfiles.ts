// What the files nginx loads say, read as text: the variables proxy_pass uses, which file looks
// like the include, the resolvers, and the include directives (with their globs); and what one read of an nginx host holds (LoadedFile, NginxRead). Pure.
import { isIP } from 'node:net';
import { type IncludeForm, maskComments, namesApps, scanInclude } from './include.ts';
import type { SudoRefusal } from '../commands/nginx.ts';

export interface LoadedFile {
  /** the path as nginx names it in its dump */
  name: string;
  /** the same with symlinks resolved: what a write replaces */
  real: string;
  /** the reading user may replace it (its directory and the file are writable) */
  writable: boolean;
  text: string;
}

export interface NginxRead {
  uid: number;
  user: string;
  /** serving nginx workers the reading user sees; 'no-ps': ps is missing */
  workers: number | 'no-ps';
  /** the explicit include-file as the host sees it */
  want?: { state: 'present' | 'absent' | 'nodir'; writable: boolean; owner: string; real: string };
  /** the dump command's exit status (-1: it could not run) */
  status: number;
  /** the end of its stderr when it failed */
  error: string;
  files: LoadedFile[];
  /** app host names as the host resolves them ('-': it does not) */
  resolved: Map<string, string>;
  /** with sudo: what sudo refused (the dump, or the include's first command of a switch) */
  refused?: SudoRefusal[];
}

/** The variables proxy_pass uses anywhere in the configuration (`proxy_pass $service_url;`). */
export function proxyVariables(files: { text: string }[]): Set<string> {
  const vars = new Set<string>();
  for (const f of files) {
    const masked = maskComments(f.text);
    const re = /(^|[\s;{}])proxy_pass\s+([^;]*);/g;
    for (let m = re.exec(masked); m; m = re.exec(masked)) {
      for (const v of m[2].matchAll(/\$\{?([A-Za-z_][A-Za-z0-9_]*)/g)) vars.add(v[1]);
    }
  }
  return vars;
}

/** What makes a loaded file look like the include, in words; undefined: it does not. */
export function looksLikeInclude(text: string, vars: Set<string>, targets: readonly string[]): string | undefined {
  let scan;
  try {
    scan = scanInclude(text);
  } catch {
    return undefined;
  }
  const sets = scan.sets.filter((s) => vars.has(s.variable));
  const ups = scan.ups.filter((u) => namesApps(u, targets));
  const what = [...sets.map((s) => `set $${s.variable} http://${s.host}:${s.port}, used by proxy_pass`), ...ups.map((u) => `upstream ${u.name} naming an app host`)];
  return what.length > 0 ? what.join('; ') : undefined;
}

/** The loaded files that look like the include, with why. */
export function candidates(files: LoadedFile[], targets: readonly string[]): { file: LoadedFile; why: string }[] {
  const vars = proxyVariables(files);
  return files.flatMap((file) => {
    const why = looksLikeInclude(file.text, vars, targets);
    return why ? [{ file, why }] : [];
  });
}

/** The resolver directives of the configuration, as written (nginx needs one for a name in a variable). */
export function resolvers(files: { text: string }[]): string[] {
  const out: string[] = [];
  for (const f of files) {
    const re = /(^|[\s;{}])resolver\s+([^;]*);/g;
    const masked = maskComments(f.text);
    for (let m = re.exec(masked); m; m = re.exec(masked)) out.push(`resolver ${m[2].trim().replace(/\s+/g, ' ')};`);
  }
  return out;
}

/**
 * The `set $VAR http://HOST:PORT;` form hands nginx a variable, which nginx resolves at request
 * time only through a resolver directive (never /etc/hosts): a host name there without one makes
 * every request a 502, while nginx -t, curl and sshd on the host resolve it fine. Returns the
 * refusal (with both ways out), or undefined when the include names addresses, is the upstream
 * form (resolved when nginx loads its configuration), or the configuration has a resolver.
 */
export function unresolvableName(r: NginxRead, c: { path: string; form: IncludeForm | null }, targets: readonly string[]): string | undefined {
  const setForm = c.form ? c.form.kind === 'set' : targets.length === 1;
  if (!setForm) return undefined;
  const name = targets.find((t) => isName(t));
  if (name === undefined || resolvers(r.files).length > 0) return undefined;
  const addr = r.resolved.get(name);
  const known = addr && addr !== '-';
  const variable = c.form?.kind === 'set' ? c.form.variable : 'service_url';
  return (
    `app-hosts names '${name}', which ${c.path} would hand nginx in 'set $${variable} http://${name}:PORT;': nginx resolves a name in a variable only through a resolver directive, and its configuration has none, so every request would get a 502 (nginx -t and curl on the host resolve it through /etc/hosts, nginx at request time does not). ` +
    `Either give nginx the address: app-hosts: ${name}=${known ? addr : 'ADDRESS'}${known ? ` (what ${name} resolves to on this nginx host)` : ` (${name} does not resolve on this nginx host)`}; ` +
    "or add a resolver nginx can ask (e.g. 'resolver 127.0.0.53;' in the http {} block, for systemd-resolved) and keep the name. (The upstream form, proxy_pass http://app; with 'upstream app { server NAME:PORT; }', resolves names when nginx loads its configuration and needs neither.) Nothing was changed"
  );
}

const isName = (host: string) => isIP(host) === 0;

export interface IncludeDirective {
  /** as written */
  pattern: string;
  /** made absolute the way nginx does: relative to the directory of the main configuration file */
  absolute: string;
  /** the file it is written in */
  in: string;
}

export function includeDirectives(files: { name: string; text: string }[]): IncludeDirective[] {
  const prefix = files.length > 0 ? files[0].name.replace(/[^/]*$/, '') : '/';
  const out: IncludeDirective[] = [];
  for (const f of files) {
    const masked = maskComments(f.text);
    const re = /(^|[\s;{}])include\s+(["']?)([^;\s"']+)\2\s*;/g;
    for (let m = re.exec(masked); m; m = re.exec(masked)) {
      const pattern = m[3];
      out.push({ pattern, absolute: pattern.startsWith('/') ? pattern : prefix + pattern, in: f.name });
    }
  }
  return out;
}

/** glob(3) as nginx's include uses it: `*`, `?` and `[...]` within one path segment. */
export function globMatches(pattern: string, path: string): boolean {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const end = pattern.indexOf(']', i + 2);
      if (end < 0) re += '\\[';
      else {
        let cls = pattern.slice(i + 1, end);
        if (cls.startsWith('!')) cls = `^${cls.slice(1)}`;
        re += `[${cls.replace(/\\/g, '\\\\')}]`;
        i = end;
      }
    } else re += c.replace(/[.+^${}()|\\\]]/g, '\\$&');
  }
  return new RegExp(`^${re}$`).test(path);
}
