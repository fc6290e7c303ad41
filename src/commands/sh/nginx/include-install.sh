#!/bin/sh
# jar-bluegreen-deploy include-install: the one command through which the deploy user (with
# sudo: true) writes the nginx include as root. The sudoers rule names it with the include's path
# as its only argument, so the caller chooses neither the file nor anything else: the new content
# comes on stdin, and only the lines the action itself writes are accepted (a set line, upstream
# blocks of server lines with their parameters, comments), with host names, addresses and ports
# as values; a file of comments only (what a first deploy's undo puts back) too. Anything else
# (log_format, access_log, include, quotes, $ variables...) is refused: nginx's master runs as
# root and would open the files such directives name.
#   include-install PATH < NEW    check NEW, then replace PATH with it atomically (mode 644)
#   include-install --check < NEW check only (any user)
# Exit codes: 0 written (or valid), 2 bad usage or target, 3 content refused, 4 write failed.
# Installed root-owned, mode 755, at /usr/local/libexec/jar-bluegreen-deploy/include-install
# (docs/server-setup.md, "The include validator"); the action compares its sha256.
PATH=/usr/sbin:/usr/bin:/sbin:/bin
LC_ALL=C
export PATH LC_ALL
umask 022
max=65536
say() { printf 'include-install: %s\n' "$1" >&2; exit "$2"; }
[ "$#" -eq 1 ] || say "usage: include-install PATH < NEW, or include-install --check < NEW" 2
f=$1
if [ "$f" != --check ]; then
  case $f in
    /*) ;;
    *) say "$f: not an absolute path" 2 ;;
  esac
  case $f in
    *[!A-Za-z0-9._/@+-]* | */ | *//* | */./* | */../* | */. | */..) say "$f: not a plain path" 2 ;;
  esac
  d=${f%/*}
  [ -n "$d" ] || d=/
  b=${f##*/}
  case $b in .*) say "$f: a hidden name" 2 ;; esac
  [ -d "$d" ] && [ ! -L "$d" ] || say "$d: not a directory" 2
  [ ! -L "$f" ] || say "$f: a symbolic link (name the file it points to)" 2
  [ ! -e "$f" ] || [ -f "$f" ] || say "$f: not a regular file" 2
  # Only its owner (root) may write the directory: nobody else can put a file or link there.
  # shellcheck disable=SC2046 # two numbers
  set -- $(stat -c '%u %a' -- "$d")
  [ "$1" = "$(id -u)" ] || say "$d: owned by uid $1, not by $(id -u)" 2
  case $2 in *[2367][0-7] | *[2367]) say "$d: writable by others than its owner (mode $2)" 2 ;; esac
fi
tmpf=$(mktemp "${d:-${TMPDIR:-/tmp}}/.${b:-check}.zdd-XXXXXX") || say "cannot create a file in ${d:-/tmp}" 4
trap 'rm -f -- "$tmpf"' EXIT
trap 'exit 4' HUP INT TERM
head -c "$((max + 1))" > "$tmpf" || say "cannot read the new content" 4
n=$(wc -c < "$tmpf")
[ "$n" -le "$max" ] || say "refused: more than $max bytes" 3
[ "$(tr -d '\000' < "$tmpf" | wc -c)" = "$n" ] || say "refused: a NUL byte" 3
awk '
function no(m) { if (length(line) > 120) line = substr(line, 1, 120) "..."; printf "include-install: refused: line %d: %s: %s\n", NR, m, line > "/dev/stderr"; bad = 1; exit 3 }
function addr(a,  p) {
  if (length(a) > 270 || a ~ /\.\./) return 0
  # the host names and addresses app-hosts accepts (config/hosts.ts isValidHost)
  if (a ~ /^\[[0-9A-Fa-f:.]+(%[A-Za-z0-9_.-]+)?\]:[0-9]+$/ || a ~ /^[A-Za-z0-9_][A-Za-z0-9_.-]*:[0-9]+$/) { p = a; sub(/^.*:/, "", p) } else return 0
  return length(p) <= 5 && p + 0 >= 1 && p + 0 <= 65535
}
function num(w, k) { return w ~ ("^" k "=[0-9]+$") && length(w) <= length(k) + 10 }
function dur(w, k) { return w ~ ("^" k "=[0-9]+(ms|s|m|h|d)?$") && length(w) <= length(k) + 12 }
{
  line = $0
  if (length(line) > 1024) no("longer than 1024 characters")
  code = line
  # A comment runs to the end of the line; the code before it must end a directive.
  i = index(code, "#")
  if (i > 0) code = substr(code, 1, i - 1)
  sub(/^[ \t]+/, "", code); sub(/[ \t]+$/, "", code)
  if (code == "") next
  if (i > 0 && substr(line, i - 1, 1) !~ /^[ \t;{}]?$/) no("a # inside a word")
  if (code == "}") { if (!open) no("a } without an upstream block"); open = 0; next }
  last = substr(code, length(code), 1)
  body = substr(code, 1, length(code) - 1)
  sub(/[ \t]+$/, "", body)
  n = split(body, w, /[ \t]+/)
  if (last == "{") {
    if (open) no("a block inside the upstream block")
    if (n != 2 || w[1] != "upstream" || w[2] !~ /^[A-Za-z0-9_.-]+$/ || length(w[2]) > 64) no("not an upstream NAME { line")
    if (sets) no("an upstream block in a file with a set line")
    open = 1; ups++; next
  }
  if (last != ";") no("not a directive the action writes (each ends with ; on its own line)")
  if (w[1] == "set") {
    if (open) no("a set line inside an upstream block")
    if (n != 3 || w[2] !~ /^\$[A-Za-z_][A-Za-z0-9_]*$/ || length(w[2]) > 64 || w[3] !~ /^https?:\/\// ) no("not set $VAR http://HOST:PORT;")
    a = w[3]; sub(/^https?:\/\//, "", a); sub(/\/$/, "", a)
    if (!addr(a)) no("not a HOST:PORT after http://")
    if (++sets > 1 || ups) no("a second set line or upstream block next to a set line")
    next
  }
  if (!open) no("not a set line, an upstream block or a comment")
  if (w[1] == "server") {
    if (n < 2 || !addr(w[2])) no("not server HOST:PORT")
    for (k = 3; k <= n; k++) {
      p = w[k]
      if (p == "down" || p == "backup" || p == "resolve" || num(p, "weight") || num(p, "max_fails") || num(p, "max_conns") || dur(p, "fail_timeout") || dur(p, "slow_start")) continue
      no("not a server parameter the action keeps (weight=, max_fails=, max_conns=, fail_timeout=, slow_start=, down, backup, resolve)")
    }
    next
  }
  if (n == 2 && (num(w[1] "=" w[2], "keepalive") || num(w[1] "=" w[2], "keepalive_requests") || dur(w[1] "=" w[2], "keepalive_timeout") || dur(w[1] "=" w[2], "keepalive_time"))) next
  if (n == 1 && (w[1] == "least_conn" || w[1] == "ip_hash" || w[1] == "random")) next
  if (w[1] == "random" && body ~ /^random[ \t]+two([ \t]+least_conn)?$/) next
  if (w[1] == "zone" && (n == 2 || n == 3) && w[2] ~ /^[A-Za-z0-9_.-]+$/ && (n == 2 || w[3] ~ /^[0-9]+[kKmM]?$/)) next
  no("not a directive the action keeps in an upstream block (server, keepalive, keepalive_requests, keepalive_timeout, keepalive_time, least_conn, ip_hash, random, zone)")
}
END {
  if (bad) exit 3
  if (open) { printf "include-install: refused: the upstream block is not closed\n" > "/dev/stderr"; exit 3 }
}' "$tmpf" || exit 3
[ "$f" = --check ] && exit 0
chmod 644 -- "$tmpf" || say "cannot set the mode of the new content" 4
mv -f -- "$tmpf" "$f" || say "cannot replace $f" 4
echo written
