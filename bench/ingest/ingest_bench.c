/*
 * ingest_bench.c - how many writes per second the write path's first half
 * acknowledges on this machine: documents decided by the ingest
 * (index/ingest.c: parsed, checked against the version map) and made
 * durable in the write log (index/wlog.c: group commit, one fsync per
 * commit), by THREADS writers at once sending requests of BATCH documents
 * (a _bulk request's items), as an HTTP front would. Not measured here:
 * HTTP, the schema's check of each document, and the indexer that makes
 * them searchable (issue #12, being built); so this is an upper bound of
 * the ingest rate (bench/RESULTS.md, "The write path").
 *
 *   build/bench/ingest/ingest_bench FILE [THREADS [BATCH [DOCS [DIR]]]]
 *
 * FILE: JSON Lines with an "id" (e.g. enwiki-passages' docs.jsonl); the
 * first DOCS lines (default all) are read into memory before the clock
 * starts. DIR (default a new directory under /tmp, removed after) holds
 * the log: it must be on the disk whose fsyncs are to be measured.
 * Prints one line of key=value pairs: docs, seconds, docs/s, MB/s of
 * documents, commits (fsyncs), documents per commit, and the p50 and p99
 * of a request's time to acknowledgement in milliseconds.
 */
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/limits.h"
#include "index/ingest.h"
#include "index/wlog.h"
#include "trawl/trawl.h"

typedef struct doc {
	const char *line;
	uint32_t len;
	char id[64];
	uint32_t idlen;
} doc;

static doc *g_docs;
static size_t g_ndocs;
static size_t g_next; /* the next document to send (atomic) */
static uint32_t g_batch;
static idx_ingest *g_ing;
static double *g_lat; /* per request, ms */
static size_t g_nlat;
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static int g_failed;

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* The id of a line: the string after "id": (the corpus's first key). */
static int find_id(const char *line, size_t len, doc *d)
{
	const char *p = memmem(line, len, "\"id\"", 4);
	if (!p)
		return -1;
	p += 4;
	while (p < line + len && (*p == ' ' || *p == ':'))
		p++;
	if (p >= line + len || *p != '"')
		return -1;
	const char *q = memchr(p + 1, '"', (size_t)(line + len - p - 1));
	if (!q || q - p - 1 >= (long)sizeof d->id)
		return -1;
	d->idlen = (uint32_t)(q - p - 1);
	memcpy(d->id, p + 1, d->idlen);
	return 0;
}

static void *writer(void *arg)
{
	(void)arg;
	idx_wreq *q = calloc(g_batch, sizeof *q);
	idx_wres *r = calloc(g_batch, sizeof *r);
	char err[LIMIT_ERRMSG_BYTES];
	for (;;) {
		size_t from = __atomic_fetch_add(&g_next, g_batch, __ATOMIC_RELAXED);
		if (from >= g_ndocs)
			break;
		uint32_t n = (uint32_t)(g_ndocs - from < g_batch ? g_ndocs - from : g_batch);
		for (uint32_t i = 0; i < n; i++) {
			const doc *d = &g_docs[from + i];
			q[i] = (idx_wreq){.act = IDX_WACT_INDEX,
			                  .id = d->id,
			                  .idlen = d->idlen,
			                  .doc = d->line,
			                  .doclen = d->len,
			                  .if_seq_no = -1,
			                  .if_primary_term = -1};
		}
		double t0 = now_s();
		int rc = idx_ingest_write(g_ing, q, n, r, err, sizeof err);
		double ms = (now_s() - t0) * 1e3;
		int bad = rc != TRAWL_OK;
		for (uint32_t i = 0; i < n && !bad; i++)
			bad = r[i].status != 201 && r[i].status != 200;
		pthread_mutex_lock(&g_mu);
		g_lat[g_nlat++] = ms;
		if (bad && !g_failed) {
			g_failed = 1;
			fprintf(stderr, "ingest_bench: a request failed: %s\n",
			        rc ? err : r[0].reason);
		}
		pthread_mutex_unlock(&g_mu);
	}
	free(q);
	free(r);
	return NULL;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *f)
{
	(void)sb;
	(void)flag;
	(void)f;
	return remove(p);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: ingest_bench FILE [THREADS [BATCH [DOCS [DIR]]]]\n");
		return 64;
	}
	int threads = argc > 2 ? atoi(argv[2]) : 4;
	g_batch = argc > 3 ? (uint32_t)atoi(argv[3]) : 100;
	size_t want = argc > 4 ? (size_t)atoll(argv[4]) : SIZE_MAX;
	if (threads < 1 || threads > 256 || g_batch < 1 || g_batch > LIMIT_WLOG_APPEND_OPS) {
		fprintf(stderr, "ingest_bench: THREADS 1..256, BATCH 1..%d\n",
		        LIMIT_WLOG_APPEND_OPS);
		return 64;
	}
	FILE *f = fopen(argv[1], "rb");
	if (!f) {
		perror(argv[1]);
		return 66;
	}
	size_t cap = 0;
	char *line = NULL;
	size_t lcap = 0;
	ssize_t n;
	uint64_t bytes = 0;
	while (g_ndocs < want && (n = getline(&line, &lcap, f)) > 0) {
		while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			n--;
		if (!n)
			continue;
		if (g_ndocs == cap) {
			cap = cap ? 2 * cap : 4096;
			g_docs = realloc(g_docs, cap * sizeof *g_docs);
		}
		doc *d = &g_docs[g_ndocs];
		if (find_id(line, (size_t)n, d)) {
			fprintf(stderr, "%s: line %zu has no \"id\" first\n", argv[1], g_ndocs + 1);
			return 65;
		}
		d->line = memcpy(malloc((size_t)n), line, (size_t)n);
		d->len = (uint32_t)n;
		bytes += (uint64_t)n;
		g_ndocs++;
	}
	free(line);
	fclose(f);

	char dir[256];
	int own_dir = argc <= 5;
	if (own_dir) {
		snprintf(dir, sizeof dir, "/tmp/trawl-ingest-bench-XXXXXX");
		if (!mkdtemp(dir)) {
			perror("mkdtemp");
			return 73;
		}
	} else {
		snprintf(dir, sizeof dir, "%s", argv[5]);
	}
	char path[300], err[LIMIT_ERRMSG_BYTES];
	snprintf(path, sizeof path, "%s/wlog.mdb", dir);
	idx_wlog *w;
	if (idx_wlog_open(&w, path, 0, err, sizeof err) ||
	    idx_ingest_open(&g_ing, w, 0, 0, NULL, NULL, NULL, err, sizeof err)) {
		fprintf(stderr, "ingest_bench: %s\n", err);
		return 74;
	}
	g_lat = malloc((g_ndocs / g_batch + 2) * sizeof *g_lat);
	pthread_t *th = malloc((size_t)threads * sizeof *th);
	double t0 = now_s();
	for (int i = 0; i < threads; i++)
		pthread_create(&th[i], NULL, writer, NULL);
	for (int i = 0; i < threads; i++)
		pthread_join(th[i], NULL);
	double secs = now_s() - t0;
	idx_wlog_info in;
	idx_wlog_stat(w, &in);
	qsort(g_lat, g_nlat, sizeof *g_lat, cmp_double);
	printf(
	    "docs=%zu threads=%d batch=%u seconds=%.3f docs_per_s=%.0f mb_per_s=%.1f commits=%llu "
	    "docs_per_commit=%.1f ack_ms_p50=%.2f ack_ms_p99=%.2f failed=%d\n",
	    g_ndocs, threads, g_batch, secs, (double)g_ndocs / secs, (double)bytes / secs / 1e6,
	    (unsigned long long)in.commits, in.commits ? (double)in.ops / (double)in.commits : 0.0,
	    g_lat[g_nlat / 2], g_lat[g_nlat * 99 / 100 < g_nlat ? g_nlat * 99 / 100 : g_nlat - 1],
	    g_failed);
	idx_ingest_close(g_ing);
	idx_wlog_close(w);
	if (own_dir)
		nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	for (size_t i = 0; i < g_ndocs; i++)
		free((void *)g_docs[i].line);
	free(g_docs);
	free(g_lat);
	free(th);
	return g_failed ? 1 : 0;
}
