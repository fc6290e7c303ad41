# refused_line TAG CMD [ARG...]: `TAG USER<TAB>PATH<TAB>ARG...`: what sudo refused, the command
# found where sudo looks for it (its secure_path), so the sudoers line can be spelled out.
refused_line() {
  _tag=$1; shift
  _c=$1
  case $_c in */*) ;; *) _c=$(PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH command -v -- "$1" 2>/dev/null) || _c=$1 ;; esac
  shift
  printf '%s %s' "$_tag" "$(id -un)"
  printf '\t%s' "$_c" "$@"
  printf '\n'
}
# sudo_says OUTPUT: whether OUTPUT is sudo's refusal (the command is not in the rule).
sudo_says() { case $1 in *'sudo: a password is required'*) return 0 ;; esac; return 1; }
