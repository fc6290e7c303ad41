// Runs the bundled action the way the GitHub runner does: `node dist/main.cjs` (then the post
// step) with INPUT_* variables and GITHUB_OUTPUT / GITHUB_STEP_SUMMARY / GITHUB_STATE files,
// inside the testbed's runner namespace.
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ChildProcess } from 'node:child_process';
import type { Testbed } from '../testbed/testbed.ts';
import { actionDefaults } from '../action-defaults.ts';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const NODE = process.execPath;

export interface ActionRun {
  code: number;
  stdout: string;
  stderr: string;
  outputs: Record<string, string>;
  summary: string;
  state: Record<string, string>;
  post?: { code: number; stdout: string };
  /** the ::error:: line, if the step failed */
  error: string;
}

export function parseCommandFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const m = /^([^<=]+)<<(.+)$/.exec(lines[i]);
    if (m) {
      const val: string[] = [];
      i++;
      while (i < lines.length && lines[i] !== m[2]) val.push(lines[i++]);
      out[m[1]] = val.join('\n');
    } else if (lines[i].includes('=')) {
      const eq = lines[i].indexOf('=');
      out[lines[i].slice(0, eq)] = lines[i].slice(eq + 1);
    }
  }
  return out;
}

export function baseInputs(tb: Testbed, jar: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    'nginx-host': tb.nginxes.map((n) => n.ip).join(','),
    'app-hosts': tb.apps.map((a) => a.ip).join(','),
    'ssh-user': tb.sshUser,
    'ssh-key': tb.privateKey,
    'known-hosts': tb.knownHosts,
    artifact: jar,
    'health-path': '/health',
    'health-interval': '0.2',
    'health-timeout': '30',
    'drain-timeout': '10',
    'stop-timeout': '10',
    ...extra,
  };
}

export interface StartedAction {
  /** the node process (signal it like the runner does on cancel) */
  child: ChildProcess;
  done: Promise<ActionRun>;
}

/** Starts `node dist/main.cjs` in the runner namespace; `done` also runs the post step. */
export function startAction(
  tb: Testbed,
  inputs: Record<string, string>,
  opts: { post?: boolean; timeoutMs?: number; env?: Record<string, string>; /** another bundle's directory (a benchmark's baseline) */ dist?: string } = {},
): StartedAction {
  const dist = opts.dist ?? path.join(ROOT, 'dist');
  const dir = mkdtempSync(path.join(tb.dir, 'run-'));
  const files = { GITHUB_OUTPUT: 'output', GITHUB_STEP_SUMMARY: 'summary', GITHUB_STATE: 'state' };
  const env: Record<string, string> = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir, RUNNER_TEMP: dir, GITHUB_SHA: 'c0ffee1234567890' };
  for (const [k, f] of Object.entries(files)) {
    env[k] = path.join(dir, f);
    writeFileSync(env[k], '');
  }
  // Like the runner: action.yml's defaults for the inputs the step does not give.
  for (const [k, v] of Object.entries({ ...actionDefaults(), ...inputs })) env[`INPUT_${k.toUpperCase()}`] = v;
  Object.assign(env, opts.env ?? {});
  const child = tb.spawnInRunner([NODE, path.join(dist, 'main.cjs')], { env, cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (c) => (stdout += c));
  child.stderr?.on('data', (c) => (stderr += c));
  const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 180_000);
  const done = new Promise<number>((resolve) => child.on('close', (code, sig) => resolve(code ?? (sig ? 128 : 1)))).then(async (code) => {
    clearTimeout(timer);
    const read = (f: string) => (existsSync(path.join(dir, f)) ? readFileSync(path.join(dir, f), 'utf8') : '');
    const state = parseCommandFile(read('state'));
    const run: ActionRun = {
      code,
      stdout,
      stderr,
      outputs: parseCommandFile(read('output')),
      summary: read('summary'),
      state,
      // One line per error; the runner's escaping of '%' undone (newlines stay escaped as %0A).
      error: stdout.split('\n').filter((l) => l.startsWith('::error::')).join('\n').replace(/%25/g, '%'),
    };
    if (opts.post !== false) {
      const penv = { ...env };
      for (const [k, v] of Object.entries(state)) penv[`STATE_${k}`] = v;
      const p = await tb.runInRunner([NODE, path.join(dist, 'post.cjs')], { env: penv, timeoutMs: 90_000, cwd: ROOT });
      run.post = { code: p.code, stdout: p.stdout + p.stderr };
    }
    return run;
  });
  return { child, done };
}

export function runAction(
  tb: Testbed,
  inputs: Record<string, string>,
  opts: Parameters<typeof startAction>[2] = {},
): Promise<ActionRun> {
  return startAction(tb, inputs, opts).done;
}

/** Explains a failed run in an assertion message. */
export function explain(r: ActionRun): string {
  const post = r.post ? `\n--- post step (exit ${r.post.code}) ---\n${r.post.stdout.slice(-4000)}` : '';
  return `exit ${r.code}\n--- stdout ---\n${r.stdout.slice(-6000)}\n--- stderr ---\n${r.stderr.slice(-3000)}${post}`;
}
