priv=$1
# @include unit/_priv.sh
$P journalctl --no-pager -o cat -n 15 -u "$2" 2>/dev/null || true
