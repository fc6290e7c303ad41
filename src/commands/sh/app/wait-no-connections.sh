# @include shell/_wait-zero-fn.sh
conns() { ss -Htn state established "sport = :$1" | wc -l; }
wait_zero "$2" conns "$1"
