// The step that finds and reads the include on every nginx host, for a deploy and a dry run.
import type { SshAddress } from '../config/hosts.ts';
import type { Remote } from '../ssh/remote.ts';
import { readIncludes, type NginxSide } from '../traffic/nginx.ts';
import type { DeployRun } from './deployrun.ts';

/** The step that finds and reads the include on every nginx host (its preflight included). */
export function readNginx(ctx: DeployRun, remotes: { addr: SshAddress; remote: Remote }[]): Promise<NginxSide[]> {
  return ctx.step('Read the nginx include', () => readIncludes(ctx, remotes));
}

