#!/bin/sh
# deploy/cluster-up.sh DIR [SHARDS] [REPLICAS] [ROOTS]
#
# Starts a local trawl cluster on loopback from the live generation of the
# index in DIR (built with `trawl index DIR FILE... --shards S`):
#   - SHARDS x REPLICAS `trawl leaf` processes, each serving one shard, on
#     tcp://127.0.0.1:PORT from $TRAWL_LEAF_PORT (default 7100) upwards,
#     each with its health and metrics port (/livez, /readyz, /metrics) on
#     http://127.0.0.1:PORT from $TRAWL_LEAF_HTTP_PORT upwards (default:
#     right after the leaves' nng ports);
#   - a cluster file listing them;
#   - ROOTS `trawl root` processes on http://127.0.0.1:PORT from
#     $TRAWL_HTTP_PORT (default 9201) upwards (deploy/haproxy/haproxy.cfg
#     expects roots on 9201 and 9202);
# then waits until every leaf's and every root's /readyz answers 200 and
# prints the URLs.
# It builds nothing. Stop it with deploy/cluster-down.sh.
#
# SHARDS defaults to the index's shard count (and must equal it), REPLICAS
# to 1, ROOTS to 1. The leaf for shard s, replica r is number
# i = r*SHARDS + s: it listens on TRAWL_LEAF_PORT + i, and its health port
# is TRAWL_LEAF_HTTP_PORT + i.
#
# Environment:
#   TRAWL                the trawl binary (default: trawl on PATH, else
#                        build/cli/trawl next to this script's directory)
#   TRAWL_RUN_DIR        where the cluster file, the PIDs file and the logs
#                        go (default ${TMPDIR:-/tmp}/trawl-cluster-$(id -u))
#   TRAWL_LEAF_PORT      first leaf port (default 7100)
#   TRAWL_LEAF_HTTP_PORT first leaf health port (default: TRAWL_LEAF_PORT +
#                        SHARDS*REPLICAS); 0: leaves without a health port
#   TRAWL_HTTP_PORT      first root HTTP port (default 9201)
#   TRAWL_LEAF_WORKERS   --workers of each leaf (default 2)
#   TRAWL_READY_TIMEOUT  seconds to wait for readiness (default 30)
#   TRAWL_DRAIN_MS       each root's --drain-ms: on SIGTERM (cluster-down.sh)
#                        it answers /readyz 503 and goes on serving this long,
#                        so that HAProxy moves away first (default 3000)
#
# The PIDs file (RUN_DIR/pids) has a line per process:
#   PID ROLE ADDRESS LOGFILE [shard=S replica=R health=URL]
# with ROLE leaf or root.
#
# Needs curl or wget (readiness checks). Exit status: 0 when every root is
# ready; 64 bad usage; 66 no index; 69 a process died or readiness timed out
# (everything started is stopped again); 73 a port is taken or a cluster is
# already running in TRAWL_RUN_DIR.
set -eu

usage() {
	echo "usage: $0 DIR [SHARDS] [REPLICAS] [ROOTS]" >&2
	exit 64
}

[ $# -ge 1 ] && [ $# -le 4 ] || usage
DIR=$1
SHARDS=${2:-}
REPLICAS=${3:-1}
ROOTS=${4:-1}
here=$(cd "$(dirname "$0")" && pwd)

is_count() {
	case $1 in '' | *[!0-9]*) return 1 ;; esac
	[ "$1" -ge 1 ] && [ "$1" -le "$2" ]
}
is_count "$REPLICAS" 16 || { echo "cluster-up: REPLICAS must be 1 to 16" >&2; usage; }
is_count "$ROOTS" 16 || { echo "cluster-up: ROOTS must be 1 to 16" >&2; usage; }

if [ -z "${TRAWL:-}" ]; then
	if command -v trawl >/dev/null 2>&1; then
		TRAWL=trawl
	elif [ -x "$here/../build/cli/trawl" ]; then
		TRAWL="$here/../build/cli/trawl"
	else
		echo "cluster-up: no trawl binary: set TRAWL, put trawl on PATH or build it (ninja -C build)" >&2
		exit 69
	fi
fi

RUN=${TRAWL_RUN_DIR:-${TMPDIR:-/tmp}/trawl-cluster-$(id -u)}
LEAF_PORT=${TRAWL_LEAF_PORT:-7100}
HTTP_PORT=${TRAWL_HTTP_PORT:-9201}
WORKERS=${TRAWL_LEAF_WORKERS:-2}
READY_TIMEOUT=${TRAWL_READY_TIMEOUT:-30}
DRAIN_MS=${TRAWL_DRAIN_MS:-3000}
is_count "$LEAF_PORT" 65535 && is_count "$HTTP_PORT" 65535 && is_count "$READY_TIMEOUT" 3600 ||
	{ echo "cluster-up: TRAWL_LEAF_PORT, TRAWL_HTTP_PORT and TRAWL_READY_TIMEOUT must be numbers" >&2; exit 64; }

if command -v curl >/dev/null 2>&1; then
	http_get() { curl -fsS --max-time 2 "$1" 2>/dev/null; }
elif command -v wget >/dev/null 2>&1; then
	http_get() { wget -q -T 2 -t 1 -O - "$1" 2>/dev/null; }
else
	echo "cluster-up: needs curl or wget for the readiness checks" >&2
	exit 69
fi

# The index: its live generation's shard count.
[ -f "$DIR/CURRENT" ] || { echo "cluster-up: $DIR: no index here (no CURRENT file; build one with trawl index)" >&2; exit 66; }
DIR=$(cd "$DIR" && pwd)
S=$("$TRAWL" stats "$DIR" 2>/dev/null | sed -n 's/^shards: *//p')
GEN=$("$TRAWL" stats "$DIR" 2>/dev/null | sed -n 's/^generation: *//p')
is_count "$S" 256 || { echo "cluster-up: $DIR: cannot read the index (try: $TRAWL stats $DIR)" >&2; exit 66; }
if [ -n "$SHARDS" ] && [ "$SHARDS" != "$S" ]; then
	echo "cluster-up: $DIR has $S shards (generation $GEN), not $SHARDS: rebuild it with --shards $SHARDS, or leave SHARDS out" >&2
	exit 64
fi
NLEAVES=$((S * REPLICAS))
LEAF_HTTP_PORT=${TRAWL_LEAF_HTTP_PORT:-$((LEAF_PORT + NLEAVES))}
case $LEAF_HTTP_PORT in '' | *[!0-9]*) echo "cluster-up: TRAWL_LEAF_HTTP_PORT must be a number" >&2; exit 64 ;; esac
[ $((LEAF_PORT + NLEAVES - 1)) -le 65535 ] && [ $((HTTP_PORT + ROOTS - 1)) -le 65535 ] &&
	[ $((LEAF_HTTP_PORT + NLEAVES - 1)) -le 65535 ] ||
	{ echo "cluster-up: ports past 65535" >&2; exit 64; }

mkdir -p "$RUN"
RUN=$(cd "$RUN" && pwd)
PIDS=$RUN/pids
CLUSTER=$RUN/cluster.json

alive() { # pid: running (not a zombie)
	kill -0 "$1" 2>/dev/null || return 1
	if [ -r "/proc/$1/stat" ]; then
		st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1)
		[ "$st" != Z ] || return 1
	fi
	return 0
}

if [ -s "$PIDS" ]; then
	while read -r pid _; do
		if alive "$pid"; then
			echo "cluster-up: a cluster is already running from $RUN (pid $pid): stop it with $here/cluster-down.sh $RUN" >&2
			exit 73
		fi
	done <"$PIDS"
fi

# Ports in use (when ss is there to tell).
port_taken() {
	command -v ss >/dev/null 2>&1 || return 1
	[ -n "$(ss -Hltn "sport = :$1" 2>/dev/null)" ]
}
i=0
while [ $i -lt $NLEAVES ]; do
	port_taken $((LEAF_PORT + i)) && { echo "cluster-up: port $((LEAF_PORT + i)) is taken (set TRAWL_LEAF_PORT)" >&2; exit 73; }
	[ "$LEAF_HTTP_PORT" = 0 ] || ! port_taken $((LEAF_HTTP_PORT + i)) ||
		{ echo "cluster-up: port $((LEAF_HTTP_PORT + i)) is taken (set TRAWL_LEAF_HTTP_PORT)" >&2; exit 73; }
	i=$((i + 1))
done
i=0
while [ $i -lt "$ROOTS" ]; do
	port_taken $((HTTP_PORT + i)) && { echo "cluster-up: port $((HTTP_PORT + i)) is taken (set TRAWL_HTTP_PORT)" >&2; exit 73; }
	i=$((i + 1))
done

: >"$PIDS"
# Stops what was started, on failure.
abort() {
	echo "cluster-up: $1; stopping what was started" >&2
	sh "$here/cluster-down.sh" "$RUN" >/dev/null 2>&1 || true
	exit 69
}
trap 'abort "interrupted"' INT TERM HUP

# Leaves: one per shard and replica. nohup: they outlive the terminal.
echo "trawl cluster: $DIR, generation $GEN: $S shard(s) x $REPLICAS replica(s), $ROOTS root(s)"
leaves=""
r=0
while [ $r -lt "$REPLICAS" ]; do
	s=0
	while [ $s -lt "$S" ]; do
		i=$((r * S + s))
		url=tcp://127.0.0.1:$((LEAF_PORT + i))
		if [ "$LEAF_HTTP_PORT" = 0 ]; then
			set -- --listen "$url"
			health=""
		else
			set -- --listen "$url" --http "127.0.0.1:$((LEAF_HTTP_PORT + i))"
			health=http://127.0.0.1:$((LEAF_HTTP_PORT + i))/
		fi
		nohup "$TRAWL" leaf --index "$DIR" --shards "$s" --workers "$WORKERS" "$@" \
			</dev/null >"$RUN/leaf-$s-$r.log" 2>&1 &
		echo "$! leaf $url $RUN/leaf-$s-$r.log shard=$s replica=$r${health:+ health=$health}" >>"$PIDS"
		echo "  leaf $url  shard $s replica $r  pid $!${health:+  health $health}"
		leaves="$leaves${leaves:+,
    }{\"url\": \"$url\", \"shards\": [$s]}"
		s=$((s + 1))
	done
	r=$((r + 1))
done

cat >"$CLUSTER.tmp" <<EOF
{
  "shards": $S,
  "leaves": [
    $leaves
  ]
}
EOF
mv "$CLUSTER.tmp" "$CLUSTER"

i=0
while [ $i -lt "$ROOTS" ]; do
	port=$((HTTP_PORT + i))
	nohup "$TRAWL" root --cluster "$CLUSTER" --http "127.0.0.1:$port" --drain-ms "$DRAIN_MS" \
		</dev/null >"$RUN/root-$i.log" 2>&1 &
	echo "$! root http://127.0.0.1:$port/ $RUN/root-$i.log" >>"$PIDS"
	echo "  root http://127.0.0.1:$port/  pid $!"
	i=$((i + 1))
done

# Readiness: every process alive, every leaf's /readyz 200 (its shard is
# open and verified), every root's /readyz 200 (a healthy replica of every
# shard), then (best effort) every replica healthy as each root sees it.
deadline=$(($(date +%s) + READY_TIMEOUT))
nap() { sleep 0.2 2>/dev/null || sleep 1; } # fractions: GNU and busybox sleep
check_alive() {
	while read -r pid role addr logf _; do
		alive "$pid" || {
			echo "cluster-up: $role $addr (pid $pid) exited; the end of $logf:" >&2
			tail -n 5 "$logf" >&2 || true
			abort "a process died"
		}
	done <"$PIDS"
}
i=0
while [ "$LEAF_HTTP_PORT" != 0 ] && [ $i -lt $NLEAVES ]; do
	url=http://127.0.0.1:$((LEAF_HTTP_PORT + i))
	until http_get "$url/readyz" >/dev/null; do
		check_alive
		[ "$(date +%s)" -lt "$deadline" ] || abort "leaf $url/readyz not 200 after ${READY_TIMEOUT}s (logs in $RUN)"
		nap
	done
	i=$((i + 1))
done
i=0
while [ $i -lt "$ROOTS" ]; do
	url=http://127.0.0.1:$((HTTP_PORT + i))
	until http_get "$url/readyz" >/dev/null; do
		check_alive
		[ "$(date +%s)" -lt "$deadline" ] || abort "$url/readyz not 200 after ${READY_TIMEOUT}s (logs in $RUN)"
		nap
	done
	i=$((i + 1))
done
i=0
while [ $i -lt "$ROOTS" ]; do
	url=http://127.0.0.1:$((HTTP_PORT + i))
	while :; do
		healthy=$(http_get "$url/_trawl/cluster" | grep -o '"state": *"healthy"' | wc -l | tr -d ' ')
		[ "$healthy" -ge "$NLEAVES" ] && break
		if [ "$(date +%s)" -ge "$deadline" ]; then
			echo "cluster-up: warning: $url sees $healthy of $NLEAVES replicas healthy (see $url/_trawl/cluster)" >&2
			break
		fi
		check_alive
		nap
	done
	i=$((i + 1))
done
trap - INT TERM HUP

echo "ready:"
i=0
while [ $i -lt "$ROOTS" ]; do
	echo "  http://127.0.0.1:$((HTTP_PORT + i))/search?q=solar+eclipse&k=3"
	i=$((i + 1))
done
echo "cluster file: $CLUSTER"
echo "pids file:    $PIDS"
echo "logs:         $RUN/*.log"
echo "stop with:    $here/cluster-down.sh $RUN"
