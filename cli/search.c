/*
 * search.c - the commands that read an index: `trawl search` (one query,
 * or a batch of them into a TREC run), `get`, `stats` and `verify`. Like
 * `trawl index`, they use only the public API of include/trawl/trawl.h, as
 * any program embedding libtrawl would.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/util.h"
#include "common/clock.h"
#include "common/limits.h"
#include "common/sortspec.h"
#include "trawl/trawl.h"

static int parse_u32(const char *s, uint32_t max, uint32_t *out)
{
	unsigned long v;
	if (cli_parse_num(s, max, &v))
		return -1;
	*out = (uint32_t)v;
	return 0;
}

/* ---- search ---- */

static const char search_help[] =
    "usage: trawl search DIR QUERY [--filter F]... [-k N] [--offset N] [--sort KEYS\n"
    "                    [--after JSON]] [--and] [--literal] [--json]\n"
    "       trawl search DIR --filter F [--filter F]... [-k N] ...\n"
    "       trawl search DIR --queries FILE.tsv --run OUT [--filter F]... [-k N] [--and]\n"
    "                    [--literal]\n"
    "\n"
    "Searches the live generation of DIR and prints the ranked hits with id,\n"
    "score, title and a snippet. Query syntax (docs/QUERY.md): words (any may\n"
    "match), +required, -excluded, \"a phrase\", field:word, prefix*, (groups),\n"
    "field:[a TO b], field:>=a, _exists_:field, _id:x, #filter.\n"
    "\n"
    "  --filter F     narrow the search to the documents F matches, without\n"
    "                 changing scores (query syntax, its clauses all required;\n"
    "                 repeat to narrow further). Without QUERY (or with an empty\n"
    "                 one), every document that passes, each scoring 1\n"
    "  -k N           hits to return (default 10; batch mode 1000)\n"
    "  --offset N     hits to skip first (paging)\n"
    "  --sort KEYS    order by typed fields instead of score: field[:asc|desc][:first|last]\n"
    "                 [:min|max], comma-separated; _score for the score (e.g. date:desc)\n"
    "  --after JSON   with --sort: only hits after these sort values (a hit's \"sort\"\n"
    "                 in --json output; the next page)\n"
    "  --aggs FILE    aggregations over every match (Elasticsearch's \"aggs\" JSON:\n"
    "                 terms, histograms, ranges, stats...; docs/AGGREGATIONS.md)\n"
    "  --and          every word is required unless marked otherwise\n"
    "  --literal      treat the query as plain words: no operators (not the filters)\n"
    "  --json         one JSON object: total, took_ms, hits[id, score, title, snippet,\n"
    "                 sort (when sorted)]\n"
    "  --queries F    batch mode: read qid<TAB>text lines from F ...\n"
    "  --run OUT      ... and write a TREC run file (qid Q0 docid rank score trawl)\n";

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)s; p && *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p == '\n')
			fputs("\\n", f);
		else if (*p == '\t')
			fputs("\\t", f);
		else if (*p < 0x20)
			fprintf(f, "\\u%04x", *p);
		else
			fputc(*p, f);
	}
	fputc('"', f);
}

/* The stored string field `name` of a JSON document, copied (crude but safe:
 * only used for display). */
static char *doc_field(const char *doc, const char *name)
{
	if (!doc)
		return NULL;
	char key[80];
	snprintf(key, sizeof key, "\"%s\"", name);
	const char *p = strstr(doc, key);
	if (!p)
		return NULL;
	p += strlen(key);
	while (*p == ' ' || *p == ':' || *p == '\t')
		p++;
	if (*p != '"')
		return NULL;
	p++;
	size_t cap = strlen(p) + 1, n = 0;
	char *out = malloc(cap);
	if (!out)
		return NULL;
	while (*p && *p != '"') {
		if (*p == '\\' && p[1]) {
			p++;
			char c = *p == 'n' ? ' ' : *p == 't' ? ' ' : *p;
			if (*p == 'u') { /* keep escapes of non-ASCII out of the way */
				out[n++] = '?';
				p += 4;
				if (!*p)
					break;
			} else {
				out[n++] = c;
			}
		} else {
			out[n++] = *p;
		}
		p++;
	}
	out[n] = 0;
	return out;
}

/* Escapes every query operator, keywords included, so that text is searched
 * as plain words. */
static char *literal(const char *q)
{
	size_t n = strlen(q);
	char *out = malloc(2 * n + 1), *w = out;
	if (!out)
		return NULL;
	for (const char *p = q; *p; p++) {
		int word_start = p == q || isspace((unsigned char)p[-1]);
		if (word_start &&
		    (!strncmp(p, "AND", 3) || !strncmp(p, "OR", 2) || !strncmp(p, "NOT", 3)))
			*w++ = '\\'; /* harmless if the word goes on: \A is A */
		if (strchr("+-#\"():*\\[]{}<>", *p))
			*w++ = '\\';
		*w++ = *p;
	}
	*w = 0;
	return out;
}

/* The field snippets come from: "body" if it is a text field, else the last
 * text field of the schema. */
static const char *snippet_field(const trawl_index *idx)
{
	const char *f, *last = NULL;
	for (uint32_t i = 0; (f = trawl_index_text_field(idx, i)); i++) {
		if (!strcmp(f, "body"))
			return f;
		last = f;
	}
	return last;
}

/* The filters of a search (--filter), each parsed once. */
typedef struct filters {
	trawl_query **q;
	int n;
} filters;

static void filters_free(filters *f)
{
	for (int i = 0; i < f->n; i++)
		trawl_query_free(f->q[i]);
	free(f->q);
}

/* parse_filters parses the n texts into f; 0, or a failure's exit code
 * (the message names the filter and the column). */
static int parse_filters(char *const *texts, int n, filters *f)
{
	f->n = 0;
	if (!n)
		return 0;
	if (!(f->q = calloc((size_t)n, sizeof *f->q)))
		return cli_fail(TRAWL_ENOMEM, NULL);
	for (; f->n < n; f->n++) {
		char err[1024], msg[1200];
		int rc = trawl_query_parse_filter(&f->q[f->n], texts[f->n], strlen(texts[f->n]),
		                                  err, sizeof err);
		if (rc) {
			snprintf(msg, sizeof msg, "--filter '%.80s': %s", texts[f->n], err);
			return cli_fail(rc, msg);
		}
	}
	return 0;
}

static int blank(const char *s)
{
	while (*s && isspace((unsigned char)*s))
		s++;
	return !*s;
}

/* search runs text (literal: escaped first), narrowed by the filters,
 * into *r; on failure err says why (the query's or a filter's message). */
static int search(trawl_searcher *s, const char *text, int lit, const filters *f,
                  const trawl_search_opts *o, trawl_results **r, char *err, size_t errlen)
{
	if (!f->n) {
		char *lq = lit ? literal(text) : NULL;
		const char *t = lq ? lq : text;
		int rc = trawl_search(s, t, strlen(t), o, r);
		free(lq);
		if (rc)
			snprintf(err, errlen, "%s", trawl_searcher_errmsg(s));
		return rc;
	}
	trawl_query *q = NULL;
	int rc = 0;
	if (!blank(text)) {
		char *lq = lit ? literal(text) : NULL;
		const char *t = lq ? lq : text;
		rc = trawl_query_parse(&q, t, strlen(t), o->default_op, err, errlen);
		free(lq);
	}
	for (int i = 0; !rc && i < f->n; i++) {
		char why[1024];
		if ((rc = trawl_query_filter(&q, f->q[i], why, sizeof why)))
			snprintf(err, errlen, "the query and its filters together: %s", why);
	}
	if (!rc && (rc = trawl_search_query(s, q, o, r)))
		snprintf(err, errlen, "%s", trawl_searcher_errmsg(s));
	trawl_query_free(q);
	return rc;
}

static void print_aggs(const char *text);

static int run_one(trawl_searcher *s, const trawl_index *idx, const char *q, trawl_search_opts *o,
                   int json, int lit, const filters *f)
{
	double t0 = clock_mono_s();
	trawl_results *r;
	char err[1024];
	int rc = search(s, q, lit, f, o, &r, err, sizeof err);
	if (rc)
		return cli_fail(rc, err);
	double ms = (clock_mono_s() - t0) * 1000;
	int tty = isatty(1);
	const char *sf = snippet_field(idx);
	uint32_t n = trawl_results_count(r);
	if (json)
		printf("{\"total\":%llu,\"took_ms\":%.3f,\"hits\":[",
		       (unsigned long long)trawl_results_total(r), ms);
	for (uint32_t i = 0; i < n; i++) {
		const char *doc = trawl_results_doc(r, i, NULL, NULL);
		char *title = doc_field(doc, "title");
		const char *snip =
		    sf ? trawl_results_snippet(r, i, sf, tty && !json ? "\033[1m" : NULL,
		                               tty && !json ? "\033[0m" : NULL, 0)
		       : NULL;
		if (json) {
			printf("%s{\"id\":", i ? "," : "");
			json_str(stdout, trawl_results_id(r, i));
			printf(",\"score\":%.6f,\"title\":", trawl_results_score(r, i));
			json_str(stdout, title ? title : "");
			printf(",\"snippet\":");
			json_str(stdout, snip ? snip : "");
			if (o->nsort) {
				char sv[8192];
				trawl_results_sort_json(r, i, sv, sizeof sv);
				printf(",\"sort\":%s", sv);
			}
			printf("}");
		} else {
			char sv[8192] = "";
			if (o->nsort)
				trawl_results_sort_json(r, i, sv, sizeof sv);
			printf("%u. %s  (score %.4f)%s%s%s%s\n", o->offset + i + 1,
			       trawl_results_id(r, i), trawl_results_score(r, i),
			       sv[0] ? "  sort " : "", sv, title ? "  " : "", title ? title : "");
			if (snip)
				printf("   %s\n", snip);
		}
		free(title);
	}
	char *aggs = o->aggs ? trawl_results_aggs(r, 0) : NULL;
	if (o->aggs && !aggs) {
		trawl_results_free(r);
		return cli_fail(TRAWL_ENOMEM, "rendering the aggregations");
	}
	if (json) {
		printf("]%s%s}\n", aggs ? ",\"aggregations\":" : "", aggs ? aggs : "");
	} else {
		printf("%llu matching documents; %u shown; %.2f ms\n",
		       (unsigned long long)trawl_results_total(r), n, ms);
		if (aggs)
			print_aggs(aggs);
	}
	free(aggs);
	trawl_results_free(r);
	return 0;
}

/* Prints the aggregations of answer json for a reader: a bucket
 * aggregation as one line per bucket (key, count, and its metrics), a
 * metric as its JSON. */
static void print_aggs(const char *text)
{
	json_t *root = json_loads(text, 0, NULL);
	const char *name;
	json_t *a;
	json_object_foreach(root, name, a)
	{
		json_t *buckets = json_object_get(a, "buckets");
		if (!json_is_array(buckets)) {
			char *m = json_dumps(a, JSON_COMPACT);
			printf("%s: %s\n", name, m ? m : "");
			free(m);
			continue;
		}
		printf("%s:\n", name);
		size_t i;
		json_t *b;
		json_array_foreach(buckets, i, b)
		{
			json_t *ks = json_object_get(b, "key_as_string"),
			       *k = json_object_get(b, "key");
			json_t *shown = ks ? ks : k;
			char *key =
			    json_is_string(shown) ? NULL : json_dumps(shown, JSON_ENCODE_ANY);
			printf("  %-32s %8lld", key ? key : json_string_value(shown),
			       (long long)json_integer_value(json_object_get(b, "doc_count")));
			free(key);
			const char *sub;
			json_t *v;
			json_object_foreach(b, sub, v)
			{
				if (!json_is_object(v))
					continue;
				char *m = json_dumps(v, JSON_COMPACT);
				printf("  %s %s", sub, m ? m : "");
				free(m);
			}
			putchar('\n');
		}
		json_t *other = json_object_get(a, "sum_other_doc_count");
		if (json_integer_value(other))
			printf("  (%lld more in other values)\n",
			       (long long)json_integer_value(other));
	}
	json_decref(root);
}

/* The aggregation request in file path (at most LIMIT_AGG_SPEC_BYTES), parsed. */
static int read_aggs(const char *path, trawl_aggs **out)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		char why[512];
		snprintf(why, sizeof why, "%s: %s", path, strerror(errno));
		return cli_fail(TRAWL_EIO, why);
	}
	char *text = malloc(LIMIT_AGG_SPEC_BYTES + 1);
	size_t len = text ? fread(text, 1, LIMIT_AGG_SPEC_BYTES + 1, f) : 0;
	int bad = ferror(f);
	fclose(f);
	char why[1024];
	int rc = TRAWL_OK;
	if (!text)
		rc = cli_fail(TRAWL_ENOMEM, NULL);
	else if (bad || len > LIMIT_AGG_SPEC_BYTES)
		rc = cli_fail(bad ? TRAWL_EIO : TRAWL_ELIMIT,
		              bad ? "cannot read the aggregations file"
		                  : "the aggregations file is over " LIMIT_STR(
		                        LIMIT_AGG_SPEC_BYTES) " bytes");
	else if ((rc = trawl_aggs_parse(out, text, len, why, sizeof why)))
		rc = cli_fail(rc, why);
	free(text);
	return rc;
}

static int run_batch(trawl_searcher *s, const char *qfile, const char *run, trawl_search_opts *o,
                     int lit, const filters *f)
{
	FILE *in = fopen(qfile, "r");
	if (!in)
		return cli_fail(TRAWL_ENOTFOUND, qfile);
	FILE *out = strcmp(run, "-") ? fopen(run, "w") : stdout;
	if (!out) {
		fclose(in);
		return cli_fail(TRAWL_EIO, run);
	}
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	unsigned long lineno = 0, done = 0, failed = 0;
	o->count_mode = TRAWL_COUNT_NONE;
	while ((len = getline(&line, &cap, in)) >= 0) {
		lineno++;
		while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = 0;
		if (!len)
			continue;
		char *tab = strchr(line, '\t');
		if (!tab) {
			fprintf(stderr, "%s: %s:%lu: expected qid<TAB>text\n", cli_prog, qfile,
			        lineno);
			failed++;
			continue;
		}
		*tab = 0;
		trawl_results *r;
		char err[1024];
		int rc = search(s, tab + 1, lit, f, o, &r, err, sizeof err);
		if (rc) {
			fprintf(stderr, "%s: %s:%lu: query %s: %s\n", cli_prog, qfile, lineno, line,
			        err);
			failed++;
			continue;
		}
		for (uint32_t i = 0; i < trawl_results_count(r); i++)
			fprintf(out, "%s Q0 %s %u %.6f trawl\n", line, trawl_results_id(r, i),
			        i + 1, trawl_results_score(r, i));
		trawl_results_free(r);
		done++;
	}
	free(line);
	fclose(in);
	int werr = ferror(out);
	if (out != stdout)
		werr |= fclose(out);
	if (werr)
		return cli_fail(TRAWL_EIO, run);
	fprintf(stderr, "%s: %lu queries run, %lu failed\n", cli_prog, done, failed);
	return 0;
}

static int open_index(const char *dir, trawl_index **idx, trawl_searcher **s)
{
	char err[1024];
	int rc = trawl_index_open(idx, dir, err, sizeof err);
	if (rc)
		return cli_fail(rc, err);
	if ((rc = trawl_searcher_open(s, *idx))) {
		trawl_index_close(*idx);
		return cli_fail(rc, "cannot open a searcher");
	}
	return 0;
}

static int search_args(int argc, char **argv, const struct option *longs, trawl_search_opts *o,
                       int *json, int *lit, int *k_set, const char **qfile, const char **run,
                       char **ftext, int *nf);

int cmd_search(int argc, char **argv)
{
	trawl_search_opts o = {0};
	int json = 0, lit = 0, k_set = 0, nf = 0;
	const char *qfile = NULL, *run = NULL;
	char **ftext = calloc((size_t)argc, sizeof *ftext); /* the --filter texts */
	static const struct option longs[] = {
	    {"offset", required_argument, 0, 'o'},  {"json", no_argument, 0, 'j'},
	    {"and", no_argument, 0, 'a'},           {"literal", no_argument, 0, 'l'},
	    {"queries", required_argument, 0, 'q'}, {"run", required_argument, 0, 'r'},
	    {"filter", required_argument, 0, 'f'},  {"sort", required_argument, 0, 's'},
	    {"after", required_argument, 0, 'A'},   {"aggs", required_argument, 0, 'g'},
	    {"help", no_argument, 0, 'h'},          {0, 0, 0, 0}};
	if (!ftext)
		return cli_fail(TRAWL_ENOMEM, NULL);
	int rc = search_args(argc, argv, longs, &o, &json, &lit, &k_set, &qfile, &run, ftext, &nf);
	if (rc) {
		free(ftext);
		return rc < 0 ? 0 : rc;
	}
	int nargs = argc - optind;
	if (qfile || run) {
		if (!qfile || !run || nargs != 1)
			rc = cli_usage_error("search",
			                     "batch mode needs DIR, --queries FILE and --run OUT");
		if (!k_set)
			o.k = 1000;
	} else if (nargs != 2 && !(nargs == 1 && nf)) {
		rc = cli_usage_error("search", "needs DIR and QUERY (or DIR and --filter F)");
	}
	filters f = {0};
	if (!rc)
		rc = parse_filters(ftext, nf, &f);
	free(ftext);
	trawl_index *idx;
	trawl_searcher *s;
	if (!rc && !(rc = open_index(argv[optind], &idx, &s))) {
		rc = qfile ? run_batch(s, qfile, run, &o, lit, &f)
		           : run_one(s, idx, nargs == 2 ? argv[optind + 1] : "", &o, json, lit, &f);
		trawl_searcher_close(s);
		trawl_index_close(idx);
	}
	filters_free(&f);
	return rc;
}

/* search_args reads cmd_search's options: 0, -1 (--help: done), or an exit
 * code. */
static int search_args(int argc, char **argv, const struct option *longs, trawl_search_opts *o,
                       int *json, int *lit, int *k_set, const char **qfile, const char **run,
                       char **ftext, int *nf)
{
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "k:h", longs, NULL)) != -1) {
		switch (c) {
		case 'k':
			if (parse_u32(optarg, TRAWL_MAX_K, &o->k) || o->k == 0)
				return cli_usage_error("search",
				                       "-k takes a number from 1 to 10000");
			*k_set = 1;
			break;
		case 'o':
			if (parse_u32(optarg, TRAWL_MAX_K, &o->offset))
				return cli_usage_error("search",
				                       "--offset takes a number from 0 to 10000");
			break;
		case 'j':
			*json = 1;
			break;
		case 'a':
			o->default_op = TRAWL_OP_AND;
			break;
		case 'l':
			*lit = 1;
			break;
		case 'q':
			*qfile = optarg;
			break;
		case 'r':
			*run = optarg;
			break;
		case 'f':
			ftext[(*nf)++] = optarg;
			break;
		case 's': {
			/* the keys name fields in sortbuf: both live as long as the process */
			static trawl_sort keys[TRAWL_MAX_SORT_KEYS];
			static char sortbuf[1024];
			char why[256];
			snprintf(sortbuf, sizeof sortbuf, "%s", optarg);
			if (strlen(optarg) >= sizeof sortbuf ||
			    sortspec_parse(sortbuf, keys, &o->nsort, why, sizeof why))
				return cli_usage_error("search", strlen(optarg) >= sizeof sortbuf
				                                     ? "--sort is too long"
				                                     : why);
			o->sort = keys;
			break;
		}
		case 'A':
			o->search_after = optarg;
			o->search_after_len = strlen(optarg);
			break;
		case 'g': {
			/* lives as long as the process, as the sort keys do */
			static trawl_aggs *aggs;
			trawl_aggs_free(aggs);
			aggs = NULL;
			int rc = read_aggs(optarg, &aggs);
			if (rc)
				return rc;
			o->aggs = aggs;
			break;
		}
		case 'h':
			fputs(search_help, stdout);
			return -1;
		default:
			return cli_usage_error("search", "unknown option");
		}
	}
	return 0;
}

/* ---- get, stats, verify ---- */

/* Checks the arguments of a command without options: --help, unknown
 * options (rejected; "--" ends the options), then the count of operands,
 * which are moved to argv[1..want]. */
static int simple_args(int argc, char **argv, const char *cmd, const char *help, int want)
{
	for (int i = 1; i < argc && strcmp(argv[i], "--"); i++)
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			fputs(help, stdout);
			return -1;
		}
	int n = 0, opts = 1;
	for (int i = 1; i < argc; i++) {
		if (opts && !strcmp(argv[i], "--"))
			opts = 0;
		else if (opts && argv[i][0] == '-' && argv[i][1])
			return cli_usage_error(cmd, "unknown option");
		else
			argv[++n] = argv[i];
	}
	if (n != want)
		return cli_usage_error(cmd, want == 1 ? "needs DIR" : "needs DIR and ID");
	return 0;
}

static const char get_help[] = "usage: trawl get DIR ID\n\n"
                               "Prints the stored document with id ID (checksum verified).\n";
static const char stats_help[] =
    "usage: trawl stats DIR\n\nPrints the live generation's number, shards, documents, terms, "
    "size and schema.\n";
static const char verify_help[] =
    "usage: trawl verify DIR\n\n"
    "Checks the live generation's MANIFEST.json against MANIFEST.xxh3 and every\n"
    "shard file against the manifest's checksums, decodes every postings list, and\n"
    "checks every stored document's checksum. Exit 0 when all is well, 65 on damage\n"
    "(the message names the file). A generation without MANIFEST.xxh3 (an older\n"
    "trawl's) passes with a warning on standard error.\n"
    "Then prints the content digest: the XXH3-128 of every segment's keys and values\n"
    "but the generation number, with the delete sets and versions updates wrote:\n"
    "equal for two builds of the same input, changed by every write. A generation\n"
    "updates made has another digest than a build of its live documents.\n";

int cmd_get(int argc, char **argv)
{
	int rc = simple_args(argc, argv, "get", get_help, 2);
	if (rc)
		return rc < 0 ? 0 : rc;
	trawl_index *idx;
	trawl_searcher *s;
	if ((rc = open_index(argv[1], &idx, &s)))
		return rc;
	char *doc;
	size_t len;
	rc = trawl_get(s, argv[2], &doc, &len);
	if (rc == 0) {
		fwrite(doc, 1, len, stdout);
		putchar('\n');
		free(doc);
	} else {
		rc = cli_fail(rc, trawl_searcher_errmsg(s));
	}
	trawl_searcher_close(s);
	trawl_index_close(idx);
	return rc;
}

int cmd_stats(int argc, char **argv)
{
	int rc = simple_args(argc, argv, "stats", stats_help, 1);
	if (rc)
		return rc < 0 ? 0 : rc;
	trawl_index *idx;
	char err[1024];
	if ((rc = trawl_index_open(&idx, argv[1], err, sizeof err)))
		return cli_fail(rc, err);
	trawl_index_stats st;
	trawl_index_get_stats(idx, &st);
	printf("generation: %llu\nshards: %u\ndocuments: %llu\nterms: %llu\nbytes: %llu\n"
	       "schema: %s\n",
	       (unsigned long long)st.generation, st.shards, (unsigned long long)st.docs,
	       (unsigned long long)st.terms, (unsigned long long)st.bytes, trawl_index_schema(idx));
	trawl_searcher *s;
	if ((rc = trawl_searcher_open(&s, idx))) {
		trawl_index_close(idx);
		return cli_fail(rc, "cannot open a searcher");
	}
	printf("fields:\n  %-24s %-8s %10s %12s %10s %12s  %s\n", "name", "type", "docs", "values",
	       "terms", "bytes", "distinct / range");
	trawl_field_stats fs;
	for (uint32_t i = 0; (rc = trawl_searcher_field_stats(s, i, &fs)) == 0; i++) {
		char extra[160] = "";
		if (fs.distinct)
			snprintf(extra, sizeof extra, "%llu distinct",
			         (unsigned long long)fs.distinct);
		if (fs.has_range && !strcmp(fs.type, "date")) {
			char a[40], b[40];
			time_t x = (time_t)(fs.min / 1000), y = (time_t)(fs.max / 1000);
			struct tm ta, tb;
			strftime(a, sizeof a, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&x, &ta));
			strftime(b, sizeof b, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&y, &tb));
			snprintf(extra, sizeof extra, "%s .. %s", a, b);
		} else if (fs.has_range) {
			snprintf(extra, sizeof extra, "%.17g .. %.17g", fs.min, fs.max);
		}
		printf("  %-24s %-8s %10llu %12llu %10llu %12llu  %s\n", fs.name, fs.type,
		       (unsigned long long)fs.docs, (unsigned long long)fs.values,
		       (unsigned long long)fs.terms, (unsigned long long)fs.bytes, extra);
	}
	rc = rc == TRAWL_ENOTFOUND ? 0 : cli_fail(rc, trawl_searcher_errmsg(s));
	trawl_searcher_close(s);
	trawl_index_close(idx);
	return rc;
}

int cmd_verify(int argc, char **argv)
{
	int rc = simple_args(argc, argv, "verify", verify_help, 1);
	if (rc)
		return rc < 0 ? 0 : rc;
	char err[1024] = "";
	rc = trawl_index_verify(argv[1], err, sizeof err);
	if (rc)
		return cli_fail(rc, err);
	if (err[0])
		fprintf(stderr, "%s: warning: %s\n", cli_prog, err);
	char digest[33];
	if ((rc = trawl_index_digest(argv[1], digest, err, sizeof err)))
		return cli_fail(rc, err);
	printf("%s: ok\ncontent digest: %s\n", argv[1], digest);
	return 0;
}
