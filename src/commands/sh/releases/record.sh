dir=$1 port=$2 rel=$3
printf '%s\n' "$rel" > "$dir/run/$port.release"
( umask 077; cat > "$dir/releases/$rel/start.json.tmp" ) && mv -f -- "$dir/releases/$rel/start.json.tmp" "$dir/releases/$rel/start.json"
