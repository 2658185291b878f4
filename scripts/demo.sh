#!/bin/sh
# The README's first command: installs what is needed, builds trawl, indexes
# the bundled demo corpus (data/wiki-demo) and runs a few searches on it.
set -eu
cd "$(dirname "$0")/.."
sh scripts/deps.sh
sh scripts/build.sh build
./build/cli/trawl index demo-index data/wiki-demo/docs.jsonl
for q in 'griffith observatory' '"new york" city' 'title:python' 'volcan* -mountain'; do
	echo
	echo "\$ trawl search demo-index '$q' -k 3"
	./build/cli/trawl search demo-index "$q" -k 3
done
echo
echo "Try your own: ./build/cli/trawl search demo-index 'your words here'"
