/*
 * main.c - the trawl command-line tool: the command dispatch and its help.
 * The commands live in search.c (search, get, stats, verify), schema.c
 * (schema), build.c
 * (index, build-worker, reshard, compact) and serve.c (serve, leaf, root); util.c
 * has what they share.
 */
#include <stdio.h>
#include <string.h>
#include <sysexits.h>

#include "cli/cli.h"
#include "cli/util.h"
#include "common/memtune.h"
#include "trawl/trawl.h"

static const char main_help[] =
    "usage: trawl COMMAND [ARGS]\n"
    "\n"
    "  index DIR FILE...    build a new generation from JSON Lines (also: build)\n"
    "  build-worker ...     work items of a build started with --listen\n"
    "  reshard DIR          a new generation with another number of shards\n"
    "  compact DIR          merge each shard's segments into one\n"
    "  snapshot DIR DEST    a checked copy of the live generation (a backup)\n"
    "  search DIR QUERY     search (or --queries F --run OUT for a TREC run)\n"
    "  get DIR ID           print a stored document\n"
    "  stats DIR            describe the live generation\n"
    "  verify DIR           check every checksum and postings list\n"
    "  schema --from-mappings FILE   a trawl schema for an OpenSearch mapping\n"
    "  serve DIR            the HTTP search API on one machine (root + leaf)\n"
    "  leaf ...             serve shards to roots over nng\n"
    "  root ...             the HTTP search API over a cluster of leaves\n"
    "  indexer DIR --listen URL   a cluster's writes to the index in DIR\n"
    "  version              print the version\n"
    "\n"
    "'trawl COMMAND --help' describes each command.\n";

int main(int argc, char **argv)
{
	memtune_keep_freed();
	if (argc < 2)
		return fputs(main_help, stderr), EX_USAGE;
	const char *cmd = argv[1];
	if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
		fputs(main_help, stdout);
		return 0;
	}
	if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
		printf("trawl %s\n", trawl_version());
		return 0;
	}
	if (!strcmp(cmd, "index") || !strcmp(cmd, "build"))
		return cmd_index(argc - 1, argv + 1);
	if (!strcmp(cmd, "build-worker"))
		return cmd_build_worker(argc - 1, argv + 1);
	if (!strcmp(cmd, "reshard"))
		return cmd_reshard(argc - 1, argv + 1);
	if (!strcmp(cmd, "compact"))
		return cmd_compact(argc - 1, argv + 1);
	if (!strcmp(cmd, "search"))
		return cmd_search(argc - 1, argv + 1);
	if (!strcmp(cmd, "get"))
		return cmd_get(argc - 1, argv + 1);
	if (!strcmp(cmd, "stats"))
		return cmd_stats(argc - 1, argv + 1);
	if (!strcmp(cmd, "verify"))
		return cmd_verify(argc - 1, argv + 1);
	if (!strcmp(cmd, "schema"))
		return cmd_schema(argc - 1, argv + 1);
	if (!strcmp(cmd, "serve"))
		return cmd_serve(argc - 1, argv + 1);
	if (!strcmp(cmd, "leaf"))
		return cmd_leaf(argc - 1, argv + 1);
	if (!strcmp(cmd, "root"))
		return cmd_root(argc - 1, argv + 1);
	if (!strcmp(cmd, "snapshot"))
		return cmd_snapshot(argc - 1, argv + 1);
	if (!strcmp(cmd, "indexer"))
		return cmd_indexer(argc - 1, argv + 1);
	fprintf(stderr, "%s: unknown command '%s'\n%s", cli_prog, cmd, main_help);
	return EX_USAGE;
}
