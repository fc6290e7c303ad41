url=$1 t=$2
if command -v curl >/dev/null 2>&1; then
  curl -sS -m "$t" -o - -w '\nzdd-status %{http_code}\n' -H 'User-Agent: jar-bluegreen-deploy health check' -- "$url" 2>&1
elif command -v wget >/dev/null 2>&1; then
  wget -S -q -O - -T "$t" -- "$url" 2>&1
  rc=$?
  echo; echo "zdd-wget $rc"
else
  echo zdd-no-client
fi
exit 0
