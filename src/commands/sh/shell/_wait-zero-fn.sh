now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
wait_zero() {
  _end=$(( $(now_ms) + $1 )); shift
  while :; do
    _n=$("$@")
    if [ "$_n" -eq 0 ] || [ "$(now_ms)" -ge "$_end" ]; then echo "$_n"; return 0; fi
    sleep 0.02
  done
}
