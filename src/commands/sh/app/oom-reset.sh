pidfile=$1 pid=$2
# @include shell/_proc-fns.sh
# After the switch: the new live version's OOM score back to a normal service's (0). Lowering it
# needs root (CAP_SYS_RESOURCE): run as root or under sudo. Only the process this action started
# on the port (its pid file: pid and start time) is touched.
read -r p st _ 2>/dev/null < "$pidfile" || { echo gone; exit 0; }
[ "$p" = "$pid" ] && [ "$(starttime "$pid")" = "$st" ] || { echo gone; exit 0; }
echo 0 > "/proc/$pid/oom_score_adj" && echo reset
