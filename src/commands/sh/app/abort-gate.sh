rc=$1
# The gate never removes $rc: it is absent only while the jar's receiving runs. Then its exit
# code can no longer pass the gate (RECEIVE creates $rc exclusively: the 1 written here stays).
if (set -C; printf '1\n' > "$rc") 2>/dev/null; then echo aborted
# The jar is in place and the gate has not passed: it never will ($rc.go, which passing takes, is ours).
elif (set -C; : > "$rc.go") 2>/dev/null; then echo aborted
# The gate passed: the start runs (or ran), and its pid file says what it started.
elif [ -e "$rc.go" ]; then echo decided
else echo none; fi
