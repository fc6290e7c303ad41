// The deploy lock on each nginx host, built as data. Pure: nothing here connects.
import { type Cmd, type CmdOptions, wrap } from './shell.ts';
import * as SH from './scripts.gen.ts';

export const LOCK = SH.LOCK_LOCK;

/**
 * mkdir-based lock. Prints `acquired [QUIET]` (QUIET: seconds since remote-dir last changed, none
 * when it was just made), `recovered AGE OWNER` (stale lock replaced) or `held AGE OWNER`.
 */
export function acquireLock(lockDir: string, info: string, staleSec: number, o: CmdOptions): Cmd {
  return wrap('take the deploy lock', LOCK, [lockDir, info.replace(/\n/g, ' '), Math.ceil(staleSec)], o);
}

export const UNLOCK = SH.LOCK_UNLOCK;

export function releaseLock(lockDir: string, info: string, o: CmdOptions): Cmd {
  return wrap('release the deploy lock', UNLOCK, [lockDir, info.replace(/\n/g, ' ')], o);
}

export const REFRESH = SH.LOCK_REFRESH;

/** Keeps a held lock fresh (its age is its directory's mtime): `refreshed`, or `lost` when it is not ours. */
export function refreshLock(lockDir: string, info: string, o: CmdOptions): Cmd {
  return wrap('refresh the deploy lock', REFRESH, [lockDir, info.replace(/\n/g, ' ')], o);
}

export const STATUS = SH.LOCK_STATUS;

/** Who holds the lock, without taking it: `free` or `held AGE OWNER`. */
export function lockStatus(lockDir: string, o: CmdOptions): Cmd {
  return wrap('check the deploy lock', STATUS, [lockDir], o);
}
