rc=$1 limit=$2
# The start was sent right behind the jar, so that it costs no round trip after it: it goes on
# once RECEIVE wrote 0 to $rc (the jar is in place), and never when it wrote anything else.
i=0
while [ "$i" -lt $((limit * 50)) ]; do
  if [ -s "$rc" ] && IFS= read -r code < "$rc"; then
    rm -f -- "$rc"
    [ "$code" = 0 ] && exit 0
    echo "the jar was not received (its receiving ended with $code): nothing was started" >&2
    exit 97
  fi
  sleep 0.02
  i=$((i + 1))
done
echo "the jar did not arrive within ${limit}s: nothing was started" >&2
exit 97
