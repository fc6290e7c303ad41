pidfile=$1 port=$2 ms=$3 url=${4-} t=${5-1}
# @include shell/_proc-fns.sh
# @include shell/_wait-zero-fn.sh
# @include http/_get-fn.sh
read -r pid _ 2>/dev/null < "$pidfile" || { echo nopid; exit 0; }
end=$(( $(now_ms) + ms ))
while :; do
  alive "$pid" || { echo "dead $pid"; exit 0; }
  if [ -n "$(ss -Htln "sport = :$port" 2>/dev/null)" ]; then
    echo "listening $pid"
    # The first health check, right as the port opens; the runner judges its answer.
    [ -z "$url" ] || http_get "$url" "$t"
    exit 0
  fi
  [ "$(now_ms)" -ge "$end" ] && { echo "waiting $pid"; exit 0; }
  sleep 0.02
done
