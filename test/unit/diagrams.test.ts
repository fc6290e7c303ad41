// The job summary's Mermaid diagrams, rendered by the mermaid package in a headless Chromium
// (Debian's chromium, installed by scripts/setup.sh): a diagram GitHub could not draw fails here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { failureMarkdown, summaryMarkdown } from '../../src/summary.ts';
import { canaryCharts, timeline } from '../../src/diagrams.ts';
import { RUN, type Span } from '../../src/run/context.ts';
import type { CanaryStep } from '../../src/traffic/canary.ts';
import type { DeployResult } from '../../src/strategies/types.ts';
import { mermaidBlocks, renderMermaid } from '../../scripts/mermaid-render.ts';

const t = Date.UTC(2026, 11, 5, 8, 0, 0);
const spans: Span[] = [
  { host: RUN, phase: 'Upload, start and health-check c0ffee1-912a9c57 on port 8081', start: t + 250, end: t + 3400 },
  { host: RUN, phase: 'Canary 10 %', start: t + 3400, end: t + 3650 },
  { host: '10.0.0.2:22', phase: 'connect', start: t, end: t + 120 },
  { host: '10.0.0.5:22', phase: 'connect', start: t, end: t + 130 },
  { host: '[fd00::5]:2222', phase: 'connect', start: t, end: t + 140 },
  { host: '10.0.0.5:22', phase: 'upload', start: t + 300, end: t + 700 },
  { host: '10.0.0.5:22', phase: 'start', start: t + 320, end: t + 900 },
  { host: '10.0.0.5:22', phase: 'health', start: t + 900, end: t + 3400 },
  { host: '10.0.0.2:22', phase: 'canary 10 %', start: t + 3450, end: t + 3600 },
  { host: '10.0.0.2:22', phase: 'switch', start: t + 3700, end: t + 3800 },
  { host: '10.0.0.2:22', phase: 'drain', start: t + 3800, end: t + 3900 },
  { host: '10.0.0.5:22', phase: 'drain', start: t + 3900, end: t + 4000 },
  { host: '10.0.0.5:22', phase: 'stop', start: t + 3900, end: t + 4300, failed: true },
  { host: '10.0.0.5:22', phase: 'stop (rollback)', start: t + 4400, end: t + 4400 },
];
const fig = (requests: number, errorRate: number, p50: number, p99: number) => ({ requests, errors: Math.round((requests * errorRate) / 100), errorRate, p50, p99 });
const steps: CanaryStep[] = [
  { weight: 10, old: fig(900, 0, 3, 12), new: fig(100, 0, 4, 15), verdict: 'pass' },
  { weight: 50, old: fig(500, 0, 3.2, 11), new: fig(500, 0.4, 4.1, 18), verdict: 'pass' },
  { weight: 100, label: 'bake', old: fig(0, 0, 0, 0), new: fig(1000, 12.5, 5, 1210.7), verdict: 'fail' },
];
const result: DeployResult = {
  strategy: 'canary',
  release: 'abc1234-5678',
  activePorts: [8081],
  previousPorts: [8080],
  durationMs: 4300,
  timings: [{ step: 'Connect', ms: 130 }],
  instances: [{ host: '10.0.0.5:22', target: '10.0.0.5', port: 8081, newPid: 4242 }],
  nginxHosts: ['10.0.0.2:22'],
  headline: 'Canary 10 → 50 → 100 %.',
  canary: steps,
};

test('timeline: a gantt section per host, each phase a task at its time; a start behind its jar, a stop behind its drain', () => {
  const g = timeline(spans).join('\n');
  assert.match(g, /^```mermaid\ngantt\n/);
  assert.match(g, /dateFormat x\n {2}axisFormat %S\.%L/, 'under a minute: seconds from the start');
  assert.match(g, /section 10\.0\.0\.5\n/, 'port 22 left out: a colon ends a name in the gantt grammar');
  assert.match(g, /axisFormat %S\.%L\n {2}section steps\n {4}Upload start and health-check c0ffee1-912a9c57… :250, 3400\n {4}Canary 10 % :3400, 3650\n {2}section 10\.0\.0\.2\n/, "the run's steps first, names cut at 48 characters");
  assert.match(g, /section \[fd00 {2}5\] port 2222\n/);
  assert.match(g, /\n {4}start :700, 900\n/, 'the start runs once the jar is there');
  assert.match(g, /\n {4}stop :crit, 4000, 4300\n/, 'a failed phase is red; the stop runs after the drain');
  assert.match(g, /\n {4}stop \(rollback\) :4400, 4401\n/, 'never zero long');
  assert.deepEqual(timeline([]), []);
  const huge = Array.from({ length: 2000 }, (_, i) => ({ host: `10.0.${i % 200}.1:22`, phase: 'health', start: t + i, end: t + i + 10 }));
  assert.match(timeline(huge).join('\n'), /^\(The timeline of this run's 2000 phases is too large for a Mermaid diagram/, "over Mermaid's maxTextSize: a note, not an error box");
  const long = timeline([{ host: 'h:22', phase: 'health', start: t, end: t + 300_000 }]).join('\n');
  assert.match(long, /axisFormat %H:%M:%S/);
  assert.match(long, new RegExp(`health :${t}, ${t + 300_000}`));
});

test('canary charts: old against new per step for the 5xx share, p50 and p99', () => {
  const c = canaryCharts(steps).join('\n');
  assert.equal(mermaidBlocks(c).length, 3);
  assert.match(c, /x-axis \["10 %", "50 %", "bake"\]/);
  assert.match(c, /title "p99 latency: new \(bars\), old \(line\)"\n {2}x-axis .*\n {2}y-axis "ms" 0 --> 1392\.3\n {2}bar \[15, 18, 1210\.7\]\n {2}line \[12, 11, 0\]/);
  assert.deepEqual(canaryCharts([]), []);
});

test('a failed run: outcome, failed step, the hosts involved, and the tables and pictures a success has', () => {
  const md = failureMarkdown('[stop old] 10.0.0.5:22: could not stop', {
    rolledBack: false,
    canary: steps,
    failure: { outcome: 'manual-action-needed', step: 'Drain and stop the old version', host: '10.0.0.5:22', hosts: ['10.0.0.5:22', '10.0.0.2:22'] },
    timings: [{ step: 'Connect', ms: 130 }],
    instances: result.instances,
    nginxHosts: ['10.0.0.2:22'],
  }, spans);
  assert.match(md, /Outcome `manual-action-needed`: MANUAL ACTION NEEDED.* Failed step: Drain and stop the old version\. Hosts involved: 10\.0\.0\.5:22, 10\.0\.0\.2:22\./);
  assert.match(md, /\| app host \| nginx address \|/);
  assert.match(md, /\| step \| time \|\n\|---\|---\|\n\| Connect \| 0\.13 s \|/);
  assert.equal(mermaidBlocks(md).length, 4, 'three charts and the timeline');
});

test('every diagram of the summary renders in Chromium with mermaid', { timeout: 120_000 }, async () => {
  const blocks = [...mermaidBlocks(summaryMarkdown(result, spans)), ...mermaidBlocks(timeline([{ host: 'h:22', phase: 'health', start: t, end: t + 300_000 }]).join('\n'))];
  assert.equal(blocks.length, 5);
  const r = await renderMermaid([...blocks, 'xychart-beta\n  x-axis [a, b\n  bar [1, 2]']);
  for (const [i, x] of r.slice(0, -1).entries()) assert.ok(x.ok && /<svg/.test(x.svg ?? ''), `diagram ${i + 1} did not render: ${x.error}\n${blocks[i]}`);
  assert.equal(r.at(-1)!.ok, false, 'a syntax error is seen as one');
});
