// What the nginx side of a deploy knows about each nginx host: the include as read, where it is,
// and what a change needs. Shared by the read (nginx.ts) and the changes (switch.ts).
import { createHash } from 'node:crypto';
import type { SshAddress } from '../config/hosts.ts';
import type { Remote, RunResult } from '../ssh/remote.ts';
import type { IncludeForm } from './include.ts';

export const sha256 = (text: string | null) => (text === null ? 'absent' : createHash('sha256').update(text, 'utf8').digest('hex'));

export interface NginxSide {
  addr: SshAddress;
  remote: Remote;
  /** the include file on this host (symlinks resolved) */
  path: string;
  /** its name in nginx's dump (how nginx includes it) */
  loadedAs: string;
  /** how it was found, for the log and the dry run */
  how: string;
  /** the include as read; null: no file */
  text: string | null;
  sha: string;
  form: IncludeForm | null;
  /** set by the last change that reloaded: the old workers of the master serving the include */
  oldWorkers: number[];
  /** the host's wait for those workers, sent right behind that change (drain.ts takes it once) */
  workersGone?: Promise<RunResult>;
}

/** Where an include is on a host, and the name nginx loads it by. */
export interface Target {
  path: string;
  loadedAs: string;
}

export interface Change {
  side: NginxSide;
  /** the new include (null: remove it) */
  after: string | null;
}
