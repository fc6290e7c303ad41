pid=$1 end=$2
# @include shell/_proc-fns.sh
while alive "$pid"; do
  if [ "$(date +%s%3N)" -ge "$end" ]; then kill -KILL "$pid" 2>/dev/null; exit 0; fi
  sleep 0.2
done
