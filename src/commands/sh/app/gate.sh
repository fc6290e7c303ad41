rc=$1 limit=$2
# The start was sent right behind the jar, so that it costs no round trip after it: it goes on
# once RECEIVE wrote 0 to $rc (the jar is in place), and never when it wrote anything else.
# Passing takes $rc.go, created exclusively: a deploy that gave up takes it first (ABORT_GATE),
# and then this start never runs, even with the jar in place. $rc stays (the abort reads its
# absence as "still receiving"); both go once the start returned (gatedStart).
i=0
while [ "$i" -lt $((limit * 50)) ]; do
  if [ -s "$rc" ] && IFS= read -r code < "$rc"; then
    if [ "$code" = 0 ] && (set -C; : > "$rc.go") 2>/dev/null; then exit 0; fi
    if [ "$code" = 0 ]; then echo "the deploy gave up before the start: nothing was started" >&2; else echo "the jar was not received (its receiving ended with $code): nothing was started" >&2; fi
    exit 97
  fi
  sleep 0.02
  i=$((i + 1))
done
echo "the jar did not arrive within ${limit}s: nothing was started" >&2
exit 97
