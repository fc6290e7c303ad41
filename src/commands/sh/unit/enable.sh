priv=$1
# @include unit/_priv.sh
$P systemctl enable --no-reload "$2" 2>&1
