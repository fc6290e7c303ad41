// The job summary's pictures, as Mermaid blocks (GitHub renders them in job summaries): a gantt
// chart of each host's phases, and for a canary or a bake, old against new per step. Pure.
// test/unit/diagrams.test.ts renders them with the mermaid package in a headless Chromium, so a
// syntax error fails a test.
import { RUN, type Span } from './run/context.ts';
import type { CanaryStep } from './traffic/canary.ts';

/** Mermaid's gantt grammar ends a name at `:` `;` `#`; a host's port is said in words instead. */
function sectionName(host: string): string {
  return host.replace(/:22$/, '').replace(/:(\d+)$/, ' port $1').replace(/[:;#]/g, ' ').trim() || '?';
}

const taskName = (s: string) => {
  const t = s.replace(/[:;#,]/g, ' ').replace(/\s+/g, ' ').trim() || '?';
  return t.length > 48 ? `${t.slice(0, 47).trimEnd()}…` : t;
};

/**
 * Each host's spans, in the order they began. A start sent behind its jar is shown from the jar's
 * arrival, a stop sent behind the drain from the drain's end: that is when each ran on the host.
 */
function byHost(spans: readonly Span[]): Map<string, Span[]> {
  const m = new Map<string, Span[]>();
  // The run's own steps first (a section of their own), then each host in the order it began.
  m.set(RUN, []);
  for (const s of [...spans].sort((a, b) => a.start - b.start || a.end - b.end)) {
    const list = m.get(s.host) ?? [];
    list.push({ ...s });
    m.set(s.host, list);
  }
  for (const list of m.values()) {
    for (const [phase, after] of [
      ['start', 'upload'],
      ['stop', 'drain'],
    ]) {
      for (const s of list.filter((x) => x.phase === phase)) {
        const before = list.filter((x) => x.phase === after && x.end > s.start && x.end <= s.end);
        if (before.length > 0) s.start = Math.max(...before.map((x) => x.end));
      }
    }
  }
  if (m.get(RUN)!.length === 0) m.delete(RUN);
  return m;
}

/**
 * A gantt chart of the run's steps, then of the phases per host (connect, upload, start, health,
 * switch, drain, stop...),
 * at the runner's clock time (shown in the reader's time zone); a failed phase is red. [] when
 * nothing was timed.
 */
export function timeline(spans: readonly Span[]): string[] {
  if (spans.length === 0) return [];
  const t0 = Math.min(...spans.map((s) => s.start));
  const t1 = Math.max(...spans.map((s) => s.end));
  // Under a minute: seconds from the first phase (time zones shift whole minutes, never seconds,
  // so the reader's zone cannot change them). Longer: the clock, in the reader's zone.
  const short = t1 - t0 < 60_000;
  const at = (t: number) => (short ? t - t0 : t);
  const lines = [
    '```mermaid',
    'gantt',
    `  title Steps and each host's phases: ${((t1 - t0) / 1000).toFixed(1)} s from ${new Date(t0).toISOString().slice(11, 19)} UTC${short ? ' (axis: seconds)' : ''}`,
    '  dateFormat x',
    `  axisFormat ${short ? '%S.%L' : '%H:%M:%S'}`,
  ];
  for (const [host, list] of byHost(spans)) {
    lines.push(`  section ${host === RUN ? 'steps' : sectionName(host)}`);
    for (const s of list) lines.push(`    ${taskName(s.phase)} :${s.failed ? 'crit, ' : ''}${at(s.start)}, ${at(Math.max(s.end, s.start + 1))}`);
  }
  lines.push('```', '');
  // Mermaid refuses a diagram over 50,000 characters (maxTextSize): a note instead of an error box.
  if (lines.join('\n').length > MAX_DIAGRAM) return [`(The timeline of this run's ${spans.length} phases is too large for a Mermaid diagram and was left out; the steps table has the times.)`, ''];
  return lines;
}

// Mermaid's xychart has no legend: the new release is a blue bar, the old one an orange line.
const NEW_COLOR = '#1f6feb';
const OLD_COLOR = '#bc4c00';

/** Under Mermaid's default maxTextSize (50,000 characters), with room to spare. */
export const MAX_DIAGRAM = 45_000;

const num = (v: number, digits: number) => Number(v.toFixed(digits));

/**
 * Old against new per canary step (and bake): one chart per figure, the new release as bars and
 * the old one as a line (Mermaid's xychart has no legend, so the title says which is which).
 */
export function canaryCharts(steps: readonly CanaryStep[]): string[] {
  if (steps.length === 0) return [];
  const x = steps.map((c) => JSON.stringify(c.label ?? `${c.weight} %`)).join(', ');
  const chart = (title: string, unit: string, get: (f: CanaryStep['old']) => number | undefined, digits: number): string[] => {
    const oldV = steps.map((c) => num(get(c.old) ?? 0, digits));
    const newV = steps.map((c) => num(get(c.new) ?? 0, digits));
    const top = Math.max(...oldV, ...newV);
    return [
      '```mermaid',
      '---',
      'config:',
      '  xyChart:',
      '    width: 420',
      '    height: 260',
      '  themeVariables:',
      '    xyChart:',
      `      plotColorPalette: "${NEW_COLOR}, ${OLD_COLOR}"`,
      '---',
      'xychart-beta',
      `  title "${title}: new (bars), old (line)"`,
      `  x-axis [${x}]`,
      `  y-axis "${unit}" 0 --> ${top > 0 ? num(top * 1.15, digits) || 1 : 1}`,
      `  bar [${newV.join(', ')}]`,
      `  line [${oldV.join(', ')}]`,
      '```',
      '',
    ];
  };
  const out = [...chart('5xx share', '%', (f) => f.errorRate, 2)];
  out.push(...chart('p50 latency', 'ms', (f) => f.p50, 1));
  out.push(...chart('p99 latency', 'ms', (f) => f.p99, 1));
  return out;
}
