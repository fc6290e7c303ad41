priv=$1 unit=$2 how=$3 pidfile=$4
# @include unit/_priv.sh
if [ -n "$pidfile" ] && read -r w 2>/dev/null < "$pidfile.guard"; then kill -TERM "-$w" 2>/dev/null; rm -f -- "$pidfile.guard"; fi
state=$($P systemctl is-active "$unit" 2>/dev/null)
case $how in
  stop) $P systemctl stop "$unit" || exit 4 ;;
  disable-now) $P systemctl disable --no-reload --now "$unit" || exit 4 ;;
  disable-now-no-block) $P systemctl disable --no-reload "$unit" && $P systemctl stop --no-block "$unit" || exit 4 ;;
  disable) $P systemctl disable --no-reload "$unit" || exit 4 ;;
esac
[ -n "$pidfile" ] && [ "$how" != disable ] && rm -f -- "$pidfile"
case $state in active | activating | reloading | deactivating) echo "stopped" ;; *) echo "gone" ;; esac
