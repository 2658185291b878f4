#!/usr/bin/env node
// opensearch_client_test.js - the OpenSearch-compatible subset of trawl's
// HTTP API (docs/HTTP.md), exercised with the real OpenSearch JavaScript
// client (@opensearch-project/opensearch, pinned in tests/package.json).
//
//   npm ci --prefix tests       # once: installs the client into tests/node_modules
//   trawl index /tmp/idx data/wiki-demo/docs.jsonl
//   trawl serve /tmp/idx --http 127.0.0.1:9277 &
//   TRAWL_URL=http://127.0.0.1:9277 TRAWL_INDEX=idx node tests/opensearch_client_test.js
//
// TRAWL_URL is the root's HTTP address; TRAWL_INDEX the index name it serves
// (trawl serve: the index directory's base name, or --name). The checks do
// not depend on the documents: the words searched for are taken from the
// first document the index returns. Prints one line per check ("ok - ..." or
// "not ok - ...: why") and exits 0 if every check passed, 1 otherwise.
'use strict';

const { Client } = require('@opensearch-project/opensearch');

const url = process.env.TRAWL_URL;
const index = process.env.TRAWL_INDEX;
if (!url || !index) {
  console.error('usage: TRAWL_URL=http://HOST:PORT TRAWL_INDEX=NAME node opensearch_client_test.js');
  process.exit(2);
}

const client = new Client({ node: url, maxRetries: 0, requestTimeout: 10000 });
// Optional: an index with typed fields (data/curl-commits), for sort,
// search_after and aggregations (every type, nested, each checked against _count
// or another aggregation).
const typedUrl = process.env.TRAWL_TYPED_URL;
const typedIndex = process.env.TRAWL_TYPED_INDEX;
let failed = 0;
let passed = 0;

function assert(cond, msg) {
  if (!cond) throw new Error(msg);
}

async function check(name, fn) {
  try {
    await fn();
    passed++;
    console.log(`ok - ${name}`);
  } catch (e) {
    failed++;
    const body = e.meta && e.meta.body ? ` ${JSON.stringify(e.meta.body)}` : '';
    console.log(`not ok - ${name}: ${e.message}${body}`);
  }
}

// expectError runs fn and returns the ResponseError it must throw.
async function expectError(fn, status) {
  try {
    await fn();
  } catch (e) {
    assert(e.meta, `expected an HTTP error, got ${e.message}`);
    assert(e.meta.statusCode === status, `status ${e.meta.statusCode}, want ${status}`);
    return e;
  }
  throw new Error(`expected HTTP ${status}, the request succeeded`);
}

// The shape every search response must have.
function assertSearchShape(body, { total = true } = {}) {
  assert(Number.isInteger(body.took), 'took is not an integer');
  assert(typeof body.timed_out === 'boolean', 'timed_out is not a boolean');
  const s = body._shards;
  assert(s && Number.isInteger(s.total) && Number.isInteger(s.successful) &&
         Number.isInteger(s.skipped) && Number.isInteger(s.failed), '_shards is malformed');
  assert(s.successful + s.failed <= s.total, '_shards do not add up');
  const h = body.hits;
  assert(h && Array.isArray(h.hits), 'hits.hits is not an array');
  if (total) {
    assert(h.total && Number.isInteger(h.total.value) &&
           (h.total.relation === 'eq' || h.total.relation === 'gte'), 'hits.total is malformed');
  }
  assert(h.max_score === null || typeof h.max_score === 'number', 'max_score is malformed');
  let prev = Infinity;
  for (const hit of h.hits) {
    assert(hit._index === index, `_index is ${hit._index}, want ${index}`);
    assert(typeof hit._id === 'string' && hit._id.length > 0, '_id is missing');
    assert(typeof hit._score === 'number', '_score is not a number');
    assert(hit._score <= prev, 'hits are not sorted by _score');
    prev = hit._score;
  }
  if (h.hits.length) assert(h.max_score === h.hits[0]._score, 'max_score is not the top score');
}

// Text of every string in a document, lowercased.
function text(src) {
  if (typeof src === 'string') return src.toLowerCase();
  if (src && typeof src === 'object') return Object.values(src).map(text).join(' ');
  return '';
}

async function main() {
  let first = null; // a document of the index: {_id, _source}
  let word = null; // a word of its text

  await check('info', async () => {
    const { body, statusCode } = await client.info();
    assert(statusCode === 200, `status ${statusCode}`);
    assert(body.version && body.version.distribution === 'opensearch',
           'version.distribution is not "opensearch" (the client checks it)');
    assert(/^2\.\d+\.\d+$/.test(body.version.number), `version.number is ${body.version.number}`);
    assert(typeof body.cluster_name === 'string' && typeof body.cluster_uuid === 'string' &&
           typeof body.name === 'string' && typeof body.tagline === 'string', 'fields missing');
    assert(typeof body.trawl_version === 'string', 'trawl_version missing');
  });

  await check('cluster.health', async () => {
    const { body } = await client.cluster.health();
    assert(['green', 'yellow', 'red'].includes(body.status), `status is ${body.status}`);
    assert(body.status !== 'red', 'the cluster is red');
    assert(body.cluster_name === 'trawl', 'cluster_name');
    assert(Number.isInteger(body.number_of_nodes) && body.number_of_nodes >= 1, 'number_of_nodes');
    assert(Number.isInteger(body.active_shards) && body.active_shards >= 1, 'active_shards');
    assert(body.active_primary_shards + body.unassigned_shards >= 1, 'shard counts');
    assert(body.timed_out === false, 'timed_out');
  });

  await check('cluster.health of the index', async () => {
    const { body } = await client.cluster.health({ index });
    assert(body.status !== 'red', 'the cluster is red');
  });

  await check('indices.exists', async () => {
    const { body, statusCode } = await client.indices.exists({ index });
    assert(statusCode === 200 && body === true, `status ${statusCode}`);
    const other = await client.indices.exists({ index: `${index}-no-such-index` });
    assert(other.statusCode === 404 && other.body === false, `status ${other.statusCode}`);
  });

  await check('search match_all', async () => {
    const { body } = await client.search({ index, body: { query: { match_all: {} }, size: 3 } });
    assertSearchShape(body);
    assert(body.hits.total.value >= 1, 'the index is empty');
    assert(body.hits.total.relation === 'eq', 'the total is not exact');
    assert(body.hits.hits.length === Math.min(3, body.hits.total.value), 'size not honoured');
    first = body.hits.hits[0];
    assert(first._source && typeof first._source === 'object', '_source missing');
    // a word of at least 4 letters from the first document
    const m = text(first._source).match(/\b[a-z]{4,12}\b/g) || [];
    const stop = new Set(['that', 'with', 'this', 'they', 'their', 'there', 'then', 'these',
                          'into', 'such', 'will', 'from', 'have', 'were', 'which']);
    word = m.find((w) => !stop.has(w));
    assert(word, 'no word of 4+ letters in the first document');
  });

  if (!first || !word) {
    console.log(`# ${passed} passed, ${failed + 1} failed (no document to work with)`);
    process.exit(1);
  }
  const [field] = Object.keys(first._source).filter((k) => typeof first._source[k] === 'string' &&
                                                       k !== 'id' && text(first._source[k]).includes(word));

  await check('search match', async () => {
    const { body } = await client.search({ index, body: { query: { match: { [field]: word } } } });
    assertSearchShape(body);
    assert(body.hits.total.value >= 1, `no hits for ${field}:${word}`);
    assert(body.hits.hits.length >= 1 && body.hits.hits.length <= 10, 'default size is not 10');
    assert(body.hits.hits.every((h) => h._score > 0), 'a hit scored 0');
  });

  await check('get and getSource: the stored document, whole or filtered', async () => {
    const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);
    const g = await client.get({ index, id: first._id });
    assert(g.body.found === true && g.body._id === first._id, JSON.stringify(g.body).slice(0, 200));
    assert(same(g.body._source, first._source), 'get: _source differs from the hit\'s');
    const src = await client.getSource({ index, id: first._id });
    assert(same(src.body, first._source), 'getSource differs from the hit\'s _source');
    const part = await client.getSource({ index, id: first._id, _source_includes: field });
    assert(same(Object.keys(part.body), [field]) && part.body[field] === first._source[field],
           `getSource with _source_includes: ${JSON.stringify(part.body).slice(0, 200)}`);
    const e = await expectError(() => client.getSource({ index, id: 'no-such-document' }), 404);
    assert(e.meta.statusCode === 404, 'a missing document');
  });

  await check('search match with operator and, _source filtering, from/size', async () => {
    const q = { match: { [field]: { query: `${word} ${word}`, operator: 'and' } } };
    const two = await client.search({ index, body: { query: q, size: 2, _source: [field] } });
    assertSearchShape(two.body);
    for (const h of two.body.hits.hits) {
      assert(Object.keys(h._source).every((k) => k === field), `_source holds more than ${field}`);
    }
    if (two.body.hits.hits.length === 2) {
      const second = await client.search({ index, body: { query: q, from: 1, size: 1, _source: false } });
      assert(second.body.hits.hits.length === 1, 'from/size');
      assert(second.body.hits.hits[0]._id === two.body.hits.hits[1]._id, 'from does not page');
      assert(second.body.hits.hits[0]._source === undefined, '_source: false still sends _source');
    }
  });

  await check('search match_phrase', async () => {
    // two consecutive words of the first document's field
    const words = text(first._source[field]).match(/[a-z0-9]+/g);
    assert(words && words.length >= 1, 'no words');
    const phrase = words.slice(0, Math.min(2, words.length)).join(' ');
    const { body } = await client.search({
      index, body: { query: { match_phrase: { [field]: phrase } }, size: 10 } });
    assertSearchShape(body);
    assert(body.hits.total.value >= 1, `no hits for "${phrase}"`);
  });

  await check('search bool (must, filter, should, must_not)', async () => {
    const all = await client.count({ index });
    const withWord = await client.count({ index, body: { query: { match: { [field]: word } } } });
    const { body } = await client.search({
      index,
      body: {
        query: {
          bool: {
            must: [{ match_all: {} }],
            must_not: [{ match: { [field]: word } }],
            should: [{ match: { [field]: word } }],
          },
        },
        size: 20,
      },
    });
    assertSearchShape(body);
    assert(body.hits.total.value === all.body.count - withWord.body.count,
           `total ${body.hits.total.value}, want ${all.body.count} - ${withWord.body.count}`);
    assert(body.hits.hits.every((h) => !text(h._source[field]).split(/[^a-z0-9]+/).includes(word)),
           `a hit has the excluded word ${word}`);
    const filtered = await client.search({
      index, body: { query: { bool: { filter: { match: { [field]: word } } } }, size: 0 } });
    assert(filtered.body.hits.total.value === withWord.body.count, 'filter does not restrict');
    assert(filtered.body.hits.hits.length === 0, 'size 0 returned hits');
  });

  await check('search multi_match', async () => {
    const fields = Object.keys(first._source).filter((k) => typeof first._source[k] === 'string' &&
                                                           k !== 'id');
    const { body } = await client.search({
      index, body: { query: { multi_match: { query: word, fields, type: 'most_fields' } } } });
    assertSearchShape(body);
    assert(body.hits.total.value >= 1, 'no hits');
    const one = await client.count({ index, body: { query: { match: { [field]: word } } } });
    assert(body.hits.total.value >= one.body.count, 'fewer hits than one of its fields');
  });

  await check('search term', async () => {
    const { body } = await client.search({ index, body: { query: { term: { [field]: word } } } });
    assertSearchShape(body);
    assert(body.hits.total.value >= 1, 'no hits');
  });

  await check('search query_string and q=', async () => {
    const a = await client.search({
      index, body: { query: { query_string: { query: word, default_field: field } } } });
    const b = await client.search({ index, q: word, df: field });
    assertSearchShape(a.body);
    assertSearchShape(b.body);
    assert(a.body.hits.total.value >= 1, 'no hits');
    assert(a.body.hits.total.value === b.body.hits.total.value, 'q= and query_string differ');
  });

  await check('search over every index (/_search) and a matching pattern', async () => {
    const a = await client.search({ body: { query: { match: { [field]: word } } } });
    const b = await client.search({ index: `${index.slice(0, 1)}*`, body: { query: { match: { [field]: word } } } });
    assert(a.body.hits.total.value >= 1 && a.body.hits.total.value === b.body.hits.total.value,
           'totals differ');
  });

  await check('count', async () => {
    const { body } = await client.count({ index, body: { query: { match: { [field]: word } } } });
    assert(Number.isInteger(body.count) && body.count >= 1, `count is ${body.count}`);
    assert(body._shards && body._shards.total >= 1, '_shards missing');
    const s = await client.search({ index, body: { query: { match: { [field]: word } }, size: 0 } });
    assert(s.body.hits.total.value === body.count, 'count and search total differ');
    const all = await client.count({ index });
    assert(all.body.count >= body.count, 'match_all counts fewer');
  });

  await check('get (found)', async () => {
    const { body, statusCode } = await client.get({ index, id: first._id });
    assert(statusCode === 200, `status ${statusCode}`);
    assert(body.found === true && body._id === first._id && body._index === index, 'fields');
    assert(body._version === 1 && body._seq_no === 0 && body._primary_term === 1, 'versions');
    assert(JSON.stringify(body._source) === JSON.stringify(first._source), '_source differs');
    const ex = await client.exists({ index, id: first._id });
    assert(ex.statusCode === 200 && ex.body === true, 'exists');
  });

  await check('get (not found)', async () => {
    const e = await expectError(() => client.get({ index, id: 'no-such-document-id' }), 404);
    assert(e.meta.body.found === false && e.meta.body._id === 'no-such-document-id', 'body');
    const ex = await client.exists({ index, id: 'no-such-document-id' });
    assert(ex.statusCode === 404 && ex.body === false, 'exists');
  });

  await check('unknown index is 404 index_not_found_exception', async () => {
    const e = await expectError(() => client.search({ index: `${index}-no-such-index`, body: {} }), 404);
    assert(e.meta.body.error.type === 'index_not_found_exception', e.meta.body.error.type);
    assert(e.meta.body.error.index === `${index}-no-such-index`, 'error.index');
  });

  await check('unsupported query is 400 parsing_exception', async () => {
    const e = await expectError(() => client.search({
      index, body: { query: { match: { [field]: { query: word, fuzziness: 'AUTO' } } } } }), 400);
    assert(e.meta.body.error.type === 'parsing_exception', e.meta.body.error.type);
    assert(/fuzziness/.test(e.meta.body.error.reason), 'reason does not name the option');
  });

  // last: it changes the index the checks above read
  await check('writes through the client: index, create, update, delete, bulk, refresh, then search them', async () => {
    const r1 = await client.index({ index, id: 'js-w-1', body: { title: 'Quixotic', body: 'zqxjw marker one' } });
    assert(r1.statusCode === 201 && r1.body.result === 'created' && r1.body._version === 1, JSON.stringify(r1.body));
    const r2 = await client.index({ index, body: { title: 'generated', body: 'zqxjw marker two' }, refresh: 'wait_for' });
    assert(r2.statusCode === 201 && typeof r2.body._id === 'string' && r2.body._id.length === 20, JSON.stringify(r2.body));
    const seen = await client.search({ index, body: { query: { match: { body: 'zqxjw' } } } });
    assert(seen.body.hits.total.value === 2, `after refresh=wait_for: ${seen.body.hits.total.value} hits`);
    const c = await expectError(() => client.create({ index, id: 'js-w-1', body: { title: 'again' } }), 409);
    assert(c.meta.body.error.type === 'version_conflict_engine_exception', c.meta.body.error.type);
    const u = await client.update({ index, id: 'js-w-1', body: { doc: { title: 'Quixotic again' } } });
    assert(u.body.result === 'updated' && u.body._version === 2, JSON.stringify(u.body));
    const g = await client.get({ index, id: 'js-w-1' });
    assert(g.body._version === 2 && g.body._source.title === 'Quixotic again' && g.body._source.body === 'zqxjw marker one', JSON.stringify(g.body));
    await expectError(() => client.index({ index, id: 'js-w-1', if_seq_no: r1.body._seq_no, if_primary_term: 1, body: { title: 'stale' } }), 409);
    const b = await client.bulk({ body: [
      { index: { _index: index, _id: 'js-w-3' } }, { title: 'bulk', body: 'zqxjw marker three' },
      { delete: { _index: index, _id: r2.body._id } },
      { create: { _index: index, _id: 'js-w-1' } }, { title: 'dup' }] });
    const it = b.body.items;
    assert(b.body.errors === true && it.length === 3, JSON.stringify(b.body));
    assert(it[0].index.status === 201 && it[1].delete.result === 'deleted' && it[2].create.status === 409, JSON.stringify(it));
    const r = await client.indices.refresh({ index });
    assert(r.statusCode === 200, 'refresh');
    const s = await client.search({ index, body: { query: { match: { body: 'zqxjw' } } } });
    const ids = s.body.hits.hits.map((h) => h._id).sort();
    assert(JSON.stringify(ids) === JSON.stringify(['js-w-1', 'js-w-3']), JSON.stringify(ids));
    const d = await client.delete({ index, id: 'js-w-3', refresh: true });
    assert(d.body.result === 'deleted' && d.body.forced_refresh === true, JSON.stringify(d.body));
    const after = await client.count({ index, body: { query: { match: { body: 'zqxjw' } } } });
    assert(after.body.count === 1, `count after the delete: ${after.body.count}`);
    await expectError(() => client.delete({ index, id: 'js-w-3' }), 404);
  });

  if (typedUrl && typedIndex) await typedChecks();

  console.log(`# ${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
}

// Sorting by fields, search_after (and aggregations) on the typed index.
async function typedChecks() {
  // This server wants bearer tokens (trawl serve --search-tokens): the
  // client sends its search token with every request.
  const token = process.env.TRAWL_TYPED_TOKEN;
  const auth = token ? { headers: { authorization: `Bearer ${token}` } } : {};
  const tc = new Client({ node: typedUrl, maxRetries: 0, requestTimeout: 10000, ...auth });
  const ix = typedIndex;
  const query = { match: { body: 'fix' } };

  if (token) {
    await check('without a token: 401 security_exception, WWW-Authenticate Bearer', async () => {
      const bare = new Client({ node: typedUrl, maxRetries: 0, requestTimeout: 10000 });
      const e = await expectError(() => bare.search({ index: ix, body: { query } }), 401);
      assert(e.meta.body.error.type === 'security_exception', JSON.stringify(e.meta.body));
      assert(e.meta.body.status === 401, JSON.stringify(e.meta.body));
      assert(/^Bearer/.test(e.meta.headers['www-authenticate'] || ''),
             `WWW-Authenticate: ${e.meta.headers['www-authenticate']}`);
    });
    await check('a wrong token: 401', async () => {
      const wrong = new Client({ node: typedUrl, maxRetries: 0, requestTimeout: 10000,
                                 headers: { authorization: 'Bearer not-the-right-token-at-all' } });
      await expectError(() => wrong.count({ index: ix }), 401);
    });
    await check('the search token cannot write: 403', async () => {
      const e = await expectError(() => tc.index({ index: ix, id: 'x', body: { body: 'x' } }), 403);
      assert(e.meta.body.error.type === 'security_exception', JSON.stringify(e.meta.body));
    });
  }

  await check('sort by a date, descending, with sort values', async () => {
    const { body } = await tc.search({ index: ix, body: { query, size: 10, sort: [{ date: 'desc' }] } });
    const hits = body.hits.hits;
    assert(hits.length === 10, `${hits.length} hits`);
    for (let i = 0; i < hits.length; i++) {
      assert(Array.isArray(hits[i].sort) && hits[i].sort.length === 2, `hit ${i} sort ${JSON.stringify(hits[i].sort)}`);
      if (i) assert(hits[i].sort[0] <= hits[i - 1].sort[0], 'not in date order');
      assert(hits[i]._score === null, `hit ${i} _score ${hits[i]._score}: not null when sorted by a field`);
    }
    assert(body.hits.max_score === null, `max_score ${body.hits.max_score}`);
  });

  await check('sort forms: field, order object, missing and mode, _score', async () => {
    const { body } = await tc.search({ index: ix, body: {
      query, size: 20,
      sort: [{ files_changed: { order: 'desc', missing: '_last', mode: 'max' } }, 'author', '_score'] } });
    const hits = body.hits.hits;
    for (let i = 1; i < hits.length; i++) {
      const a = hits[i - 1].sort, b = hits[i].sort;
      assert(a.length === 4, JSON.stringify(a));
      assert(a[0] > b[0] || (a[0] === b[0] && a[1] <= b[1]), `order ${JSON.stringify(a)} ${JSON.stringify(b)}`);
    }
  });

  await check('search_after pages through a sort', async () => {
    const sort = [{ date: 'asc' }, { lines_added: 'desc' }];
    const all = (await tc.search({ index: ix, body: { query, size: 12, sort } })).body.hits.hits;
    const p1 = (await tc.search({ index: ix, body: { query, size: 4, sort } })).body.hits.hits;
    let after = p1[p1.length - 1].sort;
    const p2 = (await tc.search({ index: ix, body: { query, size: 4, sort, search_after: after } })).body.hits.hits;
    after = p2[p2.length - 1].sort;
    const p3 = (await tc.search({ index: ix, body: { query, size: 4, sort, search_after: after } })).body.hits.hits;
    const ids = [...p1, ...p2, ...p3].map((h) => h._id);
    assert(JSON.stringify(ids) === JSON.stringify(all.map((h) => h._id)), 'pages differ from one search');
  });

  await check('aggregations: terms, date_histogram, stats, filter (size 0)', async () => {
    const { body } = await tc.search({ index: ix, body: {
      query, size: 0,
      aggs: {
        authors: { terms: { field: 'author', size: 5 } },
        years: { date_histogram: { field: 'date', calendar_interval: 'year' } },
        added: { stats: { field: 'lines_added' } },
        merges: { filter: { term: { merge: true } } } } } });
    const total = body.hits.total.value;
    const a = body.aggregations;
    assert(body.hits.hits.length === 0, 'size 0 returned hits');
    assert(total > 0, 'no matches');
    const ta = a.authors.buckets.reduce((n, b) => n + b.doc_count, 0) + a.authors.sum_other_doc_count;
    assert(a.authors.buckets.length === 5 && ta === total, `terms ${ta} vs ${total}`);
    for (let i = 1; i < 5; i++) assert(a.authors.buckets[i].doc_count <= a.authors.buckets[i - 1].doc_count, 'terms order');
    const ty = a.years.buckets.reduce((n, b) => n + b.doc_count, 0);
    assert(ty === total, `date_histogram ${ty} vs ${total}`);
    assert(a.years.buckets.every((b) => typeof b.key === 'number' && /^\d{4}-01-01T00:00:00.000Z$/.test(b.key_as_string)), 'year keys');
    assert(a.added.count === total && a.added.min <= a.added.avg && a.added.avg <= a.added.max, JSON.stringify(a.added));
    const { body: cnt } = await tc.count({ index: ix, body: { query: { bool: { must: query, filter: { term: { merge: true } } } } } });
    assert(a.merges.doc_count === cnt.count, `filter ${a.merges.doc_count} vs _count ${cnt.count}`);
  });

  await check('aggregations: every other type, nested, each checked by _count or another aggregation', async () => {
    const count = async (filter) => (await tc.count({ index: ix, body: { query: { bool: { must: query, filter } } } })).body.count;
    const { body } = await tc.search({ index: ix, body: {
      query, size: 0,
      aggs: {
        sizes: { range: { field: 'files_changed', ranges: [{ to: 2 }, { from: 2, to: 10 }, { from: 10 }] } },
        eras: { date_range: { field: 'date', ranges: [{ to: '2010-01-01' }, { from: '2010-01-01' }] } },
        added: { histogram: { field: 'lines_added', interval: 100, min_doc_count: 1 } },
        kinds: { filters: { filters: { merges: { term: { merge: true } }, big: { range: { files_changed: { gte: 10 } } } } } },
        nodirs: { missing: { field: 'dirs' } },
        lo: { min: { field: 'lines_added' } },
        hi: { max: { field: 'lines_added' } },
        sum: { sum: { field: 'lines_added' } },
        avg: { avg: { field: 'lines_added' } },
        st: { stats: { field: 'lines_added' } },
        vc: { value_count: { field: 'lines_added' } },
        who: { cardinality: { field: 'author' } },
        allwho: { terms: { field: 'author', size: 10000 } },
        pct: { percentiles: { field: 'lines_added', percents: [25, 50, 75] } },
        byyear: { date_histogram: { field: 'date', calendar_interval: 'year' },
                  aggs: { top: { terms: { field: 'author', size: 2 }, aggs: { most: { max: { field: 'lines_added' } } } } } } } } });
    const a = body.aggregations;
    const total = body.hits.total.value;
    const [r0, r1, r2] = a.sizes.buckets;
    assert(r0.doc_count === await count({ range: { files_changed: { lt: 2 } } }), `range ${r0.doc_count}`);
    assert(r1.doc_count === await count({ range: { files_changed: { gte: 2, lt: 10 } } }), `range ${r1.doc_count}`);
    assert(r2.doc_count === await count({ range: { files_changed: { gte: 10 } } }), `range ${r2.doc_count}`);
    const [e0, e1] = a.eras.buckets;
    assert(e0.doc_count === await count({ range: { date: { lt: '2010-01-01' } } }) && e0.doc_count + e1.doc_count === total, `date_range ${e0.doc_count} ${e1.doc_count}`);
    assert(a.added.buckets.reduce((n, b) => n + b.doc_count, 0) === total, 'histogram does not add up');
    assert(a.added.buckets.every((b) => b.key % 100 === 0 && b.doc_count > 0), 'histogram keys');
    assert(a.kinds.buckets.merges.doc_count === await count({ term: { merge: true } }), 'filters: merges');
    assert(a.kinds.buckets.big.doc_count === r2.doc_count, 'filters: big');
    assert(a.nodirs.doc_count === total - await count({ exists: { field: 'dirs' } }), `missing ${a.nodirs.doc_count}`);
    assert(a.lo.value === a.st.min && a.hi.value === a.st.max && a.sum.value === a.st.sum && a.avg.value === a.st.avg, 'min, max, sum, avg differ from stats');
    assert(a.vc.value === a.st.count, `value_count ${a.vc.value} vs stats ${a.st.count}`);
    assert(a.who.value === a.allwho.buckets.length && a.allwho.sum_other_doc_count === 0, `cardinality ${a.who.value} vs ${a.allwho.buckets.length} authors`);
    const p = a.pct.values;
    assert(a.lo.value <= p['25.0'] && p['25.0'] <= p['50.0'] && p['50.0'] <= p['75.0'] && p['75.0'] <= a.hi.value, JSON.stringify(p));
    assert(a.byyear.buckets.reduce((n, b) => n + b.doc_count, 0) === total, 'byyear does not add up');
    for (const y of a.byyear.buckets) {
      for (const t of y.top.buckets) {
        const from = y.key_as_string;
        const to = `${Number(from.slice(0, 4)) + 1}-01-01`;
        const n = await count([{ term: { author: t.key } }, { range: { date: { gte: from, lt: to } } }]);
        assert(t.doc_count === n, `${from} ${t.key}: ${t.doc_count} vs _count ${n}`);
        assert(typeof t.most.value === 'number', 'nested max');
      }
    }
  });

  await check('a bad aggregation is 400 naming it', async () => {
    const e = await expectError(() => tc.search({ index: ix, body: { aggs: { t: { terms: { field: 'author', size: -1 } } } } }), 400);
    assert(/aggs\.t\.terms\.size/.test(e.meta.body.error.reason), e.meta.body.error.reason);
  });

  await check('sort by an unknown field is 400', async () => {
    const e = await expectError(() => tc.search({ index: ix, body: { query, sort: [{ nofield: 'asc' }] } }), 400);
    assert(/nofield/.test(e.meta.body.error.reason), e.meta.body.error.reason);
  });

  // many indexes: a data directory's server (trawl serve DATA_DIR)
  const dc = new Client({ node: process.env.TRAWL_DATA_URL, maxRetries: 0, requestTimeout: 30000 });
  const mappings = { properties: { title: { type: 'text' }, n: { type: 'long' }, tag: { type: 'keyword' } } };

  await check('indices.create, exists, get, cat.indices', async () => {
    let r = await dc.indices.create({ index: 'books', body: { settings: { number_of_shards: 2 }, mappings, aliases: { shelf: { is_write_index: true } } } });
    assert(r.body.acknowledged && r.body.index === 'books', JSON.stringify(r.body));
    r = await dc.indices.create({ index: 'news', body: { mappings } });
    assert(r.body.acknowledged, JSON.stringify(r.body));
    assert((await dc.indices.exists({ index: 'books' })).statusCode === 200, 'books exists');
    r = await dc.indices.get({ index: 'books' });
    assert(r.body.books.settings.index.number_of_shards === '2', JSON.stringify(r.body));
    r = await dc.cat.indices({ format: 'json' });
    assert(r.body.map((x) => x.index).sort().join() === 'books,news', JSON.stringify(r.body));
    await expectError(() => dc.indices.create({ index: 'books' }), 400);
  });

  await check('bulk to several indexes, refresh, search over a list', async () => {
    const body = [];
    for (let i = 0; i < 20; i++) {
      body.push({ index: { _index: i % 2 ? 'books' : 'news', _id: `d${i}` } });
      body.push({ title: `fox number ${i}`, n: i, tag: i % 3 ? 'a' : 'b' });
    }
    body.push({ index: { _index: 'shelf', _id: 'via-alias' } });
    body.push({ title: 'fox on a shelf', n: 100, tag: 'a' });
    let r = await dc.bulk({ body });
    assert(!r.body.errors && r.body.items.length === 21, JSON.stringify(r.body.items.filter((x) => x.index.error)));
    assert(r.body.items[20].index._index === 'books', 'the alias wrote to its write index');
    await dc.indices.refresh({ index: 'books,news' });
    r = await dc.search({ index: ['books', 'news'], body: { query: { match: { title: 'fox' } }, size: 50, sort: [{ n: 'desc' }], aggs: { t: { terms: { field: 'tag' } } } } });
    assert(r.body.hits.total.value === 21, `total ${r.body.hits.total.value}`);
    assert(r.body.hits.hits[0]._id === 'via-alias' && r.body.hits.hits[0]._index === 'books', JSON.stringify(r.body.hits.hits[0]));
    const ns = r.body.hits.hits.map((h) => h._source.n);
    assert(ns.every((v, i) => i === 0 || ns[i - 1] >= v), 'sorted by n');
    const sum = r.body.aggregations.t.buckets.reduce((a, b) => a + b.doc_count, 0);
    assert(sum === 21, `terms buckets add to ${sum}`);
  });

  await check('updateAliases, getAlias, delete an index', async () => {
    let r = await dc.indices.updateAliases({ body: { actions: [{ add: { index: 'news', alias: 'all' } }, { add: { index: 'books', alias: 'all' } }] } });
    assert(r.body.acknowledged, JSON.stringify(r.body));
    r = await dc.indices.getAlias({ name: 'all' });
    assert(Object.keys(r.body).sort().join() === 'books,news', JSON.stringify(r.body));
    r = await dc.count({ index: 'all' });
    assert(r.body.count === 21, `count ${r.body.count}`);
    r = await dc.indices.delete({ index: 'news' });
    assert(r.body.acknowledged, JSON.stringify(r.body));
    assert((await dc.indices.exists({ index: 'news' })).statusCode === 404, 'news is gone');
    r = await dc.count({ index: 'all' });
    assert(r.body.count === 11, `count after the delete ${r.body.count}`);
  });
}

main().catch((e) => {
  console.log(`not ok - unexpected: ${e.stack}`);
  process.exit(1);
});
