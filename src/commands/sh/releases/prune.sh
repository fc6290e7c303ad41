dir=$1 keep=$2
shift 2
cd "$dir/releases" 2>/dev/null || exit 0
staged=$(cut -d' ' -f1 "$dir/run/staged" 2>/dev/null)
n=0
# Newest first by mtime; release names are letters, digits, '.', '_' and '-' only (inputs.ts).
# shellcheck disable=SC2045
for r in $(ls -1t); do
  n=$((n + 1))
  [ "$n" -le "$keep" ] && continue
  [ "$r" = "$staged" ] && continue
  for p in "$@"; do [ "$r" = "$p" ] && continue 2; done
  for f in "$dir"/run/*.release; do [ -f "$f" ] && [ "$(cat -- "$f")" = "$r" ] && continue 2; done
  rm -rf -- "./$r" && rm -f -- "$dir/logs/$r".*.log && echo "$r"
done
