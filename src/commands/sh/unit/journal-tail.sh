priv=$1
# @include unit/_priv.sh
# 300 lines: enough for Spring Boot's failure report whole. A sudoers rule written for an older
# version of the action allows only -n 15: then those.
$P journalctl --no-pager -o cat -n 300 -u "$2" 2>/dev/null || $P journalctl --no-pager -o cat -n 15 -u "$2" 2>/dev/null || true
