url=$1 t=$2
# @include http/_get-fn.sh
http_get "$url" "$t"
exit 0
