#!/bin/sh
# The README's first command: installs what is needed, builds trawl, indexes
# the bundled demo corpus (data/wiki-demo), shows a few searches, then serves
# it over HTTP with `trawl serve` until interrupted (Ctrl-C).
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
ADDR=${TRAWL_HTTP:-127.0.0.1:9200}
echo
echo "Serving demo-index on http://$ADDR/ (Ctrl-C to stop). Try:"
echo "  curl 'http://$ADDR/search?q=griffith+observatory&k=3'"
echo "  curl 'http://$ADDR/demo-index/_search' -H 'Content-Type: application/json' -d '{\"query\":{\"match\":{\"body\":\"solar eclipse\"}},\"size\":3}'"
exec ./build/cli/trawl serve demo-index --http "$ADDR"
