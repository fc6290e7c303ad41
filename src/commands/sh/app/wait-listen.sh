pidfile=$1 port=$2 ms=$3
# @include shell/_proc-fns.sh
# @include shell/_wait-zero-fn.sh
read -r pid _ 2>/dev/null < "$pidfile" || { echo nopid; exit 0; }
end=$(( $(now_ms) + ms ))
while :; do
  alive "$pid" || { echo "dead $pid"; exit 0; }
  [ -n "$(ss -Htln "sport = :$port" 2>/dev/null)" ] && { echo "listening $pid"; exit 0; }
  [ "$(now_ms)" -ge "$end" ] && { echo "waiting $pid"; exit 0; }
  sleep 0.02
done
