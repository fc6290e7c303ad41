// The analysis inputs that judge a canary step and a bake (access-log, max-error-rate, ...), with
// their older canary-* names still read. Pure.
import { InputError } from '../errors.ts';
import { integer, seconds, type InputReader } from './readers.ts';
import type { CanaryConfig } from './settings.ts';

/** The analysis inputs' defaults, as action.yml declares them for the new and the older names alike (a unit test checks). */
export const ANALYSIS_DEFAULTS = { 'access-log': '', 'max-error-rate': '1', 'max-p99-ratio': '2', 'min-requests': '50' } as const;

export function parseCanary(get: InputReader, on: boolean, warnings: string[]): CanaryConfig {
  const stepsText = get('canary-steps').trim() || '10,50,100';
  const steps = stepsText.split(/[\s,]+/).filter(Boolean).map((x) => {
    if (!/^\d{1,3}$/.test(x) || Number(x) < 1 || Number(x) > 100) throw new InputError('canary-steps', `'${x}' in '${stepsText}' is not a percentage from 1 to 100`);
    return Number(x);
  });
  if (steps.some((x, i) => i > 0 && x <= steps[i - 1])) throw new InputError('canary-steps', `'${stepsText}' must go up, e.g. 10,50,100`);
  if (steps[steps.length - 1] !== 100) throw new InputError('canary-steps', `'${stepsText}' must end at 100 (all traffic on the new release)`);
  const intervalMs = seconds(get, 'canary-interval', 60, 1, 3600);
  // The analysis inputs judge a canary step and a bake alike. The canary-* names are their older,
  // deprecated names, still read. Both carry the same default in action.yml (the runner fills in
  // every input a step does not give, so a value is all the reader sees): an older name that
  // differs from the default was given, and is used unless the new name was given another value
  // than the default too (then the new name wins).
  const named = (name: keyof typeof ANALYSIS_DEFAULTS, alias: string) => {
    const v = get(name).trim();
    const old = get(alias).trim();
    const d = ANALYSIS_DEFAULTS[name];
    if (old === d) return { name, v };
    if (v !== d) {
      warnings.push(`input '${alias}' is deprecated and ignored here: '${name}' is given too (${name}: ${v}); remove ${alias}`);
      return { name, v };
    }
    warnings.push(`input '${alias}' is deprecated: rename it to '${name}' (same meaning${alias === 'canary-max-p99-ratio' && old === '' ? "; '' is off there" : ''})`);
    return { name: alias, v: old === '' && alias === 'canary-max-p99-ratio' ? 'off' : old };
  };
  const logIn = named('access-log', 'canary-log');
  const log = logIn.v;
  if (on && log === '') throw new InputError('access-log', 'is required with strategy: canary: the path of the access log in the canary format on the nginx hosts (docs/server-setup.md, "The canary log_format"; canary-log is its older name)');
  if (log !== '' && (!log.startsWith('/') || /[\0\n\r]/.test(log))) throw new InputError(logIn.name, `'${log}' must be an absolute path`);
  const erIn = named('max-error-rate', 'canary-max-error-rate');
  const er = erIn.v || ANALYSIS_DEFAULTS['max-error-rate'];
  if (!/^\d+(\.\d+)?$/.test(er) || Number(er) > 100) throw new InputError(erIn.name, `'${er}' must be a percentage from 0 to 100, e.g. 1`);
  const prIn = named('max-p99-ratio', 'canary-max-p99-ratio');
  if (prIn.v === '') throw new InputError(prIn.name, "is empty: give a ratio of 1 or more (the default is 2), or off to skip the latency gate");
  const pr = prIn.v === 'off' ? '' : prIn.v;
  if (pr !== '' && (!/^\d+(\.\d+)?$/.test(pr) || Number(pr) < 1)) throw new InputError(prIn.name, `'${pr}' must be a ratio of 1 or more (e.g. 2), or off to skip the latency gate`);
  const p99FloorMs = integer(get, 'p99-floor-ms', 50, 0, 600_000);
  const shiftText = get('max-median-shift-ms').trim();
  if (shiftText !== '' && shiftText !== 'off' && (!/^\d+$/.test(shiftText) || Number(shiftText) > 600_000)) {
    throw new InputError('max-median-shift-ms', `'${shiftText}' must be a whole number of milliseconds from 0 to 600000 (e.g. 30), or off to skip the median and rank test`);
  }
  const maxMedianShiftMs = shiftText === 'off' ? undefined : shiftText === '' ? 30 : Number(shiftText);
  const mrIn = named('min-requests', 'canary-min-requests');
  const minRequests = integer(() => mrIn.v, mrIn.name, Number(ANALYSIS_DEFAULTS['min-requests']), 1, 1_000_000);
  return { steps, intervalMs, log, maxErrorRate: Number(er), maxP99Ratio: pr === '' ? undefined : Number(pr), p99FloorMs, maxMedianShiftMs, minRequests };
}
