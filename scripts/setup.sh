#!/bin/sh
# Installs the system packages the demo, the tests and the benchmark need (real sshd, nginx, a
# JDK, Maven, nftables, wrk, sudo, shellcheck, chromium...) when they are missing, on Debian or Ubuntu. As
# root it runs apt-get directly; otherwise through sudo. Used by `npm run demo`, `npm test` and
# .ci/run. chromium: the unit tests render the job summary's Mermaid diagrams in it (headless).
#
# Installing nginx and openssh-server from apt starts them as system services (Debian's policy);
# the sandbox runs its own copies in network namespaces and needs neither. So a service that was
# not running before this script installed its package is stopped and disabled again: the machine's
# services are left as they were.
set -eu
pkgs="nginx openssh-server openssh-client nftables iproute2 procps curl util-linux coreutils wrk lsof sudo shellcheck"
command -v javac >/dev/null 2>&1 || pkgs="$pkgs openjdk-17-jdk-headless"
# Any Chromium or Chrome will do (scripts/mermaid-render.ts looks for them); GitHub's Ubuntu images
# have Google Chrome, and Ubuntu's chromium package is only a way to install a snap.
[ -x /usr/bin/chromium ] || [ -x /usr/bin/google-chrome ] || pkgs="$pkgs chromium"
# Maven builds the Spring Boot test app (test/springboot/; its dependencies come from Maven Central)
command -v mvn >/dev/null 2>&1 || pkgs="$pkgs maven"
missing=""
for p in $pkgs; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" -eq 0 ]; then
  as_root=""
elif command -v sudo >/dev/null 2>&1; then
  as_root="sudo"
else
  echo "missing packages:$missing; run this as root (or install sudo) so they can be installed" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "missing packages:$missing; install them with your package manager (this script knows apt-get only)" >&2
  exit 1
fi
echo "installing:$missing"
$as_root apt-get update -qq
# policy-rc.d exit 101 would stop the services from starting at all, but it is machine-wide and
# another install may be running; stopping them afterwards touches only what this script added.
DEBIAN_FRONTEND=noninteractive $as_root apt-get install -y -qq --no-install-recommends $missing >/dev/null
for p in $missing; do
  case "$p" in
    nginx) units="nginx.service" ;;
    # Ubuntu 22.10 and later start sshd from ssh.socket
    openssh-server) units="ssh.socket ssh.service" ;;
    *) continue ;;
  esac
  for u in $units; do
    if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
      $as_root systemctl disable --now "$u" >/dev/null 2>&1 || true
    elif command -v service >/dev/null 2>&1; then
      $as_root service "${u%.*}" stop >/dev/null 2>&1 || true
    fi
  done
  echo "stopped and disabled what installing $p started ($units): the sandbox runs its own"
done
