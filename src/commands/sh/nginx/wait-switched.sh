ms=$1 prev=$2
# @include shell/_proc-fns.sh
# @include shell/_wait-zero-fn.sh
line=$(printf '%s\n' "$prev" | grep '^switched [0-9]' | tail -n 1)
[ -n "$line" ] || { echo none; exit 0; }
count_alive() { _k=0; for _p; do alive "$_p" && _k=$((_k + 1)); done; echo "$_k"; }
# shellcheck disable=SC2086 # the pids after the master's, one word each
set -- ${line#switched }
shift
wait_zero "$ms" count_alive "$@"
