# Field N of /proc/PID/stat after the process name (2: the parent, 20: the start time), read by
# the shell itself: on a busy host each sed or cut it would start costs tens of milliseconds.
stat_field() {
  IFS= read -r _sf 2>/dev/null < "/proc/$1/stat" || return 0
  _sf_n=$2
  # shellcheck disable=SC2086 # after the name, the fields are words
  set -- ${_sf##*) }
  [ $# -ge "$_sf_n" ] || return 0
  shift $((_sf_n - 1))
  printf '%s\n' "$1"
}
starttime() { stat_field "$1" 20; }
alive() {
  IFS= read -r _stat 2>/dev/null < "/proc/$1/stat" || return 1
  _stat=${_stat##*) }
  case $_stat in Z* | X* | '') return 1 ;; esac
}
