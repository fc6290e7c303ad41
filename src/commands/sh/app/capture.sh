pid=$1 save=$2
# @include shell/_proc-fns.sh
alive "$pid" || { echo dead; exit 0; }
cmd=$(base64 -w0 2>/dev/null < "/proc/$pid/cmdline") && env=$(base64 -w0 2>/dev/null < "/proc/$pid/environ") \
  && cwd=$(readlink "/proc/$pid/cwd" 2>/dev/null) && [ -n "$cmd" ] || { echo "cannot read /proc/$pid/cmdline, environ or cwd"; exit 0; }
umask 077
printf 'start=%s\ncwd=%s\ncmdline=%s\nenviron=%s\n' "$(starttime "$pid")" "$(printf '%s' "$cwd" | base64 -w0)" "$cmd" "$env" > "$save.tmp" \
  && mv -f -- "$save.tmp" "$save" || exit 1
# Under sudo: the deploy user's file in the deploy user's remote-dir, readable by nobody else.
[ -n "${SUDO_UID:-}" ] && chown "$SUDO_UID:${SUDO_GID:-$SUDO_UID}" -- "$save"
echo saved
