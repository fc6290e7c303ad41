lock=$1 info=$2 stale=$3
d=$(dirname -- "$lock")
# How long remote-dir has been unchanged (an unlock removes the lock directory from it): taken
# before the lock is; none when it did not exist (no deploy ever held a lock here).
quiet=
# The lock and the audit log are the deploy user's, in remote-dir: no sudo (with sudo: true too).
if [ ! -d "$d" ]; then
  mkdir -p -- "$d" 2>/dev/null || { echo "unwritable $(id -un) $d"; exit 0; }
else
  quiet=" $(( $(date +%s) - $(stat -c %Y -- "$d" 2>/dev/null || date +%s) ))"
fi
# Not the deploy user's to write (remote-dir or its audit log, deploys.log, made by root as
# earlier versions did under sudo): said at once, not waited on as if another deploy held it.
if [ ! -w "$d" ] || { [ -e "$d/deploys.log" ] && [ ! -w "$d/deploys.log" ]; }; then echo "unwritable $(id -un) $d"; exit 0; fi
if mkdir -- "$lock" 2>/dev/null; then printf '%s\n' "$info" > "$lock/owner"; echo "acquired$quiet"; exit 0; fi
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
    if mkdir -- "$lock" 2>/dev/null; then printf '%s\n' "$info" > "$lock/owner"; rmdir -- "$t"; echo "recovered $age $owner"; exit 0; fi
  fi
  rmdir -- "$t" 2>/dev/null
  now=$(date +%s)
  age=$(( now - $(stat -c %Y -- "$lock" 2>/dev/null || echo "$now") ))
  owner=$(cat -- "$lock/owner" 2>/dev/null | head -n 1)
fi
echo "held $age $owner"
