# Runs the command made of the first $1 of the remaining arguments.
run_first() {
  n=$1; shift
  total=$#; i=0
  for a do
    i=$((i + 1))
    [ "$i" -le "$n" ] && set -- "$@" "$a"
  done
  shift "$total"
  "$@"
}
