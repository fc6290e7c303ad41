end=$(( $(date +%s) + $1 )) pid=$2 start=$3 unit=$4 priv=$5
# @include shell/_proc-fns.sh
while [ "$(date +%s)" -lt "$end" ]; do sleep 1; done
same() { [ "$(starttime "$pid")" = "$start" ]; }
same || exit 0
# A systemd service is stopped through systemd (a killed main process would be restarted), with
# the same sudo as the start (the deploy user's systemctl cannot stop a system unit).
if [ -n "$unit" ]; then
  if [ "$priv" = 1 ]; then sudo -n systemctl stop "$unit"; else systemctl stop "$unit"; fi 2>/dev/null
  exit 0
fi
kill -TERM "$pid" 2>/dev/null
i=0
while same && [ "$i" -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
same && kill -KILL "$pid" 2>/dev/null
exit 0
