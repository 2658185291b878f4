#!/bin/sh
# tests/fuzz/run.sh - fuzzing at scale (issue #13, deliverable 9): builds the
# fuzz targets as libFuzzer binaries with clang, ASan and UBSan in
# build-fuzz/, runs each for RUNS executions (default 10^6) starting from
# its committed corpus, and merges the inputs that reached new code back
# into tests/fuzz/corpus/TARGET (libFuzzer's -merge=1 keeps only those).
# A crash, a leak or a sanitizer report stops the target: its input is left
# in build-fuzz/findings/TARGET/ and the script exits 1 after the others.
#
#   sh tests/fuzz/run.sh                 # every target, 10^6 runs each
#   RUNS=100000 sh tests/fuzz/run.sh wire query
#   MAX_TIME=60 sh tests/fuzz/run.sh     # at most 60 s a target (fewer runs)
#
# See tests/fuzz/README.md for what each target feeds and the last figures.
set -eu
cd "$(dirname "$0")/../.."
RUNS=${RUNS:-1000000}
MAX_TIME=${MAX_TIME:-0}
TARGETS=${*:-query qtree doc postings wire run build mappings}
command -v clang >/dev/null 2>&1 || { echo "run.sh: clang is missing (apt-get install clang)" >&2; exit 69; }
if [ ! -f build-fuzz/build.ninja ]; then
	CC=clang meson setup build-fuzz -Dfuzzing=true -Db_sanitize=address,undefined \
		-Db_lundef=false -Dbuildtype=debugoptimized >/dev/null
fi
ninja -C build-fuzz $(for t in $TARGETS; do printf 'tests/fuzz_%s ' "$t"; done) >/dev/null
bad=0
for t in $TARGETS; do
	corpus=tests/fuzz/corpus/$t
	new=build-fuzz/new/$t
	found=build-fuzz/findings/$t
	rm -rf "$new"
	mkdir -p "$new" "$found"
	before=$(ls "$corpus" | wc -l)
	start=$(date +%s)
	if ! UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		build-fuzz/tests/fuzz_$t -runs="$RUNS" -max_total_time="$MAX_TIME" -artifact_prefix="$found/" \
		-print_final_stats=1 "$new" "$corpus" >build-fuzz/fuzz_$t.log 2>&1; then
		echo "fuzz_$t: FAILED after $(($(date +%s) - start)) s; input in $found/, log in build-fuzz/fuzz_$t.log" >&2
		bad=1
		continue
	fi
	build-fuzz/tests/fuzz_$t -merge=1 "$corpus" "$new" >>build-fuzz/fuzz_$t.log 2>&1
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' build-fuzz/fuzz_$t.log | head -1)
	echo "fuzz_$t: ${execs:-?} executions in $(($(date +%s) - start)) s, no finding; corpus $before -> $(ls "$corpus" | wc -l) inputs"
done
exit $bad
