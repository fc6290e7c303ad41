// The nginx include file: parse the live port out of it, render it pointing at another port.
// Pure. Everything in the file that is not an address the action manages is kept byte for byte.
//
// Two forms (see design.md):
//   set $service_url http://10.0.0.5:8080;          (one app host, included inside server {})
//   upstream app { server 10.0.0.5:8080; ... }      (several app hosts, included at http {})

import { hostPort } from '../config/hosts.ts';

export interface Span {
  start: number;
  end: number;
}

export interface SetForm {
  kind: 'set';
  variable: string;
  host: string;
  port: number;
  /** where `host:port` sits in the text */
  addr: Span;
}

export interface UpstreamServer {
  host: string;
  port: number;
  addr: Span;
  /** the parameters after the address (`weight=3 max_fails=2`), up to the `;` */
  params: Span;
  /** the entry carries the `down` parameter */
  down: boolean;
  /** the entry carries the `backup` parameter (a sorry page, used only when the others fail) */
  backup: boolean;
}

export interface UpstreamForm {
  kind: 'upstream';
  name: string;
  servers: UpstreamServer[];
  /** index of the block's closing brace */
  close: number;
  /** indentation of the first server line, reused for added ones */
  indent: string;
}

export type IncludeForm = SetForm | UpstreamForm;

export class IncludeError extends Error {}

/** Replaces comments with spaces so offsets stay valid while regexes see only directives. */
export function maskComments(text: string): string {
  let out = '';
  let inComment = false;
  let quote: string | null = null;
  for (const c of text) {
    if (inComment) {
      if (c === '\n') {
        inComment = false;
        out += c;
      } else out += ' '.repeat(c.length);
      continue;
    }
    if (quote) {
      if (c === quote) quote = null;
      out += c;
      continue;
    }
    if (c === '#') {
      inComment = true;
      out += ' ';
    } else {
      if (c === '"' || c === "'") quote = c;
      out += c;
    }
  }
  return out;
}

function splitHostPort(addr: string): { host: string; port: number } | undefined {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(addr);
  if (!m) return undefined;
  return { host: m[1] ?? m[2], port: Number(m[3]) };
}

/** Every `set $VAR http://...;` line and every upstream block of a text, unchecked. */
export interface Scan {
  sets: SetForm[];
  ups: UpstreamForm[];
}

/** Finds the set lines and upstream blocks of a text (comments masked); throws on a malformed one. */
export function scanInclude(text: string): Scan {
  const masked = maskComments(text);
  const sets: SetForm[] = [];
  const setRe = /(^|[\s;{}])set\s+\$([A-Za-z_][A-Za-z0-9_]*)\s+(["']?)https?:\/\/(\[[^\]]+\]:\d+|[^\s:/;"'[\]]+:\d+|[^\s/;"']+)\/?\3\s*;/g;
  for (let m = setRe.exec(masked); m; m = setRe.exec(masked)) {
    const addrText = m[4];
    const hp = splitHostPort(addrText);
    if (!hp) throw new IncludeError(`'set $${m[2]}' names '${addrText}' without a port; expected http://HOST:PORT`);
    const start = m.index + m[0].indexOf(addrText, m[1].length);
    sets.push({ kind: 'set', variable: m[2], host: hp.host, port: hp.port, addr: { start, end: start + addrText.length } });
  }

  const ups: UpstreamForm[] = [];
  const upRe = /(^|[\s;{}])upstream\s+([A-Za-z0-9_.-]+)\s*\{/g;
  for (let m = upRe.exec(masked); m; m = upRe.exec(masked)) {
    const bodyStart = m.index + m[0].length;
    const close = masked.indexOf('}', bodyStart);
    if (close < 0) throw new IncludeError(`upstream ${m[2]}: no closing '}'`);
    const body = masked.slice(bodyStart, close);
    if (body.includes('{')) throw new IncludeError(`upstream ${m[2]}: unexpected '{' inside the block`);
    const servers: UpstreamServer[] = [];
    let indent = '    ';
    const srvRe = /(^|[\s;])server\s+([^\s;]+)([^;]*);/g;
    for (let s = srvRe.exec(body); s; s = srvRe.exec(body)) {
      const addrText = s[2];
      const hp = splitHostPort(addrText);
      if (!hp) {
        throw new IncludeError(
          `upstream ${m[2]}: 'server ${addrText}' has no port (or is a unix socket); expected 'server HOST:PORT;'`,
        );
      }
      const start = bodyStart + s.index + s[0].indexOf(addrText, s[1].length + 'server'.length);
      if (servers.length === 0) {
        const lineStart = masked.lastIndexOf('\n', bodyStart + s.index + s[1].length) + 1;
        const lead = /^[ \t]*/.exec(masked.slice(lineStart))![0];
        if (lineStart > bodyStart) indent = lead;
      }
      const paramsEnd = bodyStart + s.index + s[0].length - 1;
      const down = /(^|\s)down(\s|$)/.test(s[3]);
      const backup = /(^|\s)backup(\s|$)/.test(s[3]);
      servers.push({ host: hp.host, port: hp.port, addr: { start, end: start + addrText.length }, params: { start: start + addrText.length, end: paramsEnd }, down, backup });
    }
    if (servers.length === 0) throw new IncludeError(`upstream ${m[2]} has no 'server HOST:PORT;' line`);
    ups.push({ kind: 'upstream', name: m[2], servers, close, indent });
    upRe.lastIndex = close;
  }
  return { sets, ups };
}

/** Whether an upstream block names one of the app hosts (nginx's addresses of them). */
export const namesApps = (u: UpstreamForm, targets: readonly string[]) => u.servers.some((s) => targets.includes(s.host));

/**
 * Parses the include. Returns null for an empty file (nothing deployed yet). With `targets`
 * (the app hosts as nginx reaches them), a file with several upstream blocks is managed through
 * the one block whose servers are app hosts; the others are kept byte for byte. So is a `backup`
 * server that is not an app host (a sorry page): it is not one of the managed entries.
 */
export function parseInclude(text: string, targets?: readonly string[]): IncludeForm | null {
  if (maskComments(text).trim() === '') return null;
  const scan = scanInclude(text);
  const sets = scan.sets;
  let ups = scan.ups;
  if (ups.length > 1 && targets) {
    const mine = ups.filter((u) => namesApps(u, targets));
    if (mine.length >= 1) ups = mine;
  }
  if (targets) {
    ups = ups.map((u) => ({ ...u, servers: u.servers.filter((s) => !s.backup || targets.includes(s.host)) }));
    const onlyBackup = ups.find((u) => u.servers.length === 0);
    if (onlyBackup) throw new IncludeError(`upstream ${onlyBackup.name} has only backup servers that are not app hosts; the action needs the app hosts' 'server HOST:PORT;' lines`);
  }

  if (sets.length + ups.length === 0) {
    throw new IncludeError("has neither a 'set $var http://HOST:PORT;' line nor an 'upstream NAME { server HOST:PORT; }' block");
  }
  if (sets.length > 0 && ups.length > 0) {
    throw new IncludeError("has both a 'set $var http://...' line and an upstream block; the action manages one form per file");
  }
  if (sets.length > 1) throw new IncludeError(`has ${sets.length} 'set $var http://...' lines; the action manages exactly one`);
  if (ups.length > 1) {
    throw new IncludeError(
      `has ${ups.length} upstream blocks (${ups.map((u) => u.name).join(', ')})${targets ? ' whose servers are app hosts' : ''}; the action manages exactly one`,
    );
  }
  return sets[0] ?? ups[0];
}

export function formAddresses(form: IncludeForm): { host: string; port: number }[] {
  return form.kind === 'set' ? [{ host: form.host, port: form.port }] : form.servers;
}


/**
 * Renders the include with every managed address pointing at `port` on `targets`.
 * Existing entries keep their position and parameters; targets missing from an upstream block
 * are added before its closing brace. `form` null: a new file.
 */
export function renderInclude(text: string, form: IncludeForm | null, targets: string[], port: number): string {
  if (form === null) {
    const head = '# Managed by the jar blue/green deploy action: it rewrites the addresses below.\n';
    if (targets.length === 1) return `${text.trim() === '' ? '' : text}${head}set $service_url http://${hostPort(targets[0], port)};\n`;
    const lines = targets.map((t) => `    server ${hostPort(t, port)};\n`).join('');
    return `${text.trim() === '' ? '' : text}${head}upstream app {\n${lines}}\n`;
  }
  const edits: { span: Span; text: string }[] = [];
  if (form.kind === 'set') {
    if (targets.length !== 1) throw new IncludeError(`the 'set $${form.variable}' form points at one host; ${targets.length} app hosts need the upstream form`);
    edits.push({ span: form.addr, text: hostPort(targets[0], port) });
  } else {
    for (const s of form.servers) edits.push({ span: s.addr, text: hostPort(s.host, port) });
    const present = new Set(form.servers.map((s) => s.host));
    const added = targets.filter((t) => !present.has(t));
    if (added.length > 0) {
      const lineStart = text.lastIndexOf('\n', form.close - 1) + 1;
      const beforeBrace = text.slice(lineStart, form.close);
      const insertAt = /^[ \t]*$/.test(beforeBrace) ? lineStart : form.close;
      const prefix = insertAt === lineStart ? '' : '\n';
      edits.push({
        span: { start: insertAt, end: insertAt },
        text: prefix + added.map((t) => `${form.indent}server ${hostPort(t, port)};\n`).join(''),
      });
    }
  }
  edits.sort((a, b) => b.span.start - a.span.start);
  let out = text;
  for (const e of edits) out = out.slice(0, e.span.start) + e.text + out.slice(e.span.end);
  return out;
}

/**
 * Renders the upstream include with the given entries (`host:port` as formatted by entryKey)
 * marked `down`, everything else byte for byte: the rolling strategy's "take out".
 */
export function renderDown(text: string, form: UpstreamForm, keys: Set<string>): string {
  const edits = form.servers
    .filter((s) => keys.has(hostPort(s.host, s.port)) && !s.down)
    .map((s) => s.params.end)
    .sort((a, b) => b - a);
  let out = text;
  for (const at of edits) out = `${out.slice(0, at)} down${out.slice(at)}`;
  return out;
}
