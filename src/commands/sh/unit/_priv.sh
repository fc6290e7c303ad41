P=; [ "$priv" = 1 ] && P="sudo -n"
