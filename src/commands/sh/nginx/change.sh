f=$1 action=$2 expect=$3 target=$4 reload=$5 wait=$6 ct=$7 nt=$8 nd=$9 name=${10} P=${11} V=${12} vsha=${13}
shift 13
# A symlinked include is replaced through its link: the link stays.
[ -L "$f" ] && f=$(readlink -f -- "$f")
# @include nginx/_workers-fn.sh
# @include shell/_write-fn.sh
# @include nginx/_sudo-fn.sh
# root CMD [ARG...]: CMD as root. With sudo (P=1) it goes through `sudo -n` exactly as written,
# the way a line of the sudoers rule names it (docs/server-setup.md, The sudo rule); without, it
# runs as it is (the user is root, or may write the include). When sudo refuses it (the rule has
# no such line), the command is kept in "$tmpd/refused" for refused_line, and the status is 126.
root() {
  [ "$P" = 1 ] || { "$@"; return; }
  sudo -n "$@" 2>"$tmpd/err"; _rs=$?
  if [ "$_rs" -ne 0 ] && grep -q 'a password is required' "$tmpd/err"; then
    printf '%s\n' "$@" > "$tmpd/refused"
    return 126
  fi
  cat -- "$tmpd/err" >&2
  return "$_rs"
}
# refused_of TAG: refused_line for the command root kept in "$tmpd/refused", if any; status 1 if none.
refused_of() {
  [ -s "$tmpd/refused" ] || return 1
  _t=$1
  # shellcheck disable=SC2046 # one word a line, as root wrote them (paths hold no newline)
  (IFS='
'; set -f; refused_line "$_t" $(cat -- "$tmpd/refused"))
}
sum_of() { if [ -e "$1" ]; then sha256sum -- "$1" | cut -d' ' -f1; else echo absent; fi; }
# @include shell/_run-first-fn.sh
# The user-given commands (nginx -t, nginx -T, the reload) run as root: with sudo, `sudo -n` and
# exactly their words, as the sudoers rule names them. S is that prefix, sw its word count.
S='' sw=0
[ "$P" = 1 ] && S="sudo -n" sw=2
# refused_cmd N OUTPUT ARGS...: when OUTPUT is sudo's refusal of the command made of the first N
# of ARGS, says so (sudo-refused, the command) and succeeds.
refused_cmd() {
  _n=$1 _o=$2; shift 2
  [ "$P" = 1 ] && sudo_says "$_o" || return 1
  run_first "$((_n + 2))" refused_line sudo-refused "$@"
}
old=$(nginx_workers | awk '$3 == "serving" { print $1 "/" $2 }' | tr '\n' ' ')
echo "old-workers $old"
tmpd=$(mktemp -d) || { echo "write-failed mktemp failed"; exit 0; }
trap 'rm -rf -- "$tmpd"' EXIT
dump=$tmpd/dump
if [ "$action" != none ]; then
  if [ -e "$f" ] && [ ! -r "$f" ]; then echo "write-failed user $(id -un) cannot read $f"; exit 0; fi
  cur=$(sum_of "$f")
  if [ "$cur" = "$target" ]; then echo same; exit 0; fi
  if [ "$expect" != - ] && [ "$cur" != "$expect" ]; then echo "changed $cur"; exit 0; fi
  if [ "$P" = 1 ]; then
    # With sudo: the exact commands of the sudoers rule, on the include and a fixed name next to
    # it (in a directory only root may write). New content goes in only through the validator
    # $V (when it is the one this action expects, sha256 $vsha): it reads the content on stdin,
    # accepts only the lines the action writes, and replaces the include atomically; the rule
    # pins its one argument. Without it (the action checked before anything started that the rule
    # is then broad), the content is staged from stdin beside the include and moved over it.
    # The previous file is kept by a copy. The first command is asked of sudo before any change:
    # a refusal (the rule names another include) leaves everything as it was.
    via=unchecked
    [ -f "$V" ] && [ "$(sha256sum -- "$V" 2>/dev/null | cut -d' ' -f1)" = "$vsha" ] && via=validator
    new="$(dirname -- "$f")/.$(basename -- "$f").zdd-new"
    bak="$(dirname -- "$f")/.$(basename -- "$f").zdd-prev"
    made=0 had=0
    undo_write() { [ "$made" = 1 ] && root rm -f "$new"; [ "$had" = 1 ] && root rm -f "$bak"; }
    fail_write() { refused_of sudo-refused || echo "write-failed $1"; undo_write; exit 0; }
    if [ "$via" = unchecked ] && [ "$action" = write ]; then
      # Through cat: /dev/stdin is then a pipe (a socket, as some callers give, cannot be opened).
      err=$(cat | root install -m 644 /dev/stdin "$new" 2>&1) || fail_write "$err"
      made=1
    fi
    if [ -e "$f" ]; then
      err=$(root cp -p "$f" "$bak" 2>&1) || fail_write "$err"
      had=1
    fi
    if [ "$action" = remove ]; then
      err=$(root rm -f "$f" 2>&1) || fail_write "$err"
    elif [ "$via" = unchecked ]; then
      err=$(root mv -f "$new" "$f" 2>&1) || fail_write "$err"
      made=0
    else
      # Exit 3: the validator refused the content (its reason on stderr), and wrote nothing.
      err=$(cat | root "$V" "$f" 2>&1); st=$?
      if [ "$st" = 3 ]; then echo content-refused; printf '%s\n' "$err"; undo_write; exit 0; fi
      [ "$st" = 0 ] || fail_write "$err"
    fi
    put_back() { if [ "$had" = 1 ]; then root mv -f "$bak" "$f"; else root rm -f "$f"; fi; }
    drop_kept() { [ "$had" = 1 ] && root rm -f "$bak"; }
  else
    bak="$(dirname -- "$f")/.$(basename -- "$f").prev-$$"
    # A hard link keeps the old file (write_atomic replaces the name, not the inode): no copy.
    if [ -e "$f" ] && ! ln -f -- "$f" "$bak" 2>/dev/null && ! err=$(cp -p -- "$f" "$bak" 2>&1); then echo "write-failed $err"; exit 0; fi
    if [ "$action" = write ]; then
      if ! err=$( { write_atomic "$f"; } 2>&1 ); then rm -f -- "$bak"; echo "write-failed $err"; exit 0; fi
    elif ! err=$(rm -f -- "$f" 2>&1); then rm -f -- "$bak"; echo "write-failed $err"; exit 0; fi
    put_back() { if [ -e "$bak" ]; then mv -f -- "$bak" "$f"; else rm -f -- "$f"; fi; }
    drop_kept() { rm -f -- "$bak"; }
  fi
  echo written
  # The test's stdout is the dump when the test is the dump command (nginx -T).
  # shellcheck disable=SC2086 # S: no word, or sudo -n
  out=$(run_first "$((nt + 4 + sw))" timeout -k 5 "$ct" $S "$@" 2>&1 >"$dump"); st=$?
  if [ "$st" -ne 0 ]; then
    # sudo refused the test: the include is put back, and the refusal is said with its command.
    if refused_cmd "$nt" "$out" "$@"; then put_back; exit 0; fi
    # Without the file nginx's configuration fails its test: it stays as it is (the content
    # written and tested by this run), never leaving nginx unable to start.
    if [ "$action" = remove ]; then put_back; echo "removed-untestable $st"; printf '%s\n' "$out"; exit 0; fi
    put_back
    echo "test-failed $st"; printf '%s\n' "$out"; tail -c 2000 -- "$dump"; exit 0
  fi
  shift "$nt"
  if [ "$action" = write ]; then
    if [ "$nd" -gt 0 ]; then
      # shellcheck disable=SC2086 # S: no word, or sudo -n
      out=$(run_first "$((nd + 4 + sw))" timeout -k 5 "$ct" $S "$@" 2>&1 >"$dump"); st=$?
      if [ "$st" -ne 0 ]; then
        put_back
        refused_cmd "$nd" "$out" "$@" && exit 0
        echo "dump-failed $st"; printf '%s\n' "$out"; exit 0
      fi
    fi
    # What nginx will load: the new content under the name it includes the file by.
    if grep -qxF -- "# configuration file $name:" "$dump"; then
      got=$(H="# configuration file $name:" awk 'index($0, "# configuration file ") == 1 { on = ($0 == ENVIRON["H"]); next } on { if (n++) printf "\n"; printf "%s", $0 }' "$dump" | sha256sum | cut -d' ' -f1)
    else
      got=absent
    fi
    if [ "$got" != "$target" ]; then put_back; echo "not-loaded $got"; exit 0; fi
  fi
  drop_kept
else
  shift "$nt"
fi
shift "$nd"
[ "$reload" = 1 ] || { echo staged; exit 0; }
# shellcheck disable=SC2086 # S: no word, or sudo -n
out=$(timeout -k 5 "$ct" $S "$@" 2>&1); st=$?
if [ "$st" -ne 0 ]; then
  # sudo refused the reload: nothing was signalled (the include stays as written and tested).
  if [ "$P" = 1 ] && sudo_says "$out"; then echo reload-refused; refused_cmd "$#" "$out" "$@"; exit 0; fi
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
