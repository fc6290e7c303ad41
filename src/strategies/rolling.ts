// Rolling: every `server ADDRESS:PORT` of the upstream that names an app host is an instance and
// keeps its port; instances are replaced batch by batch, the rest serving meanwhile.
//   per batch: the others answer their health checks -> take the batch out (down) on every nginx
//   host -> drain -> stop the old processes (how they were started is recorded first) -> start
//   the new release on the same ports -> healthy + reachable from nginx -> put the batch back
// Undo (journaled as it goes): put back / take out again, stop the new process, start the old
// one as it was; a failed batch and every batch before it end on the old release.
import { DeployError } from '../errors.ts';
import type { Config } from '../config/settings.ts';
import { renderDown, type UpstreamForm } from '../traffic/include.ts';
import { hostPort } from '../config/hosts.ts';
import { applyChanges } from '../traffic/nginx.ts';
import { drain } from '../traffic/drain.ts';
import { AppProbe } from '../fleet/probe.ts';
import { inspectPort, toSeePort } from '../fleet/port.ts';
import { startProcess } from '../fleet/start.ts';
import { uploadJar } from '../fleet/upload.ts';
import { waitHealthy } from '../fleet/healthy.ts';
import { type AppNode } from '../fleet/node.ts';
import { forgetCaptures } from '../fleet/detached.ts';
import { warmUp } from '../fleet/warmup.ts';
import { cleanupReleases, releaseOn } from '../fleet/releases.ts';
import { preflightApp } from '../fleet/preflight.ts';
import type { RunResult } from '../ssh/remote.ts';
import { type DeployRun } from './deployrun.ts';
import { mapLimit, PARALLEL } from '../util/async.ts';
import { smoke } from './idle.ts';
import type { DeployResult, DryRunPlan, Deployment, InstanceReport, Runbook } from './types.ts';

interface Instance {
  app: AppNode;
  port: number;
  key: string;
  report: InstanceReport;
}

/** Batches of instances, in include order. Pure. */
export function batches<T>(items: T[], size: Config['batchSize']): T[][] {
  const n = 'count' in size ? size.count : Math.floor((items.length * size.percent) / 100);
  // Never all at once: something must serve while a batch is out.
  const per = Math.max(1, Math.min(n, items.length - 1));
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += per) out.push(items.slice(i, i + per));
  return out;
}

export function instancesOf(ctx: DeployRun, deployment: Deployment): Instance[] {
  const cfg = ctx.cfg;
  const where = `nginx host ${deployment.nginx[0].remote.label}`;
  const form = deployment.nginx[0].form;
  if (form === null || form.kind !== 'upstream') {
    throw new DeployError(
      'read include',
      where,
      form === null
        ? `${deployment.nginx[0].path} names no instance yet: a rolling deploy replaces running instances; make the first deploy with strategy: blue-green or write the upstream block`
        : `strategy: rolling needs the upstream form of ${deployment.nginx[0].path} ('upstream NAME { server ADDRESS:PORT; ... }'); it has 'set $${form.variable}' (docs/server-setup.md, "The nginx include")`,
    );
  }
  const byTarget = new Map(deployment.apps.map((a) => [a.host.target, a]));
  const unknown = form.servers.filter((s) => !byTarget.has(s.host)).map((s) => hostPort(s.host, s.port));
  if (unknown.length > 0) {
    throw new DeployError(
      'read include',
      where,
      `${deployment.nginx[0].path} names ${unknown.join(', ')}, not in app-hosts (${cfg.appHosts.map((h) => h.target).join(', ')}). A human must look: add the host to app-hosts (host=address if nginx reaches it by another address) or remove it from the include`,
    );
  }
  const down = form.servers.filter((s) => s.down).map((s) => hostPort(s.host, s.port));
  if (down.length > 0) {
    throw new DeployError('read include', where, `${down.join(', ')} ${down.length > 1 ? 'are' : 'is'} marked down in ${deployment.nginx[0].path} (a deploy cut short, or on purpose?). A human must look: remove 'down' or the entry`);
  }
  const list = form.servers.map((s) => {
    const app = byTarget.get(s.host)!;
    return { app, port: s.port, key: hostPort(s.host, s.port), report: { host: app.remote.label, target: s.host, port: s.port } };
  });
  if (list.length < 2) {
    throw new DeployError('read include', where, `${deployment.nginx[0].path} has ${list.length} instance: rolling needs at least two so one serves while the other is replaced; use strategy: blue-green`);
  }
  const keys = new Set(list.map((i) => i.key));
  if (keys.size !== list.length) throw new DeployError('read include', where, `${deployment.nginx[0].path} lists an instance twice`);
  return list;
}

async function othersHealthy(ctx: DeployRun, others: Instance[], batchNo: number): Promise<void> {
  await Promise.all(
    others.map(async (i) => {
      const prober = new AppProbe(ctx, i.app.remote, i.port);
      try {
        const r = await prober.probe(5000);
        if (!r.ok) {
          throw new DeployError('rolling', i.app.remote.label, `instance ${i.key} does not answer its health check (${r.detail}), so batch ${batchNo} was not taken out: the rest must serve while a batch is replaced`);
        }
      } finally {
        await prober.close();
      }
    }),
  );
}

export const rolling: Runbook = {
  describe(ctx: DeployRun, deployment: Deployment): DryRunPlan {
    const all = instancesOf(ctx, deployment);
    const plan = batches(all, ctx.cfg.batchSize);
    const first = new Set(plan[0].map((i) => i.key));
    return {
      lines: [
        `${all.length} instances in ${plan.length} batch(es): ${plan.map((b) => b.map((i) => i.key).join(' + ')).join(' | ')}`,
        'per batch: take out (down), drain, stop, start the new release on the same port, health-check, put back',
      ],
      includes: deployment.nginx.map((side) => ({ side, after: renderDown(side.text!, side.form as UpstreamForm, first) })),
      reach: all.map((i) => ({ app: i.app, port: i.port })),
    };
  },

  async run(ctx: DeployRun, deployment: Deployment): Promise<DeployResult> {
    const cfg = ctx.cfg;
    const all = instancesOf(ctx, deployment);
    deployment.reports = all.map((i) => i.report);
    const plan = batches(all, cfg.batchSize);
    const original = deployment.nginx.map((n) => n.text!);
    const nginx = deployment.nginx.map((n) => n.remote);
    ctx.ui.info(`${all.length} instances in ${plan.length} batch(es): ${plan.map((b) => b.map((i) => i.key).join(' + ')).join(' | ')}`);
    ctx.audit.from = ctx.audit.to = all.map((i) => i.key).join(',');
    // What serves now, asked while the batches run (a rollback has set it already).
    const previous =
      deployment.previous !== undefined
        ? Promise.resolve(deployment.previous)
        : releaseOn(ctx, [all[0].app], all[0].port, deployment.locks).then(
            (r) => (ctx.audit.previous = r),
            () => undefined,
          );

    const hosts = [...new Set(all.map((i) => i.app))];
    const verify = new Map<AppNode, Promise<RunResult> | undefined>();
    await ctx.step(`Upload ${deployment.release}`, () =>
      mapLimit(hosts, PARALLEL, async (a) => {
        await preflightApp(ctx, ctx.backend, a, deployment.artifact, false); // each instance stops before its new JVM starts: no overlap
        const up = deployment.artifact ? await ctx.span(a.remote.label, 'upload', () => uploadJar(ctx, a, deployment.artifact!, deployment.release, 'upload')) : { upload: 'kept on the host (0 bytes)', verify: undefined };
        ctx.ui.info(`${a.remote.label}: jar ${up.upload}`);
        for (const i of all.filter((x) => x.app === a)) i.report.upload = up.upload;
        verify.set(a, up.verify);
      }),
    );

    let healthyToSwitched = 0;
    for (const [n, batch] of plan.entries()) {
      const no = n + 1;
      const s = Date.now();
      await ctx.step(`Batch ${no}/${plan.length}: ${batch.map((i) => i.key).join(', ')}`, async () => {
        await othersHealthy(ctx, all.filter((i) => !batch.includes(i)), no);
        const keys = new Set(batch.map((i) => i.key));
        await applyChanges(
          ctx,
          'take out',
          deployment.nginx.map((side) => ({ side, after: renderDown(side.text!, side.form as UpstreamForm, keys) })),
        );
        ctx.ui.info(`taken out of nginx: ${batch.map((i) => i.key).join(', ')}`);
        await drain(ctx, { nginx: deployment.nginx, ports: batch.map((i) => ({ remote: i.app.remote, port: i.port })) }, batch.map((i) => i.key).join(', '));

        const healthyAt = await mapLimit(batch, PARALLEL, async (i) => {
          const now = await inspectPort(ctx, i.app, i.port, 'stop old');
          if (!now.free) {
            ctx.backend.refuseUnit(i.app, i.port, now, 'stop old');
            if (now.pid === undefined) {
              throw new DeployError('stop old', i.app.remote.label, `port ${i.port} is held by a process user '${cfg.sshUser}' cannot see; ${toSeePort(ctx, i.port, now, ctx.backend.sudoersDoc)}`);
            }
            // This action's own instance (systemd-unit: NAME@PORT) is stopped, not disabled: it
            // starts again at once with the new release.
            const own = ctx.backend.ownInstance(now, i.port);
            // What starts it again as it was, so a failed batch can.
            const from = await ctx.backend.captureForRestart(i.app, now.pid, i.port, 'stop old', own);
            ctx.record({ kind: 'stopped', app: i.app.host.ssh, port: i.port, ...from });
            i.report.oldPid = now.pid;
            i.report.stopped = await ctx.backend.stop(i.app, now.pid, i.port, 'stop old', { start: now.start, unit: own });
            ctx.ui.info(`${i.app.remote.label}: old pid ${now.pid} on port ${i.port} ${i.report.stopped}`);
          } else {
            i.report.stopped = 'nothing was running';
          }
          ctx.checkpoint();
          const spec = ctx.backend.releaseStart(deployment.release, i.port, deployment.command);
          i.report.newPid = await startProcess(ctx, ctx.backend, i.app, i.port, spec, 'start');
          const healthy = await waitHealthy(ctx, i.app, i.port, i.report.newPid, { log: spec.log, nginx, verify: verify.get(i.app) });
          await warmUp(ctx, i.app, i.port);
          return healthy;
        });

        // The first batch runs the team's smoke test before it takes traffic.
        if (n === 0) await smoke(ctx, deployment, batch.map((i) => ({ app: i.app, port: i.port })), previous);
        const back = await applyChanges(
          ctx,
          'put back',
          deployment.nginx.map((side, k) => ({ side, after: original[k] })),
        );
        healthyToSwitched = Math.max(healthyToSwitched, back - Math.max(...healthyAt));
        ctx.ui.info(`put back into nginx: ${batch.map((i) => i.key).join(', ')}`);
      });
      for (const i of batch) {
        i.report.batch = no;
        i.report.ms = Date.now() - s;
      }
    }
    ctx.state.committed = true;
    ctx.save();
    await ctx.step('Clean up', () =>
      mapLimit(hosts, PARALLEL, async (a) => {
        const ports = all.filter((i) => i.app === a).map((i) => i.port);
        // How the old processes were started is needed no more, and may hold secrets.
        const notForgotten = await forgetCaptures(ctx, a, ports);
        if (notForgotten) ctx.cleanupProblem(notForgotten);
        await cleanupReleases(ctx, [a], deployment.release, ports, deployment.command);
        // systemd-unit: every instance starts at boot, now that each runs the new release.
        for (const u of await ctx.backend.enableEach(a, ports)) ctx.cleanupProblem(`${a.remote.label}: could not enable ${u}: a reboot would not start it`);
      }),
    );
    const ports = [...new Set(all.map((i) => i.port))];
    return {
      strategy: 'rolling',
      release: deployment.release,
      previousRelease: await previous,
      activePorts: ports,
      previousPorts: ports,
      durationMs: Date.now() - ctx.t0,
      healthyToSwitchedMs: healthyToSwitched,
      timings: ctx.timings,
      instances: all.map((i) => i.report),
      nginxHosts: nginx.map((r) => r.label),
      artifact: deployment.artifact,
      headline: `Rolling: ${all.length} instances replaced in ${plan.length} batch(es); nginx kept serving from the others throughout.`,
      units: ctx.backend.unitNames(all.map((i) => i.port)),
    };
  },
};
