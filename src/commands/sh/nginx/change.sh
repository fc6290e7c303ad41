f=$1 action=$2 expect=$3 target=$4 reload=$5 wait=$6 ct=$7 nt=$8 nd=$9 name=${10}
shift 10
# A symlinked include is replaced through its link: the link stays.
[ -L "$f" ] && f=$(readlink -f -- "$f")
# @include nginx/_workers-fn.sh
# @include shell/_write-fn.sh
sum_of() { if [ -e "$1" ]; then sha256sum -- "$1" | cut -d' ' -f1; else echo absent; fi; }
# Runs the command made of the first $1 of the remaining arguments.
run_first() {
  n=$1; shift
  total=$#; i=0
  for a do
    i=$((i + 1))
    [ "$i" -le "$n" ] && set -- "$@" "$a"
  done
  shift "$total"
  "$@"
}
old=$(nginx_workers | awk '$3 == "serving" { print $1 "/" $2 }' | tr '\n' ' ')
echo "old-workers $old"
if [ "$action" != none ]; then
  cur=$(sum_of "$f")
  if [ "$cur" = "$target" ]; then echo same; exit 0; fi
  if [ "$expect" != - ] && [ "$cur" != "$expect" ]; then echo "changed $cur"; exit 0; fi
  bak="$(dirname -- "$f")/.$(basename -- "$f").prev-$$"
  # A hard link keeps the old file (write_atomic replaces the name, not the inode): no copy.
  if [ -e "$f" ] && ! ln -f -- "$f" "$bak" 2>/dev/null && ! err=$(cp -p -- "$f" "$bak" 2>&1); then echo "write-failed $err"; exit 0; fi
  if [ "$action" = write ]; then
    if ! err=$( { write_atomic "$f"; } 2>&1 ); then rm -f -- "$bak"; echo "write-failed $err"; exit 0; fi
  elif ! err=$(rm -f -- "$f" 2>&1); then rm -f -- "$bak"; echo "write-failed $err"; exit 0; fi
  echo written
  put_back() { if [ -e "$bak" ]; then mv -f -- "$bak" "$f"; else rm -f -- "$f"; fi; }
  dump=$(mktemp) || { put_back; echo "write-failed mktemp failed"; exit 0; }
  trap 'rm -f -- "$dump"' EXIT
  # The test's stdout is the dump when the test is the dump command (nginx -T).
  out=$(run_first "$((nt + 4))" timeout -k 5 "$ct" "$@" 2>&1 >"$dump"); st=$?
  if [ "$st" -ne 0 ]; then
    # Without the file nginx's configuration fails its test: it stays as it is (the content
    # written and tested by this run), never leaving nginx unable to start.
    if [ "$action" = remove ]; then put_back; echo "removed-untestable $st"; printf '%s\n' "$out"; exit 0; fi
    put_back
    echo "test-failed $st"; printf '%s\n' "$out"; tail -c 2000 -- "$dump"; exit 0
  fi
  shift "$nt"
  if [ "$action" = write ]; then
    if [ "$nd" -gt 0 ]; then
      out=$(run_first "$((nd + 4))" timeout -k 5 "$ct" "$@" 2>&1 >"$dump"); st=$?
      if [ "$st" -ne 0 ]; then put_back; echo "dump-failed $st"; printf '%s\n' "$out"; exit 0; fi
    fi
    # What nginx will load: the new content under the name it includes the file by.
    if grep -qxF -- "# configuration file $name:" "$dump"; then
      got=$(H="# configuration file $name:" awk 'index($0, "# configuration file ") == 1 { on = ($0 == ENVIRON["H"]); next } on { if (n++) printf "\n"; printf "%s", $0 }' "$dump" | sha256sum | cut -d' ' -f1)
    else
      got=absent
    fi
    if [ "$got" != "$target" ]; then put_back; echo "not-loaded $got"; exit 0; fi
  fi
  rm -f -- "$bak"
else
  shift "$nt"
fi
shift "$nd"
[ "$reload" = 1 ] || { echo staged; exit 0; }
out=$(timeout -k 5 "$ct" "$@" 2>&1); st=$?
if [ "$st" -ne 0 ]; then
  # Did it reload all the same (a new worker within a second)? Then nginx runs the new include.
  applied=none i=0
  while [ "$i" -lt 50 ] && [ "$applied" = none ]; do
    for w in $(nginx_workers | awk '$3 == "serving" { print $1 "/" $2 }'); do case " $old " in *" $w "*) ;; *) applied=applied ;; esac; done
    [ -z "$old" ] && break
    sleep 0.02; i=$((i + 1))
  done
  echo "reload-failed $st $applied"; printf '%s\n' "$out"; exit 0
fi
echo reloaded
end=$(( $(date +%s) + wait ))
while :; do
  now=$(nginx_workers | awk '$3 == "serving" { print $1 "/" $2 }')
  for w in $now; do
    case " $old " in *" $w "*) ;; *)
      master=${w#*/}
      mine=""
      for o in $old; do [ "${o#*/}" = "$master" ] && mine="$mine ${o%/*}"; done
      echo "switched $master$mine"; exit 0 ;;
    esac
  done
  # No worker seen before or after: nothing shows the reload took (hidepid, no ps, other titles).
  if [ "$(date +%s)" -ge "$end" ]; then
    if [ -z "$old" ] && [ -z "$now" ]; then echo no-workers; else echo not-applied; fi
    exit 0
  fi
  sleep 0.02
done
