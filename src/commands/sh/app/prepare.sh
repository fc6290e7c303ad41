set -e
dir=$1 rel=$2 sum=$3 look=$4
[ "$look" = 1 ] || mkdir -p -- "$dir/releases/$rel" "$dir/run" "$dir/logs"
jar="$dir/releases/$rel/app.jar"
if [ -f "$jar" ] && [ "$(cat -- "$jar.sha256" 2>/dev/null)" = "$sum" ]; then echo have; exit 0; fi
# A release label names one jar: another verified jar under it is a kept release, never
# overwritten (one without its .sha256 is an upload that was never verified).
if [ -f "$jar" ] && [ -s "$jar.sha256" ]; then echo "taken $(cat -- "$jar.sha256")"; exit 0; fi
for f in "$dir"/releases/*/app.jar.sha256; do
  [ -f "$f" ] || continue
  src=${f%.sha256}
  if [ "$src" != "$jar" ] && [ -f "$src" ] && [ "$(cat -- "$f")" = "$sum" ]; then
    if [ "$look" != 1 ]; then
      tmp="$jar.part-$$"
      ln -f -- "$src" "$tmp" 2>/dev/null || cp -- "$src" "$tmp"
      mv -f -- "$tmp" "$jar"
      printf '%s\n' "$sum" > "$jar.sha256"
    fi
    echo "copied $src"
    exit 0
  fi
done
echo need
