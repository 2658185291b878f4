#!/bin/sh
# The README's first command: installs what is needed, builds trawl, indexes
# the bundled demo corpus (data/wiki-demo) and the two structured corpora
# (data/debian-packages, data/curl-commits), shows a few searches, a faceted
# search and a date histogram, then prints the address of the search page
# and serves the demo corpus over HTTP with `trawl serve` until interrupted
# (Ctrl-C).
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
# structured documents: filters, facets (aggregations), a date histogram
./build/cli/trawl index debian-index data/debian-packages/docs.jsonl.zst \
	--schema data/debian-packages/schema.json --shards 2
./build/cli/trawl index curl-index data/curl-commits/docs.jsonl.zst \
	--schema data/curl-commits/schema.json
echo
echo "\$ trawl search debian-index 'web server' --filter 'installed_size_kb:<1000' --aggs data/debian-packages/facets.json -k 3"
./build/cli/trawl search debian-index 'web server' --filter 'installed_size_kb:<1000' \
	--aggs data/debian-packages/facets.json -k 3
echo
echo "\$ trawl search curl-index 'http2' --aggs data/curl-commits/per-year.json -k 2 --sort date:desc"
./build/cli/trawl search curl-index 'http2' --aggs data/curl-commits/per-year.json -k 2 \
	--sort date:desc
ADDR=${TRAWL_HTTP:-127.0.0.1:9200}
echo
echo "Search page: http://$ADDR/_ui/ (open it in a browser; for facets, a range and a"
echo "date histogram there, serve a structured index: ./build/cli/trawl serve curl-index)"
echo "Serving demo-index on http://$ADDR/ (Ctrl-C to stop). Try:"
echo "  curl 'http://$ADDR/search?q=griffith+observatory&k=3'"
echo "  curl 'http://$ADDR/demo-index/_search' -H 'Content-Type: application/json' -d '{\"query\":{\"match\":{\"body\":\"solar eclipse\"}},\"size\":3}'"
exec ./build/cli/trawl serve demo-index --http "$ADDR"
