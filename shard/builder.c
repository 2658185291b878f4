/*
 * builder.c - the builder (trawl_builder_* in include/trawl/trawl.h): drives a
 * build through the stages of sh.h and keeps it restartable.
 *
 * The caller's thread splits the input into work items and pushes them on
 * the queue; worker threads (and `trawl build-worker` processes, through
 * remote.c) turn each item into a run file in the build directory. A run
 * file is written under a temporary name and renamed, so one that exists
 * and passes its checksum is a finished item: a build run again over the
 * same input (after a crash, kill -9, a full disk) finds it, checks that it
 * was made from the same bytes under the same parameters, and skips the
 * item. Commit merges the runs into a temporary generation directory,
 * checksums it, writes the manifest and publishes it with the atomic
 * rename of CURRENT (index/gen.c); only then is the build directory
 * removed. So a reader sees the old generation or the new one, never part
 * of one.
 *
 * Stored documents are compressed by the workers with one zstd dictionary
 * for the build, trained on the stored documents of the first work item
 * before any worker starts (so every run, wherever it is made, uses it),
 * or given by the caller (sh_builder_store: the apply step reuses the live
 * generation's, since training costs a fraction of a second per build).
 */
#include <dirent.h>
#include <jansson.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "common/clock.h"
#include "common/error.h"
#include "common/hash.h"
#include "common/rpc.h"
#include "index/docstore.h"
#include "index/gen.h"
#include "queue.h"
#include "remote.h"
#include "sh.h"

struct trawl_builder {
	char *dir;
	char build_dir[LIMIT_PATH_BYTES];
	idx_schema schema;
	char *schema_json;
	trawl_build_opts opts;
	sh_params params;
	uint8_t *zdict;
	int store;     /* SH_STORE_* */
	size_t zgiven; /* with SH_STORE_DICT: zdict's length */
	int ready;     /* params final, workers started */
	int lockfd;
	size_t max_doc;
	sh_splitter *sp;
	sh_queue *q;
	pthread_t tid[LIMIT_BUILD_WORKERS];
	struct wthread {
		trawl_builder *b;
		int who; /* SH_TAKE_LOCAL, or SH_TAKE_RESCUE */
	} warg[LIMIT_BUILD_WORKERS];
	unsigned want_threads; /* worker threads asked for */
	unsigned nthreads;     /* started (joined by stop_workers and close) */
	sh_remote *remote;
	trawl_build_peers peers; /* the remote's counts when it stopped */
	uint64_t *item_hash;     /* of every item cut, by id */
	uint64_t nitems, capitems;
	uint64_t items_done;
	uint64_t docs_done;
	uint64_t bytes_before; /* input bytes of the files already split */
	sh_parser check;       /* validates trawl_builder_add_json's documents */
	tbuf line;
	trawl_build_report rep;
	double t0, last_tick; /* clock_mono_s */
	const char *stage;
	char **sources;
	size_t nsources;
	int failed;
	int committed;      /* published (or, for a partition, its runs made) */
	int made_build_dir; /* this builder created the build directory */
	char errmsg[1024];
};

static int berr(trawl_builder *b, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int berr(trawl_builder *b, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	verrf(b->errmsg, sizeof b->errmsg, code, fmt, ap);
	va_end(ap);
	return code;
}

const char *trawl_builder_errmsg(const trawl_builder *b)
{
	return b ? b->errmsg : "no builder";
}

/* Seconds since t0 (clock_mono_s). */
static double since(double t0)
{
	return clock_mono_s() - t0;
}

static int mkdir_p(const char *dir)
{
	char tmp[LIMIT_PATH_BYTES];
	snprintf(tmp, sizeof tmp, "%s", dir);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	return mkdir(tmp, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

/* Whether name is a file the build directory is made of: a run, a run
 * being written, or the saved command. Nothing else there is touched. */
static int build_file(const char *name)
{
	size_t n = strlen(name);
	return !strncmp(name, "command.args", 12) ||
	       (!strncmp(name, "item-", 5) && ((n > 4 && !strcmp(name + n - 4, ".run")) ||
	                                       (n > 4 && !strcmp(name + n - 4, ".tmp"))));
}

/*
 * Cleans the build directory: with runs_too, every file of the build
 * (after the publish); without, only the saved command, and only if no run
 * is there (a build that failed before its first item). The directory goes
 * if it is then empty. Other files in it (a --build-dir that holds more)
 * are never touched.
 */
static void clean_build_dir(const char *dir, int runs_too)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *e;
	int runs = 0;
	while ((e = readdir(d)))
		runs += build_file(e->d_name) && strncmp(e->d_name, "command.args", 12);
	if (runs && !runs_too) {
		closedir(d);
		return;
	}
	rewinddir(d);
	while ((e = readdir(d))) {
		if (!build_file(e->d_name))
			continue;
		char path[LIMIT_PATH_BYTES];
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		unlink(path);
	}
	closedir(d);
	rmdir(dir); /* fails, harmlessly, if anything else is there */
}

/* ---- progress ---- */

static void progress(trawl_builder *b, int force)
{
	if (!b->opts.on_progress)
		return;
	double now = clock_mono_s();
	if (!force && since(b->last_tick) < 0.1)
		return;
	b->last_tick = now;
	uint64_t consumed = 0, size = 0;
	if (b->sp)
		sh_split_progress(b->sp, &consumed, &size);
	trawl_build_progress p = {
	    b->stage,  b->docs_done, b->bytes_before + consumed, b->opts.input_bytes, b->items_done,
	    b->nitems, since(b->t0)};
	b->opts.on_progress(b->opts.progress_ctx, &p);
}

static void *worker_thread(void *arg);

/* Starts a worker thread of this process that takes items as who
 * (SH_TAKE_LOCAL or SH_TAKE_RESCUE); 0 or -1. */
static int start_worker(trawl_builder *b, int who)
{
	if (b->nthreads >= LIMIT_BUILD_WORKERS)
		return -1;
	b->warg[b->nthreads] = (struct wthread){b, who};
	if (pthread_create(&b->tid[b->nthreads], NULL, worker_thread, &b->warg[b->nthreads]))
		return -1;
	b->nthreads++;
	return 0;
}

static void notice(void *ctx, const char *msg)
{
	trawl_builder *b = ctx;
	if (b->opts.on_notice)
		b->opts.on_notice(b->opts.notice_ctx, msg);
}

/* A finished item's counts and rejected lines (builder's thread). */
static void on_done(void *ctx, const sh_qdone *d)
{
	trawl_builder *b = ctx;
	b->items_done++;
	b->docs_done += d->docs;
	b->rep.lines += d->lines;
	b->rep.bytes_in += d->bytes_in;
	b->rep.rejected += d->rejected;
	if (b->opts.on_reject)
		for (size_t at = 0; at < d->rejects_len;) {
			const char *m = d->rejects + at;
			size_t n = strnlen(m, d->rejects_len - at);
			b->opts.on_reject(b->opts.reject_ctx, m);
			at += n + 1;
		}
}

static void tick(void *ctx)
{
	trawl_builder *b = ctx;
	if (b->q) {
		sh_queue_poll(b->q, on_done, b);
		sh_queue_notices(b->q, notice, b);
		/* an item the build workers could not be trusted with, and no
		 * thread here to do it: one is started for such items */
		if (b->nthreads == 0 && sh_queue_wants_rescue(b->q) &&
		    start_worker(b, SH_TAKE_RESCUE) == 0)
			notice(b, "working the items refused from build workers in this process");
	}
	progress(b, 0);
}

/* ---- workers of this process ---- */

static void *worker_thread(void *arg)
{
	const struct wthread *wt = arg;
	trawl_builder *b = wt->b;
	sh_worker *w;
	tbuf run, bytes;
	tbuf_init(&run, (size_t)LIMIT_ITEM_MAX_BYTES * 4);
	tbuf_init(&bytes, LIMIT_ITEM_BYTES);
	char err[1024];
	if (sh_worker_new(&w)) {
		sh_queue_fail(b->q, TRAWL_ENOMEM, "out of memory");
		return NULL;
	}
	for (;;) {
		sh_item it;
		int k = sh_queue_take(b->q, &bytes, wt->who, 0, 1000, &it);
		if (k == SH_Q_OVER)
			break;
		if (k != SH_Q_ITEM)
			continue;
		int rc = sh_work(w, &b->params, &it, &run, err, sizeof err);
		sh_run r;
		if (rc == TRAWL_OK)
			rc = sh_run_write(b->build_dir, it.id, run.data, run.len, err, sizeof err);
		if (rc == TRAWL_OK &&
		    (rc = sh_run_check(&r, run.data, run.len, err, sizeof err)) == 0)
			rc = sh_queue_complete(b->q, it.id, &r);
		if (rc) {
			sh_queue_fail(b->q, rc, err);
			break;
		}
	}
	sh_worker_free(w);
	tbuf_fini(&run);
	tbuf_fini(&bytes);
	return NULL;
}

/* ---- parameters: fixed by the first item ---- */

typedef struct sampler {
	uint8_t *buf;
	size_t len;
	size_t *sizes;
	unsigned n, cap;
} sampler;

static int sample_doc(void *ctx, const sh_doc *d)
{
	sampler *s = ctx;
	if (d->tomb || !d->stored_len)
		return 0;
	size_t n = d->stored_len < 16384 ? d->stored_len : 16384;
	if (s->len + n > IDX_ZDICT_SAMPLE || s->n == s->cap)
		return 0;
	memcpy(s->buf + s->len, d->stored, n);
	s->sizes[s->n++] = n;
	s->len += n;
	return 0;
}

/* Trains the build's dictionary on the first item (it may be NULL: no
 * input), fixes the parameters and starts the workers. */
static int get_ready(trawl_builder *b, const sh_item *first)
{
	sh_params *p = &b->params;
	p->schema = b->schema;
	p->schema_json = b->schema_json;
	p->nshards = b->opts.shards;
	p->max_doc = (uint32_t)b->max_doc;
	p->skip_bad = b->opts.skip_bad;
	if (b->store == SH_STORE_NOTHING) {
		p->schema.store_none = 1; /* the parse and the workers store nothing */
	} else if (b->store == SH_STORE_DICT) {
		p->zdict = b->zdict;
		p->zdict_len = b->zgiven;
	} else if (first && !b->schema.store_none) {
		sampler s = {malloc(IDX_ZDICT_SAMPLE), 0, malloc(65536 * sizeof(size_t)), 0, 65536};
		sh_parser ps;
		sh_parser_init(&ps, &b->schema, b->max_doc);
		sh_linecount c;
		if (s.buf && s.sizes)
			(void)sh_parse_item(&ps, first, 1, sample_doc, NULL, &s, &c);
		sh_parser_fini(&ps);
		size_t dl = 0;
		b->zdict = malloc(IDX_ZDICT_MAX);
		int rc = s.buf && s.sizes && b->zdict
		             ? idx_zdict_train(s.buf, s.sizes, s.n, b->zdict, IDX_ZDICT_MAX, &dl)
		             : TRAWL_ENOMEM;
		free(s.buf);
		free(s.sizes);
		if (rc)
			return berr(b, rc, "training the compression dictionary: out of memory");
		p->zdict = b->zdict;
		p->zdict_len = dl;
	}
	sh_params_hash(p);
	unsigned cap = b->want_threads * 2 + 2;
	if (b->opts.listen)
		cap += 8;
	int rc = sh_queue_new(&b->q, cap, 5000);
	if (rc)
		return berr(b, rc, "out of memory");
	rpc_tls tls = {b->opts.tls.cert_file, b->opts.tls.key_file, b->opts.tls.ca_file};
	if (b->opts.listen && (rc = sh_remote_start(&b->remote, b->opts.listen, &tls, b->q, p,
	                                            b->build_dir, b->errmsg, sizeof b->errmsg)))
		return rc;
	for (unsigned t = 0; t < b->want_threads; t++)
		(void)start_worker(b, SH_TAKE_LOCAL);
	b->ready = 1;
	return TRAWL_OK;
}

/* ---- items ---- */

/* An item from the splitter: reuse its run if an earlier run of this build
 * finished it, else queue it (or drop it: another partition's). */
static int on_item(void *ctx, sh_item *it)
{
	trawl_builder *b = ctx;
	if (!b->ready) {
		int rc = get_ready(b, it);
		if (rc) {
			free((void *)it->bytes);
			return rc;
		}
	}
	if (b->nitems == b->capitems) {
		uint64_t nc = b->capitems ? b->capitems * 2 : 256;
		uint64_t *h = realloc(b->item_hash, nc * sizeof *h);
		if (!h) {
			free((void *)it->bytes);
			return berr(b, TRAWL_ENOMEM, "out of memory");
		}
		b->item_hash = h;
		b->capitems = nc;
	}
	b->item_hash[b->nitems++] = it->hash;
	if (b->opts.part_count > 1 && it->id % b->opts.part_count != b->opts.part_index) {
		free((void *)it->bytes);
		return TRAWL_OK;
	}
	char name[32], path[LIMIT_PATH_BYTES];
	sh_run_name(name, it->id);
	snprintf(path, sizeof path, "%s/%s", b->build_dir, name);
	sh_run r;
	if (sh_run_open(&r, path, NULL, 0) == TRAWL_OK) {
		int same = sh_run_fits(&r, &b->params, it->id, it->hash);
		if (same) {
			sh_qdone d = {it->id, r.lines,           r.bytes_in,   r.rejected,
			              r.docs, (char *)r.rejects, r.rejects_len};
			on_done(b, &d);
			b->rep.items_reused++;
		}
		sh_run_close(&r);
		if (same) {
			free((void *)it->bytes);
			return TRAWL_OK;
		}
	}
	int rc = sh_queue_push(b->q, it, tick, b);
	if (rc)
		sh_queue_error(b->q, b->errmsg, sizeof b->errmsg);
	tick(b);
	return rc;
}

/* ---- the API ---- */

/* Says loudly when the listener will be reachable beyond this machine and
 * nothing keeps strangers out (design 10: every listener that is not
 * loopback must be asked for, and the traffic between processes
 * authenticated). */
static void warn_exposed(trawl_builder *b)
{
	const char *url = b->opts.listen;
	if (!url || (b->opts.tls.cert_file && b->opts.tls.ca_file) || rpc_url_loopback(url))
		return;
	char msg[1200];
	snprintf(msg, sizeof msg,
	         "WARNING: this build listens on %s %s: anyone who can reach that address can "
	         "connect, take work items (the input documents%s) and send runs back. Runs are "
	         "checked against their items, so no one can change what is published, but the "
	         "input can be read and the build slowed. Listen on tls+tcp:// with a certificate, "
	         "its key and a CA that build workers' certificates must be signed by "
	         "(docs/OPERATIONS.md, \"Building on several machines\").",
	         url, b->opts.tls.cert_file ? "with TLS but no CA" : "without TLS",
	         b->opts.tls.cert_file ? "" : ", in clear text on the network");
	notice(b, msg);
}

void trawl_builder_peers(const trawl_builder *b, trawl_build_peers *out)
{
	if (b && b->remote)
		sh_remote_counts(b->remote, out);
	else if (b)
		*out = b->peers;
	else
		memset(out, 0, sizeof *out);
}

int trawl_builder_open(trawl_builder **out, const char *dir, const trawl_build_opts *opts,
                       char *errbuf, size_t errlen)
{
	*out = NULL;
	trawl_build_opts o = {0};
	if (opts)
		o = *opts;
	if (o.shards == 0)
		o.shards = 1;
	if (o.shards > TRAWL_MAX_SHARDS)
		return errf(errbuf, errlen, TRAWL_ELIMIT, "%u shards; the limit is %d", o.shards,
		            TRAWL_MAX_SHARDS);
	if (o.workers > LIMIT_BUILD_WORKERS)
		return errf(errbuf, errlen, TRAWL_ELIMIT, "%u workers; the limit is %d", o.workers,
		            LIMIT_BUILD_WORKERS);
	if (o.part_count > 1 && o.part_index >= o.part_count)
		return errf(errbuf, errlen, TRAWL_EINVAL, "partition %u of %u does not exist",
		            o.part_index, o.part_count);
	if (!dir || !*dir || strlen(dir) > LIMIT_PATH_BYTES - 64 ||
	    (o.build_dir && strlen(o.build_dir) > LIMIT_PATH_BYTES - 64))
		return errf(errbuf, errlen, TRAWL_EINVAL,
		            "index directory name missing or too long");
	int tls_url = o.listen && !strncmp(o.listen, "tls+", 4);
	if ((o.tls.cert_file || o.tls.key_file || o.tls.ca_file) && !tls_url)
		return errf(errbuf, errlen, TRAWL_EINVAL,
		            "certificates are for a tls+tcp:// listen URL only");
	if (tls_url && (!o.tls.cert_file || !o.tls.key_file))
		return errf(errbuf, errlen, TRAWL_EINVAL,
		            "%s: a TLS listener needs a certificate and its key", o.listen);
	trawl_builder *b = calloc(1, sizeof *b);
	if (!b)
		return TRAWL_ENOMEM;
	b->lockfd = -1;
	b->opts = o;
	/* the caller's strings: copied below, freed by trawl_builder_close */
	b->opts.listen = NULL;
	memset(&b->opts.tls, 0, sizeof b->opts.tls);
	b->stage = "reading";
	sh_parser_init(&b->check, &b->schema, 0);
	tbuf_init(&b->line, 0);
	b->t0 = clock_mono_s();
	b->last_tick = b->t0;
	b->max_doc = o.max_doc_bytes ? o.max_doc_bytes : TRAWL_MAX_DOC_BYTES;
	if (b->max_doc > LIMIT_STORED_DOC_BYTES)
		b->max_doc = LIMIT_STORED_DOC_BYTES;
	unsigned cores = (unsigned)sysconf(_SC_NPROCESSORS_ONLN);
	b->want_threads = o.workers ? o.workers : (o.workers_set ? 0 : (cores ? cores : 1));
	if (b->want_threads > LIMIT_BUILD_WORKERS)
		b->want_threads = LIMIT_BUILD_WORKERS;
	if (b->want_threads == 0 && !o.listen) {
		free(b);
		return errf(errbuf, errlen, TRAWL_EINVAL,
		            "no workers: a build without --listen needs at least one");
	}
	/* The item size decides the items, and so the runs a rerun can reuse
	 * and the dictionary trained on the first item: it must not depend on
	 * the machine. 8 MiB unless asked otherwise, or less if an explicit
	 * memory budget needs it. */
	size_t item = o.item_bytes;
	if (!item) {
		item = LIMIT_ITEM_DEFAULT_BYTES;
		/* the work stage holds per worker about 12 times its item (the
		 * parsed documents, the inverted lists and the run), plus the
		 * queued items */
		size_t fit =
		    o.memory_bytes / ((size_t)(b->want_threads ? b->want_threads : 1) * 12 +
		                      2 * b->want_threads + 2);
		if (o.memory_bytes && fit < item)
			item = fit;
	}
	if (item < LIMIT_ITEM_MIN_BYTES)
		item = LIMIT_ITEM_MIN_BYTES;
	if (item > LIMIT_ITEM_MAX_BYTES)
		item = LIMIT_ITEM_MAX_BYTES;
	b->opts.item_bytes = item;
	int rc = TRAWL_OK;
	if (o.schema_json || o.schema_path) {
		char *text = NULL;
		size_t len = 0;
		if (o.schema_json) {
			len = strlen(o.schema_json);
			text = strdup(o.schema_json);
		} else {
			FILE *f = fopen(o.schema_path, "rb");
			if (!f) {
				rc = errf(errbuf, errlen,
				          errno == ENOENT ? TRAWL_ENOTFOUND : TRAWL_EIO, "%s: %s",
				          o.schema_path, strerror(errno));
				goto fail;
			}
			text = malloc(65536);
			len = text ? fread(text, 1, 65536, f) : 0;
			fclose(f);
			if (len == 65536) {
				free(text);
				rc = errf(errbuf, errlen, TRAWL_ESCHEMA,
				          "%s: schema files are limited to 64 KiB", o.schema_path);
				goto fail;
			}
		}
		if (!text) {
			rc = TRAWL_ENOMEM;
			goto fail;
		}
		char msg[512];
		rc = idx_schema_parse(&b->schema, text, len, msg, sizeof msg);
		free(text);
		if (rc) {
			if (o.schema_json)
				errf(errbuf, errlen, rc, "%s", msg);
			else
				errf(errbuf, errlen, rc, "%s: %s", o.schema_path, msg);
			goto fail;
		}
	} else {
		idx_schema_default(&b->schema);
	}
	b->opts.schema_json = b->opts.schema_path = NULL;
	b->schema_json = idx_schema_to_json(&b->schema);
	b->dir = strdup(dir);
	if (!b->schema_json || !b->dir) {
		rc = TRAWL_ENOMEM;
		goto fail;
	}
	if (o.build_dir)
		snprintf(b->build_dir, sizeof b->build_dir, "%s", o.build_dir);
	else
		snprintf(b->build_dir, sizeof b->build_dir, "%s/build", dir);
	b->opts.build_dir = NULL;
	b->opts.listen = o.listen ? strdup(o.listen) : NULL;
	b->opts.tls.cert_file = o.tls.cert_file ? strdup(o.tls.cert_file) : NULL;
	b->opts.tls.key_file = o.tls.key_file ? strdup(o.tls.key_file) : NULL;
	b->opts.tls.ca_file = o.tls.ca_file ? strdup(o.tls.ca_file) : NULL;
	if ((o.listen && !b->opts.listen) || (o.tls.cert_file && !b->opts.tls.cert_file) ||
	    (o.tls.key_file && !b->opts.tls.key_file) || (o.tls.ca_file && !b->opts.tls.ca_file)) {
		rc = TRAWL_ENOMEM;
		goto fail;
	}
	if (!strcmp(b->build_dir, dir)) {
		rc = errf(errbuf, errlen, TRAWL_EINVAL,
		          "%s: the build directory cannot be the index directory", dir);
		goto fail;
	}
	if (mkdir_p(dir) != 0) {
		rc = errf(errbuf, errlen, errno == ENOSPC ? TRAWL_ENOSPC : TRAWL_EIO, "%s: %s", dir,
		          strerror(errno));
		goto fail;
	}
	/* the lock first: a second build must not touch the first one's runs */
	if (o.part_count <= 1 && (rc = idx_gen_lock(dir, &b->lockfd, errbuf, errlen)))
		goto fail;
	struct stat bst;
	b->made_build_dir = stat(b->build_dir, &bst) != 0;
	if (mkdir_p(b->build_dir) != 0) {
		rc = errf(errbuf, errlen, errno == ENOSPC ? TRAWL_ENOSPC : TRAWL_EIO, "%s: %s",
		          b->build_dir, strerror(errno));
		goto fail;
	}
	if ((rc = sh_splitter_new(&b->sp, item, b->max_doc, 0))) {
		errf(errbuf, errlen, rc, "out of memory");
		goto fail;
	}
	sh_parser_fini(&b->check);
	sh_parser_init(&b->check, &b->schema, b->max_doc);
	tbuf_init(&b->line, b->max_doc + LIMIT_ID_BYTES * 8 + 64);
	b->rep.workers = b->want_threads;
	warn_exposed(b);
	*out = b;
	return TRAWL_OK;
fail:
	trawl_builder_close(b);
	return rc;
}

static void stop_workers(trawl_builder *b)
{
	if (b->q) {
		/* workers see SH_Q_OVER once the queue is drained or failed */
		if (!sh_queue_error(b->q, NULL, 0))
			sh_queue_drain(b->q, NULL, NULL);
		for (unsigned t = 0; t < b->nthreads; t++)
			pthread_join(b->tid[t], NULL);
		b->nthreads = 0;
	}
}

void trawl_builder_close(trawl_builder *b)
{
	if (!b)
		return;
	if (b->q && !b->committed)
		sh_queue_fail(b->q, TRAWL_EINVAL, "the build was abandoned"); /* workers stop */
	if (b->nthreads) {
		for (unsigned t = 0; t < b->nthreads; t++)
			pthread_join(b->tid[t], NULL);
		b->nthreads = 0;
	}
	if (b->remote)
		sh_remote_stop(b->remote);
	if (b->made_build_dir && !b->committed)
		clean_build_dir(b->build_dir, 0);
	sh_queue_free(b->q);
	sh_splitter_free(b->sp);
	sh_parser_fini(&b->check);
	tbuf_fini(&b->line);
	if (b->lockfd >= 0)
		close(b->lockfd);
	for (size_t i = 0; i < b->nsources; i++)
		free(b->sources[i]);
	free(b->sources);
	free(b->item_hash);
	free(b->zdict);
	free((void *)b->opts.listen);
	free((void *)b->opts.tls.cert_file);
	free((void *)b->opts.tls.key_file);
	free((void *)b->opts.tls.ca_file);
	free(b->schema_json);
	free(b->dir);
	free(b);
}

/* A file's name, kept for the build's life (items' messages point at it). */
static const char *keep_source(trawl_builder *b, const char *path)
{
	char **s = realloc(b->sources, (b->nsources + 1) * sizeof *s);
	if (!s)
		return NULL;
	b->sources = s;
	char *c = strdup(!strcmp(path, "-") ? "<stdin>" : path);
	if (!c)
		return NULL;
	s[b->nsources++] = c;
	return c;
}

int trawl_builder_add_file(trawl_builder *b, const char *path)
{
	if (b->failed)
		return berr(b, TRAWL_EINVAL, "the build has failed");
	b->errmsg[0] = 0;
	const char *src = keep_source(b, path);
	if (!src)
		return berr(b, TRAWL_ENOMEM, "out of memory");
	/* documents given one by one before this file come first */
	int rc = sh_split_flush(b->sp, on_item, b);
	if (rc == TRAWL_OK)
		rc = sh_split_file(b->sp, path, src, on_item, b, b->errmsg, sizeof b->errmsg);
	uint64_t consumed, size;
	sh_split_progress(b->sp, &consumed, &size);
	struct stat st;
	if (strcmp(path, "-") && stat(path, &st) == 0)
		b->bytes_before += (uint64_t)st.st_size;
	if (rc && b->q && sh_queue_error(b->q, NULL, 0))
		sh_queue_error(b->q, b->errmsg, sizeof b->errmsg);
	if (rc && !b->errmsg[0])
		berr(b, rc, "%s: %s", src, trawl_strerror(rc));
	if (rc && b->q)
		b->failed = 1;
	return rc;
}

static int ignore_doc(void *ctx, const sh_doc *d)
{
	(void)ctx;
	(void)d;
	return 0;
}

int trawl_builder_add_json(trawl_builder *b, const char *json, size_t len, const char *source,
                           uint64_t line)
{
	if (b->failed)
		return berr(b, TRAWL_EINVAL, "the build has failed");
	/* checked here, so that its error names this source and line */
	int rc = sh_parse_doc(&b->check, json, len, source, line, NULL, 0, ignore_doc, NULL);
	if (rc) {
		snprintf(b->errmsg, sizeof b->errmsg, "%s", b->check.errmsg);
		if (b->opts.skip_bad && rc != TRAWL_ENOMEM) {
			b->rep.rejected++;
			if (b->opts.on_reject)
				b->opts.on_reject(b->opts.reject_ctx, b->errmsg);
			return TRAWL_OK;
		}
		return rc;
	}
	/* a valid document's raw newlines are whitespace between tokens: the
	 * item is line-based, so they become spaces */
	tbuf_reset(&b->line);
	if ((rc = tbuf_append(&b->line, json, len)))
		return berr(b, rc, "out of memory");
	for (size_t i = 0; i < b->line.len; i++)
		if (b->line.data[i] == '\n' || b->line.data[i] == '\r')
			b->line.data[i] = ' ';
	rc = sh_split_add_line(b->sp, (const char *)b->line.data, b->line.len, 0, on_item, b);
	if (rc && !b->errmsg[0])
		berr(b, rc, "%s", trawl_strerror(rc));
	return rc;
}

int sh_builder_add_indexed(trawl_builder *b, const char *id, size_t idl, const char *json,
                           size_t len)
{
	json_t *js = json_stringn(id, idl);
	char *quoted = js ? json_dumps(js, JSON_ENCODE_ANY) : NULL;
	json_decref(js);
	if (!quoted)
		return berr(b, TRAWL_ENOMEM, "out of memory");
	tbuf_reset(&b->line);
	int rc = tbuf_printf(&b->line, "{\"index\":{\"_id\":%s}}\n", quoted);
	free(quoted);
	size_t at = b->line.len;
	if (rc || (rc = tbuf_append(&b->line, json, len)))
		return berr(b, rc, "%s: document too large", id);
	for (size_t i = at; i < b->line.len; i++)
		if (b->line.data[i] == '\n' || b->line.data[i] == '\r')
			b->line.data[i] = ' ';
	rc = sh_split_add_line(b->sp, (const char *)b->line.data, b->line.len, 1, on_item, b);
	if (rc && !b->errmsg[0])
		berr(b, rc, "%s", trawl_strerror(rc));
	return rc;
}

int sh_builder_store(trawl_builder *b, int how, const void *dict, size_t len)
{
	if (b->ready || b->docs_done || b->nitems || b->opts.listen || len > IDX_ZDICT_MAX ||
	    (how != SH_STORE_TRAIN && how != SH_STORE_DICT && how != SH_STORE_NOTHING))
		return berr(b, TRAWL_EINVAL,
		            "the build's storage is set before its first "
		            "document, without a listener");
	free(b->zdict);
	b->zdict = NULL;
	b->zgiven = 0;
	if (how == SH_STORE_DICT && len) {
		if (!(b->zdict = malloc(len)))
			return berr(b, TRAWL_ENOMEM, "out of memory");
		memcpy(b->zdict, dict, len);
		b->zgiven = len;
	}
	b->store = how;
	return TRAWL_OK;
}

int sh_builder_check_stored(const trawl_builder *b, char *err, size_t errlen)
{
	return sh_schema_check_stored(
	    &b->schema, 0, "so the documents cannot be indexed again without the original input",
	    err, errlen);
}

int trawl_builder_commit(trawl_builder *b, trawl_build_report *rep)
{
	int rc = TRAWL_OK;
	sh_run *runs = NULL;
	uint64_t nruns = 0;
	idx_manifest *m = NULL;
	char tmpdir[LIMIT_PATH_BYTES] = "";
	if (b->failed) {
		rc = berr(b, TRAWL_EINVAL, "the build has failed");
		goto out;
	}
	b->errmsg[0] = 0;
	if ((rc = sh_split_flush(b->sp, on_item, b)))
		goto out;
	if (!b->ready && (rc = get_ready(b, NULL)))
		goto out;
	if ((rc = sh_queue_drain(b->q, tick, b))) {
		sh_queue_error(b->q, b->errmsg, sizeof b->errmsg);
		goto out;
	}
	stop_workers(b);
	sh_queue_poll(b->q, on_done, b);
	uint64_t taken, expired;
	sh_queue_counts(b->q, &taken, &expired);
	b->rep.items = b->nitems;
	b->rep.items_retried = expired;
	b->rep.read_s = since(b->t0);
	if (b->opts.part_count > 1) {
		b->committed = 1; /* this partition's runs are made; a later build merges */
		goto out;
	}
	/* every item's run, in item order */
	b->stage = "merging";
	progress(b, 1);
	runs = calloc(b->nitems ? b->nitems : 1, sizeof *runs);
	if (!runs) {
		rc = berr(b, TRAWL_ENOMEM, "out of memory");
		goto out;
	}
	for (; nruns < b->nitems; nruns++) {
		char name[32], path[LIMIT_PATH_BYTES];
		sh_run_name(name, nruns);
		snprintf(path, sizeof path, "%s/%s", b->build_dir, name);
		if ((rc = sh_run_open(&runs[nruns], path, b->errmsg, sizeof b->errmsg)))
			goto out;
		if (!sh_run_fits(&runs[nruns], &b->params, nruns, b->item_hash[nruns])) {
			sh_run_close(&runs[nruns]);
			rc = berr(b, TRAWL_ECORRUPT, "%s: made from other input than this build's",
			          path);
			goto out;
		}
	}
	idx_gen_clean_tmp(b->dir);
	uint64_t gen = idx_gen_next(b->dir);
	char name[32];
	idx_gen_dirname(name, gen);
	snprintf(tmpdir, sizeof tmpdir, "%s/%s.tmp", b->dir, name);
	if (mkdir(tmpdir, 0755) != 0) {
		rc = berr(b, errno == ENOSPC ? TRAWL_ENOSPC : TRAWL_EIO, "%s: %s", tmpdir,
		          strerror(errno));
		tmpdir[0] = 0;
		goto out;
	}
	sh_mergeopts mo = {&b->params,
	                   runs,
	                   (uint32_t)nruns,
	                   tmpdir,
	                   gen,
	                   b->rep.workers ? b->rep.workers : 1,
	                   b->errmsg,
	                   sizeof b->errmsg};
	sh_mergestats ms;
	if ((rc = sh_merge_all(&mo, &ms)))
		goto out;
	b->rep.merge_s = ms.merge_s;
	b->rep.join_s = ms.join_s;
	b->rep.duplicates = ms.duplicates;
	b->rep.deleted = ms.deleted;
	b->stage = "publishing";
	progress(b, 1);
	double tp = clock_mono_s();
	if (!(m = calloc(1, sizeof *m))) {
		rc = berr(b, TRAWL_ENOMEM, "out of memory");
		goto out;
	}
	m->format = IDX_FORMAT_VERSION;
	m->generation = gen;
	m->shards = b->params.nshards;
	m->docs = ms.docs;
	m->schema_json = b->schema_json;
	for (uint32_t s = 0; s < m->shards && !rc; s++) {
		if ((rc = idx_manifest_set_segments(m, s, 1))) {
			berr(b, rc, "out of memory");
			break;
		}
		idx_mseg *g = &m->shard[s].segs[0];
		snprintf(g->f.file, sizeof g->f.file, "shard-%03u.mdb", s);
		g->docs = ms.shard_docs[s];
		g->f.bytes = ms.shard_bytes[s];
		memcpy(g->f.xxh3_128, ms.shard_hash[s], 33);
	}
	if (rc == TRAWL_OK)
		rc = idx_manifest_write(tmpdir, m, b->errmsg, sizeof b->errmsg);
	if (rc == TRAWL_OK)
		rc = idx_gen_publish(b->dir, tmpdir, gen, b->errmsg, sizeof b->errmsg);
	m->schema_json = NULL;
	if (rc)
		goto out;
	tmpdir[0] = 0;
	b->rep.docs = ms.docs;
	b->rep.bytes_out = ms.bytes_out;
	b->rep.generation = gen;
	b->rep.publish_s = since(tp);
	if (b->remote) {
		/* the workers hear that the build is over */
		sh_remote_counts(b->remote, &b->peers);
		sh_remote_stop(b->remote);
		b->remote = NULL;
	}
	for (uint64_t i = 0; i < nruns; i++)
		sh_run_close(&runs[i]);
	nruns = 0;
	clean_build_dir(b->build_dir, 1);
	b->committed = 1;
out:
	if (b->q)
		sh_queue_notices(b->q, notice, b);
	if (rc)
		b->failed = 1;
	if (rc && !b->errmsg[0])
		berr(b, rc, "%s", trawl_strerror(rc));
	if (tmpdir[0])
		idx_gen_clean_tmp(b->dir);
	for (uint64_t i = 0; i < nruns; i++)
		sh_run_close(&runs[i]);
	free(runs);
	if (m)
		idx_manifest_fini(m);
	free(m);
	b->rep.seconds = since(b->t0);
	if (rep)
		*rep = b->rep;
	return rc;
}
