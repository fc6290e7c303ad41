// The Testbed handle's methods (documented in testbed.ts's header comment), over the running hosts.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import type { ExecOptions, ExecResult, GetOptions, Host, RunOptions, SeedAppOptions, SpawnOptions, Testbed } from './types.ts';
import { ETC_UNITS, LOCAL_UNITS, NGINX, NSENTER, SYS_PATH, must, run, shq, sleep } from './proc.ts';
import { enterArgs, hostExec, isNginx, isSystemd, type HostContext } from './hosts.ts';
import { reboot } from './boot.ts';

export type Methods = Pick<
  Testbed,
  | 'exec'
  | 'execAs'
  | 'runInRunner'
  | 'spawnInRunner'
  | 'get'
  | 'makeJar'
  | 'startSeedApp'
  | 'pidOnPort'
  | 'readInclude'
  | 'writeInclude'
  | 'startNginx'
  | 'reloadNginx'
  | 'nginxTest'
  | 'localPath'
  | 'reboot'
  | 'systemctl'
>;

/** The methods of the Testbed on ctx's hosts; classes: the test app's build (makeJar waits for it). */
export function testbedMethods(ctx: HostContext, classes: Promise<string>): Methods {
  const { state, dir, runner, nginx, nginxes, initPid } = ctx;
  const { children } = state;
  const exec = (host: Host, argv: string[], o: ExecOptions = {}): Promise<ExecResult> => hostExec(ctx, host, argv, o);
  const users = new Map<string, Promise<{ name: string; uid: number; gid: number; home: string; shell: string }>>();
  const lookupUser = (host: Host, user: string) => {
    const key = `${host.ns}\0${user}`;
    let p = users.get(key);
    if (!p) {
      p = (async () => {
        const r = await exec(host, ['getent', 'passwd', user], { timeoutMs: 5000 });
        const f = r.stdout.split('\n')[0].split(':');
        if (r.code !== 0 || f.length < 7) throw new Error(`execAs: no user ${JSON.stringify(user)} on ${host.name}`);
        return { name: f[0], uid: Number(f[2]), gid: Number(f[3]), home: f[5], shell: f[6] };
      })();
      users.set(key, p);
      p.catch(() => users.delete(key));
    }
    return p;
  };
  const execAs = async (host: Host, user: string, argv: string[], o: ExecOptions = {}): Promise<ExecResult> => {
    if (state.tornDown) throw new Error('testbed is torn down');
    const u = await lookupUser(host, user);
    const env = { PATH: SYS_PATH, HOME: u.home, LANG: 'C.UTF-8', USER: u.name, LOGNAME: u.name, SHELL: u.shell, ...o.env };
    const setpriv = ['setpriv', `--reuid=${u.uid}`, `--regid=${u.gid}`, '--init-groups', '--'];
    return run([...enterArgs(ctx, host), ...setpriv, ...argv], { env, input: o.input, timeoutMs: o.timeoutMs ?? 30_000 });
  };
  const runnerEnv = (env: Record<string, string> | undefined) => ({ PATH: SYS_PATH, ...(env ?? {}) });
  const runInRunner = (argv: string[], o: RunOptions): Promise<ExecResult> => {
    if (state.tornDown) return Promise.reject(new Error('testbed is torn down'));
    return run([...enterArgs(ctx, runner), ...argv], { env: runnerEnv(o.env), cwd: o.cwd, input: o.input, timeoutMs: o.timeoutMs });
  };
  const spawnInRunner = (argv: string[], o: SpawnOptions = {}): ChildProcess => {
    if (state.tornDown) throw new Error('testbed is torn down');
    const c = spawn(NSENTER, [`--net=/run/netns/${runner.ns}`, '--', ...argv], {
      env: runnerEnv(o.env),
      cwd: o.cwd,
      stdio: o.stdio ?? ['ignore', 'pipe', 'pipe'],
    });
    children.add(c);
    c.on('exit', () => children.delete(c));
    return c;
  };
  const nginxHost = (host: Host | undefined): Host => {
    if (host === undefined) return nginx;
    const n = nginxes.find((x) => x.ns === host.ns);
    if (!n) throw new Error(`${host.name} is not an nginx host (${nginxes.map((x) => x.name).join(', ')})`);
    return n;
  };
  const get = async (urlPath: string, o: GetOptions = {}) => {
    const target = nginxHost(o.nginx);
    const timeoutMs = o.timeoutMs ?? 5000;
    const marker = '\n__zdd_status__';
    const argv = ['curl', '-sS', '--noproxy', '*', '--max-time', String(timeoutMs / 1000), '-w', `${marker}%{http_code}`];
    for (const [k, v] of Object.entries(o.headers ?? {})) argv.push('-H', `${k}: ${v}`);
    argv.push(`http://${target.ip}${urlPath.startsWith('/') ? '' : '/'}${urlPath}`);
    const r = await runInRunner(argv, { env: {}, timeoutMs: timeoutMs + 2000 });
    const i = r.stdout.lastIndexOf(marker);
    if (r.code !== 0 || i < 0) return { status: 0, body: (r.stderr || r.stdout).trim() };
    return { status: Number(r.stdout.slice(i + marker.length)), body: r.stdout.slice(0, i) };
  };
  const jars = new Map<string, Promise<string>>();
  let jarSeq = 0;
  const makeJar = (version: string): Promise<string> => {
    let p = jars.get(version);
    if (!p) {
      p = (async () => {
        const cls = await classes;
        const n = ++jarSeq;
        const stage = path.join(dir, 'jars', `stage-${n}`);
        await fsp.cp(cls, stage, { recursive: true });
        await fsp.writeFile(path.join(stage, 'version.txt'), `${version}\n`);
        const safe = version.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 60);
        const jarPath = path.join(dir, 'jars', `app-${safe}-${n}.jar`);
        await must(['jar', '-J-XX:-UsePerfData', '--create', '--file', jarPath, '--main-class', 'App', '-C', stage, '.'], { timeoutMs: 60_000 });
        await fsp.rm(stage, { recursive: true, force: true });
        return jarPath;
      })();
      jars.set(version, p);
      p.catch(() => jars.delete(version));
    }
    return p;
  };
  const pidOnPort = async (host: Host, port: number): Promise<number | null> => {
    const r = await exec(host, ['ss', '-Htlnp', `sport = :${port}`], { timeoutMs: 5000 });
    const m = /pid=(\d+)/.exec(r.stdout);
    return m ? Number(m[1]) : null;
  };
  const startSeedApp = async (host: Host, port: number, version: string, javaOpts: string[] = [], o: SeedAppOptions = {}): Promise<number> => {
    const jar = await makeJar(version);
    const jarName = o.jarName ?? `app-${port}.jar`;
    const dest = `/opt/app/${jarName}`;
    const envPrefix = Object.entries(o.env ?? {})
      .map(([k, v]) => `${k}=${shq(v)} `)
      .join('');
    const cmd = [
      'mkdir -p /opt/app',
      `cp ${shq(jar)} ${shq(dest)}`,
      'cd /opt/app',
      `${envPrefix}setsid nohup java ${javaOpts.map(shq).join(' ')} -Dserver.port=${port} -jar ${shq(dest)} ${(o.appArgs ?? []).map(shq).join(' ')} > /opt/app/app-${port}.log 2>&1 < /dev/null &`,
      'echo $!',
    ].join('\n');
    const r = o.user === undefined ? await exec(host, ['sh', '-c', cmd], { timeoutMs: 10_000 }) : await execAs(host, o.user, ['sh', '-c', cmd], { timeoutMs: 10_000 });
    if (r.code !== 0) throw new Error(`startSeedApp on ${host.name}${o.user === undefined ? '' : ` as ${o.user}`}: ${r.stderr}`);
    const pid = Number(r.stdout.trim());
    const waitMs = o.waitMs ?? 15_000;
    if (waitMs > 0) {
      const deadline = Date.now() + waitMs;
      for (;;) {
        const owner = await pidOnPort(host, port);
        if (owner === pid) break;
        const alive = await exec(host, ['kill', '-0', String(pid)], { timeoutMs: 5000 });
        if (alive.code !== 0 || Date.now() > deadline) {
          const logText = await fsp.readFile(path.join(host.dir, 'opt', 'app', `app-${port}.log`), 'utf8').catch(() => '');
          throw new Error(`seed app ${version} on ${host.name}:${port} (pid ${pid}) did not listen${owner ? ` (port held by pid ${owner})` : ''}:\n${logText}`);
        }
        await sleep(50);
      }
    }
    return pid;
  };
  const includeLocal = (host?: Host) => path.join(nginxHost(host).dir, 'etc-nginx', 'conf.d', 'service_url.inc');
  const readInclude = async (host?: Host) => {
    const file = includeLocal(host);
    try {
      return await fsp.readFile(file, 'utf8');
    } catch {
      return null;
    }
  };
  const writeInclude = async (text: string, host?: Host) => {
    const file = includeLocal(host);
    const tmp = `${file}.tb-tmp`;
    await fsp.writeFile(tmp, text);
    await fsp.rename(tmp, file);
  };
  const nginxTest = (host?: Host) => exec(nginxHost(host), [NGINX, '-t'], { timeoutMs: 10_000 });
  const reloadNginx = (host?: Host) => exec(nginxHost(host), [NGINX, '-s', 'reload'], { timeoutMs: 10_000 });
  const startNginx = async (host?: Host) => {
    const n = nginxHost(host);
    const r = await exec(n, [NGINX], { timeoutMs: 10_000 });
    if (r.code !== 0) throw new Error(`nginx did not start on ${n.name}: ${r.stderr}`);
    const deadline = Date.now() + 5000;
    for (;;) {
      const s = await exec(n, ['ss', '-Htln', 'sport = :80'], { timeoutMs: 5000 });
      if (s.stdout.includes(`${n.ip}:80`)) break;
      if (Date.now() > deadline) throw new Error(`nginx on ${n.name} is not listening on :80`);
      await sleep(20);
    }
    return r;
  };
  const localPath = (host: Host, remotePath: string): string => {
    const p = path.posix.normalize(remotePath);
    const under = (remote: string) => p === remote || p.startsWith(remote + '/');
    if (isSystemd(ctx, host)) {
      // tmpfs of the running boot: reachable through its PID 1's root
      for (const remote of ['/tmp', '/var/tmp', '/run']) {
        if (under(remote)) {
          const pid = initPid.get(host.ns);
          if (!pid) throw new Error(`${host.name} is not booted`);
          return `/proc/${pid}/root${p}`;
        }
      }
    }
    const map: [string, string][] = [['/opt', 'opt']];
    if (isSystemd(ctx, host)) map.push([ETC_UNITS, 'systemd-etc'], [LOCAL_UNITS, 'systemd-local']);
    else map.push(['/tmp', 'tmp']);
    if (isNginx(ctx, host)) map.push(['/etc/nginx', 'etc-nginx'], ['/var/log/nginx', 'log-nginx']);
    for (const [remote, local] of map) {
      if (under(remote)) return path.join(host.dir, local, p.slice(remote.length));
    }
    throw new Error(`${remotePath} is not a per-host path on ${host.name}`);
  };
  const systemctl = (host: Host, ...args: string[]) => exec(host, ['systemctl', ...args], { timeoutMs: 30_000 });
  return {
    exec,
    execAs,
    runInRunner,
    spawnInRunner,
    get,
    makeJar,
    startSeedApp,
    pidOnPort,
    readInclude,
    writeInclude,
    startNginx,
    reloadNginx,
    nginxTest,
    localPath,
    reboot: (host: Host) => reboot(ctx, host),
    systemctl,
  };
}
