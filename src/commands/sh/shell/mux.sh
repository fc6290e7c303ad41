# The one shell of a connection (src/ssh/session.ts): sshd starts it through the user's login
# shell once, as `exec sh -c MUX sh NONCE [ID LANE SCRIPT]...`, and every command of the deploy on
# that host runs from here as a job, side by side. Frames come in on stdin, each a header line
# `NONCE KIND A B C D` followed by exactly the bytes it announces (read with head -c, which reads
# no further; the header with read, which reads byte by byte: nothing is read ahead):
#   J ID LEN INLEN LANE  a job: LEN bytes of script, INLEN bytes of stdin; LANE - or a lane number
#   S ID LEN FD          a job whose stdin is a stream (the jar), fed by D frames on fd FD (4-8)
#   D FD LEN             LEN bytes for the stream on FD
#   E FD                 the end of that stream
# A line that is not a header is skipped (a .bashrc that read stdin took part of what came first).
# Each job's stdout and stderr go to files; when it ends they go out on stdout as one frame,
# `\nNONCE ID o\n` stdout `\nNONCE ID e\n` stderr `\nNONCE ID r CODE\n`, under a lock (a byte in a
# FIFO), so frames of jobs that end together never interleave. Nothing a job prints can fake a
# frame: the nonce is random per connection, and no job gets it.
_zm_n=$1
shift
# Whatever directory the .bashrc left: the home directory, as sshd starts in.
cd 2>/dev/null || cd /
if ! _zm_d=$(mktemp -d 2>&1); then
  printf '\n%s fail cannot make a directory for the shell (mktemp -d): %s\n' "$_zm_n" "$_zm_d"
  exit 97
fi
# The lanes' shells go with it (by their pids, $_zm_lanes: `L:PID` words).
trap 'for _zm_x in $_zm_lanes; do kill "${_zm_x#*:}" 2>/dev/null; done; rm -rf -- "$_zm_d"' EXIT
trap 'exit 129' HUP
trap 'exit 143' TERM
mkfifo "$_zm_d/lock" && exec 3<>"$_zm_d/lock" && echo >&3 || exit 97
_zm_lanes=

# emit ID CODE: the job's output, framed, one job at a time; SIGPIPE ignored (a runner gone away
# must not end a job holding the lock)
emit() {
  trap '' PIPE
  read -r _ <&3
  printf '\n%s %s o\n' "$_zm_n" "$1"
  if [ -s "$_zm_d/$1.o" ]; then cat -- "$_zm_d/$1.o"; fi
  printf '\n%s %s e\n' "$_zm_n" "$1"
  if [ -s "$_zm_d/$1.e" ]; then cat -- "$_zm_d/$1.e"; fi
  printf '\n%s %s r %s\n' "$_zm_n" "$1" "$2"
  echo >&3
  trap - PIPE
}

# finish ID CODE: the job's frame goes out, then its files
finish() {
  emit "$1" "$2"
  rm -f -- "$_zm_d/$1.s" "$_zm_d/$1.i" "$_zm_d/$1.o" "$_zm_d/$1.e"
}

# job ID: runs the job's script in a subshell of its own, its stdin its bytes (or nothing); the
# positional parameters and the nonce are not the job's
job() {
  (
    exec 4>&- 5>&- 6>&- 7>&- 8>&-
    _zm_j=$1
    if [ -e "$_zm_d/$_zm_j.i" ]; then _zm_i=$_zm_d/$_zm_j.i; else _zm_i=/dev/null; fi
    (
      set --
      unset _zm_n
      # shellcheck source=/dev/null
      . "$_zm_d/$_zm_j.s"
    ) <"$_zm_i" >"$_zm_d/$_zm_j.o" 2>"$_zm_d/$_zm_j.e" 3>&-
    finish "$_zm_j" "$?"
  ) &
}

# stream ID FD: a job reading a FIFO the dispatcher writes D frames into on FD; once the job is
# done, what is still sent is read and dropped, so a write never finds the FIFO without a reader
stream() {
  mkfifo "$_zm_d/$1.i" || return
  (
    _zm_j=$1
    exec <"$_zm_d/$_zm_j.i" 4>&- 5>&- 6>&- 7>&- 8>&-
    (
      set --
      unset _zm_n
      # shellcheck source=/dev/null
      . "$_zm_d/$_zm_j.s"
    ) >"$_zm_d/$_zm_j.o" 2>"$_zm_d/$_zm_j.e" 3>&-
    _zm_r=$?
    cat >/dev/null
    finish "$_zm_j" "$_zm_r"
  ) &
  eval "exec $2>\"\$_zm_d/\$1.i\""
}

# lane L ID: the job runs in lane L's own shell, after the lane's earlier ones, in that shell
# (what one keeps there, $_zdd_prev, the next one reads)
lane() {
  if [ ! -p "$_zm_d/L$1" ]; then
    mkfifo "$_zm_d/L$1" || return
    (
      exec 9<>"$_zm_d/L$1" 4>&- 5>&- 6>&- 7>&- 8>&-
      set --
      while IFS= read -r _zm_j <&9 && [ "$_zm_j" != q ]; do
        if [ -e "$_zm_d/$_zm_j.i" ]; then _zm_i=$_zm_d/$_zm_j.i; else _zm_i=/dev/null; fi
        _zm_m=$_zm_n
        unset _zm_n
        # shellcheck source=/dev/null
        { . "$_zm_d/$_zm_j.s"; } <"$_zm_i" >"$_zm_d/$_zm_j.o" 2>"$_zm_d/$_zm_j.e" 3>&- 9>&-
        _zm_r=$?
        _zm_n=$_zm_m
        finish "$_zm_j" "$_zm_r"
      done
    ) &
    _zm_lanes="$_zm_lanes $1:$!"
  fi
  echo "$2" >"$_zm_d/L$1"
}

# run ID LANE: a job, in its lane or on its own
run() {
  if [ "$2" = - ]; then job "$1"; else lane "$2" "$1"; fi
}

printf '\n%s hello\n' "$_zm_n"
# The jobs sent with the shell's own start, in its command line.
while [ "$#" -ge 3 ]; do
  printf %s "$3" >"$_zm_d/$1.s"
  run "$1" "$2"
  shift 3
done
while IFS=' ' read -r _zm_h _zm_k _zm_a _zm_b _zm_c _zm_e; do
  [ "$_zm_h" = "$_zm_n" ] || continue
  case $_zm_k in
    J)
      head -c "$_zm_b" >"$_zm_d/$_zm_a.s"
      if [ "$_zm_c" -gt 0 ]; then head -c "$_zm_c" >"$_zm_d/$_zm_a.i"; fi
      run "$_zm_a" "$_zm_e"
      ;;
    S)
      head -c "$_zm_b" >"$_zm_d/$_zm_a.s"
      stream "$_zm_a" "$_zm_c"
      ;;
    D) head -c "$_zm_b" >&"$_zm_a" ;;
    E) eval "exec $_zm_a>&-" ;;
  esac
done
# The runner is gone or done: the streams end, the lanes stop, and what still runs finishes
# (as a command of a closed SSH session would) before the directory goes.
exec 4>&- 5>&- 6>&- 7>&- 8>&-
for _zm_x in $_zm_lanes; do echo q 2>/dev/null >"$_zm_d/L${_zm_x%:*}" || kill "${_zm_x#*:}" 2>/dev/null; done
wait
_zm_lanes=
