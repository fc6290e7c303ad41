s=$1; shift
# Runs the script s on the remaining arguments, whose first is a pid. The deploy user's own
# process (or one that is gone): as the deploy user, no sudo. Another user's (a process the seed
# scripts started as root, say): the whole script through `sudo -n sh -c`, which only a broad rule
# (NOPASSWD: ALL) allows; for a one-time takeover. Without it: `needs-root UID USER`, nothing done.
me=$(id -u)
u=$(stat -c %u "/proc/$1" 2>/dev/null)
if [ -n "$u" ] && [ "$u" != "$me" ] && [ "$me" != 0 ]; then
  sudo -n -l sh -c "$s" sh "$@" >/dev/null 2>&1 || { echo "needs-root $u $(id -un)"; exit 0; }
  exec sudo -n sh -c "$s" sh "$@"
fi
exec sh -c "$s" sh "$@"
