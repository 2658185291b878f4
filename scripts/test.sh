#!/bin/sh
# The README's second command: installs what is needed, then builds and runs
# every test twice, in a normal build and in an ASan+UBSan build (leaks
# fail the run). Ends with one line: "N passed, N failed".
set -u
cd "$(dirname "$0")/.."
sh scripts/deps.sh || exit 1
# deps.sh has installed every tool the tests use: one that is missing fails
# its test instead of skipping it.
export TRAWL_REQUIRE_TOOLS=1
passed=0
failed=0
suite() {
	dir=$1
	shift
	if ! sh scripts/build.sh "$dir" "$@"; then
		echo "build in $dir failed" >&2
		failed=$((failed + 1))
		return
	fi
	meson test -C "$dir" --print-errorlogs --num-processes 2 >"$dir/test-output.txt" 2>&1
	tail -n 25 "$dir/test-output.txt"
	log="$dir/meson-logs/testlog.json"
	ok=$(grep -c '"result": "OK"' "$log" || true)
	all=$(grep -c '"result": ' "$log" || true)
	skip=$(grep -c '"result": "SKIP"' "$log" || true)
	passed=$((passed + ok))
	failed=$((failed + all - ok - skip))
}
suite build
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	suite build-asan -Dbuildtype=debugoptimized -Db_sanitize=address,undefined -Db_lundef=false \
	-Dc_args=-fno-sanitize-recover=all
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
