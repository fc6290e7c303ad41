pidfile=$1 port=$2 ms=$3 url=${4-} t=${5-1}
# @include shell/_proc-fns.sh
# @include shell/_wait-zero-fn.sh
# @include http/_get-fn.sh
read -r pid _ 2>/dev/null < "$pidfile" || { echo nopid; exit 0; }
end=$(( $(now_ms) + ms ))
while :; do
  alive "$pid" || { echo "dead $pid"; exit 0; }
  if [ -n "$(ss -Htln "sport = :$port" 2>/dev/null)" ]; then
    [ -z "$url" ] && { echo "listening $pid"; exit 0; }
    # The first health check, right as the port opens; the runner judges its answer, and counts
    # health-interval from its start (it says how many ms the GET took).
    t0=$(now_ms)
    out=$(http_get "$url" "$t")
    echo "listening $pid $(( $(now_ms) - t0 ))"
    printf '%s\n' "$out"
    exit 0
  fi
  [ "$(now_ms)" -ge "$end" ] && { echo "waiting $pid"; exit 0; }
  sleep 0.02
done
