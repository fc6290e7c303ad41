pid=$1 port=$2 disarm=$3
# @include shell/_proc-fns.sh
alive "$pid" || { echo dead; exit 0; }
echo alive
echo "start=$(starttime "$pid")"
[ "$port" = 0 ] && exit 0
out=$(ss -Htlnp "sport = :$port" 2>/dev/null)
# The first line's last pid=, parsed by the shell (no sed to start on a busy host).
first=${out%%"
"*}
case $first in *pid=*) lp=${first##*pid=}; lp=${lp%%[!0-9]*} ;; *) lp= ;; esac
echo "listener=$lp"
p=$lp
while [ -n "$p" ] && [ "$p" -gt 1 ]; do
  if [ "$p" = "$pid" ]; then
    echo owns-port
    if [ -n "$disarm" ] && read -r w 2>/dev/null < "$disarm.guard"; then kill -TERM "-$w" 2>/dev/null; rm -f -- "$disarm.guard"; echo disarmed; fi
    exit 0
  fi
  p=$(stat_field "$p" 2)
done
