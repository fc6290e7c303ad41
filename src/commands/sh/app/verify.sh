jar=$1 sum=$2
got=$(sha256sum -- "$jar" | cut -d' ' -f1)
if [ "$got" != "$sum" ]; then rm -f -- "$jar"; echo "checksum mismatch after upload: expected $sum, got $got" >&2; exit 3; fi
printf '%s\n' "$sum" > "$jar.sha256"
