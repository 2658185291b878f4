/*
 * fuzz_qtree.c - fuzz target for the query tree's decoder (common/qtree.c).
 *
 * A leaf decodes the query tree of every SEARCH and FETCH from bytes another
 * process sent, so the decoder must survive any input. Besides crashes and
 * sanitizer reports, the target checks what the decoder promises: it agrees
 * with qt_validate; a failure is TRAWL_EINVAL with a terminated, non-empty
 * message and no tree; a tree it returns keeps every rule (qt_check) and,
 * since the encoding is canonical, encodes to exactly the input; and its
 * dump is as long as qt_dump says.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/qtree.h"
#include "trawl/trawl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond, const char *what)
{
	if (!cond) {
		fprintf(stderr, "fuzz_qtree: %s\n", what);
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* a buffer of exactly the input's size, so ASan sees any overread */
	uint8_t *buf = malloc(size ? size : 1);
	check(buf != NULL, "out of memory");
	if (size)
		memcpy(buf, data, size);
	char err[256], verr[256];
	memset(err, 'x', sizeof err);
	qt_node *t = (qt_node *)&t;
	int rc = qt_decode(buf, size, &t, err, sizeof err);
	int vrc = qt_validate(buf, size, verr, sizeof verr);
	check(rc == vrc, "qt_decode and qt_validate disagree");
	if (rc != TRAWL_OK) {
		check(rc == TRAWL_EINVAL, "unexpected error code");
		check(t == NULL, "tree left on failure");
		check(memchr(err, '\0', sizeof err) && err[0], "no message");
		check(strcmp(err, verr) == 0, "qt_decode and qt_validate say different things");
		free(buf);
		return 0;
	}
	check(qt_check(t, err, sizeof err) == TRAWL_OK, "decoded tree breaks a rule");
	tbuf b;
	tbuf_init(&b, TRAWL_MAX_QUERY_TREE_BYTES);
	check(qt_encode(t, &b, err, sizeof err) == TRAWL_OK, "decoded tree does not encode");
	check(b.len == size && memcmp(b.data, buf, size) == 0, "encoding is not canonical");
	tbuf_fini(&b);
	size_t need = qt_dump(t, NULL, 0);
	char *d = malloc(need + 1);
	check(d && qt_dump(t, d, need + 1) == need && strlen(d) == need, "dump length");
	free(d);
	qt_free(t);
	free(buf);
	return 0;
}
