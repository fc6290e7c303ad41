// The README's picture of a deploy: a real canary deploy with a bake, under wrk load on the
// sandbox (as `npm run demo` builds it: network namespaces, real sshd, nginx and JVMs, no route
// out), whose job summary is rendered as GitHub shows it (scripts/mermaid-render.ts: mermaid in a
// headless Chromium) into docs/images/summary.png (up to the steps table), with its whole
// markdown beside it (summary.md).
//
//   sh scripts/as-root.sh node scripts/summary-screenshot.ts
//
// Root (network namespaces); one sandbox at a time on a machine, like the e2e tests.
import { writeFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { createTestbed, cleanupStale } from '../test/testbed/testbed.ts';
import { baseInputs, runAction, ROOT } from '../test/e2e/harness.ts';
import { underLoad } from '../test/e2e/load.ts';
import { summaryPng } from './mermaid-render.ts';

const out = path.join(ROOT, 'docs/images');
mkdirSync(out, { recursive: true });
await cleanupStale('zdddocs');
const tb = await createTestbed({ prefix: 'zdddocs', subnet: 93, appHosts: 2, form: 'upstream' });
try {
  for (const a of tb.apps) await tb.startSeedApp(a, 8080, 'v0');
  // The canary's log check reads the log's last lines: some traffic first.
  for (let i = 0; i < 5; i++) await tb.get('/version');
  const inputs = baseInputs(tb, await tb.makeJar('v1'), {
    strategy: 'canary',
    'access-log': '/var/log/nginx/access.log',
    'canary-steps': '10,50,100',
    'canary-interval': '3',
    'min-requests': '20',
    'warmup-path': '/version',
    'warmup-requests': '400',
    'p99-floor-ms': '150',
    'bake-time': '3',
    'smoke-test': 'curl -fsS "$CANDIDATE_URL/version" | grep -q "version=v1 "',
  });
  const { run, load } = await underLoad(tb, () => runAction(tb, inputs));
  if (run.code !== 0) throw new Error(`the deploy failed: ${run.error}\n${run.stdout}`);
  console.log(`deployed under load: ${load.requests} requests, ${load.non2xx} non-2xx, ${load.socketErrors} socket errors`);
  writeFileSync(path.join(out, 'summary.md'), run.summary);
  // The picture stops before the steps table and the audit log (summary.md has them): it is
  // the README's first screen.
  const cut = run.summary.indexOf('| step | time |');
  await summaryPng(cut > 0 ? run.summary.slice(0, cut) : run.summary, path.join(out, 'summary.png'));
  console.log(`wrote ${path.relative(ROOT, out)}/summary.md and summary.png`);
} finally {
  await tb.teardown();
}
