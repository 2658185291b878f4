#!/bin/sh
# make-certs.sh DIR NAME[=SAN,...]... - a certificate authority and a
# certificate (with its key) for each NAME, for trawl's tls+tcp:// traffic:
# a build coordinator and its build workers, leaves and roots
# (docs/OPERATIONS.md, "TLS"). Needs openssl (Debian: apt-get install openssl).
#
#   scripts/make-certs.sh certs build.example.com worker-1 worker-2
#   scripts/make-certs.sh certs leaf-0=DNS:leaf-0.example.com,IP:10.0.0.5
#
# writes DIR/ca.pem and DIR/ca.key (made once: a later run adds certificates
# signed by the same CA), and DIR/NAME.pem and DIR/NAME.key for every NAME.
# Each certificate has CN=NAME and a subjectAltName: the SANs given after
# '=', else DNS:NAME (or IP:NAME for an IP address). The host name a build
# worker or a root dials must be among its peer's DNS names (for an IP
# address in the URL only the CA is checked: Debian 12's mbedtls cannot match
# IP addresses). Every certificate may serve and connect (serverAuth and
# clientAuth), so one kind of file does for every role. Keys are RSA 2048,
# readable by their owner only; certificates last DAYS days (default 825).
#
# Give every process its NAME.pem and NAME.key, and ca.pem as --ca. Keep
# ca.key off the machines that run trawl: whoever holds it can make
# certificates that every trawl process of the cluster accepts.
set -eu
if [ $# -lt 2 ]; then
	echo "usage: $0 DIR NAME[=SAN,SAN...]..." >&2
	exit 64
fi
command -v openssl >/dev/null || { echo "$0: needs openssl" >&2; exit 69; }
dir=$1
shift
days=${DAYS:-825}
mkdir -p "$dir"
umask 077
if [ ! -f "$dir/ca.pem" ]; then
	openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days "$days" \
		-keyout "$dir/ca.key" -out "$dir/ca.pem" -subj "/CN=trawl CA $(date +%Y-%m-%d)" \
		-addext "basicConstraints=critical,CA:TRUE" \
		-addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
	chmod 644 "$dir/ca.pem"
	echo "made $dir/ca.pem (and its key, $dir/ca.key)"
fi
for arg in "$@"; do
	name=${arg%%=*}
	case $name in
	'' | */* | .*) echo "$0: $name: not a usable name" >&2; exit 64 ;;
	esac
	if [ "$arg" != "$name" ]; then
		san=${arg#*=}
	elif printf '%s' "$name" | grep -Eq '^[0-9.]+$|:'; then
		san="IP:$name"
	else
		san="DNS:$name"
	fi
	ext=$(mktemp)
	printf '%s\n' "basicConstraints=CA:FALSE" \
		"keyUsage=critical,digitalSignature,keyEncipherment" \
		"extendedKeyUsage=serverAuth,clientAuth" "subjectAltName=$san" >"$ext"
	openssl req -newkey rsa:2048 -nodes -sha256 -keyout "$dir/$name.key" \
		-out "$dir/$name.csr" -subj "/CN=$name" 2>/dev/null
	openssl x509 -req -sha256 -days "$days" -in "$dir/$name.csr" -CA "$dir/ca.pem" \
		-CAkey "$dir/ca.key" -CAcreateserial -out "$dir/$name.pem" -extfile "$ext" 2>/dev/null
	rm -f "$ext" "$dir/$name.csr"
	chmod 644 "$dir/$name.pem"
	echo "made $dir/$name.pem and $dir/$name.key ($san)"
done
