/*
 * schema.c - `trawl schema`: schemas without an index. Today one job:
 * --from-mappings FILE prints the trawl schema for an OpenSearch mapping
 * (trawl_schema_from_mappings) on standard output, and on standard error
 * what it could not carry over, so that someone moving an index starts
 * from the mapping they have. The public API only.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "cli/cli.h"
#include "cli/util.h"
#include "trawl/trawl.h"

static const char schema_help[] =
    "usage: trawl schema --from-mappings FILE\n"
    "\n"
    "Prints the trawl schema (docs/SCHEMA.md) for an OpenSearch or Elasticsearch\n"
    "mapping: FILE ('-' for standard input) holds {\"mappings\": {\"properties\": ...}},\n"
    "the answer of GET /NAME/_mapping, or {\"properties\": ...}. Multi-fields become\n"
    "keyword twins. What the schema cannot carry over (objects' sub-fields, types\n"
    "and analyzers trawl lacks, date formats) is said on standard error, one line\n"
    "per field; the exit status is 0 all the same.\n";

/* The mapping file: at most 16 MiB. */
#define MAPPINGS_MAX (16u << 20)

static void on_warning(void *ctx, const char *msg)
{
	unsigned *n = ctx;
	(*n)++;
	fprintf(stderr, "%s: mappings: %s\n", cli_prog, msg);
}

int cmd_schema(int argc, char **argv)
{
	if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")))
		return fputs(schema_help, stdout), 0;
	if (argc != 3 || strcmp(argv[1], "--from-mappings"))
		return cli_usage_error("schema", "expected --from-mappings FILE");
	const char *path = argv[2];
	FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
	if (!f) {
		char msg[512];
		snprintf(msg, sizeof msg, "%s: %s", path, strerror(errno));
		return cli_fail(errno == ENOENT ? TRAWL_ENOTFOUND : TRAWL_EIO, msg);
	}
	char *buf = malloc(MAPPINGS_MAX + 1);
	size_t n = buf ? fread(buf, 1, MAPPINGS_MAX + 1, f) : 0;
	int bad = ferror(f);
	if (f != stdin)
		fclose(f);
	char msg[1024];
	if (!buf || bad || n > MAPPINGS_MAX) {
		free(buf);
		snprintf(msg, sizeof msg, "%s: %s", path,
		         !buf  ? "out of memory"
		         : bad ? "read error"
		               : "mapping files are limited to 16 MiB");
		return cli_fail(!buf ? TRAWL_ENOMEM : bad ? TRAWL_EIO : TRAWL_ELIMIT, msg);
	}
	char *schema = NULL, err[512];
	unsigned warnings = 0;
	int rc =
	    trawl_schema_from_mappings(buf, n, &schema, on_warning, &warnings, err, sizeof err);
	free(buf);
	if (rc) {
		snprintf(msg, sizeof msg, "%s: %s", path, err);
		return cli_fail(rc, msg);
	}
	printf("%s\n", schema);
	free(schema);
	return 0;
}
