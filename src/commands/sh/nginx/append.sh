f=$1 n=$3
mkdir -p -- "$(dirname -- "$f")" || exit 1
printf '%s\n' "$2" >> "$f" || exit 1
[ "$n" -gt 0 ] && tail -n "$n" -- "$f"
exit 0
