nginx_workers() { ps -eo pid=,ppid=,args= | awk '$3 == "nginx:" && $4 == "worker" { print $1, $2, ($0 ~ /shutting down/ ? "shutting" : "serving") }'; }
