/*
 * serve_host.c - the indexes of `trawl serve` (cli/serve_host.h): for each
 * index a leaf on a local:// URL of its own (common/rpc.c: its root's
 * calls run on the root's threads), its indexer (writes, unless
 * another process owns the index's log or --read-only) and a root over the
 * leaf; and, for a data directory, the catalog host (root/catalog.h) that
 * creates an index (an empty build in DATA_DIR/_trawl, renamed into place),
 * drops one (stopped, renamed aside, removed) and keeps the aliases in
 * DATA_DIR/_trawl/aliases.json, while it holds the data directory's lock.
 */
#include "cli/serve_host.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/error.h"
#include "common/limits.h"
#include "leaf/leaf.h"
#include "root/root.h"
#include "trawl/trawl.h"

/* One index served: its leaf, indexer and root. */
typedef struct served {
	char name[LIMIT_INDEX_NAME_BYTES + 1];
	char dir[LIMIT_PATH_BYTES];
	char url[96];
	leaf *l;
	trawl_indexer *x; /* NULL: reads only */
	root_writer rw;   /* over x and l (the root keeps a pointer) */
	root *r;
	struct served *next;
} served;

struct serve_host {
	char dir[LIMIT_PATH_BYTES];
	char meta[LIMIT_PATH_BYTES]; /* DATA_DIR/_trawl: the host's own files */
	int data_dir;                /* a data directory (else dir is the one index) */
	int lock_fd;                 /* DATA_DIR/_trawl/lock, held: this process manages
	                                the indexes (-1: another one does, or none may) */
	serve_host_config cfg;
	catalog *cat;
	pthread_mutex_t mu; /* the list and the URL counter */
	served *list;
	unsigned seq;
};

/* ---- one index's writer: its indexer, and its leaf for searchability ---- */

static int sw_write(void *ctx, const idx_wreq *reqs, uint32_t n, idx_wres *res, char *err,
                    size_t errlen)
{
	return trawl_indexer_write(((served *)ctx)->x, reqs, n, res, err, errlen);
}

static int sw_get(void *ctx, const char *id, uint32_t idlen, idx_wlive *out, char *err,
                  size_t errlen)
{
	return trawl_indexer_get(((served *)ctx)->x, id, idlen, out, err, errlen);
}

/* Searchable: the indexer has published a generation holding seq, and the
 * leaf serves it (or a later one). */
static int sw_refresh(void *ctx, uint64_t seq, unsigned timeout_ms, uint64_t *gen, char *err,
                      size_t errlen)
{
	served *s = ctx;
	uint64_t t0 = clock_mono_ms();
	int rc = trawl_indexer_refresh(s->x, seq, timeout_ms, err, errlen);
	if (rc)
		return rc;
	trawl_indexer_stats st;
	trawl_indexer_get_stats(s->x, &st);
	*gen = st.generation;
	for (;;) {
		if (leaf_generation(s->l) >= st.generation)
			return TRAWL_OK;
		if (timeout_ms && clock_mono_ms() - t0 > timeout_ms)
			return errf(err, errlen, TRAWL_EBUSY,
			            "generation %llu is published but not served yet after %u ms",
			            (unsigned long long)st.generation, timeout_ms);
		leaf_poke(s->l);
		usleep(2000);
	}
}

static void sw_stats(void *ctx, trawl_indexer_stats *out)
{
	trawl_indexer_get_stats(((served *)ctx)->x, out);
}

/* trawl_indexer_opts.published: the leaf looks at CURRENT now. */
static void sw_published(void *ctx, uint64_t gen)
{
	(void)gen;
	leaf_poke(((served *)ctx)->l);
}

/* ---- starting and stopping one index ---- */

static void stop_index(served *s)
{
	if (!s)
		return;
	if (s->r)
		root_close(s->r);
	trawl_indexer_close(s->x);
	if (s->l)
		leaf_stop(s->l);
	free(s);
}

static int start_index(serve_host *h, const char *dir, const char *name, served **out, char *err,
                       size_t errlen)
{
	*out = NULL;
	served *s = calloc(1, sizeof *s);
	if (!s)
		return errf(err, errlen, TRAWL_ENOMEM, "out of memory");
	snprintf(s->name, sizeof s->name, "%s", name);
	snprintf(s->dir, sizeof s->dir, "%s", dir);
	pthread_mutex_lock(&h->mu);
	snprintf(s->url, sizeof s->url, "local://trawl-serve-%d-%u", (int)getpid(), h->seq++);
	pthread_mutex_unlock(&h->mu);
	leaf_config lc = {0};
	lc.index_dir = dir;
	lc.listen_url = s->url;
	lc.workers = h->cfg.workers;
	lc.queue = h->cfg.queue;
	lc.quiet = h->cfg.quiet;
	lc.scrub_bytes_per_s = h->cfg.scrub;
	lc.scrub_period_s = h->cfg.scrub_period;
	int rc = leaf_start(&s->l, &lc, err, errlen);
	if (rc) {
		stop_index(s);
		return rc;
	}
	leaf_stats st;
	leaf_get_stats(s->l, &st);
	root_leaf_cfg one;
	memset(&one, 0, sizeof one);
	snprintf(one.url, sizeof one.url, "%s", s->url);
	for (uint32_t i = 0; i < st.nshards; i++)
		one.shards[one.nshards++] = st.shards[i];
	root_config cfg = {0};
	cfg.nshards = st.nshards;
	cfg.nleaves = 1;
	cfg.leaves = &one;
	cfg.quiet = h->cfg.quiet;
	cfg.ping_ms = 1000;
	if (h->cfg.cache_mb)
		cfg.cache_bytes = (size_t)h->cfg.cache_mb << 20;
	else
		cfg.no_cache = 1;
	/* the indexer: writes, unless the log belongs to another process (then
	 * this one serves reads, and says so) */
	s->rw = (root_writer){s, sw_write, sw_get, sw_refresh, sw_stats};
	if (!h->cfg.read_only) {
		trawl_indexer_opts xc = {0};
		xc.refresh_ms = (unsigned)h->cfg.refresh_ms;
		xc.backlog_ops = h->cfg.max_backlog;
		xc.flood_pct = h->cfg.flood_pct;
		xc.low_priority = !h->cfg.writes_normal;
		xc.published = sw_published;
		xc.ctx = s;
		xc.quiet = h->cfg.quiet;
		char why[LIMIT_ERRMSG_BYTES];
		rc = trawl_indexer_open(&s->x, dir, &xc, why, sizeof why);
		if (rc == TRAWL_OK) {
			cfg.writer = &s->rw;
		} else if (strstr(why, "in use")) {
			s->x = NULL;
			fprintf(stderr,
			        "trawl: warning: index \"%s\": serving reads only, writes are "
			        "refused: %s\n",
			        name, why);
		} else {
			/* a damaged log holds acknowledged writes: never served past */
			s->x = NULL;
			stop_index(s);
			return errf(err, errlen, rc, "%s", why);
		}
	}
	if ((rc = root_open(&s->r, &cfg, err, errlen))) {
		stop_index(s);
		return rc;
	}
	*out = s;
	return TRAWL_OK;
}

static void list_add(serve_host *h, served *s)
{
	pthread_mutex_lock(&h->mu);
	s->next = h->list;
	h->list = s;
	pthread_mutex_unlock(&h->mu);
}

static void list_remove(serve_host *h, served *s)
{
	pthread_mutex_lock(&h->mu);
	for (served **p = &h->list; *p; p = &(*p)->next)
		if (*p == s) {
			*p = s->next;
			break;
		}
	pthread_mutex_unlock(&h->mu);
}

/* ---- files (the index library's own helpers are not exported) ---- */

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb, (void)flag, (void)ftw;
	remove(path);
	return 0;
}

/* Removes path and all it holds. */
static void remove_tree(const char *path)
{
	nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static int fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY);
	if (fd < 0)
		return TRAWL_EIO;
	int rc = fsync(fd) ? TRAWL_EIO : TRAWL_OK;
	close(fd);
	return rc;
}

/* Writes n bytes as the new file path, whole or not at all: to path.tmp,
 * fsynced, renamed over path, the directory fsynced. */
static int write_file(const char *dir, const char *path, const char *p, size_t n, char *err,
                      size_t errlen)
{
	char tmp[LIMIT_PATH_BYTES + 8];
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return errf(err, errlen, errno == ENOSPC ? TRAWL_ENOSPC : TRAWL_EIO, "%s: %s", tmp,
		            strerror(errno));
	size_t off = 0;
	while (off < n) {
		ssize_t w = write(fd, p + off, n - off);
		if (w <= 0) {
			int e = errno;
			close(fd);
			unlink(tmp);
			return errf(err, errlen, e == ENOSPC ? TRAWL_ENOSPC : TRAWL_EIO, "%s: %s",
			            tmp, strerror(e));
		}
		off += (size_t)w;
	}
	if (fsync(fd) || close(fd) || rename(tmp, path)) {
		int e = errno;
		unlink(tmp);
		return errf(err, errlen, TRAWL_EIO, "%s: %s", path, strerror(e));
	}
	if (fsync_dir(dir))
		return errf(err, errlen, TRAWL_EIO, "%s: cannot sync", dir);
	return TRAWL_OK;
}

/* Reads the file at path (at most max bytes) into *out (malloc'ed, NUL
 * after its *len bytes). */
static int read_file(const char *path, size_t max, char **out, size_t *len, char *err,
                     size_t errlen)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return errf(err, errlen, TRAWL_EIO, "%s: %s", path, strerror(errno));
	char *buf = malloc(max + 1);
	size_t n = buf ? fread(buf, 1, max + 1, f) : 0;
	int bad = ferror(f);
	fclose(f);
	if (!buf || bad || n > max) {
		free(buf);
		return errf(err, errlen,
		            !buf  ? TRAWL_ENOMEM
		            : bad ? TRAWL_EIO
		                  : TRAWL_ELIMIT,
		            "%s: %s", path,
		            !buf  ? "out of memory"
		            : bad ? "cannot read"
		                  : "larger than it can be");
	}
	buf[n] = 0;
	*out = buf;
	*len = n;
	return TRAWL_OK;
}

/* ---- the catalog host: a data directory ---- */

/* A new name in DATA_DIR/_trawl for a directory on its way in or out
 * ("new-PID-N", "old-PID-N"): never an index's name, however long. */
static void meta_temp(serve_host *h, const char *what, char *out, size_t cap)
{
	pthread_mutex_lock(&h->mu);
	unsigned n = h->seq++;
	pthread_mutex_unlock(&h->mu);
	snprintf(out, cap, "%s/%s-%d-%u", h->meta, what, (int)getpid(), n);
}

static int host_create(void *ctx, const char *name, const char *schema, size_t schema_len,
                       uint32_t nshards, root **r, void **data, char *err, size_t errlen)
{
	serve_host *h = ctx;
	char tmp[LIMIT_PATH_BYTES], final[LIMIT_PATH_BYTES];
	if ((size_t)snprintf(final, sizeof final, "%s/%s", h->dir, name) >= sizeof final)
		return errf(err, errlen, TRAWL_ELIMIT, "%s/%s: path too long", h->dir, name);
	meta_temp(h, "new", tmp, sizeof tmp);
	char *sj = schema ? strndup(schema, schema_len) : NULL; /* NULL: the default schema */
	if (schema && !sj)
		return errf(err, errlen, TRAWL_ENOMEM, "out of memory");
	remove_tree(tmp);
	trawl_build_opts o = {0};
	o.shards = nshards;
	o.schema_json = sj;
	o.workers = 1;
	o.workers_set = 1;
	trawl_builder *b = NULL;
	int rc = trawl_builder_open(&b, tmp, &o, err, errlen);
	if (!rc) {
		rc = trawl_builder_commit(b, NULL);
		if (rc)
			errf(err, errlen, rc, "%s", trawl_builder_errmsg(b));
	}
	trawl_builder_close(b);
	free(sj);
	if (!rc && rename(tmp, final) != 0)
		rc = errf(err, errlen, TRAWL_EIO, "%s: %s", final, strerror(errno));
	if (!rc && (rc = fsync_dir(h->dir)))
		errf(err, errlen, rc, "%s: cannot sync", h->dir);
	if (rc) {
		remove_tree(tmp);
		return rc;
	}
	served *s;
	if ((rc = start_index(h, final, name, &s, err, errlen))) {
		remove_tree(final);
		return rc;
	}
	list_add(h, s);
	/* OpenSearch answers a create once the primaries are active: here, once
	 * the root has seen the new leaf answer */
	root_wait_ready(s->r, 5000);
	*r = s->r;
	*data = s;
	if (!h->cfg.quiet)
		fprintf(stderr, "trawl: created index \"%s\" (%u shard%s) in %s\n", name, nshards,
		        nshards == 1 ? "" : "s", final);
	return TRAWL_OK;
}

static int host_drop(void *ctx, const char *name, root *r, void *data, char *err, size_t errlen)
{
	(void)r;
	serve_host *h = ctx;
	served *s = data;
	list_remove(h, s);
	char aside[LIMIT_PATH_BYTES];
	meta_temp(h, "old", aside, sizeof aside);
	char dir[LIMIT_PATH_BYTES];
	snprintf(dir, sizeof dir, "%s", s->dir);
	stop_index(s);
	/* renamed first: a crash while removing leaves no half index behind a
	 * name the next start would serve */
	if (rename(dir, aside) != 0)
		return errf(err, errlen, TRAWL_EIO, "%s: %s", dir, strerror(errno));
	fsync_dir(h->dir);
	remove_tree(aside);
	if (!h->cfg.quiet)
		fprintf(stderr, "trawl: deleted index \"%s\"\n", name);
	return TRAWL_OK;
}

static int host_save(void *ctx, const char *json, size_t len, char *err, size_t errlen)
{
	serve_host *h = ctx;
	char path[LIMIT_PATH_BYTES];
	snprintf(path, sizeof path, "%s/aliases.json", h->meta);
	return write_file(h->meta, path, json, len, err, errlen);
}

/* What the leaf serves: documents, deleted ones, bytes, shards. */
static void host_describe(void *ctx, void *data, cat_stats *out)
{
	(void)ctx;
	served *s = data;
	leaf_stats st;
	leaf_get_stats(s->l, &st);
	out->docs = (int64_t)st.docs;
	out->deleted = (int64_t)st.docs_deleted;
	out->bytes = (int64_t)st.bytes;
	out->nshards = st.nshards;
	out->generation = st.generation;
}

/* ---- opening ---- */

static int is_index_dir(const char *dir)
{
	char path[LIMIT_PATH_BYTES];
	struct stat sb;
	snprintf(path, sizeof path, "%s/CURRENT", dir);
	return stat(path, &sb) == 0;
}

/* Takes DATA_DIR/_trawl/lock: 1 when this process may manage the indexes,
 * 0 when another one holds it, -1 (err) when it cannot be opened. */
static int take_lock(serve_host *h, char *err, size_t errlen)
{
	char path[LIMIT_PATH_BYTES];
	snprintf(path, sizeof path, "%s/lock", h->meta);
	h->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (h->lock_fd < 0) {
		errf(err, errlen, TRAWL_EIO, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (flock(h->lock_fd, LOCK_EX | LOCK_NB) == 0)
		return 1;
	close(h->lock_fd);
	h->lock_fd = -1;
	return 0;
}

/* Loads DATA_DIR/_trawl/aliases.json into the catalog. A file that does
 * not read is set aside (aliases.json.bad-TIME) by the managing process,
 * said, and the server starts without aliases rather than not at all. */
static void load_aliases(serve_host *h)
{
	char path[LIMIT_PATH_BYTES], err[LIMIT_ERRMSG_BYTES], why[LIMIT_ERRMSG_BYTES];
	snprintf(path, sizeof path, "%s/aliases.json", h->meta);
	struct stat sb;
	if (stat(path, &sb) != 0)
		return; /* no aliases yet */
	char *json = NULL;
	size_t len = 0;
	/* each alias names at most every index: a bound on the file */
	int rc = read_file(path,
	                   (size_t)LIMIT_ALIASES * LIMIT_INDEXES * 2 * (LIMIT_INDEX_NAME_BYTES + 8),
	                   &json, &len, err, sizeof err);
	if (!rc && (rc = cat_aliases_load(h->cat, json, len, why, sizeof why)))
		errf(err, sizeof err, rc, "%s: %s", path, why);
	free(json);
	if (!rc)
		return;
	char aside[LIMIT_PATH_BYTES + 32];
	snprintf(aside, sizeof aside, "%s.bad-%lld", path, (long long)time(NULL));
	int moved = h->lock_fd >= 0 && rename(path, aside) == 0;
	fprintf(stderr, "trawl: warning: the aliases were not loaded: %s%s%s\n", err,
	        moved ? "; the file is now " : "", moved ? aside : "");
}

/* Removes what an interrupted create or delete left in DATA_DIR/_trawl. */
static void remove_leftovers(serve_host *h)
{
	struct dirent **names;
	int n = scandir(h->meta, &names, NULL, alphasort);
	for (int i = 0; i < n; i++) {
		const char *e = names[i]->d_name;
		char path[LIMIT_PATH_BYTES];
		if ((!strncmp(e, "new-", 4) || !strncmp(e, "old-", 4)) &&
		    (size_t)snprintf(path, sizeof path, "%s/%s", h->meta, e) < sizeof path)
			remove_tree(path);
		free(names[i]);
	}
	if (n >= 0)
		free(names);
}

/* Serves every index under h->dir (a directory holding CURRENT whose
 * name does not start with '_', as no index name does), in name order;
 * one that does not open is said and left out, the others served. */
static int open_data_dir(serve_host *h, char *err, size_t errlen)
{
	if ((mkdir(h->dir, 0755) != 0 && errno != EEXIST) ||
	    (mkdir(h->meta, 0755) != 0 && errno != EEXIST))
		return errf(err, errlen, TRAWL_EIO, "%s: %s", h->meta, strerror(errno));
	int owner = take_lock(h, err, errlen);
	if (owner < 0)
		return TRAWL_EIO;
	if (owner)
		remove_leftovers(h);
	if (!owner || h->cfg.read_only)
		fprintf(
		    stderr,
		    "trawl: warning: %s: indexes are not created, deleted or aliased here: %s\n",
		    h->dir,
		    h->cfg.read_only ? "--read-only"
		                     : "another trawl serve manages this data directory");
	struct dirent **names;
	int n = scandir(h->dir, &names, NULL, alphasort);
	if (n < 0)
		return errf(err, errlen, TRAWL_EIO, "%s: %s", h->dir, strerror(errno));
	int rc = TRAWL_OK;
	for (int i = 0; i < n; i++) {
		const char *e = names[i]->d_name;
		char path[LIMIT_PATH_BYTES];
		served *s = NULL;
		if (!rc && e[0] != '_' && strcmp(e, ".") && strcmp(e, "..") &&
		    (size_t)snprintf(path, sizeof path, "%s/%s", h->dir, e) < sizeof path &&
		    is_index_dir(path)) {
			char why[LIMIT_ERRMSG_BYTES];
			if (cat_check_name(e, why, sizeof why)) {
				/* made by hand: a name no request could address */
				fprintf(
				    stderr,
				    "trawl: warning: \"%s\" in %s is not served: %s (rename the "
				    "directory)\n",
				    e, h->dir, why);
			} else if (start_index(h, path, e, &s, why, sizeof why) == TRAWL_OK) {
				list_add(h, s);
				if ((rc = cat_add(h->cat, e, s->r, s, why, sizeof why)))
					errf(err, errlen, rc, "%s: %s", path, why);
			} else {
				fprintf(stderr, "trawl: warning: index \"%s\" is not served: %s\n",
				        e, why);
			}
		}
		free(names[i]);
	}
	free(names);
	if (!rc)
		load_aliases(h);
	return rc;
}

int serve_host_open(serve_host **out, const char *dir, const serve_host_config *cfg, catalog **cat,
                    char *err, size_t errlen)
{
	*out = NULL;
	*cat = NULL;
	serve_host *h = calloc(1, sizeof *h);
	if (!h)
		return errf(err, errlen, TRAWL_ENOMEM, "out of memory");
	if ((size_t)snprintf(h->dir, sizeof h->dir, "%s", dir) >= sizeof h->dir - 300) {
		free(h);
		return errf(err, errlen, TRAWL_ELIMIT, "%.200s...: path too long", dir);
	}
	h->cfg = *cfg;
	h->lock_fd = -1;
	snprintf(h->meta, sizeof h->meta, "%s/_trawl", dir);
	pthread_mutex_init(&h->mu, NULL);
	h->data_dir = !is_index_dir(dir);
	const char *slash = strrchr(dir, '/');
	const char *base = slash && slash[1] ? slash + 1 : dir;
	int rc;
	if (h->data_dir) {
		cat_host ch = {h, host_create, host_drop, host_save, host_describe};
		rc = cat_open(&h->cat, &ch, base);
	} else {
		cat_host ch = {h, NULL, NULL, NULL, host_describe};
		rc = cat_open(&h->cat, &ch, cfg->name ? cfg->name : base);
	}
	if (rc) {
		free(h);
		return errf(err, errlen, rc, "out of memory");
	}
	if (h->data_dir) {
		rc = open_data_dir(h, err, errlen);
		if (!rc && (h->lock_fd < 0 || cfg->read_only))
			cat_fix(h->cat, NULL); /* the indexes are another process's to manage */
	} else {
		served *s;
		if ((rc = start_index(h, dir, cfg->name ? cfg->name : base, &s, err, errlen)) ==
		    0) {
			list_add(h, s);
			rc = cat_add(h->cat, s->name, s->r, s, err, errlen);
		}
	}
	if (rc) {
		serve_host_close(h);
		return rc;
	}
	*out = h;
	*cat = h->cat;
	return TRAWL_OK;
}

void serve_host_banner(serve_host *h, char *buf, size_t cap)
{
	unsigned n = 0, writes = 0;
	char first[LIMIT_INDEX_NAME_BYTES + 1] = "";
	pthread_mutex_lock(&h->mu);
	for (served *s = h->list; s; s = s->next) {
		n++;
		writes += s->x != NULL;
		snprintf(first, sizeof first, "%s", s->name);
	}
	pthread_mutex_unlock(&h->mu);
	if (h->data_dir)
		snprintf(buf, cap, "serving data directory %s: %u index%s%s", h->dir, n,
		         n == 1 ? "" : "es", writes ? ", writes on" : "");
	else
		snprintf(buf, cap, "serving %s as index \"%s\"%s", h->dir, first,
		         writes ? ", writes on" : "");
}

void serve_host_close(serve_host *h)
{
	if (!h)
		return;
	while (h->list) {
		served *s = h->list;
		h->list = s->next;
		stop_index(s);
	}
	cat_close(h->cat);
	if (h->lock_fd >= 0)
		close(h->lock_fd);
	pthread_mutex_destroy(&h->mu);
	free(h);
}
