priv=$1
# @include unit/_priv.sh
$P systemctl enable --no-reload --now "$2" >&2 || exit 1
$P systemctl show -p MainPID --value "$2"
