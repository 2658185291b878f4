#!/bin/sh
# The README's second command: installs what is needed, then builds and runs
# every test twice, in a normal build and in an ASan+UBSan build (leaks
# fail the run). After each build, one line per suite (tests passed, failed
# and skipped; seconds taken against the suite's timeout). Counts single
# tests (scripts/testcount.py: cmocka cases, unittest cases, one per fuzz
# target and other program), lists every skipped and failed test, and ends
# with one line: "N passed, N failed".
set -u
cd "$(dirname "$0")/.."
sh scripts/deps.sh || exit 1
# deps.sh has installed every tool the tests use: one that is missing fails
# its test instead of skipping it.
export TRAWL_REQUIRE_TOOLS=1
# A Python test killed by its timeout leaves what it printed (which case).
export PYTHONUNBUFFERED=1
run() {
	dir=$1
	shift
	rm -f "$dir/meson-logs/testlog.json"
	if ! sh scripts/build.sh "$dir" "$@"; then
		echo "build in $dir failed" >&2
		return
	fi
	meson test -C "$dir" --print-errorlogs --num-processes 2 >"$dir/test-output.txt" 2>&1
	python3 scripts/testcount.py --suites "$dir"
}
run build
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	run build-asan -Dbuildtype=debugoptimized -Db_sanitize=address,undefined -Db_lundef=false \
	-Dc_args=-fno-sanitize-recover=all
python3 scripts/testcount.py build build-asan
