#!/bin/sh
# Installs the Debian 12 packages trawl needs to build and test (as root).
# Does nothing when they are all present already. The tests also need node
# and npm (the OpenSearch client test), curl (deploy/cluster-up.sh, in the
# haproxy test), the zstd command (the input test), chromium (the search
# page's test drives it headless), ip and iptables (the multi-host test's
# network namespaces, links and packet loss); node and npm are
# looked for as commands, since a newer Node.js from elsewhere (which
# bundles npm and conflicts with Debian's npm package) does as well.
set -eu
PKGS="gcc libc6-dev meson ninja-build pkg-config python3 \
 libnng-dev libmbedtls-dev liblmdb-dev libzstd-dev zlib1g-dev libxxhash-dev libutf8proc-dev libstemmer-dev \
 libjansson-dev libcmocka-dev libmicrohttpd-dev openssl haproxy curl zstd chromium \
 iproute2 iptables gdb"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || missing="$missing nodejs npm"
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
	echo "trawl needs these Debian packages:$missing (run this script as root)" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends $missing >/dev/null
