k=$1 f=$2 ct=$3 names=$4 P=$5 V=$6 vsha=$7
shift 7
# @include nginx/_workers-fn.sh
# @include nginx/_sudo-fn.sh
# @include shell/_run-first-fn.sh
S=
[ "$P" = 1 ] && S="sudo -n"
echo "zdd-$k uid $(id -u) $(id -un)"
if command -v ps >/dev/null 2>&1; then echo "zdd-$k workers $(nginx_workers | awk '$3 == "serving"' | wc -l)"; else echo "zdd-$k workers no-ps"; fi
vok=0
if [ "$P" = 1 ]; then
  # With sudo: the include validator $V (docs/server-setup.md), its sha256, owner and mode, and its
  # directory's. When it is not the one expected ($vsha), is the rule broad (NOPASSWD: ALL)?
  # Asked with sudo -l, which runs nothing.
  if [ -f "$V" ] && vs=$(sha256sum -- "$V" 2>/dev/null) && vm=$(stat -c '%u %a' -- "$V" "${V%/*}" 2>/dev/null); then
    echo "zdd-$k validator ${vs%% *}" $vm
    [ "${vs%% *}" = "$vsha" ] && vok=1
  else
    echo "zdd-$k validator absent"
  fi
  if [ "$vok" = 0 ]; then
    if sudo -n -l sh -c : >/dev/null 2>&1; then echo "zdd-$k broad yes"; else echo "zdd-$k broad no"; fi
  fi
fi
if [ -n "$f" ]; then
  d=$(dirname -- "$f")
  if [ -e "$f" ]; then s=present; elif [ -d "$d" ]; then s=absent; else s=nodir; fi
  if [ -w "$d" ] && { [ ! -e "$f" ] || [ -w "$f" ]; }; then w=w; else w=r; fi
  o=$(stat -c %U -- "$d" 2>/dev/null) || o='?'
  r=$(readlink -m -- "$f")
  echo "zdd-$k want $s $w ${o:-?} $r"
  # With sudo: does the sudoers rule name this include? The validator's command for it, which
  # writes it in a switch, is asked with sudo -l, which runs nothing: a rule for another include
  # is refused here, before anything starts.
  if [ "$vok" = 1 ] && ! sudo -n -l "$V" "$r" >/dev/null 2>&1; then refused_line "zdd-$k sudo-refused" "$V" "$r"; fi
fi
# With sudo, the other commands a switch runs as root (the test, the reload), given as
# `N WORD...` groups up to `--`: asked the same way.
while [ "$#" -gt 0 ] && [ "$1" != -- ]; do
  c=$1; shift
  if [ "$P" = 1 ] && ! run_first "$((c + 3))" sudo -n -l "$@" >/dev/null 2>&1; then run_first "$((c + 2))" refused_line "zdd-$k sudo-refused" "$@"; fi
  shift "$c"
done
[ "${1:-}" = -- ] && shift
# What each app host name resolves to here (the set form's names need a resolver in nginx).
for n in $names; do
  a=$(getent ahosts "$n" 2>/dev/null | awk 'NR == 1 { print $1 }')
  echo "zdd-$k resolve $n ${a:--}"
done
out=$(mktemp) || { echo "zdd-$k status mktemp failed"; exit 0; }
err=$(mktemp) || { rm -f -- "$out"; echo "zdd-$k status mktemp failed"; exit 0; }
trap 'rm -f -- "$out" "$err"' EXIT
# shellcheck disable=SC2086 # S: no word, or sudo -n
timeout -k 5 "$ct" $S "$@" >"$out" 2>"$err"; st=$?
if [ "$st" -ne 0 ] && [ "$P" = 1 ] && sudo_says "$(cat -- "$err")"; then refused_line "zdd-$k sudo-refused" "$@"; fi
echo "zdd-$k status $st"
if [ "$st" -ne 0 ]; then tail -n 20 -- "$err"; exit 0; fi
sed -n 's/^# configuration file \(.*\):$/\1/p' -- "$out" | while IFS= read -r p; do
  r=$p
  [ -L "$p" ] && r=$(readlink -f -- "$p")
  if [ -w "${r%/*}/" ] && [ -w "$r" ]; then w=w; else w=r; fi
  printf 'zdd-%s file %s %s\t%s\n' "$k" "$w" "$p" "$r"
done
printf '\nzdd-%s dump\n' "$k"
cat -- "$out"
