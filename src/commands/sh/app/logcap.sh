pid=$1 start=$2 log=$3 max=$4 every=$5
# @include shell/_proc-fns.sh
# Caps a detached release's log (log-max-size): while the process runs (the same start time),
# every $every seconds a log over $max bytes is copied to $log.1 (replacing the older copy) and
# truncated in place. The app appends to it (>>, O_APPEND), so it goes on writing at the new end;
# the lines written between the copy and the truncation are lost (a few at most).
while [ "$(starttime "$pid")" = "$start" ]; do
  size=$(wc -c < "$log" 2>/dev/null) || size=0
  if [ "${size:-0}" -gt "$max" ]; then
    cp -- "$log" "$log.1.tmp" && mv -f -- "$log.1.tmp" "$log.1" && : > "$log"
  fi
  sleep "$every"
done
