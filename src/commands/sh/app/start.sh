pidfile=$2 log=$3 guard=$4 cwd=$5 envfile=$6 logmax=$7 oom=$8
shift 8
# @include shell/_proc-fns.sh
mkdir -p -- "$(dirname -- "$envfile")" "$(dirname -- "$log")" || exit 1
( umask 077; cat > "$envfile.tmp" ) && mv -f -- "$envfile.tmp" "$envfile" || exit 1
exe=$(command -v "$1" 2>/dev/null) && [ -n "$exe" ] && { shift; set -- "$exe" "$@"; }
cd "$cwd" || exit 1
setsid nohup sh -c "$LAUNCH_SCRIPT" launch "$oom" "$envfile" "$@" >>"$log" 2>&1 </dev/null &
pid=$!
st=$(starttime "$pid")
printf '%s %s\n' "$pid" "$st" > "$pidfile"
if [ "$logmax" -gt 0 ]; then
  setsid nohup sh -c "$LOGCAP_SCRIPT" logcap "$pid" "$st" "$log" "$logmax" 5 >/dev/null 2>&1 </dev/null &
fi
if [ "$guard" -gt 0 ]; then
  setsid nohup sh -c "$GUARD_SCRIPT" guard "$guard" "$pid" "$st" >/dev/null 2>&1 </dev/null &
  printf '%s\n' "$!" > "$pidfile.guard"
fi
echo "$pid"
