dir=$1 port=$2 pid=$3
# @include shell/_proc-fns.sh
alive "$pid" || exit 0
printf '%s %s\n' "$pid" "$(starttime "$pid")" > "$dir/run/$port.pid"
