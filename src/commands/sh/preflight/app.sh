java=$1 dir=$2
echo "path=$PATH"
if j=$(command -v "$java" 2>/dev/null) && [ -n "$j" ]; then
  echo "java=$j"
  # The JDK's release file says its version without starting a JVM (one per host adds up).
  home=$(readlink -f -- "$j" 2>/dev/null); home=${home%/bin/java}
  if [ -f "$home/release" ] && v=$(sed -n 's/^IMPLEMENTOR="\(.*\)"$/\1 /p; s/^JAVA_VERSION="\(.*\)"$/java \1/p' "$home/release" | tr -d '\n') && [ -n "$v" ]; then
    echo "java-version=$v"
  else
    echo "java-version=$("$j" -version 2>&1 | head -n 1)"
  fi
else
  echo "java="
fi
shift 2
m=""
for t in "$@"; do command -v "$t" >/dev/null 2>&1 || m="$m $t"; done
echo "missing=$m"
d=$dir
while [ ! -d "$d" ]; do d=$(dirname -- "$d"); done
echo "avail-kb=$(df -Pk -- "$d" 2>/dev/null | awk 'NR == 2 { print $4 }')"
if [ -w "$d" ]; then echo writable=yes; else echo "writable=no $(id -un) $(stat -c %U -- "$d" 2>/dev/null)"; fi
# MemTotal and MemAvailable in kB: can a second JVM start next to the live one (check-memory)
echo "mem-kb=$(awk '/^MemTotal:/ { t = $2 } /^MemAvailable:/ { a = $2 } END { print t, a }' /proc/meminfo 2>/dev/null)"
