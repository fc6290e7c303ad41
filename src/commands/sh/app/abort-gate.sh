rc=$1
if (set -C; printf '1\n' > "$rc") 2>/dev/null; then echo aborted; elif [ -e "$rc" ]; then echo decided; else echo none; fi
