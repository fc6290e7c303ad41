priv=$1 name=$2 port=$3 dir=$4 template=$5 startfile=$6 guard=$7 guard_script=$8
# @include unit/_priv.sh
# @include shell/_proc-fns.sh
unit="$name@$port.service"
run="$dir/run"
mkdir -p -- "$run" || exit 1
$P install -D -m 600 /dev/stdin "/etc/default/$name@$port" || exit 1
printf '%s' "$startfile" > "$run/$port.start.tmp" && mv -f -- "$run/$port.start.tmp" "$run/$port.start" || exit 1
t="/etc/systemd/system/$name@.service"
if [ "$(cat -- "$t" 2>/dev/null)" != "$(printf '%s' "$template")" ]; then
  printf '%s' "$template" | $P tee "$t" >/dev/null || { echo "cannot write $t, which differs from what the inputs give: allow its tee in sudoers, or install it as root (docs/systemd.md)" >&2; exit 1; }
  $P systemctl daemon-reload || exit 1
  echo reloaded >&2
fi
[ "$($P systemctl is-failed "$unit" 2>/dev/null)" = failed ] && $P systemctl reset-failed "$unit"
if ! $P systemctl start "$unit"; then
  $P journalctl --no-pager -o cat -n 15 -u "$unit" >&2
  exit 1
fi
pid=$($P systemctl show -p MainPID --value "$unit")
[ -n "$pid" ] && [ "$pid" != 0 ] || { echo "systemd started $unit but it has no main process (it exited at once)" >&2; exit 1; }
st=$(starttime "$pid")
printf '%s %s\n' "$pid" "$st" > "$run/$port.pid"
if [ "$guard" -gt 0 ]; then
  setsid nohup sh -c "$guard_script" guard "$guard" "$pid" "$st" "$unit" "$priv" >/dev/null 2>&1 </dev/null &
  printf '%s\n' "$!" > "$run/$port.pid.guard"
fi
echo "$pid"
