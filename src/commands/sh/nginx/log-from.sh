f=$1 from=$2 max=$3
size=$(stat -c %s -- "$f" 2>/dev/null || echo 0)
# Rotated (smaller than where we started): read the new file from its start.
[ "$size" -lt "$from" ] && from=0
tail -c +"$((from + 1))" -- "$f" 2>/dev/null | head -c "$max"
