command -v systemctl >/dev/null 2>&1 && echo systemctl=yes || echo systemctl=no
[ -d /run/systemd/system ] && echo booted=yes || echo booted=no
echo "user=$(id -un)"
echo "group=$(id -gn)"
echo "uid=$(id -u)"
