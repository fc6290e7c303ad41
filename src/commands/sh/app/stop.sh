pid=$1 wait=$2 pidfile=$3 watchdog=$4 start=$5
# @include shell/_proc-fns.sh
if [ -n "$pidfile" ] && read -r w 2>/dev/null < "$pidfile.guard"; then kill -TERM "-$w" 2>/dev/null; rm -f -- "$pidfile.guard"; fi
# Who the pid is: its start time as seen when it was chosen, else as this action recorded it.
if [ -z "$start" ] && [ -n "$pidfile" ] && read -r rp rs 2>/dev/null < "$pidfile" && [ "$rp" = "$pid" ]; then start=$rs; fi
# A pid whose start time differs is another process now (the one chosen exited): never signalled.
if [ -n "$start" ] && [ "$(starttime "$pid")" != "$start" ]; then echo gone; exit 0; fi
if ! alive "$pid"; then echo gone; [ -n "$pidfile" ] && rm -f -- "$pidfile"; exit 0; fi
kill -TERM "$pid" 2>/dev/null || { alive "$pid" && { echo "cannot signal $pid" >&2; exit 4; }; }
if [ -n "$watchdog" ]; then
  # The rest of its exit is left to a watchdog in its own session (it outlives this command and
  # the SSH connection); the pid file stays: it names this pid and start time only while it lives.
  end=$(( $(date +%s%3N) + wait * 1000 ))
  setsid sh -c "$watchdog" zdd-stop-watchdog "$pid" "$end" </dev/null >/dev/null 2>&1 &
  echo "exiting $! $end"
  exit 0
fi
end=$(( $(date +%s) * 10 + wait * 10 ))
while alive "$pid"; do
  if [ "$(( $(date +%s%N) / 100000000 ))" -ge "$end" ]; then
    kill -KILL "$pid" 2>/dev/null
    i=0; while alive "$pid" && [ "$i" -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
    alive "$pid" && { echo "process $pid survived SIGKILL" >&2; exit 5; }
    echo killed; [ -n "$pidfile" ] && rm -f -- "$pidfile"; exit 0
  fi
  sleep 0.02
done
echo terminated
[ -n "$pidfile" ] && rm -f -- "$pidfile"
exit 0
