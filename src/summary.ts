// The job summary: what the deploy did, as markdown. Pure.
import type { DeployResult, Outcome } from './strategies/run.ts';

const esc = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

export function summaryMarkdown(r: DeployResult): string {
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
  const rolling = r.instances.some((i) => i.batch !== undefined);
  lines.push(`| app host | nginx address |${rolling ? ' batch |' : ''} upload | new pid | old pid | old process |${rolling ? ' batch time |' : ''}`);
  lines.push(`|---|---|${rolling ? '---|' : ''}---|---|---|---|${rolling ? '---|' : ''}`);
  for (const h of r.instances) {
    lines.push(
      `| ${esc(h.host)} | ${esc(h.target)}:${h.port} |${rolling ? ` ${h.batch ?? ''} |` : ''} ${esc(h.upload ?? '')} | ${h.newPid ?? ''} | ${h.oldPid ?? ''} | ${esc(h.stopped ?? '')} |${rolling ? ` ${h.ms !== undefined ? `${(h.ms / 1000).toFixed(1)} s` : ''} |` : ''}`,
    );
  }
  lines.push('');
  if (r.units && r.units.length > 0) {
    const took = [...new Set(r.instances.map((i) => i.tookOver).filter((u) => u !== undefined))];
    lines.push(`systemd: ${r.units.map((u) => `\`${esc(u)}\``).join(', ')} enabled on ${r.instances.length > 1 ? 'every app host' : 'the app host'}: a reboot starts the version nginx points at.${took.length ? ` Took over from ${took.map((u) => `\`${esc(u)}\``).join(', ')}: stopped and disabled, nothing else in it changed.` : ''}`, '');
  }
  if (r.cleanupProblems && r.cleanupProblems.length > 0) {
    lines.push('**Clean-up incomplete** (the new version serves):', '', ...r.cleanupProblems.map((p) => `- ${esc(p)}`), '');
  }
  lines.push(...canaryTable(r.canary));
  lines.push('| step | time |');
  lines.push('|---|---|');
  for (const t of r.timings) lines.push(`| ${esc(t.step)} | ${(t.ms / 1000).toFixed(2)} s |`);
  lines.push('');
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

export function failureMarkdown(error: string, o: Pick<Outcome, 'rolledBack' | 'rollbackProblem' | 'canary'>): string {
  return (
    `### Deploy failed\n\n${error.replace(/\n/g, '  \n')}\n\n` +
    (o.rollbackProblem ? `**Rollback incomplete:** ${o.rollbackProblem}\n` : o.rolledBack ? 'Rolled back: the previous version keeps serving.\n' : '') +
    (o.canary && o.canary.length > 0 ? `\n${canaryTable(o.canary).join('\n')}` : '')
  );
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
