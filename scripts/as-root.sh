#!/bin/sh
# Runs a command as root after installing what it needs: the sandbox uses network namespaces,
# which need root. As root: runs it directly; otherwise through sudo, keeping PATH (so the
# project's Node 24 from node_modules/.bin stays the node that runs).
set -eu
sh "$(dirname "$0")/setup.sh"
if [ "$(id -u)" -eq 0 ]; then exec "$@"; fi
exec sudo -E env "PATH=$PATH" "$@"
