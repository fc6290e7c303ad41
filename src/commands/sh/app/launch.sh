# shellcheck disable=SC2163
# $1: an oom_score_adj to take first (0: the host's default), for a new version running next to
# the live one: raising one's own score needs no privilege, and exec keeps it for the JVM.
[ "$1" = 0 ] || echo "$1" > /proc/self/oom_score_adj 2>/dev/null
f=$2; shift 2; while IFS= read -r kv || [ -n "$kv" ]; do export "$kv"; done < "$f"; exec "$@"
