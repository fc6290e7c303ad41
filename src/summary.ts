// The job summary: what the deploy did, as markdown, with a picture of it (Mermaid diagrams,
// which GitHub renders in job summaries: diagrams.ts). Pure.
import type { DeployResult, Outcome } from './strategies/types.ts';
import type { Span } from './run/context.ts';
import { canaryCharts, timeline } from './diagrams.ts';

const esc = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

export function summaryMarkdown(r: DeployResult, spans: readonly Span[] = []): string {
  const lines: string[] = [];
  lines.push(
    r.stagedPort !== undefined
      ? `### Staged ${esc(r.release)} on port ${r.stagedPort} (${r.strategy})`
      : `### Deployed ${esc(r.release)} to port ${r.activePorts.join(',')} (${r.strategy})`,
  );
  lines.push('');
  lines.push(`${esc(r.headline)} nginx host${r.nginxHosts.length > 1 ? 's' : ''}: ${r.nginxHosts.map(esc).join(', ')}.`);
  lines.push('');
  lines.push(
    `Total ${(r.durationMs / 1000).toFixed(1)} s${r.healthyToSwitchedMs !== undefined ? `; from healthy to switched ${r.healthyToSwitchedMs} ms` : ''}${r.artifact ? `. Jar sha256 \`${r.artifact.sha256.slice(0, 16)}…\`` : ''}.`,
  );
  lines.push('');
  if (r.notes && r.notes.length > 0) lines.push(...r.notes.map(esc), '');
  lines.push(...hostsTable(r.instances));
  if (r.units && r.units.length > 0) {
    const took = [...new Set(r.instances.map((i) => i.tookOver).filter((u) => u !== undefined))];
    lines.push(`systemd: ${r.units.map((u) => `\`${esc(u)}\``).join(', ')} enabled on ${r.instances.length > 1 ? 'every app host' : 'the app host'}: a reboot starts the version nginx points at.${took.length ? ` Took over from ${took.map((u) => `\`${esc(u)}\``).join(', ')}: stopped and disabled, nothing else in it changed.` : ''}`, '');
  }
  if (r.cleanupProblems && r.cleanupProblems.length > 0) {
    lines.push('**Clean-up incomplete** (the new version serves):', '', ...r.cleanupProblems.map((p) => `- ${esc(p)}`), '');
  }
  lines.push(...canaryTable(r.canary), ...canaryCharts(r.canary ?? []));
  lines.push(...timeline(spans));
  lines.push(...stepsTable(r.timings));
  if (r.audit && r.audit.length > 0) {
    lines.push('Recent deploys (the audit log on the nginx hosts, newest last):');
    lines.push('');
    lines.push('| time (UTC) | actor | mode | strategy | release | from → to | result | s |');
    lines.push('|---|---|---|---|---|---|---|---|');
    for (const e of r.audit) {
      lines.push(
        `| ${esc(e.time.replace('T', ' ').slice(0, 19))} | ${esc(e.actor)} | ${esc(e.mode)} | ${esc(e.strategy)} | ${esc(e.release)}${e.bad ? ` (${esc(e.bad)} marked bad)` : ''} | ${esc(e.from)} → ${esc(e.to)} | ${esc(e.result)} | ${e.duration_s} |`,
      );
    }
    lines.push('');
  }
  return lines.join('\n');
}

const OUTCOME_WORDS: Record<string, string> = {
  'rolled-back': 'traffic had moved to the new version and was switched back: the previous version serves',
  'failed-before-switch': 'nginx never sent a request to the new version; what this run started was stopped again',
  'manual-action-needed': 'MANUAL ACTION NEEDED: look at the hosts below',
};

/** A failed run's summary: the error, what it means (outcome), and the tables and timeline a success has. */
export function failureMarkdown(error: string, o: Pick<Outcome, 'rolledBack' | 'rollbackProblem' | 'canary' | 'failure' | 'timings' | 'instances' | 'nginxHosts'>, spans: readonly Span[] = []): string {
  const lines = [`### Deploy failed`, '', error.replace(/\n/g, '  \n'), ''];
  if (o.rollbackProblem) lines.push(`**Rollback incomplete:** ${o.rollbackProblem}`, '');
  else if (o.rolledBack) lines.push('Rolled back: the previous version keeps serving.', '');
  const f = o.failure;
  if (f) {
    lines.push(`Outcome \`${f.outcome}\`: ${OUTCOME_WORDS[f.outcome] ?? ''}.${f.step ? ` Failed step: ${esc(f.step)}.` : ''}${f.hosts.length ? ` Hosts involved: ${f.hosts.map(esc).join(', ')}.` : ''}`, '');
  }
  if (o.nginxHosts && o.nginxHosts.length > 0) lines.push(`nginx host${o.nginxHosts.length > 1 ? 's' : ''}: ${o.nginxHosts.map(esc).join(', ')}.`, '');
  if (o.instances && o.instances.length > 0) lines.push(...hostsTable(o.instances));
  lines.push(...canaryTable(o.canary), ...canaryCharts(o.canary ?? []));
  lines.push(...timeline(spans));
  if (o.timings && o.timings.length > 0) lines.push(...stepsTable(o.timings));
  return lines.join('\n');
}

/** One row per app instance: where it runs, the upload, the new and old pids, what happened to the old one. */
function hostsTable(instances: DeployResult['instances']): string[] {
  const rolling = instances.some((i) => i.batch !== undefined);
  const lines = [`| app host | nginx address |${rolling ? ' batch |' : ''} upload | new pid | old pid | old process |${rolling ? ' batch time |' : ''}`, `|---|---|${rolling ? '---|' : ''}---|---|---|---|${rolling ? '---|' : ''}`];
  for (const h of instances) {
    lines.push(
      `| ${esc(h.host)} | ${esc(h.target)}:${h.port} |${rolling ? ` ${h.batch ?? ''} |` : ''} ${esc(h.upload ?? '')} | ${h.newPid ?? ''} | ${h.oldPid ?? ''} | ${esc(h.stopped ?? '')} |${rolling ? ` ${h.ms !== undefined ? `${(h.ms / 1000).toFixed(1)} s` : ''} |` : ''}`,
    );
  }
  lines.push('');
  return lines;
}

function stepsTable(timings: DeployResult['timings']): string[] {
  return ['| step | time |', '|---|---|', ...timings.map((t) => `| ${esc(t.step)} | ${(t.ms / 1000).toFixed(2)} s |`), ''];
}

/** One row per judged canary step or bake: requests, 5xx share, p50 and p99 for old and new, the verdict and its reason. */
function canaryTable(steps: DeployResult['canary']): string[] {
  if (!steps || steps.length === 0) return [];
  const lines = [
    '| step | old: requests | old: 5xx | old: p50 | old: p99 | new: requests | new: 5xx | new: p50 | new: p99 | verdict | why |',
    '|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  const ms = (v: number) => `${v.toFixed(0)} ms`;
  for (const c of steps) {
    lines.push(
      `| ${c.label ?? `${c.weight} %`} | ${c.old.requests} | ${c.old.errorRate.toFixed(1)} % | ${ms(c.old.p50)} | ${ms(c.old.p99)} | ${c.new.requests} | ${c.new.errorRate.toFixed(1)} % | ${ms(c.new.p50)} | ${ms(c.new.p99)} | ${c.verdict} | ${esc(c.why ?? '')} |`,
    );
  }
  lines.push('');
  return lines;
}
