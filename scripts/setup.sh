#!/bin/sh
# Installs the system packages the demo, the tests and the benchmark need (real sshd, nginx, a
# JDK, Maven, nftables, wrk, sudo, shellcheck...) when they are missing, on Debian or Ubuntu. As root it runs
# apt-get directly; otherwise through sudo. Used by `npm run demo`, `npm test` and .ci/run.
set -eu
pkgs="nginx openssh-server openssh-client nftables iproute2 procps curl util-linux coreutils wrk lsof sudo shellcheck"
command -v javac >/dev/null 2>&1 || pkgs="$pkgs openjdk-17-jdk-headless"
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
DEBIAN_FRONTEND=noninteractive $as_root apt-get install -y -qq --no-install-recommends $missing >/dev/null
