lock=$1
[ -d "$lock" ] || { echo free; exit 0; }
age=$(( $(date +%s) - $(stat -c %Y -- "$lock" 2>/dev/null || date +%s) ))
echo "held $age $(cat -- "$lock/owner" 2>/dev/null | head -n 1)"
