#!/bin/sh
# bench/same_answers.sh OLD_TRAWL NEW_TRAWL [WORK]
#
# "Behaviour unchanged" for a change that should not move a single answer:
# the Search Benchmark Game's 962 queries (enwiki-passages/queries-sbg.jsonl,
# in trawl's query syntax) run as TREC runs by two trawl binaries, each on
# indexes it built itself from enwiki-passages with 1 and with 4 shards, at
# k 10, at k 100 and at k 10 with --and. Every pair of runs must be
# byte-identical (ids, ranks, scores as printed); the script prints one line
# per run and exits 1 on the first difference. WORK (default
# /tmp/same-answers) holds the indexes and runs.
set -eu
old=$1
new=$2
work=${3:-/tmp/same-answers}
here=$(cd "$(dirname "$0")/.." && pwd)
data=${TRAWL_DATA:-$here/../shared/data}/enwiki-passages
mkdir -p "$work"
python3 - "$data/queries-sbg.jsonl" "$work/queries.tsv" <<'PY'
import json, sys
with open(sys.argv[1]) as f, open(sys.argv[2], "w") as out:
    for i, line in enumerate(f):
        q = json.loads(line)["query"].replace("\t", " ").replace("\n", " ")
        out.write("q%03d\t%s\n" % (i + 1, q))
PY
echo "queries: $(wc -l < "$work/queries.tsv")"
status=0
for shards in 1 4; do
	for which in old new; do
		eval bin=\$$which
		ix="$work/$which-$shards"
		if [ ! -f "$ix/CURRENT" ]; then
			rm -rf "$ix"
			"$bin" index "$ix" "$data/docs.jsonl" --shards "$shards" >/dev/null 2>"$work/index.log" ||
				{ cat "$work/index.log" >&2; exit 2; }
		fi
		"$bin" search "$ix" --queries "$work/queries.tsv" --run "$work/$which-$shards-k10.run" -k 10 2>/dev/null
		"$bin" search "$ix" --queries "$work/queries.tsv" --run "$work/$which-$shards-k100.run" -k 100 2>/dev/null
		"$bin" search "$ix" --queries "$work/queries.tsv" --run "$work/$which-$shards-and.run" -k 10 --and 2>/dev/null
	done
	for run in k10 k100 and; do
		a="$work/old-$shards-$run.run"
		b="$work/new-$shards-$run.run"
		if cmp -s "$a" "$b"; then
			echo "$shards shard(s), $run: identical ($(wc -l < "$a") lines)"
		else
			echo "$shards shard(s), $run: DIFFERENT ($(cmp "$a" "$b" | head -1))"
			status=1
		fi
	done
done
exit $status
