pidfile=$1 port=$2 ms=$3 url=$4 status=$5 body=$6 t=$7
# @include shell/_proc-fns.sh
# @include shell/_wait-zero-fn.sh
read -r pid _ 2>/dev/null < "$pidfile" || { echo nopid; exit 0; }
end=$(( $(now_ms) + ms ))
open=
n=0
while :; do
  alive "$pid" || { echo "dead $pid"; exit 0; }
  if [ -z "$open" ] && [ -n "$(ss -Htln "sport = :$port" 2>/dev/null)" ]; then open=1; fi
  if [ -n "$open" ]; then
    if command -v curl >/dev/null 2>&1; then
      out=$(curl -s -m "$t" -o - -w '\n%{http_code}' -H 'User-Agent: jar-bluegreen-deploy health check' -- "$url" 2>/dev/null)
      code=${out##*
}
    elif command -v wget >/dev/null 2>&1; then
      # wget only says whether the status was 2xx: close enough for a hint
      out=$(wget -q -O - -T "$t" -U 'jar-bluegreen-deploy health check' -- "$url" 2>/dev/null) && code=200 || code=0
    else
      echo "listening $pid"; exit 0
    fi
    if [ "$code" = "$status" ]; then
      case $out in *"$body"*) echo "healthy $pid"; exit 0 ;; esac
    fi
    n=$((n + 1))
  fi
  [ "$(now_ms)" -ge "$end" ] && { if [ -n "$open" ]; then echo "listening $pid"; else echo "waiting $pid"; fi; exit 0; }
  if [ "$n" -le 50 ]; then sleep 0.02; else sleep 0.1; fi
done
