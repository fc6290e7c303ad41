stat_field() { sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f"$2"; }
starttime() { stat_field "$1" 20; }
alive() {
  IFS= read -r _stat 2>/dev/null < "/proc/$1/stat" || return 1
  _stat=${_stat##*) }
  case $_stat in Z* | X* | '') return 1 ;; esac
}
