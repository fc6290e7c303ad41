// Readers of one input each: a boolean, a number of seconds, a size, words, a path, ports, env
// lines. Each bad value raises an InputError naming the input. Pure.
import { InputError } from '../errors.ts';
import { parsePort } from './hosts.ts';
import type { BatchSize } from './settings.ts';
import { splitWords, WordSplitError } from '../util/quote.ts';

export type InputReader = (name: string) => string;

const BOOL_TRUE = ['true', 'True', 'TRUE'];
const BOOL_FALSE = ['false', 'False', 'FALSE'];

export function bool(get: InputReader, name: string, dflt: boolean): boolean {
  const v = get(name).trim();
  if (v === '') return dflt;
  if (BOOL_TRUE.includes(v)) return true;
  if (BOOL_FALSE.includes(v)) return false;
  throw new InputError(name, `'${v}' is not a boolean: use true or false`);
}

export function required(get: InputReader, name: string): string {
  const v = get(name);
  if (v.trim() === '') throw new InputError(name, 'is required and was not given');
  return v;
}

const SIZE_UNITS: Record<string, number> = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 };

/** A size like 100M, 512K, 2G or a number of bytes; 0 is allowed (off), else at least 1K. */
export function byteSize(get: InputReader, name: string, dflt: string): number {
  const v = get(name).trim() || dflt;
  const m = /^(\d+)([KMG]?)B?$/i.exec(v);
  if (!m) throw new InputError(name, `'${v}' is not a size: a number of bytes or one with K, M or G (e.g. ${dflt}), or 0 for no cap`);
  const n = Number(m[1]) * SIZE_UNITS[m[2].toUpperCase()];
  if (n !== 0 && (n < 1024 || n > 1024 ** 4)) throw new InputError(name, `${v} is out of range: use 0 (no cap) or 1K to 1024G`);
  return n;
}

export function seconds(get: InputReader, name: string, dflt: number, min: number, max: number): number {
  const v = get(name).trim();
  if (v === '') return dflt * 1000;
  if (!/^\d+(\.\d+)?$/.test(v)) throw new InputError(name, `'${v}' is not a number of seconds (e.g. ${dflt})`);
  const n = Number(v);
  if (n < min || n > max) throw new InputError(name, `${v} is out of range: use ${min} to ${max} seconds`);
  return Math.round(n * 1000);
}

export function integer(get: InputReader, name: string, dflt: number, min: number, max: number): number {
  const v = get(name).trim();
  if (v === '') return dflt;
  if (!/^\d+$/.test(v)) throw new InputError(name, `'${v}' is not a whole number (e.g. ${dflt})`);
  const n = Number(v);
  if (n < min || n > max) throw new InputError(name, `${v} is out of range: use ${min} to ${max}`);
  return n;
}

export function words(get: InputReader, name: string, dflt: string): string[] {
  const v = get(name).trim() || dflt;
  try {
    return splitWords(v);
  } catch (e) {
    if (e instanceof WordSplitError) throw new InputError(name, `${e.message} in '${v}' (quote words with ' or ")`);
    throw e;
  }
}

export function absolutePath(get: InputReader, name: string, dflt: string): string {
  let v = get(name).trim() || dflt;
  if (!v.startsWith('/')) throw new InputError(name, `'${v}' must be an absolute path (starting with /)`);
  if (/[\0\n\r]/.test(v)) throw new InputError(name, 'must not contain newlines or NUL characters');
  if (v.split('/').some((seg) => seg === '..' || seg === '.')) {
    throw new InputError(name, `'${v}' must not contain '.' or '..' segments`);
  }
  v = v.replace(/\/+/g, '/');
  if (v.length > 1) v = v.replace(/\/$/, '');
  if (v === '/') throw new InputError(name, "must not be '/'");
  return v;
}

export function parsePorts(text: string): [number, number] {
  const parts = text.split(/[\s,]+/).filter((s) => s !== '');
  if (parts.length !== 2) throw new InputError('ports', `'${text}' must be exactly two ports, e.g. 8080,8081`);
  const ps = parts.map((p) => {
    const n = parsePort(p);
    if (n === undefined) throw new InputError('ports', `'${p}' is not a port (1-65535)`);
    return n;
  });
  if (ps[0] === ps[1]) throw new InputError('ports', `the two ports must differ (got ${ps[0]} twice)`);
  return [ps[0], ps[1]];
}

// RFC 3986 path and query characters (percent-encode anything else).
export const URL_PATH = /^\/[A-Za-z0-9\-._~!$&'()*+,;=:@/?%]*$/;

export function parseBatchSize(text: string): BatchSize {
  const pct = /^(\d{1,3})%$/.exec(text);
  if (pct) {
    const n = Number(pct[1]);
    if (n < 1 || n > 100) throw new InputError('batch-size', `${text} is out of range: use 1% to 100%`);
    return { percent: n };
  }
  if (!/^\d+$/.test(text) || Number(text) < 1 || Number(text) > 1000) {
    throw new InputError('batch-size', `'${text}' must be a number of instances (1 or more) or a percentage such as 25%`);
  }
  return { count: Number(text) };
}

export function parseEnv(text: string): [string, string][] {
  const out: [string, string][] = [];
  const seen = new Set<string>();
  text.split('\n').forEach((raw, i) => {
    const line = raw.replace(/\r$/, '');
    if (line.trim() === '' || line.trim().startsWith('#')) return;
    const eq = line.indexOf('=');
    const key = eq < 0 ? line.trim() : line.slice(0, eq).trim();
    if (eq < 0 || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) {
      throw new InputError('env', `line ${i + 1} must be KEY=VALUE with KEY made of letters, digits and _ (not starting with a digit)`);
    }
    if (seen.has(key)) throw new InputError('env', `line ${i + 1}: ${key} is set twice`);
    if (line.includes('\0')) throw new InputError('env', `line ${i + 1}: NUL characters are not allowed`);
    seen.add(key);
    out.push([key, line.slice(eq + 1)]);
  });
  return out;
}

export function looksLikePrivateKey(text: string): boolean {
  return /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/.test(text);
}
