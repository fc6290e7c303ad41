# shellcheck disable=SC2163
f=$1; shift; while IFS= read -r kv || [ -n "$kv" ]; do export "$kv"; done < "$f"; exec "$@"
