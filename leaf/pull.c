/*
 * pull.c - a generation pulled over the wire, checked, then published in
 * the local directory (see pull.h).
 *
 * One step: FILES for the source's live generation; its manifest checked
 * against the checksum that came with it and written into DIR/gen-N.tmp,
 * then read back as any reader of the directory reads one (index/gen.c's
 * checks: names, sizes, segments); every file the wanted shards need is
 * linked from a local generation whose manifest lists it alike, kept from
 * an earlier attempt, continued, or downloaded by FILE_READ; each file
 * downloaded is fsynced and hashed; then idx_gen_publish. The files the
 * manifest lists for shards this leaf does not serve are left out: the
 * leaf opens only its shards.
 */
#include "pull.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/error.h"
#include "common/hash.h"
#include "common/limits.h"
#include "common/wire.h"
#include "index/gen.h"
#include "trawl/trawl.h"

/* A pull given up because the leaf stops (cfg.stop): not a failure. */
#define PULL_STOPPED TRAWL_EBUSY
#define RETRY_FIRST_MS 1000
#define RETRY_MAX_MS 60000

/* A local generation's manifest, for the files a new one can link. */
typedef struct local_gen {
	char dir[LIMIT_PATH_BYTES];
	idx_manifest *m;
} local_gen;

struct puller {
	pull_config cfg;
	char *dir, *url;
	uint32_t shards[TRAWL_MAX_SHARDS];
	rpc_client *cli;
	uint64_t next_id;
	/* a refused generation waits until retry_at (monotonic us) */
	uint64_t refused_gen, retry_at, retry_ms;
	/* counters (read by other threads: atomics) */
	atomic_uint_fast64_t pulled, refused, failed, bytes, fetched, linked, source_gen;
};

int puller_open(puller **out, const pull_config *cfg, char *err, size_t errlen)
{
	*out = NULL;
	if (mkdir(cfg->dir, 0777) != 0 && errno != EEXIST)
		return errf(err, errlen, TRAWL_EIO, "%s: %s", cfg->dir, strerror(errno));
	puller *p = calloc(1, sizeof *p);
	if (!p)
		return errf(err, errlen, TRAWL_ENOMEM, "out of memory");
	p->cfg = *cfg;
	p->dir = strdup(cfg->dir);
	p->url = strdup(cfg->url);
	for (uint32_t i = 0; cfg->shards && i < cfg->nshards && i < TRAWL_MAX_SHARDS; i++)
		p->shards[i] = cfg->shards[i];
	p->cfg.shards = cfg->shards ? p->shards : NULL;
	p->cfg.dir = p->dir;
	p->cfg.url = p->url;
	if (!p->cfg.keep)
		p->cfg.keep = LIMIT_KEEP_GENERATIONS;
	if (!p->cfg.timeout_ms)
		p->cfg.timeout_ms = 10000;
	int rc = p->dir && p->url ? TRAWL_OK : errf(err, errlen, TRAWL_ENOMEM, "out of memory");
	if (!rc)
		rc = rpc_client_open(&p->cli, p->url, cfg->tls, err, errlen);
	if (rc) {
		puller_close(p);
		return rc;
	}
	p->next_id = 1;
	*out = p;
	return TRAWL_OK;
}

void puller_close(puller *p)
{
	if (!p)
		return;
	if (p->cli)
		rpc_client_close(p->cli);
	free(p->dir);
	free(p->url);
	free(p);
}

void puller_get_stats(puller *p, pull_stats *st)
{
	st->pulled = atomic_load(&p->pulled);
	st->refused = atomic_load(&p->refused);
	st->failed = atomic_load(&p->failed);
	st->bytes = atomic_load(&p->bytes);
	st->files_fetched = atomic_load(&p->fetched);
	st->files_linked = atomic_load(&p->linked);
	st->source_generation = atomic_load(&p->source_gen);
}

static int stopping(const puller *p)
{
	return p->cfg.stop && atomic_load(p->cfg.stop);
}

/* ---- requests ---- */

/* One request, its reply into *reply (the call's: rpc_call_fini; on an
 * error nothing is left to free). An answer that is not the reply type
 * expected (an older leaf's refusal of a type it does not know, a
 * SEARCH_REPLY) is an error naming its message. */
static int call(puller *p, const tbuf *req, rpc_call *c, char *err, size_t errlen)
{
	memset(c, 0, sizeof *c);
	c->peer = p->cli;
	c->req = req->data;
	c->len = req->len;
	rpc_batch *b = rpc_batch_new();
	if (!b)
		return errf(err, errlen, TRAWL_ENOMEM, "out of memory");
	/* waited for in slices, so that a stop need not wait out the timeout */
	if (rpc_batch_start(b, c, (int)p->cfg.timeout_ms) == TRAWL_OK)
		while (rpc_batch_wait(b, 1, 100) > 0)
			if (stopping(p))
				rpc_batch_cancel(b, c);
	rpc_batch_free(b);
	/* an error leaves nothing to free: a reply that came as the stop did
	 * is dropped here (the callers free only a call that succeeded) */
	int rc = stopping(p) ? PULL_STOPPED : c->rc ? TRAWL_EIO : TRAWL_OK;
	if (rc)
		rpc_call_fini(c);
	if (rc == PULL_STOPPED)
		return errf(err, errlen, PULL_STOPPED, "stopped");
	if (rc)
		return errf(err, errlen, TRAWL_EIO, "%s: %s", p->url,
		            c->timed_out ? "no answer within the timeout" : "no connection");
	return TRAWL_OK;
}

/* The error in a reply that is not of the type asked for. */
static int unexpected(const puller *p, const rpc_call *c, const char *what, char *err,
                      size_t errlen)
{
	wire_msg m;
	char why[256];
	if (wire_decode(c->reply, c->reply_len, &m, why, sizeof why) == TRAWL_OK &&
	    m.h.type == WIRE_SEARCH_REPLY)
		return errf(err, errlen, TRAWL_EINVAL, "%s refused %s: %.*s", p->url, what,
		            (int)m.u.search_reply.errmsg_len, m.u.search_reply.errmsg);
	return errf(err, errlen, TRAWL_EINVAL, "%s answered %s with a bad reply: %s", p->url, what,
	            why);
}

/* ---- files ---- */

/* The files of m that the wanted shards need (and the statistics), into
 * *out (malloc'ed), *n of them. */
static int wanted_files(const puller *p, const idx_manifest *m, const idx_mfile ***out, size_t *n)
{
	size_t cap = 2;
	for (uint32_t i = 0; i < m->shards; i++)
		cap += 3 * (size_t)m->shard[i].nsegs;
	const idx_mfile **v = malloc(cap * sizeof *v);
	if (!v)
		return TRAWL_ENOMEM;
	size_t k = 0;
	for (uint32_t i = 0; i < m->shards; i++) {
		int want = !p->cfg.shards;
		for (uint32_t j = 0; !want && j < p->cfg.nshards; j++)
			want = p->cfg.shards[j] == i;
		for (uint32_t j = 0; want && j < m->shard[i].nsegs; j++) {
			const idx_mseg *g = &m->shard[i].segs[j];
			v[k++] = &g->f;
			if (g->del.file[0])
				v[k++] = &g->del;
			if (g->ver.file[0])
				v[k++] = &g->ver;
		}
	}
	if (m->stats_base.file[0])
		v[k++] = &m->stats_base;
	if (m->stats_delta.file[0])
		v[k++] = &m->stats_delta;
	*out = v;
	*n = k;
	return TRAWL_OK;
}

/* The manifests of the local generations (not .tmp), into *out. */
static void local_gens(const char *dir, local_gen **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	DIR *d = opendir(dir);
	if (!d)
		return;
	size_t cap = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		unsigned long long g;
		char tail;
		if (sscanf(e->d_name, "gen-%llu%c", &g, &tail) != 1)
			continue;
		if (*n == cap) {
			size_t nc = cap ? 2 * cap : 16;
			local_gen *v = realloc(*out, nc * sizeof *v);
			if (!v)
				break;
			*out = v;
			cap = nc;
		}
		local_gen *l = &(*out)[*n];
		snprintf(l->dir, sizeof l->dir, "%s/%s", dir, e->d_name);
		char err[64];
		if (!(l->m = calloc(1, sizeof *l->m)))
			break;
		if (idx_manifest_read(l->dir, l->m, err, sizeof err) != TRAWL_OK ||
		    l->m->unsummed) {
			idx_manifest_fini(l->m);
			free(l->m);
			continue;
		}
		(*n)++;
	}
	closedir(d);
}

static void local_gens_free(local_gen *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		idx_manifest_fini(v[i].m);
		free(v[i].m);
	}
	free(v);
}

/* 1 when f's name, size and checksum are those of g. */
static int same_file(const idx_mfile *f, const idx_mfile *g)
{
	return g->file[0] && !strcmp(f->file, g->file) && f->bytes == g->bytes &&
	       !strcmp(f->xxh3_128, g->xxh3_128);
}

/* A local file for f: the path of one a local generation lists alike, of
 * f's size, and its stat; 0 if none. */
static int find_local(const local_gen *v, size_t n, const idx_mfile *f, char *path, size_t plen,
                      struct stat *st)
{
	for (size_t i = 0; i < n; i++) {
		const idx_manifest *m = v[i].m;
		int hit = same_file(f, &m->stats_base) || same_file(f, &m->stats_delta);
		for (uint32_t s = 0; !hit && s < m->shards; s++)
			for (uint32_t j = 0; !hit && j < m->shard[s].nsegs; j++) {
				const idx_mseg *g = &m->shard[s].segs[j];
				hit = same_file(f, &g->f) || same_file(f, &g->del) ||
				      same_file(f, &g->ver);
			}
		if (!hit)
			continue;
		snprintf(path, plen, "%s/%s", v[i].dir, f->file);
		if (lstat(path, st) == 0 && S_ISREG(st->st_mode) &&
		    (uint64_t)st->st_size == f->bytes)
			return 1;
	}
	return 0;
}

/* Checks the file at path against f (its size and XXH3-128). */
static int check_file(const char *path, const idx_mfile *f, char *err, size_t errlen)
{
	char hex[33];
	uint64_t bytes;
	int rc = idx_file_hash(path, hex, &bytes);
	if (rc)
		return errf(err, errlen, TRAWL_EIO, "%s: cannot read it back", path);
	if (bytes != f->bytes)
		return errf(err, errlen, TRAWL_ECORRUPT, "%s: %llu bytes, the manifest says %llu",
		            f->file, (unsigned long long)bytes, (unsigned long long)f->bytes);
	if (strcmp(hex, f->xxh3_128))
		return errf(err, errlen, TRAWL_ECORRUPT,
		            "%s: checksum mismatch: the manifest says xxh3-128 %s, the bytes "
		            "received have %s",
		            f->file, f->xxh3_128, hex);
	return TRAWL_OK;
}

/* Sleeps as long as the rate asks for after n bytes since t0 (us). */
static void pace(const puller *p, uint64_t t0, uint64_t n)
{
	if (!p->cfg.bytes_per_s)
		return;
	uint64_t due = t0 + n * 1000000u / p->cfg.bytes_per_s, now = clock_mono_us();
	while (now < due && !stopping(p)) {
		uint64_t us = due - now < 50000 ? due - now : 50000;
		usleep((useconds_t)us);
		now = clock_mono_us();
	}
}

/* Downloads the rest of f (generation gen) into path, from its size on;
 * fsyncs it. */
static int download(puller *p, uint64_t gen, const idx_mfile *f, const char *path, char *err,
                    size_t errlen)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0666);
	if (fd < 0)
		return errf(err, errlen, TRAWL_EIO, "%s: %s", path, strerror(errno));
	struct stat st;
	int rc = fstat(fd, &st) == 0
	             ? TRAWL_OK
	             : errf(err, errlen, TRAWL_EIO, "%s: %s", path, strerror(errno));
	uint64_t at = rc ? 0 : (uint64_t)st.st_size;
	uint32_t step = LIMIT_FILE_READ_BYTES;
	if (p->cfg.bytes_per_s && p->cfg.bytes_per_s / 4 < step)
		step = p->cfg.bytes_per_s / 4 ? (uint32_t)(p->cfg.bytes_per_s / 4) : 1;
	uint64_t t0 = clock_mono_us(), got = 0;
	tbuf req;
	tbuf_init(&req, 4096);
	while (!rc && at < f->bytes) {
		if (stopping(p)) {
			rc = errf(err, errlen, PULL_STOPPED, "stopped");
			break;
		}
		wire_header h = {.request_id = p->next_id++, .generation = gen};
		uint64_t left = f->bytes - at;
		wire_file_read rd = {.offset = at,
		                     .max_len = left < step ? (uint32_t)left : step,
		                     .name = f->file,
		                     .name_len = (uint8_t)strlen(f->file)};
		tbuf_reset(&req);
		if ((rc = wire_encode_file_read(&req, &h, &rd))) {
			errf(err, errlen, rc, "%s: cannot ask for it", f->file);
			break;
		}
		rpc_call c;
		if ((rc = call(p, &req, &c, err, errlen)))
			break;
		wire_header rh;
		wire_file_read_reply r;
		char why[256];
		if (wire_decode_file_read_reply(c.reply, c.reply_len, &rh, &r, why, sizeof why)) {
			rc = unexpected(p, &c, "FILE_READ", err, errlen);
		} else if (r.status) {
			rc = errf(err, errlen,
			          r.status == TRAWL_ENOTFOUND ? TRAWL_ENOTFOUND : TRAWL_EIO,
			          "%s: %s: %.*s", p->url, f->file, (int)r.errmsg_len, r.errmsg);
		} else if (r.size != f->bytes) {
			rc =
			    errf(err, errlen, TRAWL_ECORRUPT,
			         "%s: the source's file is %llu bytes, its manifest says %llu",
			         f->file, (unsigned long long)r.size, (unsigned long long)f->bytes);
		} else if (r.data_len == 0 || r.data_len > rd.max_len) {
			rc = errf(err, errlen, TRAWL_EIO, "%s: %s sent %u bytes at %llu of %llu",
			          f->file, p->url, r.data_len, (unsigned long long)at,
			          (unsigned long long)f->bytes);
		} else {
			size_t w = 0;
			while (w < r.data_len) {
				ssize_t k = pwrite(fd, r.data + w, r.data_len - w, (off_t)(at + w));
				if (k < 0 && errno == EINTR)
					continue;
				if (k <= 0) {
					rc = errf(err, errlen,
					          errno == ENOSPC ? TRAWL_ENOSPC : TRAWL_EIO,
					          "%s: %s", path, strerror(errno));
					break;
				}
				w += (size_t)k;
			}
			at += r.data_len;
			got += r.data_len;
			atomic_fetch_add(&p->bytes, r.data_len);
		}
		rpc_call_fini(&c);
		if (!rc)
			pace(p, t0, got);
	}
	tbuf_fini(&req);
	if (!rc && fsync(fd) != 0)
		rc = errf(err, errlen, TRAWL_EIO, "%s: fsync: %s", path, strerror(errno));
	close(fd);
	return rc;
}

/*
 * Makes f present in tmp (its path there: path): kept from an earlier
 * attempt (linked: the local inode; downloaded: checked again), linked
 * from a local generation, or downloaded (the rest of a piece, or all).
 * A file that fails its check is removed.
 */
static int get_file(puller *p, uint64_t gen, const char *tmp, const idx_mfile *f,
                    const local_gen *locals, size_t nlocals, char *err, size_t errlen)
{
	char path[LIMIT_PATH_BYTES], from[LIMIT_PATH_BYTES];
	snprintf(path, sizeof path, "%s/%s", tmp, f->file);
	struct stat st, lst;
	int have = lstat(path, &st) == 0;
	int local = find_local(locals, nlocals, f, from, sizeof from, &lst);
	if (have && (!S_ISREG(st.st_mode) || (uint64_t)st.st_size > f->bytes)) {
		unlink(path);
		have = 0;
	}
	if (have && local && st.st_ino == lst.st_ino && st.st_dev == lst.st_dev)
		return TRAWL_OK; /* linked by an earlier attempt */
	if (!have && local) {
		if (link(from, path) == 0) {
			atomic_fetch_add(&p->linked, 1);
			return TRAWL_OK;
		}
		/* (another file system: download it) */
	}
	if (!have || (uint64_t)st.st_size < f->bytes) {
		int rc = download(p, gen, f, path, err, errlen);
		if (rc)
			return rc;
		atomic_fetch_add(&p->fetched, 1);
	}
	int rc = check_file(path, f, err, errlen);
	if (rc == TRAWL_ECORRUPT)
		unlink(path); /* discarded: the next attempt downloads it again */
	return rc;
}

/* Removes DIR/gen-*.tmp but keep (an abandoned pull of another generation). */
static void clean_tmp(const char *dir, const char *keep)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d))) {
		size_t n = strlen(e->d_name);
		if (strncmp(e->d_name, "gen-", 4) || n < 8 || strcmp(e->d_name + n - 4, ".tmp") ||
		    !strcmp(e->d_name, keep))
			continue;
		char path[LIMIT_PATH_BYTES];
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		idx_remove_tree(path);
	}
	closedir(d);
}

/* The manifest of a FILES_REPLY checked against the checksum sent with it. */
static int check_sum(const wire_files_reply *r, char *err, size_t errlen)
{
	int ok = r->sum_len == WIRE_MANIFEST_SUM_BYTES && r->sum[32] == '\n';
	for (int i = 0; ok && i < 32; i++)
		ok = (r->sum[i] >= '0' && r->sum[i] <= '9') ||
		     (r->sum[i] >= 'a' && r->sum[i] <= 'f');
	if (!ok)
		return errf(err, errlen, TRAWL_ECORRUPT,
		            "its MANIFEST.xxh3 is missing or malformed (%u bytes)", r->sum_len);
	char hex[33];
	th_hex128(XXH3_128bits(r->manifest, r->manifest_len), hex);
	if (memcmp(hex, r->sum, 32))
		return errf(err, errlen, TRAWL_ECORRUPT,
		            "its MANIFEST.json does not match MANIFEST.xxh3 (xxh3-128 %s, the sum "
		            "says %.32s)",
		            hex, r->sum);
	return TRAWL_OK;
}

/* Pulls generation gen, whose FILES_REPLY is r, into tmp and publishes it. */
static int pull_gen(puller *p, uint64_t gen, const wire_files_reply *r, char *err, size_t errlen)
{
	char name[32], tmpname[40], tmp[LIMIT_PATH_BYTES], path[LIMIT_PATH_BYTES];
	idx_gen_dirname(name, gen);
	snprintf(tmpname, sizeof tmpname, "%s.tmp", name);
	snprintf(tmp, sizeof tmp, "%s/%s", p->dir, tmpname);
	int rc = check_sum(r, err, errlen);
	if (rc)
		return rc;
	clean_tmp(p->dir, tmpname);
	if (mkdir(tmp, 0777) != 0 && errno != EEXIST)
		return errf(err, errlen, TRAWL_EIO, "%s: %s", tmp, strerror(errno));
	snprintf(path, sizeof path, "%s/MANIFEST.json", tmp);
	if ((rc = idx_file_write_new(path, r->manifest, r->manifest_len, err, errlen)))
		return rc;
	snprintf(path, sizeof path, "%s/MANIFEST.xxh3", tmp);
	if ((rc = idx_file_write_new(path, r->sum, r->sum_len, err, errlen)))
		return rc;
	idx_manifest *m = calloc(1, sizeof *m);
	if (!m)
		return errf(err, errlen, TRAWL_ENOMEM, "out of memory");
	char why[768];
	if ((rc = idx_manifest_read(tmp, m, why, sizeof why))) {
		idx_manifest_fini(m);
		free(m);
		return errf(err, errlen, rc == TRAWL_ENOMEM ? rc : TRAWL_ECORRUPT, "%s", why);
	}
	const idx_mfile **files = NULL;
	size_t nfiles = 0;
	local_gen *locals = NULL;
	size_t nlocals = 0;
	if ((rc = wanted_files(p, m, &files, &nfiles)))
		errf(err, errlen, rc, "out of memory");
	for (size_t i = 0; !rc && i < nfiles; i++)
		if (!strncmp(files[i]->file, "MANIFEST.", 9))
			rc = errf(err, errlen, TRAWL_ECORRUPT,
			          "its manifest lists %s as a file of a shard", files[i]->file);
	if (!rc)
		local_gens(p->dir, &locals, &nlocals);
	for (size_t i = 0; !rc && i < nfiles; i++)
		rc = get_file(p, gen, tmp, files[i], locals, nlocals, err, errlen);
	local_gens_free(locals, nlocals);
	free(files);
	idx_manifest_fini(m);
	free(m);
	if (!rc)
		rc = idx_gen_publish(p->dir, tmp, gen, err, errlen);
	if (!rc)
		idx_gen_prune(p->dir, gen, p->cfg.keep);
	return rc;
}

int puller_step(puller *p, uint64_t *published, char *err, size_t errlen)
{
	*published = 0;
	tbuf req;
	tbuf_init(&req, 64);
	wire_header h = {.request_id = p->next_id++};
	int rc = wire_encode_files(&req, &h);
	rpc_call c = {0};
	if (!rc)
		rc = call(p, &req, &c, err, errlen);
	tbuf_fini(&req);
	if (rc) {
		if (rc != PULL_STOPPED)
			atomic_fetch_add(&p->failed, 1);
		return rc;
	}
	wire_header rh;
	wire_files_reply r;
	char why[256];
	if (wire_decode_files_reply(c.reply, c.reply_len, &rh, &r, why, sizeof why)) {
		rc = unexpected(p, &c, "FILES", err, errlen);
	} else if (r.status) {
		rc = errf(err, errlen, r.status, "%s: %.*s", p->url, (int)r.errmsg_len, r.errmsg);
	} else {
		atomic_store(&p->source_gen, rh.generation);
		uint64_t local = 0;
		char cerr[256];
		if (idx_gen_current(p->dir, &local, cerr, sizeof cerr) == TRAWL_ECORRUPT)
			local = 0; /* a damaged CURRENT: any generation replaces it */
		uint64_t now = clock_mono_us();
		if (rh.generation <= local) {
			/* nothing newer (a source rolled back is not followed) */
		} else if (rh.generation == p->refused_gen && now < p->retry_at) {
			/* refused a moment ago: wait for the retry */
		} else if ((rc = pull_gen(p, rh.generation, &r, err, errlen)) == TRAWL_OK) {
			*published = rh.generation;
			p->refused_gen = 0;
			p->retry_ms = 0;
			atomic_fetch_add(&p->pulled, 1);
		} else if (rc != PULL_STOPPED) {
			if (rh.generation != p->refused_gen)
				p->retry_ms = 0;
			p->retry_ms = p->retry_ms ? p->retry_ms * 2 : RETRY_FIRST_MS;
			if (p->retry_ms > RETRY_MAX_MS)
				p->retry_ms = RETRY_MAX_MS;
			p->refused_gen = rh.generation;
			p->retry_at = now + p->retry_ms * 1000u;
			char e2[1024];
			snprintf(e2, sizeof e2, "generation %llu from %s: %s",
			         (unsigned long long)rh.generation, p->url, err);
			snprintf(err, errlen, "%s", e2);
		}
	}
	rpc_call_fini(&c);
	if (rc == TRAWL_ECORRUPT)
		atomic_fetch_add(&p->refused, 1);
	else if (rc && rc != PULL_STOPPED)
		atomic_fetch_add(&p->failed, 1);
	return rc;
}
