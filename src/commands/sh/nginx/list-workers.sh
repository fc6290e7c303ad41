# @include nginx/_workers-fn.sh
nginx_workers
