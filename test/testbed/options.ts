// createTestbed's options checked and with their defaults, before anything is set up.
import type { TestbedOptions } from './types.ts';
import { DEPLOY_USER } from './proc.ts';
import { checkPrefix } from './namespaces.ts';

/** TestbedOptions after resolveOptions: checked, every default filled in. */
export interface ResolvedOptions extends Pick<TestbedOptions, 'keyPassphrase' | 'allowTcpForwarding' | 'sudoers' | 'sudoersByHost' | 'verbose'> {
  subnet: number;
  prefix: string;
  appCount: number;
  nginxCount: number;
  form: 'set' | 'upstream';
  /** opts.instances or its default */
  instanceSpec: { app: number; port: number }[];
  initialInclude: boolean;
  deployUser: boolean;
  deployUserShell: string;
  useSystemd: boolean;
  /** the deploy user's sudoers drop-in: opts.sudoers (with a trailing newline) or the default rule */
  sudoersText: string;
}

/** Checks opts (throwing on the first bad one) and fills in the defaults; touches nothing. */
export function resolveOptions(opts: TestbedOptions): ResolvedOptions {
  const subnet = opts.subnet ?? 7;
  if (!Number.isInteger(subnet) || subnet < 1 || subnet > 254) throw new Error(`bad subnet ${subnet}`);
  const prefix = opts.prefix ?? `zddtb${subnet}`;
  checkPrefix(prefix);
  const appCount = opts.appHosts ?? 1;
  if (!Number.isInteger(appCount) || appCount < 1 || appCount > 16) throw new Error(`appHosts must be 1..16, got ${appCount}`);
  const nginxCount = opts.nginxHosts ?? 1;
  if (!Number.isInteger(nginxCount) || nginxCount < 1 || nginxCount > 4) throw new Error(`nginxHosts must be 1..4, got ${nginxCount}`);
  const form = opts.form ?? 'set';
  const instanceSpec = opts.instances ?? (form === 'set' ? [{ app: 0, port: 8080 }] : Array.from({ length: appCount }, (_, app) => ({ app, port: 8080 })));
  if (instanceSpec.length < 1) throw new Error('instances must not be empty');
  for (const i of instanceSpec) {
    if (!Number.isInteger(i.app) || i.app < 0 || i.app >= appCount) throw new Error(`instances: app must be 0..${appCount - 1}, got ${i.app}`);
    if (!Number.isInteger(i.port) || i.port < 1 || i.port > 65535) throw new Error(`instances: port must be 1..65535, got ${i.port}`);
  }
  if (opts.instances && form === 'set' && instanceSpec.length > 1) throw new Error(`form 'set' names one instance, got ${instanceSpec.length}`);
  const initialInclude = opts.initialInclude ?? true;
  const deployUser = opts.deployUser ?? false;
  const deployUserShell = opts.deployUserShell ?? '/bin/sh';
  if (opts.deployUserShell !== undefined && !deployUser) throw new Error('deployUserShell needs deployUser: true');
  if (!/^\/[\w./-]+$/.test(deployUserShell)) throw new Error(`deployUserShell must be an absolute path, got ${JSON.stringify(deployUserShell)}`);
  const useSystemd = opts.systemd ?? false;
  if (typeof useSystemd !== 'boolean') throw new Error('systemd must be a boolean');
  if (opts.sudoers !== undefined && !deployUser) throw new Error('sudoers needs deployUser: true');
  if (opts.sudoers !== undefined && typeof opts.sudoers !== 'string') throw new Error('sudoers must be a string');
  if (opts.sudoersByHost !== undefined && !deployUser) throw new Error('sudoersByHost needs deployUser: true');
  const sudoersText =
    opts.sudoers === undefined
      ? `# zdd testbed: the deploy user may run anything as anyone, without a password\n${DEPLOY_USER} ALL=(ALL) NOPASSWD: ALL\n`
      : opts.sudoers.endsWith('\n')
        ? opts.sudoers
        : `${opts.sudoers}\n`;
  const sshHostNames = [...Array.from({ length: nginxCount }, (_, i) => (i === 0 ? 'nginx' : `nginx${i + 1}`)), ...Array.from({ length: appCount }, (_, i) => `app${i + 1}`)];
  for (const [name, allow] of Object.entries(opts.allowTcpForwarding ?? {})) {
    if (!sshHostNames.includes(name)) throw new Error(`allowTcpForwarding: no sshd host ${JSON.stringify(name)} (hosts: ${sshHostNames.join(', ')})`);
    if (typeof allow !== 'boolean') throw new Error(`allowTcpForwarding.${name} must be a boolean`);
  }
  const { keyPassphrase, allowTcpForwarding, sudoers, sudoersByHost, verbose } = opts;
  return { subnet, prefix, appCount, nginxCount, form, instanceSpec, initialInclude, deployUser, deployUserShell, useSystemd, sudoersText, keyPassphrase, allowTcpForwarding, sudoers, sudoersByHost, verbose };
}
