// The deploy lock on each nginx host, built as data. Pure: nothing here connects.
import { type Cmd, type CmdOptions, wrap } from './shell.ts';

export const LOCK = `
lock=$1 info=$2 stale=$3
d=$(dirname -- "$lock")
# How long remote-dir has been unchanged (an unlock removes the lock directory from it): taken
# before the lock is; none when it did not exist (no deploy ever held a lock here).
quiet=
if [ ! -d "$d" ]; then
  mkdir -p -- "$d" || exit 1
  # Made under sudo: remote-dir stays the deploy user's (on a single box the app side needs it).
  [ "$(id -u)" = 0 ] && [ -n "\${SUDO_UID:-}" ] && chown -- "$SUDO_UID:\${SUDO_GID:-$SUDO_UID}" "$d"
else
  quiet=" $(( $(date +%s) - $(stat -c %Y -- "$d" 2>/dev/null || date +%s) ))"
fi
if mkdir -- "$lock" 2>/dev/null; then printf '%s\\n' "$info" > "$lock/owner"; echo "acquired$quiet"; exit 0; fi
now=$(date +%s)
since=$(stat -c %Y -- "$lock" 2>/dev/null || echo "$now")
age=$((now - since))
owner=$(cat -- "$lock/owner" 2>/dev/null | head -n 1)
if [ "$stale" -gt 0 ] && [ "$age" -ge "$stale" ]; then
  # Taking over is itself done under a lock (mkdir is atomic): of two deploys that both find the
  # lock stale, one replaces it, and the other then finds it fresh. A takeover lock left by a
  # deploy that died in these few lines is stale after 60 s.
  t="$lock.takeover"
  if ! mkdir -- "$t" 2>/dev/null; then
    tage=$(( now - $(stat -c %Y -- "$t" 2>/dev/null || echo "$now") ))
    [ "$tage" -ge 60 ] && rmdir -- "$t" 2>/dev/null && mkdir -- "$t" 2>/dev/null || { echo "held $age $owner"; exit 0; }
  fi
  since2=$(stat -c %Y -- "$lock" 2>/dev/null || echo none)
  owner2=$(cat -- "$lock/owner" 2>/dev/null | head -n 1)
  # Still the very lock judged stale (not replaced by another deploy meanwhile)?
  if [ "$since2" = "$since" ] && [ "$owner2" = "$owner" ]; then
    rm -rf -- "$lock"
    if mkdir -- "$lock" 2>/dev/null; then printf '%s\\n' "$info" > "$lock/owner"; rmdir -- "$t"; echo "recovered $age $owner"; exit 0; fi
  fi
  rmdir -- "$t" 2>/dev/null
  now=$(date +%s)
  age=$(( now - $(stat -c %Y -- "$lock" 2>/dev/null || echo "$now") ))
  owner=$(cat -- "$lock/owner" 2>/dev/null | head -n 1)
fi
echo "held $age $owner"
`;

/**
 * mkdir-based lock. Prints `acquired [QUIET]` (QUIET: seconds since remote-dir last changed, none
 * when it was just made), `recovered AGE OWNER` (stale lock replaced) or `held AGE OWNER`.
 */
export function acquireLock(lockDir: string, info: string, staleSec: number, o: CmdOptions): Cmd {
  return wrap('take the deploy lock', LOCK, [lockDir, info.replace(/\n/g, ' '), Math.ceil(staleSec)], o);
}

export const UNLOCK = `
lock=$1 info=$2
[ "$(cat -- "$lock/owner" 2>/dev/null | head -n 1)" = "$info" ] && rm -rf -- "$lock"
exit 0
`;

export function releaseLock(lockDir: string, info: string, o: CmdOptions): Cmd {
  return wrap('release the deploy lock', UNLOCK, [lockDir, info.replace(/\n/g, ' ')], o);
}

export const REFRESH = `
lock=$1 info=$2
[ "$(cat -- "$lock/owner" 2>/dev/null | head -n 1)" = "$info" ] || { echo lost; exit 0; }
touch -c -- "$lock" && echo refreshed
`;

/** Keeps a held lock fresh (its age is its directory's mtime): `refreshed`, or `lost` when it is not ours. */
export function refreshLock(lockDir: string, info: string, o: CmdOptions): Cmd {
  return wrap('refresh the deploy lock', REFRESH, [lockDir, info.replace(/\n/g, ' ')], o);
}

export const STATUS = `
lock=$1
[ -d "$lock" ] || { echo free; exit 0; }
age=$(( $(date +%s) - $(stat -c %Y -- "$lock" 2>/dev/null || date +%s) ))
echo "held $age $(cat -- "$lock/owner" 2>/dev/null | head -n 1)"
`;

/** Who holds the lock, without taking it: `free` or `held AGE OWNER`. */
export function lockStatus(lockDir: string, o: CmdOptions): Cmd {
  return wrap('check the deploy lock', STATUS, [lockDir], o);
}
