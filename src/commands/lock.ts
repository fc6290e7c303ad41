// The deploy lock on each nginx host, built as data. Pure: nothing here connects.
import { type Cmd, type CmdOptions, wrap } from './shell.ts';

const LOCK = `
lock=$1 info=$2 stale=$3
mkdir -p -- "$(dirname -- "$lock")" || exit 1
if mkdir -- "$lock" 2>/dev/null; then printf '%s\\n' "$info" > "$lock/owner"; echo acquired; exit 0; fi
now=$(date +%s)
since=$(stat -c %Y -- "$lock" 2>/dev/null || echo "$now")
age=$((now - since))
owner=$(cat -- "$lock/owner" 2>/dev/null | head -n 1)
if [ "$stale" -gt 0 ] && [ "$age" -ge "$stale" ]; then
  rm -rf -- "$lock"
  if mkdir -- "$lock" 2>/dev/null; then printf '%s\\n' "$info" > "$lock/owner"; echo "recovered $age $owner"; exit 0; fi
fi
echo "held $age $owner"
`;

/** mkdir-based lock. Prints `acquired`, `recovered AGE OWNER` (stale lock replaced) or `held AGE OWNER`. */
export function acquireLock(lockDir: string, info: string, staleSec: number, o: CmdOptions): Cmd {
  return wrap('take the deploy lock', LOCK, [lockDir, info.replace(/\n/g, ' '), Math.ceil(staleSec)], o);
}

const UNLOCK = `
lock=$1 info=$2
[ "$(cat -- "$lock/owner" 2>/dev/null | head -n 1)" = "$info" ] && rm -rf -- "$lock"
exit 0
`;

export function releaseLock(lockDir: string, info: string, o: CmdOptions): Cmd {
  return wrap('release the deploy lock', UNLOCK, [lockDir, info.replace(/\n/g, ' ')], o);
}

const STATUS = `
lock=$1
[ -d "$lock" ] || { echo free; exit 0; }
age=$(( $(date +%s) - $(stat -c %Y -- "$lock" 2>/dev/null || date +%s) ))
echo "held $age $(cat -- "$lock/owner" 2>/dev/null | head -n 1)"
`;

/** Who holds the lock, without taking it: `free` or `held AGE OWNER`. */
export function lockStatus(lockDir: string, o: CmdOptions): Cmd {
  return wrap('check the deploy lock', STATUS, [lockDir], o);
}
