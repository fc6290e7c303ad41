part=$1 jar=$2 size=$3
# The channel opens ahead of the release directory check: the first line says whether the jar
# follows (go) or is not needed (anything else); nothing is touched before it.
IFS= read -r go || go=
# 'go rc': a start waits on the host for this one's end (GATE): its exit code goes to $part.rc,
# created exclusively (an abort the runner wrote there first wins).
record_rc() {
  c=$?
  (set -C; printf '%s\n' "$c" > "$part.rc") 2>/dev/null
  exit "$c"
}
case $go in
  go) ;;
  'go rc') trap record_rc EXIT; trap 'exit 1' HUP TERM ;;
  *) echo skipped; exit 0 ;;
esac
# The jar may be sent while the release directory is made (prepareRelease): make it here too.
if ! err=$(mkdir -p -- "${part%/*}" 2>&1); then echo "$err" >&2; exit 2; fi
if ! err=$( { cat > "$part"; } 2>&1 ); then rm -f -- "$part"; echo "$err" >&2; exit 2; fi
have=$(wc -c 2>/dev/null < "$part" || echo 0)
if [ "$have" -ne "$size" ]; then rm -f -- "$part"; echo "wrote $have of $size bytes" >&2; exit 2; fi
# A verified jar (with its .sha256) is a kept release: never replaced.
if [ -s "$jar.sha256" ]; then rm -f -- "$part"; echo "$jar is a kept release (it has its .sha256): not replaced" >&2; exit 3; fi
rm -f -- "$jar.sha256"
mv -f -- "$part" "$jar"
