/*
 * fuzz_doc.c - fuzz target for the document parser (shard/parse.c,
 * trawl_builder_add_json): JSON Lines straight from users.
 *
 * Three builders stay open across inputs, in a private temporary directory:
 * one with the default schema (every field stored) and one with a schema
 * that stores a subset of the fields and uses the plain analyzer (the path
 * that re-serialises the document), and a third with typed fields of every
 * type (index/values.c: numbers, dates, keywords, arrays). Each input is split into lines and every
 * line goes to both with skip_bad off, so each bad line is an error return;
 * the error codes are the documented ones and every message is a terminated
 * string naming the source. Every RESET_INPUTS inputs, and at exit, the
 * builders commit (inverting whatever was accepted: the analyzer over
 * arbitrary text) and are reopened on an empty directory, so memory and disk
 * stay bounded; at exit everything is freed and removed, so LeakSanitizer
 * sees no leak.
 */
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "trawl/trawl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define RESET_INPUTS 2000
#define NBUILDERS 3

static const char subset_schema[] =
	"{\"fields\": {\"title\": {\"type\": \"text\", \"analyzer\": \"plain\"},"
	" \"body\": {\"type\": \"text\"}, \"tags\": {\"type\": \"text\", \"analyzer\": \"plain\"}},"
	" \"store\": [\"title\", \"url\"]}";

/* every typed field's type, a keyword twin, a normalizer, ignore_above;
 * the members the corpus's typed documents use */
static const char typed_schema[] =
	"{\"fields\": {\"title\": {\"fields\": {\"raw\": {\"type\": \"keyword\","
	" \"ignore_above\": 16}}}, \"body\": {}, \"tags\": {\"type\": \"keyword\","
	" \"normalizer\": \"lowercase\"}, \"n\": {\"type\": \"long\"}, \"x\": {\"type\":"
	" \"double\"}, \"date\": {\"type\": \"date\"}, \"ok\": {\"type\": \"boolean\"}}}";

static char tmpdir[64];
static trawl_builder *builders[NBUILDERS];
static unsigned long inputs;

static void check(int cond, const char *what)
{
	if (!cond) {
		fprintf(stderr, "fuzz_doc: %s\n", what);
		abort();
	}
}

static int rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static void remove_tree(const char *path)
{
	nftw(path, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static void open_builders(void)
{
	for (int i = 0; i < NBUILDERS; i++) {
		char dir[96], err[512];
		snprintf(dir, sizeof dir, "%s/ix%d", tmpdir, i);
		trawl_build_opts o = {0};
		o.skip_bad = 0;
		if (i == 1)
			o.schema_json = subset_schema;
		if (i == 2)
			o.schema_json = typed_schema;
		int rc = trawl_builder_open(&builders[i], dir, &o, err, sizeof err);
		if (rc) {
			fprintf(stderr, "fuzz_doc: cannot open a builder in %s: %s\n", dir, err);
			abort();
		}
	}
}

/* Commits what the builders hold, closes them and empties the directory. */
static void close_builders(void)
{
	for (int i = 0; i < NBUILDERS; i++) {
		if (!builders[i])
			continue;
		trawl_build_report rep;
		int rc = trawl_builder_commit(builders[i], &rep);
		if (rc != TRAWL_OK) {
			/* only resource failures are acceptable here: every document
			 * the builder accepted must be indexable */
			const char *msg = trawl_builder_errmsg(builders[i]);
			fprintf(stderr, "fuzz_doc: commit: %s: %s\n", trawl_strerror(rc), msg);
			check(rc == TRAWL_ENOMEM || rc == TRAWL_ENOSPC || rc == TRAWL_EIO,
			      "commit failed on accepted documents");
		}
		trawl_builder_close(builders[i]);
		builders[i] = NULL;
	}
	if (tmpdir[0]) {
		for (int i = 0; i < NBUILDERS; i++) {
			char dir[96];
			snprintf(dir, sizeof dir, "%s/ix%d", tmpdir, i);
			remove_tree(dir);
		}
	}
}

static void at_exit(void)
{
	close_builders();
	if (tmpdir[0])
		remove_tree(tmpdir);
	tmpdir[0] = 0;
}

static void setup(void)
{
	if (tmpdir[0])
		return;
	const char *base = getenv("TMPDIR");
	snprintf(tmpdir, sizeof tmpdir, "%s/fuzz_doc.XXXXXX",
	         base && *base && strlen(base) < 40 ? base : "/tmp");
	if (!mkdtemp(tmpdir)) {
		perror("fuzz_doc: mkdtemp");
		abort();
	}
	atexit(at_exit);
	open_builders();
}

static void add_line(const char *line, size_t len, uint64_t lineno)
{
	for (int i = 0; i < NBUILDERS; i++) {
		int rc = trawl_builder_add_json(builders[i], line, len, "fuzz.jsonl", lineno);
		const char *msg = trawl_builder_errmsg(builders[i]);
		check(msg != NULL, "no error message");
		if (rc == TRAWL_OK)
			continue;
		check(rc == TRAWL_EJSON || rc == TRAWL_EUTF8 || rc == TRAWL_EDOC ||
		          rc == TRAWL_ELIMIT || rc == TRAWL_ENOMEM,
		      "unexpected error code");
		check(memchr(msg, '\0', 1024) != NULL, "message not terminated");
		check(strncmp(msg, "fuzz.jsonl:", 11) == 0, "message does not name the source");
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	setup();
	const char *s = (const char *)data;
	uint64_t lineno = 0;
	size_t start = 0;
	while (start <= size) {
		const char *nl = memchr(s + start, '\n', size - start);
		size_t end = nl ? (size_t)(nl - s) : size;
		lineno++;
		if (end > start || nl)
			add_line(s + start, end - start, lineno);
		if (!nl)
			break;
		start = end + 1;
	}
	if (++inputs % RESET_INPUTS == 0) {
		close_builders();
		open_builders();
	}
	return 0;
}
