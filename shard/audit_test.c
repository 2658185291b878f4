/*
 * audit_test.c - unit tests for audit.c, the builder's check of a run from
 * a build worker: an honest run passes under every kind of item (JSON
 * Lines, _bulk with deletes, bad lines skipped, a schema storing a subset
 * or nothing, one or several shards, a compression dictionary); every
 * single-byte change to a run is refused; and the attacks of issue #13,
 * finding 3 are refused: another item's run under this item's name, a run
 * made from altered text, a term renamed, a document dropped, a rejected
 * line's message rewritten.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hash.h"
#include "index/docstore.h"
#include "shard/sh.h"

static const char *const DOCS[] = {
    "{\"id\": \"air-01\", \"title\": \"The zeppelin era\", \"body\": \"A zeppelin is a rigid "
    "airship. Count Zeppelin built the first one.\"}",
    "{\"id\": \"air-02\", \"title\": \"Hot air balloons\", \"body\": \"A balloon rises because hot "
    "air is lighter than cold air.\"}",
    "{\"id\": \"geo-01\", \"title\": \"Volcano\", \"body\": \"A volcano erupts lava; Iceland "
    "watches every volcano.\"}",
    "{\"id\": \"geo-02\", \"title\": \"Geysers of Iceland\", \"body\": \"Hot water and steam, "
    "every few minutes.\", \"extra\": 7}",
    "{\"id\": \"tea-01\", \"title\": \"Tea\", \"body\": [\"Green tea\", \"black tea\", "
    "\"\\u00e9t\\u00e9 "
    "caf\\u00e9\"]}",
    "{\"id\": \"air-01\", \"title\": \"The zeppelin era, again\", \"body\": \"Replaced.\"}",
};

/* An item of text (copied) under p. */
typedef struct titem {
	sh_item it;
	char *bytes;
} titem;

static void make_item(titem *t, uint64_t id, const char *text, int bulk)
{
	t->bytes = strdup(text);
	t->it = (sh_item){id, 0, 1 + 10 * id, bulk, "test.jsonl", t->bytes, strlen(text)};
	t->it.hash = th_hash64_seeded(t->bytes, t->it.len, t->it.first_line * 2 + (uint64_t)bulk);
}

static char *join_docs(size_t from, size_t n)
{
	size_t len = 0;
	for (size_t i = from; i < from + n; i++)
		len += strlen(DOCS[i]) + 1;
	char *s = malloc(len + 1), *p = s;
	for (size_t i = from; i < from + n; i++)
		p += sprintf(p, "%s\n", DOCS[i]);
	return s;
}

typedef struct fixture {
	sh_params p;
	char *schema_json;
	uint8_t *zdict;
	sh_worker *w;
	sh_auditor *a;
	tbuf run;
} fixture;

static void params(fixture *f, const char *schema, uint32_t nshards, int skip_bad, int dict)
{
	memset(f, 0, sizeof *f);
	char err[256];
	if (schema)
		assert_int_equal(
		    idx_schema_parse(&f->p.schema, schema, strlen(schema), err, sizeof err),
		    TRAWL_OK);
	else
		idx_schema_default(&f->p.schema);
	f->schema_json = idx_schema_to_json(&f->p.schema);
	f->p.schema_json = f->schema_json;
	f->p.nshards = nshards;
	f->p.max_doc = 1u << 20;
	f->p.skip_bad = skip_bad;
	if (dict) {
		/* a dictionary from many copies of the documents, as the builder trains one */
		enum { N = 600 };
		size_t sizes[N], total = 0;
		uint8_t *samples = malloc(N * 256);
		for (unsigned i = 0; i < N; i++) {
			const char *d = DOCS[i % 6];
			sizes[i] = strlen(d) < 256 ? strlen(d) : 256;
			memcpy(samples + total, d, sizes[i]);
			samples[total] = (uint8_t)('a' + i % 26);
			total += sizes[i];
		}
		size_t dl = 0;
		f->zdict = malloc(IDX_ZDICT_MAX);
		assert_int_equal(idx_zdict_train(samples, sizes, N, f->zdict, IDX_ZDICT_MAX, &dl),
		                 TRAWL_OK);
		free(samples);
		f->p.zdict = f->zdict;
		f->p.zdict_len = dl;
	}
	sh_params_hash(&f->p);
	assert_int_equal(sh_worker_new(&f->w), TRAWL_OK);
	assert_int_equal(sh_auditor_new(&f->a), TRAWL_OK);
	tbuf_init(&f->run, 1u << 28);
}

static void fixture_fini(fixture *f)
{
	sh_worker_free(f->w);
	sh_auditor_free(f->a);
	tbuf_fini(&f->run);
	free(f->schema_json);
	free(f->zdict);
}

/* Works it into f->run (as a build worker would). */
static void work(fixture *f, const titem *t)
{
	char err[512];
	assert_int_equal(sh_work(f->w, &f->p, &t->it, &f->run, err, sizeof err), TRAWL_OK);
}

/* Patches a run's checksum after a change. */
static void reseal(uint8_t *b, size_t len)
{
	uint64_t sum = th_hash64(b, len - 8);
	memcpy(b + len - 8, &sum, 8);
}

/* The builder's verdict on the len bytes at b as item t's run: TRAWL_OK or
 * the refusal's code (sh_run_check's, then sh_run_audit's). */
static int verdict(fixture *f, const titem *t, const uint8_t *b, size_t len, char *why,
                   size_t whylen)
{
	sh_run r;
	int bad = 0;
	int rc = sh_run_check(&r, b, len, why, whylen);
	if (rc == TRAWL_OK)
		rc = sh_run_audit(f->a, &f->p, &t->it, &r, &bad, why, whylen);
	assert_false(bad);
	return rc;
}

static void assert_honest_passes(fixture *f, const titem *t)
{
	char why[512] = "";
	work(f, t);
	int rc = verdict(f, t, f->run.data, f->run.len, why, sizeof why);
	if (rc)
		fail_msg("an honest run was refused: %s", why);
}

static void test_honest_runs_pass(void **state)
{
	(void)state;
	static const struct {
		const char *schema;
		uint32_t shards;
		int skip_bad, dict;
	} kinds[] = {
	    {NULL, 1, 0, 0},
	    {NULL, 3, 0, 1},
	    {NULL, 8, 1, 0},
	    {"{\"fields\": {\"title\": {\"type\": \"text\"}, \"body\": {\"type\": \"text\", "
	     "\"analyzer\": \"plain\"}}, \"store\": [\"title\"]}",
	     2, 0, 0},
	    {"{\"fields\": {\"body\": {\"type\": \"text\"}}, \"store\": []}", 2, 0, 0},
	};
	for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
		fixture f;
		params(&f, kinds[k].schema, kinds[k].shards, kinds[k].skip_bad, kinds[k].dict);
		char *text = join_docs(0, 6);
		titem t;
		make_item(&t, 3, text, 0);
		assert_honest_passes(&f, &t);
		free(t.bytes);
		free(text);
		/* _bulk with an index action, a delete and a document without "id" */
		make_item(&t, 4,
		          "{\"index\": {\"_id\": \"b-1\"}}\n{\"title\": \"bulk one\"}\n"
		          "{\"delete\": {\"_id\": \"air-02\"}}\n{\"create\": {\"_id\": \"b-2\"}}\n"
		          "{\"title\": \"bulk two\", \"body\": \"more\"}\n",
		          1);
		assert_honest_passes(&f, &t);
		free(t.bytes);
		if (kinds[k].skip_bad) {
			make_item(
			    &t, 5,
			    "{\"id\": \"ok\", \"title\": \"fine\"}\nnot json\n\n{\"title\": 1}\n",
			    0);
			assert_honest_passes(&f, &t);
			free(t.bytes);
		}
		fixture_fini(&f);
	}
}

/* The zstd frames of a run's stored records: [from, to) offsets. */
static size_t frames_of(const fixture *f, const uint8_t *b, size_t len, size_t (*out)[2],
                        size_t cap)
{
	sh_run r;
	char why[256];
	size_t n = 0;
	assert_int_equal(sh_run_check(&r, b, len, why, sizeof why), TRAWL_OK);
	for (uint32_t s = 0; s < r.nshards; s++) {
		sh_section sec;
		sh_run_section(&r, s, &sec);
		const uint8_t *p = sec.docs;
		sh_rdoc d;
		while (p < sec.docs_end && n < cap) {
			assert_int_equal(sh_rdoc_next(&p, sec.docs_end, f->p.schema.nfields, &d),
			                 0);
			if (d.rec_len > 12) {
				out[n][0] = (size_t)(d.rec + 12 - b);
				out[n][1] = (size_t)(d.rec + d.rec_len - b);
				n++;
			}
		}
	}
	return n;
}

/* Every byte of a run changed in turn (the checksum made right again) is
 * refused, but for some inside a stored document's zstd frame: the check
 * compares what a frame decompresses to, not how it is encoded, so a change
 * that zstd decodes to the same document passes; each of those is checked
 * here to decode to exactly the item's document. */
static void test_every_byte_matters(void **state)
{
	(void)state;
	fixture f;
	params(&f, NULL, 2, 1, 0);
	char *text = join_docs(0, 6);
	size_t tl = strlen(text);
	text = realloc(text, tl + 16);
	strcpy(text + tl, "bad line\n"); /* a rejected line's message too */
	titem t;
	make_item(&t, 7, text, 0);
	work(&f, &t);
	size_t len = f.run.len;
	size_t frames[64][2];
	size_t nframes = frames_of(&f, f.run.data, len, frames, 64);
	uint8_t *b = malloc(len);
	unsigned tried = 0, same_doc = 0;
	idx_zdec *z;
	assert_int_equal(idx_zdec_alloc(&z, NULL, 0), TRAWL_OK);
	for (size_t at = 0; at < len - 8; at++) {
		static const uint8_t flips[] = {0x01, 0x80, 0xff};
		for (size_t k = 0; k < sizeof flips; k++) {
			memcpy(b, f.run.data, len);
			b[at] ^= flips[k];
			reseal(b, len);
			char why[512];
			tried++;
			if (verdict(&f, &t, b, len, why, sizeof why) != TRAWL_OK)
				continue;
			size_t i = 0;
			while (i < nframes && !(at >= frames[i][0] && at < frames[i][1]))
				i++;
			if (i == nframes)
				fail_msg("byte %zu of %zu (0x%02x) ^ 0x%02x was accepted", at, len,
				         f.run.data[at], flips[k]);
			/* inside a frame: it must still hold the same document */
			char *was, *now;
			size_t wl, nl, from = frames[i][0] - 12, n = frames[i][1] - from;
			assert_int_equal(idx_zdec_record(z, f.run.data + from, n, &was, &wl),
			                 TRAWL_OK);
			assert_int_equal(idx_zdec_record(z, b + from, n, &now, &nl), TRAWL_OK);
			assert_true(wl == nl && !memcmp(was, now, wl));
			free(was);
			free(now);
			same_doc++;
		}
	}
	print_message("%u changes to a run of %zu bytes: every one refused but %u inside zstd "
	              "frames that decode to the same document\n",
	              tried, len, same_doc);
	idx_zdec_free(z);
	free(b);
	free(t.bytes);
	free(text);
	fixture_fini(&f);
}

/* The attacks: what a tampering worker (or a proxy) could send back. */
static void test_tampered_runs_refused(void **state)
{
	(void)state;
	fixture f;
	params(&f, NULL, 2, 1, 1);
	char *a_text = join_docs(0, 3), *b_text = join_docs(3, 3);
	titem a, b;
	make_item(&a, 10, a_text, 0);
	make_item(&b, 11, b_text, 0);
	char why[512];

	/* another item's run, relabelled as this item's */
	work(&f, &b);
	memcpy(f.run.data + 16, &a.it.id, 8);
	memcpy(f.run.data + 24, &a.it.hash, 8);
	reseal(f.run.data, f.run.len);
	assert_int_equal(verdict(&f, &a, f.run.data, f.run.len, why, sizeof why), TRAWL_ECORRUPT);
	print_message("another item's run: %s\n", why);

	/* the item worked from altered text: a title changed, same length */
	char *alt = strdup(a_text);
	char *z = strstr(alt, "zeppelin era");
	memcpy(z, "Zeppelin Era", 12);
	titem at = a;
	at.it.bytes = alt; /* the worker's copy; its header still names item a */
	work(&f, &at);
	assert_int_equal(verdict(&f, &a, f.run.data, f.run.len, why, sizeof why), TRAWL_ECORRUPT);
	print_message("altered title: %s\n", why);
	free(alt);

	/* a term renamed in place (the stored text left alone): "volcano" -> "volcaro" */
	work(&f, &a);
	size_t renamed = 0;
	for (size_t i = 0; i + 6 < f.run.len; i++)
		if (!memcmp(f.run.data + i, "volcan", 6)) {
			f.run.data[i + 5] = 'r';
			renamed++;
		}
	reseal(f.run.data, f.run.len);
	assert_true(renamed > 0);
	assert_int_equal(verdict(&f, &a, f.run.data, f.run.len, why, sizeof why), TRAWL_ECORRUPT);
	print_message("term renamed: %s\n", why);

	/* a document dropped: the item worked without its last line */
	titem shorter = a;
	shorter.it.len = (size_t)(strrchr(a_text, '{') - a_text);
	work(&f, &shorter);
	assert_int_equal(verdict(&f, &a, f.run.data, f.run.len, why, sizeof why), TRAWL_ECORRUPT);
	print_message("document dropped: %s\n", why);

	/* a rejected line's message rewritten (what the builder prints) */
	titem bad;
	make_item(&bad, 12, "{\"id\": \"x\"}\nnot json\n", 0);
	work(&f, &bad);
	uint8_t *m = memmem(f.run.data, f.run.len, "test.jsonl", 10);
	assert_non_null(m);
	memcpy(m, "evil.jsonl", 10);
	reseal(f.run.data, f.run.len);
	assert_int_equal(verdict(&f, &bad, f.run.data, f.run.len, why, sizeof why), TRAWL_ECORRUPT);
	print_message("rejected line rewritten: %s\n", why);
	free(bad.bytes);

	free(a.bytes);
	free(b.bytes);
	free(a_text);
	free(b_text);
	fixture_fini(&f);
}

/* A run for an item with a bad line (and no skip_bad) is the item's own
 * failure: the builder fails the build with its own message. */
static void test_bad_item_is_the_items_fault(void **state)
{
	(void)state;
	fixture f;
	params(&f, NULL, 1, 0, 0);
	titem good, bad;
	make_item(&good, 1, "{\"id\": \"ok\"}\n", 0);
	make_item(&bad, 1, "{\"id\": \"ok\"}\n{\"id\": 5}\n", 0);
	bad.it.hash = good.it.hash;
	work(&f, &good);
	sh_run r;
	char why[512];
	int item_bad = 0;
	assert_int_equal(sh_run_check(&r, f.run.data, f.run.len, why, sizeof why), TRAWL_OK);
	int rc = sh_run_audit(f.a, &f.p, &bad.it, &r, &item_bad, why, sizeof why);
	assert_int_equal(rc, TRAWL_EDOC);
	assert_true(item_bad);
	assert_non_null(strstr(why, "test.jsonl:12:"));
	assert_int_equal(sh_item_audit(f.a, &f.p, &bad.it, why, sizeof why), TRAWL_EDOC);
	assert_int_equal(sh_item_audit(f.a, &f.p, &good.it, why, sizeof why), TRAWL_OK);
	free(good.bytes);
	free(bad.bytes);
	fixture_fini(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_honest_runs_pass),
	    cmocka_unit_test(test_every_byte_matters),
	    cmocka_unit_test(test_tampered_runs_refused),
	    cmocka_unit_test(test_bad_item_is_the_items_fault),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
