// The job summary: what the deploy did, as markdown. Pure.
import type { DeployResult } from './deploy.ts';

const esc = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

export function summaryMarkdown(r: DeployResult, nginxHost: string): string {
  const lines: string[] = [];
  lines.push(`### Deployed ${esc(r.release)} to port ${r.activePort}`);
  lines.push('');
  lines.push(
    r.previousPort === null
      ? `First deploy: nginx on ${esc(nginxHost)} now points at port ${r.activePort}.`
      : `nginx on ${esc(nginxHost)} switched from port ${r.previousPort} to ${r.activePort}; the old version was drained and stopped.`,
  );
  lines.push('');
  lines.push(`Total ${(r.durationMs / 1000).toFixed(1)} s; from healthy to switched ${r.healthyToSwitchedMs} ms. Jar sha256 \`${r.artifact.sha256.slice(0, 16)}…\`.`);
  lines.push('');
  lines.push('| app host | nginx address | upload | new pid | old pid | old process |');
  lines.push('|---|---|---|---|---|---|');
  for (const h of r.hosts) {
    lines.push(
      `| ${esc(h.host)} | ${esc(h.target)}:${r.activePort} | ${esc(h.upload)} | ${h.newPid ?? ''} | ${h.oldPid ?? ''} | ${esc(h.stopped ?? '')} |`,
    );
  }
  lines.push('');
  lines.push('| step | time |');
  lines.push('|---|---|');
  for (const t of r.timings) lines.push(`| ${esc(t.step)} | ${(t.ms / 1000).toFixed(2)} s |`);
  lines.push('');
  return lines.join('\n');
}
