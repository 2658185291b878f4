/*
 * build.c - the build commands of the trawl tool: index (also spelled
 * build), build-worker and reshard; the progress display and the build
 * report. The pipeline itself is libtrawl's (shard/).
 *
 * A build remembers its command line in BUILD_DIR/command.args (the
 * arguments NUL-separated, after the working directory), so that
 * `trawl index --resume BUILD_DIR` can finish an interrupted build without
 * being told its inputs again.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/util.h"
#include "common/clock.h"
#include "trawl/trawl.h"

#define MAX_ARGS 4096
#define COMMAND_MAX (1 << 20) /* bytes of a saved command */

static const char index_help[] =
    "usage: trawl index DIR FILE... [options]\n"
    "       trawl index --resume BUILD_DIR\n"
    "       trawl index DIR --update [FILE...]\n"
    "\n"
    "Builds a new generation of the index in DIR from JSON Lines files (one\n"
    "object per line with a string \"id\"), zstd- or gzip-compressed JSON Lines,\n"
    "or Elasticsearch _bulk NDJSON (FILE '-' reads standard input), and\n"
    "publishes it atomically. A later document with the same id replaces an\n"
    "earlier one; _bulk delete actions remove documents. By default the first\n"
    "bad line stops the build and nothing is published; the previous generation\n"
    "stays live.\n"
    "\n"
    "The input is cut into work items; finished items are kept in the build\n"
    "directory until the publish, so running the same command again after a\n"
    "crash (or --resume BUILD_DIR) does not redo them.\n"
    "\n"
    "  --shards N        number of shards (1-256, default 1)\n"
    "  --schema FILE     JSON schema (docs/SCHEMA.md); default: title and body,\n"
    "                    English analysis, every field stored\n"
    "  --skip-bad        skip bad lines, print each with its reason, and count them\n"
    "  --workers N       worker threads (0-64; default: one per core; 0 needs --listen)\n"
    "  --memory MB       memory budget of the workers: smaller work items if\n"
    "                    needed (a worker holds about 12 times its item)\n"
    "  --item-kb KB      input per work item (64-49152; default 8192, or less\n"
    "                    to fit --memory)\n"
    "  --build-dir D     where finished work items are kept (default: DIR/build)\n"
    "  --resume D        continue the interrupted build whose build directory is D\n"
    "  --listen URL      also hand work items to `trawl build-worker --connect URL`\n"
    "                    processes (tcp://HOST:PORT, or tls+tcp://HOST:PORT with\n"
    "                    --cert and --key); their runs are checked against their\n"
    "                    items before anything is published\n"
    "  --cert, --key F   certificate and key of a tls+tcp:// listener (PEM)\n"
    "  --ca FILE         refuse build workers without a certificate signed by this CA\n"
    "  --partition I/N   only make the runs of work items I, I+N, I+2N...; publish\n"
    "                    nothing (a later run without --partition merges them)\n"
    "  --progress MODE   tty (a redrawn line), log (a line every 5 s), json\n"
    "                    (NDJSON events on stdout), none; default: tty on a\n"
    "                    terminal, else log\n"
    "\n"
    "  --update          apply writes to the index DIR already holds, instead of\n"
    "                    building it: each FILE is JSON Lines of documents with\n"
    "                    ids (each added, or replacing the one with its id) or a\n"
    "                    _bulk body (index, create, update, delete). Writes go\n"
    "                    through DIR/wlog.mdb and become new generations that\n"
    "                    share every unchanged file; a write that fails is\n"
    "                    printed with its line and the others go on (exit 65).\n"
    "                    Without FILE, applies what an interrupted update left in\n"
    "                    the log. Replacing or deleting needs the text and indexed\n"
    "                    fields stored\n";

enum { PROG_NONE, PROG_TTY, PROG_LOG, PROG_JSON };

typedef struct display {
	int mode;
	double last;
	int drawn;
} display;

static void on_progress(void *ctx, const trawl_build_progress *p)
{
	display *d = ctx;
	double rate = p->seconds > 0 ? (double)p->docs / p->seconds : 0;
	double mbs = p->seconds > 0 ? (double)p->bytes_in / 1e6 / p->seconds : 0;
	double eta = -1;
	if (p->bytes_total && p->bytes_in && p->bytes_in <= p->bytes_total && mbs > 0 &&
	    !strcmp(p->stage, "reading"))
		eta = (double)(p->bytes_total - p->bytes_in) / 1e6 / mbs;
	if (d->mode == PROG_JSON) {
		printf("{\"event\":\"progress\",\"stage\":\"%s\",\"docs\":%llu,\"bytes_in\":%llu,"
		       "\"bytes_total\":%llu,\"items_done\":%llu,\"items\":%llu,\"seconds\":%.3f,"
		       "\"docs_per_s\":%.0f,\"eta_s\":%.1f}\n",
		       p->stage, (unsigned long long)p->docs, (unsigned long long)p->bytes_in,
		       (unsigned long long)p->bytes_total, (unsigned long long)p->items_done,
		       (unsigned long long)p->items, p->seconds, rate, eta);
		fflush(stdout);
		return;
	}
	double t = clock_mono_s();
	if (d->mode == PROG_LOG && t - d->last < 5.0 && strcmp(p->stage, "reading"))
		d->last = 0; /* a new stage: say so now */
	if (d->mode == PROG_NONE || (d->mode == PROG_LOG && t - d->last < 5.0))
		return;
	d->last = t;
	char etas[32] = "";
	if (eta >= 0)
		snprintf(etas, sizeof etas, ", ETA %.0f s", eta);
	char total[32] = "";
	if (p->bytes_total)
		snprintf(total, sizeof total, "/%.1f", (double)p->bytes_total / 1e6);
	fprintf(stderr, "%s%s: %llu docs, %.1f%s MB, %llu/%llu items, %.0f docs/s%s%s",
	        d->mode == PROG_TTY ? "\r" : "", p->stage, (unsigned long long)p->docs,
	        (double)p->bytes_in / 1e6, total, (unsigned long long)p->items_done,
	        (unsigned long long)p->items, rate, etas, d->mode == PROG_TTY ? "\033[K" : "\n");
	d->drawn = d->mode == PROG_TTY;
}

/* A line on stderr, the progress line (if drawn) cleared first. */
static void print_line(display *d, const char *what, const char *msg)
{
	if (d->drawn) {
		fputs("\r\033[K", stderr);
		d->drawn = 0;
	}
	fprintf(stderr, "trawl: %s%s\n", what, msg);
}

static void print_reject(void *ctx, const char *msg)
{
	print_line(ctx, "skipped: ", msg);
}

static void print_notice(void *ctx, const char *msg)
{
	print_line(ctx, "", msg);
}

/* Saves the command so that --resume can run it again. */
/* Saves the command (written whole or not at all: --resume must never run
 * a part of it, such as fewer input files). */
static void save_command(const char *build_dir, int argc, char **argv)
{
	char path[4200], tmp[4300], cwd[4096];
	size_t total = 0;
	if (!getcwd(cwd, sizeof cwd))
		return;
	total = strlen(cwd) + 1;
	for (int i = 0; i < argc; i++)
		total += strlen(argv[i]) + 1;
	if (argc >= MAX_ARGS || total >= COMMAND_MAX) {
		fprintf(stderr,
		        "trawl: the command is too long to save for --resume (%d arguments, "
		        "%zu bytes; the limits are %d and %d): run it again instead\n",
		        argc, total, MAX_ARGS - 1, COMMAND_MAX - 1);
		return;
	}
	snprintf(path, sizeof path, "%s/command.args", build_dir);
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	FILE *f = fopen(tmp, "wb");
	if (!f)
		return;
	int ok = fwrite(cwd, 1, strlen(cwd) + 1, f) == strlen(cwd) + 1;
	for (int i = 0; i < argc && ok; i++)
		ok = fwrite(argv[i], 1, strlen(argv[i]) + 1, f) == strlen(argv[i]) + 1;
	ok = fclose(f) == 0 && ok;
	if (!ok || rename(tmp, path) != 0) {
		unlink(tmp);
		fprintf(stderr, "trawl: could not save the command for --resume: %s\n",
		        strerror(errno));
	}
}

static int resuming; /* cmd_index runs a saved command */

static void print_item_error(void *ctx, const char *msg)
{
	(void)ctx;
	fprintf(stderr, "trawl: %s\n", msg);
}

/* trawl index DIR --update [FILE...] */
static int update(const char *dir, char **files, int nfiles)
{
	trawl_update_opts o = {0};
	o.on_item_error = print_item_error;
	trawl_update_report rep;
	char err[2048] = "";
	int rc = trawl_update(dir, (const char *const *)files, (uint32_t)nfiles, &o, &rep, err,
	                      sizeof err);
	if (rc) {
		int code = cli_fail(rc, err);
		fprintf(stderr,
		        "trawl: %llu writes read, %llu refused; %llu operations applied in "
		        "%llu generations; what was logged and not applied stays in %s/wlog.mdb "
		        "for the next --update\n",
		        (unsigned long long)rep.items, (unsigned long long)rep.failed,
		        (unsigned long long)rep.ops, (unsigned long long)rep.generations, dir);
		return code;
	}
	printf("updated %s: %llu writes read, %llu refused; %llu operations applied in %llu "
	       "generation%s: %llu documents written (%llu replacing), %llu deleted, %llu "
	       "segment%s; generation %llu, %llu documents, in %.2f s\n",
	       dir, (unsigned long long)rep.items, (unsigned long long)rep.failed,
	       (unsigned long long)rep.ops, (unsigned long long)rep.generations,
	       rep.generations == 1 ? "" : "s", (unsigned long long)rep.added,
	       (unsigned long long)rep.replaced, (unsigned long long)rep.deleted,
	       (unsigned long long)rep.segments, rep.segments == 1 ? "" : "s",
	       (unsigned long long)rep.generation, (unsigned long long)rep.docs, rep.seconds);
	return rep.failed ? EX_DATAERR : 0;
}

static int resume(const char *build_dir)
{
	char path[4200];
	snprintf(path, sizeof path, "%s/command.args", build_dir);
	FILE *f = fopen(path, "rb");
	if (!f) {
		fprintf(stderr, "trawl index: %s: %s (is it a build directory?)\n", path,
		        strerror(errno));
		return EX_NOINPUT;
	}
	static char buf[COMMAND_MAX + 1];
	size_t n = fread(buf, 1, sizeof buf, f);
	fclose(f);
	if (n == sizeof buf) {
		fprintf(stderr, "trawl index: %s: longer than a saved command may be\n", path);
		return EX_DATAERR;
	}
	buf[n] = 0;
	char *args[MAX_ARGS];
	int argc = 0;
	for (size_t at = 0; at < n && argc < MAX_ARGS;) {
		args[argc++] = buf + at;
		at += strlen(buf + at) + 1;
	}
	if (argc < 3 || chdir(args[0]) != 0) {
		fprintf(stderr, "trawl index: %s: damaged\n", path);
		return EX_DATAERR;
	}
	resuming = 1;
	return cmd_index(argc - 1, args + 1);
}

int cmd_index(int argc, char **argv)
{
	/* getopt_long reorders argv: keep the command as it was given */
	char *given[MAX_ARGS];
	int ngiven = argc < MAX_ARGS ? argc : MAX_ARGS;
	memcpy(given, argv, (size_t)ngiven * sizeof *given);
	trawl_build_opts o = {0};
	display disp = {isatty(2) ? PROG_TTY : PROG_LOG, 0, 0};
	static const struct option longs[] = {{"shards", required_argument, 0, 's'},
	                                      {"workers", required_argument, 0, 'w'},
	                                      {"threads", required_argument, 0, 'w'},
	                                      {"memory", required_argument, 0, 'm'},
	                                      {"item-kb", required_argument, 0, 'i'},
	                                      {"build-dir", required_argument, 0, 'd'},
	                                      {"resume", required_argument, 0, 'r'},
	                                      {"listen", required_argument, 0, 'l'},
	                                      {"partition", required_argument, 0, 'p'},
	                                      {"progress", required_argument, 0, 'g'},
	                                      {"schema", required_argument, 0, 'c'},
	                                      {"skip-bad", no_argument, 0, 'b'},
	                                      {"update", no_argument, 0, 'u'},
	                                      CLI_TLS_OPTIONS,
	                                      {"help", no_argument, 0, 'h'},
	                                      {0, 0, 0, 0}};
	int c, upd = 0, others = 0;
	unsigned long v;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
		others += c != 'u' && c != 'h';
		if (cli_tls_option(c, optarg, &o.tls.cert_file, &o.tls.key_file, &o.tls.ca_file))
			continue;
		switch (c) {
		case 'u':
			upd = 1;
			break;
		case 's':
			if (cli_parse_num(optarg, TRAWL_MAX_SHARDS, &v) || v == 0)
				return cli_usage_error("index",
				                       "--shards takes a number from 1 to 256");
			o.shards = (uint32_t)v;
			break;
		case 'w':
			if (cli_parse_num(optarg, 64, &v))
				return cli_usage_error("index",
				                       "--workers takes a number from 0 to 64");
			o.workers = (unsigned)v;
			o.workers_set = 1;
			break;
		case 'm':
			if (cli_parse_num(optarg, 1u << 20, &v) || v < 16)
				return cli_usage_error("index",
				                       "--memory takes megabytes, at least 16");
			o.memory_bytes = (size_t)v << 20;
			break;
		case 'i':
			if (cli_parse_num(optarg, 49152, &v) || v < 64)
				return cli_usage_error("index",
				                       "--item-kb takes a number from 64 to 49152");
			o.item_bytes = (size_t)v << 10;
			break;
		case 'd':
			o.build_dir = optarg;
			break;
		case 'r':
			return resume(optarg);
		case 'l':
			o.listen = optarg;
			break;
		case 'p': {
			unsigned a, b;
			char tail;
			if (sscanf(optarg, "%u/%u%c", &a, &b, &tail) != 2 || b == 0 || a >= b)
				return cli_usage_error("index", "--partition takes I/N with I < N");
			o.part_index = a;
			o.part_count = b;
			break;
		}
		case 'g':
			if (!strcmp(optarg, "tty"))
				disp.mode = PROG_TTY;
			else if (!strcmp(optarg, "log"))
				disp.mode = PROG_LOG;
			else if (!strcmp(optarg, "json"))
				disp.mode = PROG_JSON;
			else if (!strcmp(optarg, "none"))
				disp.mode = PROG_NONE;
			else
				return cli_usage_error("index",
				                       "--progress takes tty, log, json or none");
			break;
		case 'c':
			o.schema_path = optarg;
			break;
		case 'b':
			o.skip_bad = 1;
			break;
		case 'h':
			fputs(index_help, stdout);
			return 0;
		default:
			return cli_usage_error("index", "unknown option");
		}
	}
	if (upd && others)
		return cli_usage_error("index", "--update takes no other option (the index's "
		                                "schema and shards are kept)");
	if (upd && argc - optind < 1)
		return cli_usage_error("index", "--update needs DIR");
	if (upd)
		return update(argv[optind], argv + optind + 1, argc - optind - 1);
	if (argc - optind < 2)
		return cli_usage_error("index", "needs DIR and at least one FILE");
	if (o.workers_set && o.workers == 0 && !o.listen)
		return cli_usage_error("index", "--workers 0 needs --listen");
	const char *dir = argv[optind];
	if (resuming)
		fprintf(stderr, "trawl: resuming the build of %s\n", dir);
	for (int i = optind + 1; i < argc; i++) {
		struct stat st;
		if (strcmp(argv[i], "-") && stat(argv[i], &st) == 0)
			o.input_bytes += (uint64_t)st.st_size;
	}
	o.on_reject = print_reject;
	o.reject_ctx = &disp;
	o.on_progress = on_progress;
	o.progress_ctx = &disp;
	o.on_notice = print_notice;
	o.notice_ctx = &disp;
	char err[1024];
	trawl_builder *b;
	int rc = trawl_builder_open(&b, dir, &o, err, sizeof err);
	if (rc)
		return cli_fail(rc, err);
	{
		char bd[4200];
		snprintf(bd, sizeof bd, "%s%s", o.build_dir ? o.build_dir : dir,
		         o.build_dir ? "" : "/build");
		save_command(bd, ngiven, given);
	}
	for (int i = optind + 1; i < argc && rc == 0; i++)
		rc = trawl_builder_add_file(b, argv[i]);
	trawl_build_report rep;
	if (rc == 0)
		rc = trawl_builder_commit(b, &rep);
	if (disp.drawn)
		fputs("\r\033[K", stderr);
	if (rc) {
		int code = cli_fail(rc, trawl_builder_errmsg(b));
		fprintf(stderr,
		        "trawl: nothing was published; the previous generation (if any) is "
		        "still live. Finished work items are kept: run the same command again "
		        "to resume.\n");
		trawl_builder_close(b);
		return code;
	}
	double secs = rep.seconds > 0 ? rep.seconds : 1e-9;
	trawl_build_peers peers;
	trawl_builder_peers(b, &peers);
	if (disp.mode == PROG_JSON) {
		printf("{\"event\":\"done\",\"docs\":%llu,\"lines\":%llu,\"rejected\":%llu,"
		       "\"duplicates\":%llu,\"deleted\":%llu,\"bytes_in\":%llu,\"bytes_out\":%llu,"
		       "\"generation\":%llu,\"items\":%llu,\"items_reused\":%llu,"
		       "\"items_retried\":%llu,\"workers\":%u,\"seconds\":%.3f,\"read_s\":%.3f,"
		       "\"merge_s\":%.3f,\"join_s\":%.3f,\"publish_s\":%.3f,\"docs_per_s\":%.0f,"
		       "\"runs_checked\":%llu,\"runs_refused\":%llu,\"failures_refused\":%llu,"
		       "\"bad_messages\":%llu,\"peers_cut\":%llu,\"check_s\":%.3f}\n",
		       (unsigned long long)rep.docs, (unsigned long long)rep.lines,
		       (unsigned long long)rep.rejected, (unsigned long long)rep.duplicates,
		       (unsigned long long)rep.deleted, (unsigned long long)rep.bytes_in,
		       (unsigned long long)rep.bytes_out, (unsigned long long)rep.generation,
		       (unsigned long long)rep.items, (unsigned long long)rep.items_reused,
		       (unsigned long long)rep.items_retried, rep.workers, rep.seconds, rep.read_s,
		       rep.merge_s, rep.join_s, rep.publish_s, (double)rep.docs / secs,
		       (unsigned long long)peers.runs_checked,
		       (unsigned long long)peers.runs_refused,
		       (unsigned long long)peers.failures_refused,
		       (unsigned long long)peers.bad_messages, (unsigned long long)peers.peers_cut,
		       peers.check_s);
	} else if (o.part_count > 1) {
		printf("partition %u/%u: %llu work items of %llu made (%llu reused), %llu lines, "
		       "%llu rejected, in %.2f s; nothing published\n",
		       o.part_index, o.part_count,
		       (unsigned long long)((rep.items + o.part_count - 1 - o.part_index) /
		                            o.part_count),
		       (unsigned long long)rep.items, (unsigned long long)rep.items_reused,
		       (unsigned long long)rep.lines, (unsigned long long)rep.rejected,
		       rep.seconds);
	} else {
		printf(
		    "indexed %llu documents (%.1f MB read) into %s, generation %llu: %u shard%s, "
		    "%.1f MB, in %.2f s (%.0f docs/s, %.1f MB/s)\n",
		    (unsigned long long)rep.docs, (double)rep.bytes_in / 1e6, dir,
		    (unsigned long long)rep.generation, o.shards ? o.shards : 1,
		    o.shards > 1 ? "s" : "", (double)rep.bytes_out / 1e6, rep.seconds,
		    (double)rep.docs / secs, (double)rep.bytes_in / 1e6 / secs);
		printf("lines: %llu read, %llu rejected; %llu duplicates replaced by a later "
		       "document; %llu deleted\n",
		       (unsigned long long)rep.lines, (unsigned long long)rep.rejected,
		       (unsigned long long)rep.duplicates, (unsigned long long)rep.deleted);
		printf("stages: reading and working %.2f s (%u worker%s, %llu items, %llu reused, "
		       "%llu retried), merging %.2f s, join %.2f s, publish %.2f s\n",
		       rep.read_s, rep.workers, rep.workers == 1 ? "" : "s",
		       (unsigned long long)rep.items, (unsigned long long)rep.items_reused,
		       (unsigned long long)rep.items_retried, rep.merge_s, rep.join_s,
		       rep.publish_s);
	}
	if (o.listen && disp.mode != PROG_JSON)
		printf(
		    "build workers: %llu runs checked against their items (%.2f s), %llu refused; "
		    "%llu failure reports refused; %llu bad messages; %llu connections cut off\n",
		    (unsigned long long)peers.runs_checked, peers.check_s,
		    (unsigned long long)peers.runs_refused,
		    (unsigned long long)peers.failures_refused,
		    (unsigned long long)peers.bad_messages, (unsigned long long)peers.peers_cut);
	trawl_builder_close(b);
	return 0;
}

static const char worker_help[] =
    "usage: trawl build-worker --connect URL [--threads N] [--give-up S]\n"
    "                          [--cert FILE --key FILE] [--ca FILE]\n"
    "\n"
    "Works for the build started with `trawl index ... --listen URL`: takes\n"
    "work items, parses and inverts them, and sends the runs back, until the\n"
    "build is over. Any number of workers, on any machines, may join or leave\n"
    "a build; the items of one that dies are handed to another after 5 s.\n"
    "\n"
    "  --connect URL  the builder's --listen address (tcp://HOST:PORT or\n"
    "                 tls+tcp://HOST:PORT)\n"
    "  --cert, --key  this worker's certificate and key, for a builder with --ca\n"
    "  --ca FILE      refuse a builder whose certificate is not signed by this CA\n"
    "                 (and, for a host name in the URL, not issued for it)\n"
    "  --threads N    items worked at once (default: one per core)\n"
    "  --give-up S    exit with an error when the builder has not answered\n"
    "                 for S seconds (default 30)\n";

int cmd_build_worker(int argc, char **argv)
{
	static const struct option longs[] = {
	    {"connect", required_argument, 0, 'c'}, {"threads", required_argument, 0, 't'},
	    {"give-up", required_argument, 0, 'g'}, CLI_TLS_OPTIONS,
	    {"help", no_argument, 0, 'h'},          {0, 0, 0, 0}};
	const char *url = NULL;
	trawl_tls tls = {0};
	unsigned long threads = 0, give_up = 30;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
		if (cli_tls_option(c, optarg, &tls.cert_file, &tls.key_file, &tls.ca_file))
			continue;
		switch (c) {
		case 'c':
			url = optarg;
			break;
		case 't':
			if (cli_parse_num(optarg, 64, &threads) || threads == 0)
				return cli_usage_error("build-worker",
				                       "--threads takes a number from 1 to 64");
			break;
		case 'g':
			if (cli_parse_num(optarg, 86400, &give_up) || give_up == 0)
				return cli_usage_error("build-worker",
				                       "--give-up takes seconds, 1 to 86400");
			break;
		case 'h':
			fputs(worker_help, stdout);
			return 0;
		default:
			return cli_usage_error("build-worker", "unknown option");
		}
	}
	if (!url || optind != argc)
		return cli_usage_error("build-worker", "needs --connect URL and nothing else");
	char err[1024] = "";
	int rc = trawl_build_worker_tls(url, &tls, (unsigned)threads, (unsigned)give_up * 1000u,
	                                err, sizeof err);
	return rc ? cli_fail(rc, err) : 0;
}

static const char reshard_help[] =
    "usage: trawl reshard DIR --shards N [--workers N] [--memory MB]\n"
    "\n"
    "Builds and publishes a new generation of DIR with N shards from the stored\n"
    "documents of the live generation (the original input is not needed; every\n"
    "text field must be stored). Searches rank alike before and after.\n";

int cmd_reshard(int argc, char **argv)
{
	static const struct option longs[] = {{"shards", required_argument, 0, 's'},
	                                      {"workers", required_argument, 0, 'w'},
	                                      {"memory", required_argument, 0, 'm'},
	                                      {"help", no_argument, 0, 'h'},
	                                      {0, 0, 0, 0}};
	trawl_build_opts o = {0};
	display disp = {isatty(2) ? PROG_TTY : PROG_LOG, 0, 0};
	unsigned long v, shards = 0;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
		switch (c) {
		case 's':
			if (cli_parse_num(optarg, TRAWL_MAX_SHARDS, &shards) || shards == 0)
				return cli_usage_error("reshard",
				                       "--shards takes a number from 1 to 256");
			break;
		case 'w':
			if (cli_parse_num(optarg, 64, &v) || v == 0)
				return cli_usage_error("reshard",
				                       "--workers takes a number from 1 to 64");
			o.workers = (unsigned)v;
			break;
		case 'm':
			if (cli_parse_num(optarg, 1u << 20, &v) || v < 16)
				return cli_usage_error("reshard",
				                       "--memory takes megabytes, at least 16");
			o.memory_bytes = (size_t)v << 20;
			break;
		case 'h':
			fputs(reshard_help, stdout);
			return 0;
		default:
			return cli_usage_error("reshard", "unknown option");
		}
	}
	if (argc - optind != 1 || !shards)
		return cli_usage_error("reshard", "needs DIR and --shards N");
	o.on_progress = on_progress;
	o.progress_ctx = &disp;
	trawl_build_report rep;
	char err[1024] = "";
	int rc = trawl_reshard(argv[optind], (uint32_t)shards, &o, &rep, err, sizeof err);
	if (disp.drawn)
		fputs("\r\033[K", stderr);
	if (rc) {
		int code = cli_fail(rc, err);
		fprintf(stderr, "trawl: nothing was published; the live generation is unchanged\n");
		return code;
	}
	printf(
	    "resharded %s into %lu shard%s: generation %llu, %llu documents, %.1f MB, in %.2f s\n",
	    argv[optind], shards, shards > 1 ? "s" : "", (unsigned long long)rep.generation,
	    (unsigned long long)rep.docs, (double)rep.bytes_out / 1e6, rep.seconds);
	return 0;
}

static const char compact_help[] =
    "usage: trawl compact DIR\n"
    "\n"
    "Merges every shard of the index in DIR into one segment, dropping the\n"
    "documents updates replaced or deleted (a generation per shard merged). The\n"
    "index's indexer does it: it fails while another process (trawl serve, an\n"
    "update) owns the index's write log. Writes the log holds are applied first.\n";

static const char snapshot_help[] =
    "usage: trawl snapshot DIR DEST [--copy]\n"
    "\n"
    "Puts the live generation of the index in DIR into DEST, a new index\n"
    "directory holding it alone: a consistent snapshot (a generation never\n"
    "changes), taken while DIR is searched and written. Files are hard-linked\n"
    "when DEST is on DIR's file system, copied otherwise (or with --copy, for\n"
    "a backup that shares no inode), then each is checked against the\n"
    "manifest's size and checksum. Writes acknowledged after that generation\n"
    "are in DIR's write log, not in the snapshot: POST /{index}/_refresh\n"
    "first. Restore by serving DEST, or moving it where the index was.\n";

int cmd_snapshot(int argc, char **argv)
{
	static const struct option longs[] = {
	    {"copy", no_argument, 0, 'c'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
	int c, copy = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
		if (c == 'h') {
			fputs(snapshot_help, stdout);
			return 0;
		}
		if (c != 'c')
			return cli_usage_error("snapshot", "unknown option");
		copy = 1;
	}
	if (argc - optind != 2)
		return cli_usage_error("snapshot", "needs DIR and DEST");
	char err[1024];
	trawl_snapshot_report rep;
	int rc = trawl_snapshot(argv[optind], argv[optind + 1], copy, &rep, err, sizeof err);
	if (rc)
		return cli_fail(rc, err);
	printf("snapshot of %s generation %llu into %s: %llu documents, %u shard%s, %.1f MB in "
	       "%u files (%u linked, %u copied), checked\n",
	       argv[optind], (unsigned long long)rep.generation, argv[optind + 1],
	       (unsigned long long)rep.docs, rep.shards, rep.shards == 1 ? "" : "s",
	       (double)rep.bytes / 1e6, rep.linked + rep.copied, rep.linked, rep.copied);
	return 0;
}

int cmd_compact(int argc, char **argv)
{
	static const struct option longs[] = {{"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
		if (c == 'h') {
			fputs(compact_help, stdout);
			return 0;
		}
		return cli_usage_error("compact", "unknown option");
	}
	if (argc - optind != 1)
		return cli_usage_error("compact", "needs DIR");
	const char *dir = argv[optind];
	char err[1024];
	trawl_indexer_opts xo = {0};
	xo.quiet = 0;
	trawl_indexer *x;
	int rc = trawl_indexer_open(&x, dir, &xo, err, sizeof err);
	if (rc)
		return cli_fail(rc, err);
	trawl_indexer_stats before, after;
	trawl_indexer_get_stats(x, &before);
	/* the writes in the log first; a generation refused for its segments
	 * (LIMIT_SEGMENTS) is what a compaction cures: it goes on, and the
	 * writes are applied after it */
	int frc = trawl_indexer_refresh(x, 0, 0, err, sizeof err);
	rc = trawl_indexer_compact(x, err, sizeof err);
	if (!rc && frc)
		rc = trawl_indexer_refresh(x, 0, 0, err, sizeof err);
	trawl_indexer_get_stats(x, &after);
	trawl_indexer_close(x);
	if (rc)
		return cli_fail(rc, err);
	printf("%s: generation %llu, %llu segment%s (was %llu), %llu documents written again in "
	       "%llu merge%s, %.2f s\n",
	       dir, (unsigned long long)after.generation, (unsigned long long)after.segments,
	       after.segments == 1 ? "" : "s", (unsigned long long)before.segments,
	       (unsigned long long)after.merged_docs, (unsigned long long)after.merges,
	       after.merges == 1 ? "" : "s", after.merge_seconds);
	return 0;
}
