if [ -f "$1" ]; then stat -c %s -- "$1"; else echo absent; fi
