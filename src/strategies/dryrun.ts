// dry-run: connect, check the locks, read the includes, run the preflight and the nginx-side
// reachability probe, print the plan and the include diff. Nothing here changes a host.
import { DeployError } from '../errors.ts';
import type { SshAddress } from '../config/hosts.ts';
import type { Artifact } from '../fleet/artifact.ts';
import { inspectPort } from '../fleet/port.ts';
import { probeFromNginx } from '../fleet/reach.ts';
import { type AppNode } from '../fleet/node.ts';
import { lockStatus } from '../traffic/lock.ts';
import { nginxRule } from '../traffic/nginx.ts';
import { preflightApp } from '../fleet/preflight.ts';
import { deploymentLabel, jarStateOn } from '../fleet/releases.ts';
import { commandOf } from '../fleet/backend.ts';
import { lineDiff } from '../traffic/diff.ts';
import type { Remote } from '../ssh/remote.ts';
import { type DeployRun } from './deployrun.ts';
import { mapLimit, PARALLEL } from '../util/async.ts';
import { readNginx } from './read.ts';
import type { Runbook } from './types.ts';

/** With sudo: the exact sudoers rule each host's role needs for these inputs (docs/server-setup.md). */
function sudoRules(ctx: DeployRun, nginx: { label: string; path: string }[], apps: string[]): string[] {
  const cfg = ctx.cfg;
  const user = cfg.sshUser;
  const block = (title: string, rule: string) => [title, '', '```', rule.trimEnd(), '```', ''];
  const paths = [...new Set(nginx.map((n) => n.path))];
  const app = ctx.backend.sudoersRule(user, cfg.ports);
  return [
    `With sudo: true, the exact sudoers rules for these inputs (\`sudo visudo -f /etc/sudoers.d/${user}\` on each host; docs/server-setup.md, "The sudo rule"):`,
    '',
    ...paths.flatMap((p) => block(`nginx host ${nginx.filter((n) => n.path === p).map((n) => n.label).join(', ')}:`, nginxRule(ctx, user, p))),
    ...block(`app host ${apps.join(', ')}${app.note}:`, app.rule),
  ];
}

export async function dryRun(
  ctx: DeployRun,
  strategy: Runbook,
  nginxRemotes: { addr: SshAddress; remote: Remote }[],
  apps: AppNode[],
  artifact: Artifact | undefined,
  release: string,
): Promise<string> {
  const cfg = ctx.cfg;
  const problems: string[] = [];
  const md: string[] = [];
  await ctx.step('Check the locks', () =>
    Promise.all(
      nginxRemotes.map(async ({ remote }) => {
        const out = await lockStatus(ctx, remote);
        if (out !== 'free') problems.push(`${remote.label}: ${out}`);
      }),
    ),
  );
  const nginx = await readNginx(ctx, nginxRemotes);
  // The same jar with another command is a deployment of its own: the plan names the label the deploy would record.
  if (artifact) release = await deploymentLabel(ctx, apps, release, commandOf(cfg));
  await ctx.step('Preflight', () =>
    mapLimit(apps, PARALLEL, async (a) => {
      const [, found] = await Promise.all([
        preflightApp(ctx, ctx.backend, a, artifact, ctx.cfg.strategy !== 'rolling'),
        artifact ? jarStateOn(ctx, a, release, artifact.sha256, 'preflight') : undefined,
      ]);
      if (!artifact || found === undefined) return;
      const st = found.trim();
      md.push(
        `- ${a.remote.label}: ${st === 'have' ? 'the jar is already there (0 bytes to upload)' : st.startsWith('copied') ? `an identical jar is there (${st.slice(7)}): copied on the host` : `would upload ${(artifact.size / 1048576).toFixed(1)} MiB`}`,
      );
    }),
  );
  // promote and rollback find their release on the hosts: describe reads it (and changes nothing)
  const deployment = { nginx, apps, artifact, release, command: commandOf(cfg) };
  const plan = await ctx.step('Plan', async () => strategy.describe(ctx, deployment));
  md.unshift(`### Dry run: ${cfg.mode === 'deploy' ? cfg.strategy : `${cfg.mode} (${cfg.strategy})`} of ${deployment.release} (nothing was changed)`, '');
  await ctx.step('Reachability from nginx', () =>
    mapLimit(plan.reach, PARALLEL, async ({ app, port }) => {
      const st = await inspectPort(ctx, app, port, 'reachability');
      if (st.free) {
        md.push(`- ${app.host.target}:${port}: nothing listens yet; probed from nginx when the deploy starts it`);
        return;
      }
      try {
        await probeFromNginx(ctx, nginx.map((n) => n.remote), app.host.target, port);
        md.push(`- ${app.host.target}:${port}: reachable from every nginx host`);
      } catch (e) {
        problems.push(e instanceof Error ? e.message : String(e));
      }
    }),
  );
  const extra = [
    ...(cfg.smokeTest && (cfg.mode === 'deploy' || cfg.mode === 'stage') ? [`before any traffic reaches it: smoke-test \`${cfg.smokeTest}\` on the runner (CANDIDATE_URL forwarded to the new instance)`] : []),
    ...(cfg.bakeMs > 0 && cfg.strategy !== 'rolling' && cfg.mode !== 'stage' ? [`after the switch: bake ${cfg.bakeMs / 1000}s with the old version still running, judged by ${[cfg.canary.log, cfg.verifyUrl].filter(Boolean).join(' and ')}; a failed bake switches back`] : []),
  ];
  md.push('', ...[...plan.lines, ...extra].map((l) => `- ${l}`), '');
  for (const c of plan.includes) {
    md.push(`${c.side.path} on ${c.side.remote.label} (${c.side.how})${plan.includes.length > 1 || c.after === null ? '' : ' (first change)'}:`, '', '```diff', ...lineDiff(c.side.text ?? '', c.after ?? ''), '```', '');
  }
  md.push(...ctx.backend.describe(apps));
  if (cfg.sudo) md.push(...sudoRules(ctx, nginx.map((n) => ({ label: n.remote.label, path: n.path })), apps.map((a) => a.remote.label)));
  for (const l of md) ctx.ui.info(l);
  if (problems.length > 0) {
    throw new DeployError('dry-run', undefined, `a ${cfg.mode} would fail: ${problems.join('; ')}`);
  }
  return md.join('\n');
}
