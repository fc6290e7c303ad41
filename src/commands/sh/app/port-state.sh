port=$1 pidfile=$2 priv=$3
# @include shell/_proc-fns.sh
# ss names another user's process only to root: with priv (sudo: true), through sudo, as the
# exact command of the sudoers rule; nothing else here needs root.
# A rule without that line (an older one): the deploy user's own view, said as 'unprivileged'.
if [ "$priv" = 1 ] && out=$(sudo -n ss -Htlnp "sport = :$port" 2>/dev/null); then
  :
else
  [ "$priv" = 1 ] && echo unprivileged
  out=$(ss -Htlnp "sport = :$port" 2>&1) || { echo "ss-failed $out"; exit 0; }
fi
read -r opid ostart 2>/dev/null < "$pidfile" || true
if [ -n "$opid" ] && [ -n "$ostart" ] && [ "$(starttime "$opid")" = "$ostart" ]; then echo "ours=$opid"; else echo "ours="; fi
[ -z "$out" ] && { echo free; exit 0; }
pid=$(printf '%s\n' "$out" | sed -n 's/.*pid=\([0-9][0-9]*\).*/\1/p' | head -n 1)
echo "pid=$pid"
if [ -n "$pid" ]; then
  echo "start=$(starttime "$pid")"
  # Whose it is: another user's process can only be taken over through a broad sudo rule (the
  # exact one names no command that could stop it): asked with sudo -l, which runs nothing.
  u=$(stat -c %u "/proc/$pid" 2>/dev/null)
  me=$(id -u)
  echo "uid=$u"
  if [ -n "$u" ] && [ "$u" != "$me" ] && [ "$me" != 0 ] && [ "$priv" = 1 ]; then
    if sudo -n -l sh -c : >/dev/null 2>&1; then echo broad=yes; else echo "broad=no $(id -un) $(stat -c %U "/proc/$pid" 2>/dev/null)"; fi
  fi
  cmd=$(tr '\000' ' ' 2>/dev/null < "/proc/$pid/cmdline" | cut -c1-300)
  echo "cmd=$cmd"
  # A systemd service (its cgroup is NAME.service, not the one this command runs in).
  # cgroup v2 (0::PATH) or v1's name=systemd hierarchy.
  svc() { sed -n 's/^0:://p; s/^[0-9]*:name=systemd://p' "/proc/$1/cgroup" 2>/dev/null | grep '\.service$' | head -n 1; }
  cg=$(svc "$pid")
  if [ -n "$cg" ] && [ "$cg" != "$(svc $$)" ]; then echo "unit=${cg##*/}"; fi
fi
exit 0
