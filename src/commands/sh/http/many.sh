url=$1 n=$2 t=$3
command -v curl >/dev/null 2>&1 || { echo zdd-no-client; exit 0; }
i=0
while [ "$i" -lt "$n" ]; do
  curl -s -m "$t" -o /dev/null -w '%{http_code} %{time_total}\n' -H 'User-Agent: jar-bluegreen-deploy warm-up' -- "$url"
  i=$((i + 1))
done
exit 0
