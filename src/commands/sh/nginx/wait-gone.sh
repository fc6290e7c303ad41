ms=$1; shift
# @include shell/_proc-fns.sh
# @include shell/_wait-zero-fn.sh
count_alive() { _k=0; for _p; do alive "$_p" && _k=$((_k + 1)); done; echo "$_k"; }
wait_zero "$ms" count_alive "$@"
