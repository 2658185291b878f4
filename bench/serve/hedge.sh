#!/bin/sh
# bench/serve/hedge.sh - issue #4, serving figure 3: a 4-shard x 2-replica
# trawl cluster on loopback where one replica of shard 0 delays 10% of its
# SEARCH answers by 50 ms (trawl leaf --delay 0.1:50), root --cache-mb 0:
# p99 of a sequential query loop with hedging (always on in the root) against
# the same cluster without the fault, and the hedge rate from the root's
# /metrics (trawl_hedges_total / trawl_leaf_searches_total).
# How it is measured: see the docstring of hedge.py.
#
#   sh bench/serve/hedge.sh      # RUNS=3 PASSES=5 LEAF_WORKERS=2 DELAY=0.1:50 RUN=name
set -eu
command -v python3 >/dev/null 2>&1 || { echo "hedge.sh: python3 is missing" >&2; exit 69; }
exec python3 "$(dirname "$0")/hedge.py" "$@"
