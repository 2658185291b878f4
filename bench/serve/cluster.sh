#!/bin/sh
# bench/serve/cluster.sh - issue #4, serving figure 2: uncached enwiki-passages
# queries through a 4-shard trawl cluster on loopback (4 leaves x 1 worker,
# root --cache-mb 0) against the in-process latency of the same queries
# (bench/game/do_query on a 1-shard build), and the cluster's throughput
# with concurrent clients against Sphinx's distributed index over two local
# agents (../shared/peers engine sphinx_dist, set up in $PEERS).
# How each figure is measured: see the docstring of cluster.py.
#
#   sh bench/serve/cluster.sh     # RUNS=3 PASSES=5 REPS=3 DURATION=15 CONC=8 LEAVES=4 PEERS=/tmp/peers RUN=name
set -eu
for t in wrk python3; do
	command -v "$t" >/dev/null 2>&1 || { echo "cluster.sh: $t is missing (apt-get install -y wrk)" >&2; exit 69; }
done
PEERS=${PEERS:-/tmp/peers}
if [ "${SKIP_SPHINX:-0}" != 1 ] && { [ ! -x "$PEERS/engines/sphinx/bin/sphinx_query" ] || ! command -v searchd >/dev/null 2>&1; }; then
	echo "cluster.sh: no Sphinx peer in $PEERS (cp -r ../shared/peers $PEERS && cd $PEERS && ./setup.sh), or SKIP_SPHINX=1" >&2
	exit 69
fi
export PEERS
exec python3 "$(dirname "$0")/cluster.py" "$@"
