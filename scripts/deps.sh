#!/bin/sh
# Installs the Debian 12 packages trawl needs to build and test (as root).
# Does nothing when they are all present already.
set -eu
PKGS="gcc libc6-dev meson ninja-build pkg-config python3 \
 libnng-dev liblmdb-dev libzstd-dev zlib1g-dev libxxhash-dev libutf8proc-dev libstemmer-dev \
 libjansson-dev libcmocka-dev libmicrohttpd-dev openssl haproxy"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
	echo "trawl needs these Debian packages:$missing (run this script as root)" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends $missing >/dev/null
