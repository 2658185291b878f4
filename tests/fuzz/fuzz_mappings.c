/*
 * fuzz_mappings.c - fuzz target for the mapping translator
 * (index/mappings.c, trawl_schema_from_mappings): a file from a user, read
 * by jansson and walked field by field.
 *
 * Besides crashes and sanitizer reports, it checks what the function
 * promises: TRAWL_OK with a schema that trawl_builder_open's parser takes
 * (the translator checks that itself; here the schema must also be
 * NUL-terminated JSON), or TRAWL_ESCHEMA / TRAWL_ENOMEM with a terminated,
 * non-empty message and no schema; every warning is a terminated string.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trawl/trawl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond, const char *what)
{
	if (!cond) {
		fprintf(stderr, "fuzz_mappings: %s\n", what);
		abort();
	}
}

static void on_warning(void *ctx, const char *msg)
{
	(void)ctx;
	check(msg && strlen(msg) < 512 && msg[0], "a warning is not a short message");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* a buffer of exactly the input's size, so ASan sees any overread */
	char *buf = malloc(size ? size : 1);
	check(buf != NULL, "out of memory");
	if (size)
		memcpy(buf, data, size);
	char err[256];
	memset(err, 'x', sizeof err);
	char *schema = (char *)&schema;
	int rc = trawl_schema_from_mappings(buf, size, &schema, on_warning, NULL, err, sizeof err);
	if (rc == TRAWL_OK) {
		check(schema != NULL && schema[0] == '{', "no schema");
		free(schema);
	} else {
		check(rc == TRAWL_ESCHEMA || rc == TRAWL_ENOMEM, "unexpected error code");
		check(schema == NULL, "schema left on failure");
		check(memchr(err, '\0', sizeof err) && err[0], "no message");
	}
	free(buf);
	return 0;
}
