#!/bin/sh
# bench/serve/openload.sh - latency against offered load: `trawl serve` on
# data/wiki-demo without its cache, an open-loop client sending at fixed
# rates from 0.25 to 2 times the capacity it measured first (closed loop);
# p50/p90/p99 of answered requests from their due time, shares refused and
# failed. How it is measured: see the docstring of openload.py.
#
#   sh bench/serve/openload.sh     # REPS=3 STEP_SECS=5 LOADS=0.25,...,2.0 POOL=128 DEADLINE=2 RUN=name
set -eu
command -v python3 >/dev/null 2>&1 || { echo "openload.sh: python3 is missing" >&2; exit 69; }
exec python3 "$(dirname "$0")/openload.py" "$@"
