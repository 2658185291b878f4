#!/bin/sh
# bench/serve/cached.sh - issue #4, serving figure 1: `trawl serve` on
# data/wiki-demo with repeated (cached) queries over 50 keep-alive
# connections (wrk -t2 -c50 -d15s --latency), against Debian's nginx serving
# the same response bodies as static files in the same run; the trawl/nginx
# ratio. Profiles trawl with perf when a target is missed (PROFILE=auto).
#
#   sh bench/serve/cached.sh            # REPS=5 DURATION=15 CONNS=50 NQ=20 BUILD=build RUN=name
#
# Needs: wrk, nginx (apt-get install -y wrk nginx), perf for the profile.
# Prints a markdown table; raw wrk output and result.json land in
# bench/serve/results/$RUN/.
set -eu
for t in wrk nginx python3; do
	command -v "$t" >/dev/null 2>&1 || { echo "cached.sh: $t is missing (apt-get install -y wrk nginx)" >&2; exit 69; }
done
exec python3 "$(dirname "$0")/cached.py" "$@"
