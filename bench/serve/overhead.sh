#!/bin/sh
# bench/serve/overhead.sh - a diagnostic for cluster.sh (not an acceptance
# figure): the root's took_ms and the context switches per query of one
# query at a time through 4 leaf processes, 1 leaf process, and trawl serve
# (inproc), for a query with no hit (SEARCH only), 1 hit and 10 hits
# (SEARCH + FETCH). See overhead.py.
#
#   sh bench/serve/overhead.sh     # N=2000 BUILD=build RUN=name
set -eu
exec python3 "$(dirname "$0")/overhead.py" "$@"
