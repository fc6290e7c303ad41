# The canary and the bake read the access log as the deploy user (from an offset: no exact sudo
# command can name that read), so a log it may not read is said, with its owner and mode.
if [ -e "$1" ] && [ ! -r "$1" ]; then echo "unreadable $(id -un) $(stat -c '%U:%G %a' -- "$1")"; exit 0; fi
if [ -f "$1" ]; then stat -c %s -- "$1"; else echo absent; fi
