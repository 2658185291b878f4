#!/bin/sh
# deploy/cluster-down.sh [RUN_DIR]
#
# Stops the local cluster that deploy/cluster-up.sh started: every process
# in RUN_DIR/pids (default: $TRAWL_RUN_DIR, else
# ${TMPDIR:-/tmp}/trawl-cluster-$(id -u), as cluster-up.sh), roots first,
# with SIGTERM (trawl finishes in-flight requests and exits), then SIGKILL
# for any still running after $TRAWL_STOP_TIMEOUT seconds (default 10).
# Only processes that are still trawl processes are signalled (a PID may
# have been reused since). The cluster file and the logs stay; the PIDs file
# is removed.
set -eu

[ $# -le 1 ] || { echo "usage: $0 [RUN_DIR]" >&2; exit 64; }
RUN=${1:-${TRAWL_RUN_DIR:-${TMPDIR:-/tmp}/trawl-cluster-$(id -u)}}
PIDS=$RUN/pids
STOP_TIMEOUT=${TRAWL_STOP_TIMEOUT:-10}
if [ ! -f "$PIDS" ]; then
	echo "cluster-down: no $PIDS: nothing to stop" >&2
	exit 0
fi

alive() { # pid: running (not a zombie)
	kill -0 "$1" 2>/dev/null || return 1
	if [ -r "/proc/$1/stat" ]; then
		st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1)
		[ "$st" != Z ] || return 1
	fi
	return 0
}
is_trawl() { # pid: its command is trawl (when /proc can tell)
	[ -r "/proc/$1/cmdline" ] || return 0
	tr '\0' ' ' <"/proc/$1/cmdline" | grep -q 'trawl'
}

# Roots were written last: signal in reverse order, roots before leaves.
todo=""
while read -r pid what addr _; do
	case $pid in '' | *[!0-9]*) continue ;; esac
	if alive "$pid" && is_trawl "$pid"; then
		todo="$pid:$what:$addr $todo"
	fi
done <"$PIDS"

pids=""
for item in $todo; do
	pid=${item%%:*}
	rest=${item#*:}
	echo "stopping ${rest%%:*} ${rest#*:} (pid $pid)"
	kill -TERM "$pid" 2>/dev/null || true
	pids="$pids $pid"
done

waited=0
while :; do
	left=""
	for pid in $pids; do
		alive "$pid" && left="$left $pid"
	done
	[ -z "$left" ] && break
	if [ "$waited" -ge $((STOP_TIMEOUT * 5)) ]; then
		echo "cluster-down: still running after ${STOP_TIMEOUT}s, killing:$left" >&2
		for pid in $left; do
			kill -KILL "$pid" 2>/dev/null || true
		done
		break
	fi
	sleep 0.2 2>/dev/null || sleep 1
	waited=$((waited + 1))
done
rm -f "$PIDS"
echo "stopped; logs and cluster file stay in $RUN"
