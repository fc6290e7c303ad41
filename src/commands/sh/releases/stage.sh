dir=$1 port=$2 rel=$3
read -r pid st < "$dir/run/$port.pid" || exit 1
printf '%s %s %s %s\n' "$rel" "$port" "$pid" "$st" > "$dir/run/staged"
