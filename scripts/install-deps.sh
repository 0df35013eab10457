#!/usr/bin/env bash
# Installs, with Debian's apt-get, the commands given as arguments that are
# missing: chromium, redis-server, wrk, node=nodejs (command=package when they
# differ), npm. Used by scripts/test.sh and make flood.
set -euo pipefail
need=()
for arg in "$@"; do
	cmd=${arg%%=*} pkg=${arg#*=}
	command -v "$cmd" >/dev/null 2>&1 || need+=("$pkg")
done
((${#need[@]})) || exit 0
sudo=""
[ "$(id -u)" = 0 ] || sudo=sudo
echo "installing ${need[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}"
