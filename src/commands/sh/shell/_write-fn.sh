write_atomic() {
  tmp="$(dirname -- "$1")/.$(basename -- "$1").deploy-$$"
  if ! cat > "$tmp"; then rm -f -- "$tmp"; return 1; fi
  if [ -e "$1" ]; then
    chmod --reference="$1" -- "$tmp" 2>/dev/null
    chown --reference="$1" -- "$tmp" 2>/dev/null
  else
    chmod 644 -- "$tmp"
  fi
  mv -f -- "$tmp" "$1" || { rm -f -- "$tmp"; return 1; }
}
