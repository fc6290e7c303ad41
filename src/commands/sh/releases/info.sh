dir=$1 rel=$2
shift 2
if [ -n "$rel" ]; then
  if [ -f "$dir/releases/$rel/app.jar" ]; then echo jar=yes; else echo jar=no; fi
  [ -f "$dir/releases/$rel/start.json" ] && echo "start=$(base64 -w0 < "$dir/releases/$rel/start.json")"
fi
for p in "$@"; do echo "release-$p=$(cat -- "$dir/run/$p.release" 2>/dev/null)"; done
echo "staged=$(cat -- "$dir/run/staged" 2>/dev/null)"
exit 0
