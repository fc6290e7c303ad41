# http_get URL SECONDS: one GET, printed for parseHttpGet (curl: the body, then `zdd-status CODE`;
# wget: its headers and body, then `zdd-wget RC`; neither: `zdd-no-client`).
http_get() {
  if command -v curl >/dev/null 2>&1; then
    curl -sS -m "$2" -o - -w '\nzdd-status %{http_code}\n' -H 'User-Agent: jar-bluegreen-deploy health check' -- "$1" 2>&1
  elif command -v wget >/dev/null 2>&1; then
    wget -S -q -O - -T "$2" -- "$1" 2>&1
    _rc=$?
    echo; echo "zdd-wget $_rc"
  else
    echo zdd-no-client
  fi
}
