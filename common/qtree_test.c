/*
 * qtree_test.c - unit tests of the query tree (qtree.h).
 *
 * The encoding is a contract between processes, so a small tree's bytes are
 * pinned against hand-written hex. Then: random trees that keep the rules
 * round-trip through encode and decode to the same dump and the same bytes;
 * every rule and every limit is refused by qt_check and qt_encode, with the
 * node or the limit named, and by the decoder from hand-made bytes; every
 * prefix of an encoding is refused (each from a buffer that ends there, so
 * that ASan sees an overread), and single byte flips either fail or decode
 * to a tree that encodes to exactly the flipped bytes. qt_validate agrees
 * with qt_decode on every input. The typed filters (RANGE, EXISTS, IDS,
 * CONST, the FILTER occur) have a pinned tree of their own, are in the
 * random trees, and every rule of theirs is refused on both sides;
 * qt_with_filter and qt_copy are checked last.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/limits.h"
#include "common/qtree.h"
#include "trawl/trawl.h"

/* ---- building trees in tests ---- */

static qt_node *leaf(qt_kind kind, qt_occur occur, const char *field, const char *text)
{
	qt_node *n = qt_new(kind, occur, 0);
	assert_non_null(n);
	if (field)
		assert_int_equal(qt_set_field(n, field, strlen(field)), TRAWL_OK);
	if (text)
		assert_int_equal(qt_set_text(n, text, strlen(text)), TRAWL_OK);
	return n;
}

static qt_node *group(qt_occur occur, const char *field)
{
	return leaf(QT_BOOL, occur, field, NULL);
}

static qt_node *add(qt_node *g, qt_node *kid)
{
	assert_int_equal(qt_add(g, kid), TRAWL_OK);
	return kid;
}

static qt_node *root(void)
{
	return group(QT_MUST, NULL);
}

static void encode(const qt_node *t, tbuf *b)
{
	char err[256];
	tbuf_init(b, 1u << 20);
	int rc = qt_encode(t, b, err, sizeof err);
	if (rc)
		fail_msg("encode: %d %s", rc, err);
}

static void dump(const qt_node *t, char *out, size_t cap)
{
	assert_true(qt_dump(t, out, cap) < cap);
}

/* decode_copy decodes from a buffer of exactly len bytes (ASan sees an
 * overread) and checks that qt_validate agrees. */
static int decode_copy(const uint8_t *p, size_t len, qt_node **out, char *err, size_t errlen)
{
	uint8_t *copy = malloc(len ? len : 1);
	assert_non_null(copy);
	memcpy(copy, p, len);
	char verr[256];
	int vrc = qt_validate(copy, len, verr, sizeof verr);
	int rc = qt_decode(copy, len, out, err, errlen);
	assert_int_equal(rc, vrc);
	if (rc == TRAWL_EINVAL && err && errlen)
		assert_string_equal(err, verr);
	free(copy);
	return rc;
}

/* ---- the pinned encoding ---- */

static void test_golden(void **state)
{
	(void)state;
	/* (+title:(title:a -title:"b c") *:*), the group from column 1 */
	qt_node *t = root();
	qt_node *g = add(t, group(QT_MUST, "title"));
	g->column = 1;
	add(g, leaf(QT_TERM, QT_SHOULD, "title", "a"));
	add(g, leaf(QT_PHRASE, QT_NOT, "title", "b c"));
	add(t, leaf(QT_ALL, QT_SHOULD, NULL, NULL));
	static const uint8_t want[] = {
	    0x02, 0x00,                               /* format 2, reserved */
	    0x03, 0x01, 0x00, 0x00, 0x00, 0x00,       /* root: BOOL MUST col 0 no field */
	    0x02, 0x00,                               /* 2 kids */
	    0x03, 0x01, 0x01, 0x00, 0x05, 0x00,       /* BOOL MUST col 1, field of 5 bytes */
	    't',  'i',  't',  'l',  'e',  0x02, 0x00, /* "title", 2 kids */
	    0x00, 0x00, 0x00, 0x00, 0xff, 0xff,       /* TERM SHOULD col 0, the parent's field */
	    0x01, 0x00, 'a',                          /* text "a" */
	    0x02, 0x02, 0x00, 0x00, 0xff, 0xff,       /* PHRASE NOT, the parent's field */
	    0x03, 0x00, 'b',  ' ',  'c',              /* text "b c" */
	    0x04, 0x00, 0x00, 0x00, 0x00, 0x00,       /* ALL SHOULD, no field */
	};
	tbuf b;
	encode(t, &b);
	assert_int_equal(b.len, sizeof want);
	assert_memory_equal(b.data, want, sizeof want);
	qt_size s;
	qt_measure(t, &s);
	assert_int_equal(s.encoded, sizeof want);
	assert_int_equal(s.depth, 1);
	assert_int_equal(s.words, 4);
	assert_int_equal(s.text_bytes, 5 + 1 + 3);
	assert_int_equal(s.nodes, 5);
	char d[256];
	dump(t, d, sizeof d);
	assert_string_equal(d, "(+title:(title:a -title:\"b c\") *:*)");
	qt_node *back = NULL;
	char err[256];
	assert_int_equal(decode_copy(b.data, b.len, &back, err, sizeof err), TRAWL_OK);
	char d2[256];
	dump(back, d2, sizeof d2);
	assert_string_equal(d2, d);
	assert_int_equal(back->kids[0]->column, 1);
	tbuf b2;
	encode(back, &b2);
	assert_int_equal(b2.len, b.len);
	assert_memory_equal(b2.data, b.data, b.len);
	/* a kid that names its parent's field is written as taking it */
	qt_set_field(back->kids[0]->kids[0], "title", 5);
	tbuf_fini(&b2);
	encode(back, &b2);
	assert_memory_equal(b2.data, b.data, b.len);
	tbuf_fini(&b);
	tbuf_fini(&b2);
	qt_free(back);
	qt_free(t);
}

/* The typed filters: (#year:[2020 TO 2024} _exists_:tags -_id:a\ b
 * +(#tags:x)^=1) */
static qt_node *typed_tree(void)
{
	qt_node *t = root();
	qt_node *r = add(t, leaf(QT_RANGE, QT_FILTER, "year", "2020"));
	assert_int_equal(qt_set_hi(r, "2024", 4), TRAWL_OK);
	r->flags = QT_LO | QT_LO_INC | QT_HI;
	add(t, leaf(QT_EXISTS, QT_SHOULD, "tags", NULL));
	add(t, leaf(QT_IDS, QT_NOT, NULL, "a b"));
	add(add(t, leaf(QT_CONST, QT_MUST, NULL, NULL)), leaf(QT_TERM, QT_FILTER, "tags", "x"));
	return t;
}

static void test_golden_typed(void **state)
{
	(void)state;
	qt_node *t = typed_tree();
	static const uint8_t want[] = {
	    0x02, 0x00,                                     /* format 2, reserved */
	    0x03, 0x01, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00, /* root, 4 kids */
	    0x05, 0x03, 0x00, 0x00, 0x04, 0x00,             /* RANGE FILTER, field of 4 */
	    'y',  'e',  'a',  'r',                          /* "year" */
	    0x07,                                           /* flags QT_LO | QT_LO_INC | QT_HI */
	    0x04, 0x00, '2',  '0',  '2',  '0',              /* lo "2020" */
	    0x04, 0x00, '2',  '0',  '2',  '4',              /* hi "2024" */
	    0x06, 0x00, 0x00, 0x00, 0x04, 0x00,             /* EXISTS SHOULD, field of 4 */
	    't',  'a',  'g',  's',                          /* "tags", nothing more */
	    0x07, 0x02, 0x00, 0x00, 0x00, 0x00,             /* IDS NOT, no field */
	    0x03, 0x00, 'a',  ' ',  'b',                    /* the id "a b" */
	    0x08, 0x01, 0x00, 0x00, 0x00, 0x00,             /* CONST MUST, no field: its kid */
	    0x00, 0x03, 0x00, 0x00, 0x04, 0x00,             /* TERM FILTER, field of 4 */
	    't',  'a',  'g',  's',  0x01, 0x00, 'x',        /* "tags", "x" */
	};
	tbuf b;
	encode(t, &b);
	assert_int_equal(b.len, sizeof want);
	assert_memory_equal(b.data, want, sizeof want);
	qt_size s;
	qt_measure(t, &s);
	assert_int_equal(s.encoded, sizeof want);
	assert_int_equal(s.depth, 1);
	assert_int_equal(s.words, 5); /* each typed node one, and the TERM */
	assert_int_equal(s.text_bytes, 4 + 8 + 4 + 3 + 4 + 1);
	assert_int_equal(s.nodes, 6);
	char d[256];
	dump(t, d, sizeof d);
	assert_string_equal(d, "(#year:[2020 TO 2024} _exists_:tags -_id:a\\ b +(#tags:x)^=1)");
	qt_node *back = NULL;
	char err[256];
	assert_int_equal(decode_copy(b.data, b.len, &back, err, sizeof err), TRAWL_OK);
	char d2[256];
	dump(back, d2, sizeof d2);
	assert_string_equal(d2, d);
	assert_int_equal(back->kids[0]->flags, QT_LO | QT_LO_INC | QT_HI);
	assert_int_equal(back->kids[0]->hilen, 4);
	assert_null(back->kids[1]->text);
	assert_null(back->kids[1]->hi);
	tbuf b2;
	encode(back, &b2);
	assert_int_equal(b2.len, b.len);
	assert_memory_equal(b2.data, b.data, b.len);
	tbuf_fini(&b);
	tbuf_fini(&b2);
	qt_free(back);
	qt_free(t);
}

/* ---- random trees ---- */

static uint64_t rng = 0x71747265650001u;

static uint32_t rnd_below(uint32_t n)
{
	rng = rng * 6364136223846793005u + 1442695040888963407u;
	return (uint32_t)((rng >> 33) % n);
}

static const char *const fields[] = {"title", "body", "a.b_c-d", "x"};
static const char *const texts[] = {"a", "AND", "x y", "\xc3\xa9t\xc3\xa9", "(\\\"*:-+", " w "};
static const char *const bounds[] = {"", "2024-01-01", "*", "TO", "a ]}\\\"", "-5"};

/* rnd_tree: a random subtree that keeps the rules under a parent whose field
 * is parent, depth below the root. */
static qt_node *rnd_node(const char *parent, uint32_t depth)
{
	qt_occur occur = (qt_occur)rnd_below(4);
	const char *field = parent;
	if (!parent ? rnd_below(2) : rnd_below(4) == 0)
		field = fields[rnd_below(4)];
	uint32_t k = rnd_below(depth < 6 ? 9 : 7);
	if (k == 5 && field) {
		qt_node *r = leaf(QT_RANGE, occur, field, NULL);
		r->flags = 1 + rnd_below(15);
		r->flags &=
		    ~((r->flags & QT_LO ? 0 : QT_LO_INC) | (r->flags & QT_HI ? 0 : QT_HI_INC));
		if (!(r->flags & (QT_LO | QT_HI)))
			r->flags |= QT_HI;
		if (r->flags & QT_LO) {
			const char *b = bounds[rnd_below(6)];
			qt_set_text(r, b, strlen(b));
		}
		if (r->flags & QT_HI) {
			const char *b = bounds[rnd_below(6)];
			qt_set_hi(r, b, strlen(b));
		}
		r->column = rnd_below(100);
		return r;
	}
	if (k == 6 && field)
		return leaf(QT_EXISTS, occur, field, NULL);
	if ((k == 5 || k == 6) && !field)
		return leaf(QT_IDS, occur, NULL, texts[rnd_below(6)]);
	if (k == 7 || k == 8) {
		qt_node *g = leaf(k == 7 ? QT_CONST : QT_BOOL, occur, field, NULL);
		g->column = rnd_below(100);
		for (uint32_t i = 0, n = k == 7 ? 1 : 1 + rnd_below(4); i < n; i++)
			add(g, rnd_node(field, depth + 1));
		return g;
	}
	if (k == 3 && !field)
		return leaf(QT_ALL, occur, NULL, NULL);
	qt_kind kind = k >= 3 ? QT_TERM : (qt_kind)k;
	const char *t = texts[rnd_below(6)];
	qt_node *n = leaf(kind, occur, field, t);
	n->column = rnd_below(TRAWL_MAX_QUERY_BYTES + 1);
	return n;
}

static qt_node *rnd_tree(void)
{
	qt_node *t = root();
	t->column = rnd_below(2);
	for (uint32_t i = 0, n = 1 + rnd_below(5); i < n; i++)
		add(t, rnd_node(NULL, 1));
	return t;
}

static void test_roundtrip(void **state)
{
	(void)state;
	for (int iter = 0; iter < 2000; iter++) {
		qt_node *t = rnd_tree();
		char err[256];
		assert_int_equal(qt_check(t, err, sizeof err), TRAWL_OK);
		tbuf b;
		encode(t, &b);
		qt_size s;
		qt_measure(t, &s);
		assert_int_equal(s.encoded, b.len);
		qt_node *back = NULL;
		if (decode_copy(b.data, b.len, &back, err, sizeof err))
			fail_msg("decode: %s", err);
		char d1[8192], d2[8192];
		dump(t, d1, sizeof d1);
		dump(back, d2, sizeof d2);
		assert_string_equal(d1, d2);
		tbuf b2;
		encode(back, &b2);
		assert_int_equal(b2.len, b.len);
		assert_memory_equal(b2.data, b.data, b.len);
		tbuf_fini(&b2);
		tbuf_fini(&b);
		qt_free(back);
		qt_free(t);
	}
}

/* Every prefix fails; every flipped byte fails or is canonical. */
static void test_truncation_and_flips(void **state)
{
	(void)state;
	for (int iter = 0; iter < 200; iter++) {
		qt_node *t = rnd_tree();
		tbuf b;
		encode(t, &b);
		char err[256];
		for (size_t n = 0; n < b.len; n++) {
			qt_node *x = (qt_node *)&x;
			assert_int_equal(decode_copy(b.data, n, &x, err, sizeof err), TRAWL_EINVAL);
			assert_null(x);
			assert_true(strlen(err) > 0);
		}
		for (size_t i = 0; i < b.len; i++) {
			uint8_t *flip = malloc(b.len);
			memcpy(flip, b.data, b.len);
			flip[i] ^= (uint8_t)(1u << rnd_below(8));
			qt_node *x = NULL;
			if (decode_copy(flip, b.len, &x, err, sizeof err) == TRAWL_OK) {
				tbuf b2;
				encode(x, &b2);
				assert_int_equal(b2.len, b.len);
				assert_memory_equal(b2.data, flip, b.len);
				tbuf_fini(&b2);
				qt_free(x);
			}
			free(flip);
		}
		tbuf_fini(&b);
		qt_free(t);
	}
}

/* ---- rules ---- */

/* expect_bad: t breaks a rule; qt_check and qt_encode say so. */
static void expect_bad(qt_node *t, int rc, const char *msg)
{
	char err[256];
	int got = qt_check(t, err, sizeof err);
	if (got != rc || strcmp(err, msg))
		fail_msg("got %d [%s], want %d [%s]", got, err, rc, msg);
	tbuf b;
	tbuf_init(&b, 1u << 20);
	assert_int_equal(qt_encode(t, &b, err, sizeof err), rc);
	assert_string_equal(err, msg);
	assert_int_equal(b.len, 0);
	tbuf_fini(&b);
	qt_free(t);
}

static void test_rules(void **state)
{
	(void)state;
	qt_node *t;
	char err[64];
	assert_int_equal(qt_check(NULL, err, sizeof err), TRAWL_EINVAL);
	assert_string_equal(err, "no tree");

	t = leaf(QT_TERM, QT_MUST, NULL, "a");
	expect_bad(t, TRAWL_EINVAL,
	           "node 0 is the root, which must be a BOOL with occur MUST and no field");
	t = group(QT_SHOULD, NULL);
	add(t, leaf(QT_TERM, QT_SHOULD, NULL, "a"));
	expect_bad(t, TRAWL_EINVAL,
	           "node 0 is the root, which must be a BOOL with occur MUST and no field");
	t = group(QT_MUST, "title");
	add(t, leaf(QT_TERM, QT_SHOULD, "title", "a"));
	expect_bad(t, TRAWL_EINVAL,
	           "node 0 is the root, which must be a BOOL with occur MUST and no field");
	expect_bad(root(), TRAWL_EINVAL, "node 0 is a BOOL without kids");

	t = root();
	add(t, leaf(QT_TERM, QT_SHOULD, NULL, "a"));
	add(t, leaf(QT_TERM, QT_SHOULD, NULL, "b"))->kind = (qt_kind)9;
	expect_bad(t, TRAWL_EINVAL, "node 2 has an unknown kind");
	t = root();
	add(t, leaf(QT_TERM, (qt_occur)4, NULL, "a"));
	expect_bad(t, TRAWL_EINVAL, "node 1 has an unknown occur");
	t = root();
	add(t, leaf(QT_TERM, QT_SHOULD, NULL, "a"))->column = TRAWL_MAX_QUERY_BYTES + 1;
	expect_bad(t, TRAWL_EINVAL, "node 1 has a column past the end of the longest query");
	t = root();
	add(t, leaf(QT_ALL, QT_SHOULD, "title", NULL));
	expect_bad(t, TRAWL_EINVAL, "node 1 is ALL, which has no field");
	t = root();
	add(add(t, group(QT_SHOULD, "title")), leaf(QT_TERM, QT_SHOULD, NULL, "a"));
	expect_bad(t, TRAWL_EINVAL, "node 2 has no field below a node with one");
	t = root();
	add(add(t, group(QT_SHOULD, "title")), leaf(QT_ALL, QT_SHOULD, NULL, NULL));
	expect_bad(t, TRAWL_EINVAL, "node 2 has no field below a node with one");

	static const char *const bad_fields[][2] = {
	    {"", "node 1 has an empty field name"},
	    {"-x", "node 1 has a field name starting with '-'"},
	    {"a:b", "node 1 has a field name with a character other than A-Z a-z 0-9 _ . -"},
	    {"t\xc3\xa9", "node 1 has a field name with a character other than A-Z a-z 0-9 _ . -"},
	};
	for (size_t i = 0; i < 4; i++) {
		t = root();
		add(t, leaf(QT_TERM, QT_SHOULD, bad_fields[i][0], "a"));
		expect_bad(t, TRAWL_EINVAL, bad_fields[i][1]);
	}
	static const char *const bad_texts[][3] = {
	    {"0", "", "node 1 has an empty text"},
	    {"1", "\xff", "node 1 has a text that is not valid UTF-8"},
	    {"0", "\xc0\xaf", "node 1 has a text that is not valid UTF-8"},
	    {"0", "\xed\xa0\x80", "node 1 has a text that is not valid UTF-8"},
	    {"2", " \t\n", "node 1 is a phrase without a word"},
	};
	for (size_t i = 0; i < 5; i++) {
		t = root();
		add(t, leaf((qt_kind)(bad_texts[i][0][0] - '0'), QT_SHOULD, NULL, bad_texts[i][1]));
		expect_bad(t, TRAWL_EINVAL, bad_texts[i][2]);
	}
	/* a TERM with a field may be empty (the empty value); without one, or
	 * a PHRASE, not */
	t = root();
	add(t, leaf(QT_TERM, QT_SHOULD, "k", ""));
	{
		char why[256];
		tbuf b;
		tbuf_init(&b, 1u << 20);
		assert_int_equal(qt_check(t, why, sizeof why), TRAWL_OK);
		assert_int_equal(qt_encode(t, &b, why, sizeof why), TRAWL_OK);
		qt_node *back = NULL;
		assert_int_equal(qt_decode(b.data, b.len, &back, why, sizeof why), TRAWL_OK);
		char d1[64], d2[64];
		qt_dump(t, d1, sizeof d1);
		qt_dump(back, d2, sizeof d2);
		assert_string_equal(d1, "(k:\"\")");
		assert_string_equal(d2, d1);
		qt_free(back);
		tbuf_fini(&b);
		qt_free(t);
	}
	t = root();
	add(t, leaf(QT_PHRASE, QT_SHOULD, "k", ""));
	expect_bad(t, TRAWL_EINVAL, "node 1 has an empty text");
	t = root();
	qt_set_text(add(t, leaf(QT_TERM, QT_SHOULD, NULL, NULL)), "a\0b", 3);
	expect_bad(t, TRAWL_EINVAL, "node 1 has a NUL in its text");
	t = root();
	add(t, leaf(QT_PREFIX, QT_SHOULD, NULL, NULL));
	expect_bad(t, TRAWL_EINVAL, "node 1 has no text");
	t = root();
	qt_node *term = add(t, leaf(QT_TERM, QT_SHOULD, NULL, "a"));
	add(term, leaf(QT_TERM, QT_SHOULD, NULL, "b"));
	expect_bad(t, TRAWL_EINVAL, "node 1 has kids but is not a group (BOOL or CONST)");
}

/* range: a RANGE in field f (NULL: none) with flags, lo and hi (NULL:
 * none). */
static qt_node *range(qt_occur occur, const char *f, uint32_t flags, const char *lo, const char *hi)
{
	qt_node *r = leaf(QT_RANGE, occur, f, lo);
	if (hi)
		assert_int_equal(qt_set_hi(r, hi, strlen(hi)), TRAWL_OK);
	r->flags = flags;
	return r;
}

/* one: a root holding n. */
static qt_node *one(qt_node *n)
{
	qt_node *t = root();
	add(t, n);
	return t;
}

static void test_rules_typed(void **state)
{
	(void)state;
	char err[256];
	qt_node *t;
	/* valid: empty bounds, each bound alone, inclusive or not */
	static const uint32_t good_flags[] = {QT_LO,         QT_LO | QT_LO_INC,
	                                      QT_HI,         QT_HI | QT_HI_INC,
	                                      QT_LO | QT_HI, QT_LO | QT_LO_INC | QT_HI | QT_HI_INC};
	for (size_t i = 0; i < sizeof good_flags / sizeof good_flags[0]; i++) {
		uint32_t f = good_flags[i];
		t = one(range(QT_FILTER, "year", f, f & QT_LO ? "" : NULL, f & QT_HI ? "z" : NULL));
		if (qt_check(t, err, sizeof err))
			fail_msg("flags %u: %s", (unsigned)f, err);
		qt_free(t);
	}
	t = one(leaf(QT_EXISTS, QT_NOT, "tags", NULL));
	assert_int_equal(qt_check(t, err, sizeof err), TRAWL_OK);
	qt_free(t);
	char id[LIMIT_ID_BYTES + 2];
	memset(id, 'i', sizeof id);
	id[LIMIT_ID_BYTES] = 0;
	t = one(leaf(QT_IDS, QT_SHOULD, NULL, id));
	assert_int_equal(qt_check(t, err, sizeof err), TRAWL_OK);
	qt_free(t);

	/* fields */
	expect_bad(one(range(QT_MUST, NULL, QT_LO, "a", NULL)), TRAWL_EINVAL,
	           "node 1 is RANGE, which needs a field");
	expect_bad(one(leaf(QT_EXISTS, QT_MUST, NULL, NULL)), TRAWL_EINVAL,
	           "node 1 is EXISTS, which needs a field");
	expect_bad(one(leaf(QT_IDS, QT_MUST, "title", "a")), TRAWL_EINVAL,
	           "node 1 is IDS, which has no field");
	t = root();
	add(add(t, group(QT_MUST, "title")), leaf(QT_IDS, QT_SHOULD, NULL, "a"));
	expect_bad(t, TRAWL_EINVAL, "node 2 has no field below a node with one");
	/* the root is never FILTER */
	t = group(QT_FILTER, NULL);
	add(t, leaf(QT_TERM, QT_SHOULD, NULL, "a"));
	expect_bad(t, TRAWL_EINVAL,
	           "node 0 is the root, which must be a BOOL with occur MUST and no field");
	t = leaf(QT_CONST, QT_MUST, NULL, NULL);
	add(t, leaf(QT_TERM, QT_SHOULD, NULL, "a"));
	expect_bad(t, TRAWL_EINVAL,
	           "node 0 is the root, which must be a BOOL with occur MUST and no field");

	/* flags and bounds */
	expect_bad(one(range(QT_MUST, "f", 0, NULL, NULL)), TRAWL_EINVAL,
	           "node 1 is a range without a bound");
	expect_bad(one(range(QT_MUST, "f", QT_LO | 16, "a", NULL)), TRAWL_EINVAL,
	           "node 1 has unknown range flags");
	expect_bad(one(range(QT_MUST, "f", QT_LO | 0x80000000u, "a", NULL)), TRAWL_EINVAL,
	           "node 1 has unknown range flags");
	expect_bad(one(range(QT_MUST, "f", QT_HI | QT_LO_INC, NULL, "a")), TRAWL_EINVAL,
	           "node 1 is a range that includes a bound it does not have");
	expect_bad(one(range(QT_MUST, "f", QT_LO | QT_HI_INC, "a", NULL)), TRAWL_EINVAL,
	           "node 1 is a range that includes a bound it does not have");
	expect_bad(one(range(QT_MUST, "f", QT_HI, "a", "b")), TRAWL_EINVAL,
	           "node 1 is a range with the text of a bound it does not have");
	expect_bad(one(range(QT_MUST, "f", QT_LO, "a", "b")), TRAWL_EINVAL,
	           "node 1 is a range with the text of a bound it does not have");
	t = one(range(QT_MUST, "f", QT_LO, NULL, NULL));
	qt_set_text(t->kids[0], "a\0b", 3);
	expect_bad(t, TRAWL_EINVAL, "node 1 has a NUL in its lower bound");
	t = one(range(QT_MUST, "f", QT_HI, NULL, NULL));
	qt_set_hi(t->kids[0], "a\0", 2);
	expect_bad(t, TRAWL_EINVAL, "node 1 has a NUL in its upper bound");
	expect_bad(one(range(QT_MUST, "f", QT_LO, "\xc3", NULL)), TRAWL_EINVAL,
	           "node 1 has a lower bound that is not valid UTF-8");
	expect_bad(one(range(QT_MUST, "f", QT_HI | QT_HI_INC, NULL, "\xed\xa0\x80")), TRAWL_EINVAL,
	           "node 1 has an upper bound that is not valid UTF-8");
	t = one(leaf(QT_TERM, QT_MUST, NULL, "a"));
	qt_set_hi(t->kids[0], "b", 1);
	expect_bad(t, TRAWL_EINVAL, "node 1 has range bounds or flags but is not a RANGE");
	t = one(leaf(QT_EXISTS, QT_MUST, "f", NULL));
	t->kids[0]->flags = QT_LO;
	expect_bad(t, TRAWL_EINVAL, "node 1 has range bounds or flags but is not a RANGE");

	/* texts */
	expect_bad(one(leaf(QT_EXISTS, QT_MUST, "f", "a")), TRAWL_EINVAL,
	           "node 1 has a text, which its kind does not take");
	t = one(leaf(QT_CONST, QT_MUST, NULL, "a"));
	add(t->kids[0], leaf(QT_TERM, QT_MUST, NULL, "b"));
	expect_bad(t, TRAWL_EINVAL, "node 1 has a text, which its kind does not take");
	expect_bad(one(leaf(QT_IDS, QT_MUST, NULL, "")), TRAWL_EINVAL,
	           "node 1 is IDS with an empty id");
	expect_bad(one(leaf(QT_IDS, QT_MUST, NULL, NULL)), TRAWL_EINVAL, "node 1 has no text");
	id[LIMIT_ID_BYTES] = 'i';
	id[LIMIT_ID_BYTES + 1] = 0;
	expect_bad(one(leaf(QT_IDS, QT_MUST, NULL, id)), TRAWL_EINVAL,
	           "node 1 is IDS with an id over 512 bytes");
	expect_bad(one(leaf(QT_IDS, QT_MUST, NULL, "\xff")), TRAWL_EINVAL,
	           "node 1 has a text that is not valid UTF-8");

	/* CONST: exactly one kid */
	expect_bad(one(leaf(QT_CONST, QT_MUST, NULL, NULL)), TRAWL_EINVAL,
	           "node 1 is CONST, which has exactly one kid");
	t = one(leaf(QT_CONST, QT_MUST, NULL, NULL));
	add(t->kids[0], leaf(QT_TERM, QT_MUST, NULL, "a"));
	add(t->kids[0], leaf(QT_TERM, QT_MUST, NULL, "b"));
	expect_bad(t, TRAWL_EINVAL, "node 1 is CONST, which has exactly one kid");
	t = one(leaf(QT_EXISTS, QT_MUST, "f", NULL));
	add(t->kids[0], leaf(QT_TERM, QT_MUST, "f", "b"));
	expect_bad(t, TRAWL_EINVAL, "node 1 has kids but is not a group (BOOL or CONST)");
	/* a CONST's field applies to its kid */
	t = root();
	add(add(t, leaf(QT_CONST, QT_MUST, "f", NULL)), leaf(QT_TERM, QT_MUST, NULL, "b"));
	expect_bad(t, TRAWL_EINVAL, "node 2 has no field below a node with one");
}

/* ---- limits ---- */

static void test_limits(void **state)
{
	(void)state;
	char err[256];
	/* depth: 32 groups below the root, then 33 */
	for (int levels = 32; levels <= 33; levels++) {
		qt_node *t = root(), *g = t;
		for (int i = 0; i < levels; i++)
			g = add(g, group(QT_MUST, NULL));
		add(g, leaf(QT_TERM, QT_SHOULD, NULL, "x"));
		if (levels == 32) {
			assert_int_equal(qt_check(t, err, sizeof err), TRAWL_OK);
			qt_free(t);
		} else {
			expect_bad(t, TRAWL_ELIMIT, "groups nest 33 deep; the limit is 32");
		}
	}
	/* words: a phrase counts its words */
	for (int extra = 0; extra <= 1; extra++) {
		qt_node *t = root();
		for (int i = 0; i < TRAWL_MAX_QUERY_TERMS - 3 + extra; i++)
			add(t, leaf(QT_TERM, QT_SHOULD, NULL, "w"));
		add(t, leaf(QT_PHRASE, QT_SHOULD, NULL, " a  b\tc "));
		if (!extra) {
			assert_int_equal(qt_check(t, err, sizeof err), TRAWL_OK);
			qt_free(t);
		} else {
			expect_bad(t, TRAWL_ELIMIT, "the query has 1025 terms; the limit is 1024");
		}
	}
	/* text: words and field names, each field where it is given */
	for (int extra = 0; extra <= 1; extra++) {
		char big[TRAWL_MAX_QUERY_BYTES];
		memset(big, 'x', sizeof big);
		size_t n = TRAWL_MAX_QUERY_BYTES - 5 - 1 + (size_t)extra;
		qt_node *t = root();
		qt_node *g = add(t, group(QT_SHOULD, "title"));
		qt_set_text(add(g, leaf(QT_TERM, QT_SHOULD, "title", NULL)), big, n);
		add(g, leaf(QT_TERM, QT_SHOULD, "title", "y"));
		if (!extra) {
			assert_int_equal(qt_check(t, err, sizeof err), TRAWL_OK);
			qt_free(t);
		} else {
			expect_bad(t, TRAWL_ELIMIT,
			           "the query holds 8193 bytes of words and field names; the limit "
			           "is 8192");
		}
	}
	/* the encoding: chains of groups */
	{
		qt_node *t = root();
		for (int i = 0; i < 300; i++) {
			qt_node *g = t;
			for (int d = 0; d < 30; d++)
				g = add(g, group(QT_SHOULD, NULL));
			add(g, leaf(QT_TERM, QT_SHOULD, NULL, "a"));
		}
		qt_size s;
		qt_measure(t, &s);
		assert_true(s.encoded > TRAWL_MAX_QUERY_TREE_BYTES);
		char want[128];
		snprintf(want, sizeof want,
		         "the query's encoding takes %llu bytes; the limit is %d",
		         (unsigned long long)s.encoded, TRAWL_MAX_QUERY_TREE_BYTES);
		expect_bad(t, TRAWL_ELIMIT, want);
	}
	/* each typed node is one word, CONST too */
	for (int extra = 0; extra <= 1; extra++) {
		qt_node *t = root();
		for (int i = 0; i < TRAWL_MAX_QUERY_TERMS - 4; i++)
			add(t, leaf(QT_TERM, QT_SHOULD, NULL, "w"));
		add(t, range(QT_FILTER, "f", QT_LO, "1", NULL));
		add(t, leaf(QT_EXISTS, QT_FILTER, "f", NULL));
		qt_node *c = add(t, leaf(QT_CONST, QT_MUST, NULL, NULL));
		add(c, leaf(extra ? QT_IDS : QT_ALL, QT_FILTER, NULL, extra ? "x" : NULL));
		qt_size s;
		qt_measure(t, &s);
		assert_int_equal(s.words, TRAWL_MAX_QUERY_TERMS);
		if (extra)
			add(t, leaf(QT_IDS, QT_SHOULD, NULL, "y"));
		if (!extra) {
			assert_int_equal(qt_check(t, err, sizeof err), TRAWL_OK);
			qt_free(t);
		} else {
			expect_bad(t, TRAWL_ELIMIT, "the query has 1025 terms; the limit is 1024");
		}
	}
	/* both bounds of a range count in the text */
	for (int extra = 0; extra <= 1; extra++) {
		static char big[TRAWL_MAX_QUERY_BYTES];
		memset(big, '7', sizeof big);
		qt_node *t = root();
		qt_node *r = add(t, range(QT_MUST, "f", QT_LO | QT_HI, NULL, NULL));
		qt_set_text(r, big, 4000);
		qt_set_hi(r, big, TRAWL_MAX_QUERY_BYTES - 4000 - 1 + (size_t)extra);
		if (!extra) {
			assert_int_equal(qt_check(t, err, sizeof err), TRAWL_OK);
			qt_free(t);
		} else {
			expect_bad(t, TRAWL_ELIMIT,
			           "the query holds 8193 bytes of words and field names; the limit "
			           "is 8192");
		}
	}
	/* CONST is a group: 32 below the root, then 33 */
	for (int levels = 32; levels <= 33; levels++) {
		qt_node *t = root(), *g = t;
		for (int i = 0; i < levels; i++)
			g = add(g, leaf(i % 2 ? QT_CONST : QT_BOOL, QT_MUST, NULL, NULL));
		add(g, leaf(QT_IDS, QT_FILTER, NULL, "x"));
		if (levels == 32) {
			assert_int_equal(qt_check(t, err, sizeof err), TRAWL_OK);
			qt_free(t);
		} else {
			expect_bad(t, TRAWL_ELIMIT, "groups nest 33 deep; the limit is 32");
		}
	}
	/* the tbuf's own bound */
	{
		qt_node *t = root();
		add(t, leaf(QT_TERM, QT_SHOULD, NULL, "abc"));
		tbuf b;
		tbuf_init(&b, 10);
		assert_int_equal(qt_encode(t, &b, err, sizeof err), TRAWL_ELIMIT);
		assert_string_equal(err, "no room for the 21 bytes of the query");
		assert_int_equal(b.len, 0);
		tbuf_fini(&b);
		qt_free(t);
	}
}

/* ---- the decoder's own refusals ---- */

typedef struct bad_bytes {
	const char *name;
	const char *bytes; /* hex */
	const char *msg;
} bad_bytes;

/* A root holding one TERM "a": 01 00 | 03 01 0000 0000 0100 | 00 00 0000 0000 0100 61 */
#define HDR "0200"
#define ROOT1 "0301000000000100"
static const bad_bytes bad[] = {
    {"empty", "",
     "query tree, offset 0: the input ends inside the header (2 bytes needed, 0 left)"},
    {"format", "0300" ROOT1 "000000000000010061",
     "query tree, offset 0: format 3 is not supported; this build reads format 2"},
    {"format 1", "0100" ROOT1 "000000000000010061",
     "query tree, offset 0: format 1 is not supported; this build reads format 2"},
    {"reserved", "0201" ROOT1 "000000000000010061",
     "query tree, offset 1: reserved byte is 0x01; it must be 0"},
    {"trailing", HDR ROOT1 "00000000000001006100",
     "query tree, offset 19: the tree ends here but the input has 20 bytes"},
    {"root kind", HDR "0001000000000100",
     "query tree, offset 2: node 0 is the root, which must be a BOOL with occur MUST and no "
     "field"},
    {"empty bool",
     HDR "030100000000"
         "0000",
     "query tree, offset 2: node 0 is a BOOL without kids"},
    {"kind", HDR ROOT1 "090000000000", "query tree, offset 10: node 1 has an unknown kind"},
    {"occur", HDR ROOT1 "000400000000010061", "query tree, offset 10: node 1 has an unknown occur"},
    {"filter root", HDR "0303000000000100000000000000010061",
     "query tree, offset 2: node 0 is the root, which must be a BOOL with occur MUST and no "
     "field"},
    /* RANGE: u8 flags, u16 lo_len, lo, u16 hi_len, hi after the field "x" */
    {"range without field", HDR ROOT1 "050000000000010100610000",
     "query tree, offset 10: node 1 is RANGE, which needs a field"},
    {"range flags",
     HDR ROOT1 "05000000010078"
               "110100610000",
     "query tree, offset 17: node 1 has unknown range flags"},
    {"range without bound",
     HDR ROOT1 "05000000010078"
               "0000000000",
     "query tree, offset 17: node 1 is a range without a bound"},
    {"range includes a missing bound",
     HDR ROOT1 "05000000010078"
               "06000001000061",
     "query tree, offset 17: node 1 is a range that includes a bound it does not have"},
    {"range text of a missing bound",
     HDR ROOT1 "05000000010078"
               "040100610100"
               "62",
     "query tree, offset 17: node 1 is a range with the text of a bound it does not have"},
    {"range lower NUL",
     HDR ROOT1 "05000000010078"
               "010100000000",
     "query tree, offset 20: node 1 has a NUL in its lower bound"},
    {"range upper UTF-8",
     HDR ROOT1 "05000000010078"
               "0400000100ff",
     "query tree, offset 22: node 1 has an upper bound that is not valid UTF-8"},
    {"range short",
     HDR ROOT1 "05000000010078"
               "01050061",
     "query tree, offset 20: the input ends inside a range's lower bound (5 bytes needed, 1 "
     "left)"},
    {"range no upper length",
     HDR ROOT1 "05000000010078"
               "01010061",
     "query tree, offset 21: the input ends inside a range's upper bound (2 bytes needed, 0 "
     "left)"},
    {"exists without field", HDR ROOT1 "060000000000",
     "query tree, offset 10: node 1 is EXISTS, which needs a field"},
    {"ids with field", HDR ROOT1 "0700000001007801006100",
     "query tree, offset 10: node 1 is IDS, which has no field"},
    {"ids empty", HDR ROOT1 "0700000000000000",
     "query tree, offset 18: node 1 is IDS with an empty id"},
    {"ids under a field",
     HDR ROOT1 "030000000100"
               "78"
               "0100"
               "070000000000010061",
     "query tree, offset 19: node 2 has no field below a node with one"},
    {"const without kid", HDR ROOT1 "080000000000",
     "query tree, offset 16: the input ends inside a node (2 bytes needed, 0 left)"},
    {"const kid after", HDR ROOT1 "080000000000000000000000010061000000000000010061",
     "query tree, offset 25: the tree ends here but the input has 34 bytes"},
    {"column", HDR ROOT1 "000001200000010061",
     "query tree, offset 10: node 1 has a column past the end of the longest query"},
    {"parent field", HDR ROOT1 "00000000ffff010061",
     "query tree, offset 10: node 1 takes its parent's field, but the parent has none"},
    {"field name", HDR ROOT1 "0000000002002d78010061",
     "query tree, offset 16: node 1 has a field name starting with '-'"},
    {"field repeated",
     HDR "0301000000000100"
         "030000000100"
         "78"
         "0100"
         "000000000100"
         "78"
         "010061",
     "query tree, offset 25: node 2 repeats its parent's field instead of taking it"},
    {"no field under one",
     HDR ROOT1 "030000000100"
               "78"
               "0100"
               "000000000000"
               "010061",
     "query tree, offset 19: node 2 has no field below a node with one"},
    {"all with field", HDR ROOT1 "04000000010078",
     "query tree, offset 10: node 1 is ALL, which has no field"},
    {"empty text", HDR ROOT1 "0000000000000000", "query tree, offset 18: node 1 has an empty text"},
    {"nul", HDR ROOT1 "00000000000002006100",
     "query tree, offset 18: node 1 has a NUL in its text"},
    {"utf8", HDR ROOT1 "0000000000000100ff",
     "query tree, offset 18: node 1 has a text that is not valid UTF-8"},
    {"phrase without word", HDR ROOT1 "02000000000001002020",
     "query tree, offset 18: node 1 is a phrase without a word"},
    {"short text", HDR ROOT1 "000000000000050061",
     "query tree, offset 18: the input ends inside a text (5 bytes needed, 1 left)"},
};

static size_t unhex(const char *h, uint8_t *out)
{
	size_t n = 0;
	for (; h[0] && h[1]; h += 2) {
		unsigned v;
		sscanf(h, "%2x", &v);
		out[n++] = (uint8_t)v;
	}
	return n;
}

static void test_decode_refusals(void **state)
{
	(void)state;
	uint8_t buf[256];
	char err[256];
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		size_t n = unhex(bad[i].bytes, buf);
		qt_node *t = (qt_node *)&t;
		int rc = decode_copy(buf, n, &t, err, sizeof err);
		if (rc != TRAWL_EINVAL || strcmp(err, bad[i].msg))
			fail_msg("%s: got %d [%s]\nwant [%s]", bad[i].name, rc, err, bad[i].msg);
		assert_null(t);
	}
	/* the valid one these are made from */
	size_t n = unhex(HDR ROOT1 "000000000000010061", buf);
	qt_node *t = NULL;
	assert_int_equal(decode_copy(buf, n, &t, err, sizeof err), TRAWL_OK);
	char d[64];
	dump(t, d, sizeof d);
	assert_string_equal(d, "(a)");
	qt_free(t);
	/* NULL and an error buffer of any size */
	assert_int_equal(qt_decode(NULL, 0, &t, NULL, 0), TRAWL_EINVAL);
	assert_null(t);
	char tiny[6];
	assert_int_equal(qt_validate(buf, 3, tiny, sizeof tiny), TRAWL_EINVAL);
	assert_string_equal(tiny, "query");
}

/* The decoder's limits, from bytes the encoder would refuse to write. */
static void test_decode_limits(void **state)
{
	(void)state;
	static uint8_t buf[TRAWL_MAX_QUERY_TREE_BYTES + 16];
	char err[256];
	qt_node *t = NULL;
	/* 33 groups below the root */
	size_t n = unhex(HDR, buf);
	for (int i = 0; i < 34; i++)
		n += unhex(i ? "030100000000"
		               "0100"
		             : "030100000000"
		               "0100",
		           buf + n);
	n += unhex("000000000000010078", buf + n);
	assert_int_equal(decode_copy(buf, n, &t, err, sizeof err), TRAWL_EINVAL);
	assert_string_equal(err,
	                    "query tree, offset 266: node 33 is a group nested deeper than 32");
	/* 1025 words */
	n = unhex(HDR "030100000000", buf);
	n += unhex("0104", buf + n); /* 1025 kids */
	for (int i = 0; i < 1025; i++)
		n += unhex("000000000000010078", buf + n);
	assert_int_equal(decode_copy(buf, n, &t, err, sizeof err), TRAWL_EINVAL);
	assert_string_equal(err, "query tree, offset 9226: the query has more than 1024 terms");
	/* 8193 bytes of text */
	n = unhex(HDR "030100000000"
	              "0200",
	          buf);
	n += unhex("000000000000"
	           "0020",
	           buf + n);
	memset(buf + n, 'x', 8192);
	n += 8192;
	n += unhex("000000000000010078", buf + n);
	assert_int_equal(decode_copy(buf, n, &t, err, sizeof err), TRAWL_EINVAL);
	assert_string_equal(
	    err, "query tree, offset 8210: the query holds more than 8192 bytes of words "
	         "and field names");
	/* 33 groups below the root, CONST among them */
	n = unhex(HDR ROOT1, buf);
	for (int i = 0; i < 33; i++)
		n += unhex("080100000000", buf + n);
	n += unhex("070000000000010078", buf + n);
	assert_int_equal(decode_copy(buf, n, &t, err, sizeof err), TRAWL_EINVAL);
	assert_string_equal(err,
	                    "query tree, offset 202: node 33 is a group nested deeper than 32");
	/* 1025 words, typed nodes counting one each */
	n = unhex(HDR "030100000000"
	              "0104",
	          buf);
	for (int i = 0; i < 1025; i++)
		n += unhex(i % 2 ? "06000000010078" : "05000000010078010100310000", buf + n);
	assert_int_equal(decode_copy(buf, n, &t, err, sizeof err), TRAWL_EINVAL);
	assert_string_equal(err, "query tree, offset 10250: the query has more than 1024 terms");
	/* an id of 513 bytes */
	n = unhex(HDR ROOT1 "070000000000"
	                    "0102",
	          buf);
	memset(buf + n, 'i', 513);
	n += 513;
	assert_int_equal(decode_copy(buf, n, &t, err, sizeof err), TRAWL_EINVAL);
	assert_string_equal(err, "query tree, offset 18: node 1 is IDS with an id over 512 bytes");
	buf[16] = 0x00; /* 512: fine */
	buf[17] = 0x02;
	assert_int_equal(decode_copy(buf, n - 1, &t, err, sizeof err), TRAWL_OK);
	qt_free(t);
	/* both bounds count in the text */
	n = unhex(HDR ROOT1 "05000000010078"
	                    "05",
	          buf);
	n += unhex("a00f", buf + n); /* 4000 */
	memset(buf + n, '1', 4000);
	n += 4000;
	n += unhex("0010", buf + n); /* 4096: with the field, 8097 bytes */
	memset(buf + n, '2', 4096);
	n += 4096;
	assert_int_equal(decode_copy(buf, n, &t, err, sizeof err), TRAWL_OK);
	qt_free(t);
	buf[17 + 1 + 2 + 4000] = 0xbc; /* 4284: 8285 */
	assert_int_equal(decode_copy(buf, n, &t, err, sizeof err), TRAWL_EINVAL);
	assert_string_equal(err, "query tree, offset 4022: the input ends inside a range's upper "
	                         "bound (4284 bytes needed, 4096 left)");
	memset(buf + n, '3', 188);
	assert_int_equal(decode_copy(buf, n + 188, &t, err, sizeof err), TRAWL_EINVAL);
	assert_string_equal(err, "query tree, offset 10: the query holds more than 8192 bytes of "
	                         "words and field names");
	/* too long before anything is read */
	memset(buf, 0, sizeof buf);
	assert_int_equal(decode_copy(buf, TRAWL_MAX_QUERY_TREE_BYTES + 1, &t, err, sizeof err),
	                 TRAWL_EINVAL);
	assert_string_equal(err, "query tree, offset 0: the encoding is 65537 bytes; the limit is "
	                         "65536");
}

/* ---- dump ---- */

static void test_dump(void **state)
{
	(void)state;
	qt_node *t = root();
	add(t, leaf(QT_TERM, QT_MUST, NULL, "AND"));
	add(t, leaf(QT_TERM, QT_NOT, "f", "-a b:c*"));
	add(t, leaf(QT_PREFIX, QT_SHOULD, NULL, "ecl"));
	add(t, leaf(QT_PHRASE, QT_SHOULD, NULL, "say \"hi\\\""));
	char d[128];
	assert_int_equal(qt_dump(t, NULL, 0), 42);
	dump(t, d, sizeof d);
	assert_string_equal(d, "(+\\AND -f:\\-a\\ b\\:c\\* ecl* \"say \\\"hi\\\\\\\"\")");
	assert_int_equal(qt_dump(t, d, 5), 42);
	assert_string_equal(d, "(+\\A");
	assert_int_equal(qt_dump(NULL, d, sizeof d), 0);
	assert_string_equal(d, "");
	qt_free(t);
	qt_free(NULL);
}

static void test_dump_typed(void **state)
{
	(void)state;
	static const struct {
		uint32_t flags;
		const char *lo, *hi, *want;
	} ranges[] = {
	    {QT_LO | QT_LO_INC | QT_HI | QT_HI_INC, "1", "5", "f:[1 TO 5]"},
	    {QT_LO | QT_HI, "1", "5", "f:{1 TO 5}"},
	    {QT_LO | QT_LO_INC, "2024-01-01T00:00:00Z", NULL, "f:[2024-01-01T00:00:00Z TO *}"},
	    {QT_HI | QT_HI_INC, NULL, "z", "f:{* TO z]"},
	    {QT_LO | QT_HI, "", "", "f:{\"\" TO \"\"}"},
	    {QT_LO | QT_HI, "*", "TO", "f:{\\* TO \\TO}"},
	    {QT_LO | QT_HI, "**", "TOO", "f:{** TO TOO}"},
	    {QT_LO | QT_HI, "a b]}[{()\"\\", "-x", "f:{a\\ b\\]\\}\\[\\{\\(\\)\\\"\\\\ TO -x}"},
	};
	char d[256], want[256];
	for (size_t i = 0; i < sizeof ranges / sizeof ranges[0]; i++) {
		qt_node *t =
		    one(range(QT_SHOULD, "f", ranges[i].flags, ranges[i].lo, ranges[i].hi));
		dump(t, d, sizeof d);
		snprintf(want, sizeof want, "(%s)", ranges[i].want);
		assert_string_equal(d, want);
		qt_free(t);
	}
	/* words that would read as syntax at the start of a clause */
	qt_node *t = root();
	add(t, leaf(QT_TERM, QT_SHOULD, NULL, "#a"));
	add(t, leaf(QT_TERM, QT_SHOULD, "f", "[a"));
	add(t, leaf(QT_TERM, QT_SHOULD, "f", "{a"));
	add(t, leaf(QT_TERM, QT_SHOULD, "f", ">a"));
	add(t, leaf(QT_TERM, QT_SHOULD, "f", "<=a"));
	add(t, leaf(QT_TERM, QT_SHOULD, "f", "a#[{><"));
	add(t, leaf(QT_IDS, QT_FILTER, NULL, "AND"));
	add(t, leaf(QT_IDS, QT_SHOULD, NULL, "x:y*"));
	add(t, leaf(QT_EXISTS, QT_NOT, "a.b", NULL));
	qt_node *c = add(t, leaf(QT_CONST, QT_SHOULD, "t", NULL));
	qt_node *g = add(c, group(QT_FILTER, "t"));
	add(g, leaf(QT_TERM, QT_SHOULD, "t", "a"));
	add(g, leaf(QT_EXISTS, QT_SHOULD, "t", NULL));
	dump(t, d, sizeof d);
	assert_string_equal(d, "(\\#a f:\\[a f:\\{a f:\\>a f:\\<=a f:a#[{>< #_id:\\AND "
	                       "_id:x\\:y\\* -_exists_:a.b t:(#t:(t:a _exists_:t))^=1)");
	qt_free(t);
}

/* with_filter: the dump of query q (NULL: none) narrowed by filter f, or
 * the error. Both are built by the caller. */
static const char *with_filter(qt_node *q, qt_node *f, char *out, size_t cap)
{
	qt_node *t = (qt_node *)&t;
	int rc = qt_with_filter(q, f, &t, out, cap);
	if (rc) {
		assert_null(t);
		return out;
	}
	dump(t, out, cap);
	char err[256];
	assert_int_equal(qt_check(t, err, sizeof err), TRAWL_OK);
	qt_free(t);
	return out;
}

static qt_node *filter_of(qt_occur oc1, const char *t1, qt_occur oc2, const char *t2)
{
	qt_node *f = root();
	f->column = 1;
	add(f, leaf(QT_TERM, oc1, "tags", t1))->column = 1;
	if (t2)
		add(f, leaf(QT_TERM, oc2, "tags", t2))->column = 7;
	return f;
}

static void test_with_filter(void **state)
{
	(void)state;
	char d[256];
	/* a filter alone: every document that passes it, score 1 */
	qt_node *t = NULL;
	assert_int_equal(
	    qt_with_filter(NULL, filter_of(QT_FILTER, "a", QT_NOT, "b"), &t, d, sizeof d),
	    TRAWL_OK);
	dump(t, d, sizeof d);
	assert_string_equal(d, "(+*:* #tags:a -tags:b)");
	assert_int_equal(t->kids[1]->column, 1); /* alone, its columns stay */
	assert_int_equal(t->kids[2]->column, 7);
	qt_free(t);
	/* a query with a required clause keeps its clauses as they are */
	qt_node *q = root();
	add(q, leaf(QT_TERM, QT_MUST, NULL, "a"))->column = 1;
	add(q, leaf(QT_TERM, QT_SHOULD, NULL, "b"))->column = 4;
	assert_int_equal(
	    qt_with_filter(q, filter_of(QT_FILTER, "x", QT_FILTER, "y"), &t, d, sizeof d),
	    TRAWL_OK);
	dump(t, d, sizeof d);
	assert_string_equal(d, "(+a b #tags:x #tags:y)");
	assert_int_equal(t->kids[0]->column, 1);
	assert_int_equal(t->kids[2]->column, 0); /* beside a query: no column */
	assert_int_equal(t->kids[3]->column, 0);
	qt_free(t);
	/* one optional clause becomes required */
	q = root();
	add(q, leaf(QT_TERM, QT_SHOULD, NULL, "a"));
	add(q, leaf(QT_TERM, QT_NOT, NULL, "n"));
	assert_string_equal(with_filter(q, filter_of(QT_FILTER, "x", 0, NULL), d, sizeof d),
	                    "(+a -n #tags:x)");
	/* several become one required group where the first stood */
	q = root();
	add(q, leaf(QT_TERM, QT_NOT, NULL, "n"));
	add(q, leaf(QT_TERM, QT_SHOULD, NULL, "a"));
	add(q, leaf(QT_PHRASE, QT_SHOULD, NULL, "b c"));
	add(q, leaf(QT_TERM, QT_NOT, NULL, "m"));
	add(q, leaf(QT_PREFIX, QT_SHOULD, "title", "d"));
	assert_string_equal(with_filter(q, filter_of(QT_FILTER, "x", QT_NOT, "y"), d, sizeof d),
	                    "(-n +(a \"b c\" title:d*) -m #tags:x -tags:y)");
	/* a query with a FILTER clause of its own needs no change */
	q = root();
	add(q, leaf(QT_TERM, QT_SHOULD, NULL, "a"));
	add(q, leaf(QT_EXISTS, QT_FILTER, "f", NULL));
	assert_string_equal(with_filter(q, filter_of(QT_FILTER, "x", 0, NULL), d, sizeof d),
	                    "(a #_exists_:f #tags:x)");
	/* only excluded clauses in the query: the filter admits */
	q = root();
	add(q, leaf(QT_TERM, QT_NOT, NULL, "a"));
	assert_string_equal(with_filter(q, filter_of(QT_FILTER, "x", 0, NULL), d, sizeof d),
	                    "(-a #tags:x)");
	/* again: a narrowed query narrowed once more */
	assert_int_equal(qt_with_filter(NULL, filter_of(QT_FILTER, "a", 0, NULL), &t, d, sizeof d),
	                 TRAWL_OK);
	assert_string_equal(with_filter(t, filter_of(QT_NOT, "b", 0, NULL), d, sizeof d),
	                    "(+*:* #tags:a -tags:b)");
	/* no filter: the query itself */
	q = root();
	add(q, leaf(QT_TERM, QT_SHOULD, NULL, "a"));
	assert_int_equal(qt_with_filter(q, NULL, &t, d, sizeof d), TRAWL_OK);
	assert_ptr_equal(t, q);
	qt_free(t);

	/* refusals: both trees freed (ASan checks) */
	assert_int_equal(qt_with_filter(NULL, NULL, &t, d, sizeof d), TRAWL_EINVAL);
	assert_string_equal(d, "no query and no filter");
	assert_string_equal(with_filter(NULL, filter_of(QT_MUST, "a", 0, NULL), d, sizeof d),
	                    "the filter's clause 1 is neither FILTER nor NOT");
	assert_string_equal(
	    with_filter(NULL, filter_of(QT_FILTER, "a", QT_SHOULD, "b"), d, sizeof d),
	    "the filter's clause 2 is neither FILTER nor NOT");
	q = leaf(QT_TERM, QT_MUST, NULL, "a");
	assert_string_equal(with_filter(q, filter_of(QT_FILTER, "a", 0, NULL), d, sizeof d),
	                    "the query is not a query tree's root");
	assert_string_equal(with_filter(NULL, leaf(QT_TERM, QT_FILTER, NULL, "a"), d, sizeof d),
	                    "the filter is not a query tree's root");
	/* together over a limit */
	q = root();
	for (int i = 0; i < 1000; i++)
		add(q, leaf(QT_TERM, QT_MUST, NULL, "w"));
	qt_node *f = root();
	for (int i = 0; i < 25; i++)
		add(f, leaf(QT_TERM, QT_FILTER, "tags", "x"));
	assert_int_equal(qt_with_filter(q, f, &t, d, sizeof d), TRAWL_ELIMIT);
	assert_string_equal(d, "the query has 1025 terms; the limit is 1024");
	assert_null(t);
	/* a query as deep as it may be, whose SHOULDs must be grouped */
	q = root();
	qt_node *g = add(q, group(QT_SHOULD, NULL));
	for (int i = 1; i < TRAWL_MAX_QUERY_DEPTH; i++)
		g = add(g, group(QT_MUST, NULL));
	add(g, leaf(QT_TERM, QT_SHOULD, NULL, "deep"));
	add(q, leaf(QT_TERM, QT_SHOULD, NULL, "b"));
	assert_int_equal(qt_with_filter(q, filter_of(QT_FILTER, "x", 0, NULL), &t, d, sizeof d),
	                 TRAWL_ELIMIT);
	assert_string_equal(d, "groups nest 33 deep; the limit is 32");
}

static void test_copy(void **state)
{
	(void)state;
	qt_node *t = typed_tree();
	t->kids[0]->column = 9;
	qt_node *c = qt_copy(t);
	assert_non_null(c);
	tbuf a, b;
	encode(t, &a);
	encode(c, &b);
	assert_int_equal(a.len, b.len);
	assert_memory_equal(a.data, b.data, a.len);
	assert_true(c->kids[0]->hi != t->kids[0]->hi);
	assert_int_equal(c->kids[0]->column, 9);
	tbuf_fini(&a);
	tbuf_fini(&b);
	qt_free(c);
	qt_free(t);
	assert_null(qt_copy(NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_golden),        cmocka_unit_test(test_golden_typed),
	    cmocka_unit_test(test_roundtrip),     cmocka_unit_test(test_truncation_and_flips),
	    cmocka_unit_test(test_rules),         cmocka_unit_test(test_rules_typed),
	    cmocka_unit_test(test_limits),        cmocka_unit_test(test_decode_refusals),
	    cmocka_unit_test(test_decode_limits), cmocka_unit_test(test_dump),
	    cmocka_unit_test(test_dump_typed),    cmocka_unit_test(test_with_filter),
	    cmocka_unit_test(test_copy),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
