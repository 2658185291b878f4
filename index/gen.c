/*
 * gen.c - generations, manifests and the atomic publish (see gen.h).
 */
#include "gen.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/hash.h"

void idx_gen_dirname(char out[32], uint64_t gen)
{
	snprintf(out, 32, "gen-%06llu", (unsigned long long)gen);
}

static int parse_gen_name(const char *name, uint64_t *gen, int *tmp)
{
	if (strncmp(name, "gen-", 4) != 0)
		return 0;
	char *end;
	errno = 0;
	unsigned long long g = strtoull(name + 4, &end, 10);
	if (errno || end == name + 4)
		return 0;
	*tmp = strcmp(end, ".tmp") == 0;
	if (*end && !*tmp)
		return 0;
	*gen = g;
	return 1;
}

int idx_gen_current(const char *dir, uint64_t *gen, char *err, size_t errlen)
{
	char path[LIMIT_PATH_BYTES];
	snprintf(path, sizeof path, "%s/CURRENT", dir);
	FILE *f = fopen(path, "r");
	if (!f)
		return errf(err, errlen, errno == ENOENT ? TRAWL_ENOTFOUND : TRAWL_EIO, "%s: %s",
		            path, strerror(errno));
	char line[64] = {0};
	size_t n = fread(line, 1, sizeof line - 1, f);
	fclose(f);
	line[n] = 0;
	char *nl = strchr(line, '\n');
	if (nl)
		*nl = 0;
	int tmp;
	if (!parse_gen_name(line, gen, &tmp) || tmp)
		return errf(err, errlen, TRAWL_ECORRUPT, "%s: does not name a generation", path);
	return TRAWL_OK;
}

uint64_t idx_gen_next(const char *dir)
{
	uint64_t best = 0;
	DIR *d = opendir(dir);
	if (!d)
		return 1;
	struct dirent *e;
	while ((e = readdir(d))) {
		uint64_t g;
		int tmp;
		if (parse_gen_name(e->d_name, &g, &tmp) && g > best)
			best = g;
	}
	closedir(d);
	return best + 1;
}

int idx_gen_lock(const char *dir, int *fd, char *err, size_t errlen)
{
	char path[LIMIT_PATH_BYTES];
	snprintf(path, sizeof path, "%s/.lock", dir);
	int f = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (f < 0)
		return errf(err, errlen, TRAWL_EIO, "%s: %s", path, strerror(errno));
	if (flock(f, LOCK_EX | LOCK_NB) != 0) {
		close(f);
		return errf(err, errlen, TRAWL_EIO, "%s: another build is running in %s", path,
		            dir);
	}
	*fd = f;
	return TRAWL_OK;
}

void idx_remove_tree(const char *path)
{
	DIR *d = opendir(path);
	if (d) {
		struct dirent *e;
		while ((e = readdir(d))) {
			if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
				continue;
			char p[LIMIT_PATH_BYTES];
			snprintf(p, sizeof p, "%s/%s", path, e->d_name);
			struct stat st;
			if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
				idx_remove_tree(p);
			else
				unlink(p);
		}
		closedir(d);
	}
	rmdir(path);
}

void idx_gen_clean_tmp(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d))) {
		uint64_t g;
		int tmp;
		if (parse_gen_name(e->d_name, &g, &tmp) && tmp) {
			char p[LIMIT_PATH_BYTES];
			snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
			idx_remove_tree(p);
		}
	}
	closedir(d);
}

int idx_file_hash(const char *path, char hex[33], uint64_t *bytes)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? TRAWL_ENOTFOUND : TRAWL_EIO;
	XXH3_state_t *s = XXH3_createState();
	size_t cap = 1 << 20;
	char *buf = malloc(cap);
	if (!s || !buf) {
		XXH3_freeState(s);
		free(buf);
		close(fd);
		return TRAWL_ENOMEM;
	}
	XXH3_128bits_reset(s);
	uint64_t total = 0;
	int rc = TRAWL_OK;
	for (;;) {
		ssize_t n = read(fd, buf, cap);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = TRAWL_EIO;
			break;
		}
		if (n == 0)
			break;
		XXH3_128bits_update(s, buf, (size_t)n);
		total += (uint64_t)n;
	}
	if (rc == TRAWL_OK) {
		th_hex128(XXH3_128bits_digest(s), hex);
		*bytes = total;
	}
	XXH3_freeState(s);
	free(buf);
	close(fd);
	return rc;
}

int idx_fsync_path(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return TRAWL_EIO;
	int rc = fsync(fd) == 0 ? TRAWL_OK : (errno == ENOSPC ? TRAWL_ENOSPC : TRAWL_EIO);
	close(fd);
	return rc;
}

/* write_synced writes n bytes to path (created or truncated) and fsyncs it:
 * TRAWL_OK, or TRAWL_ENOSPC / TRAWL_EIO with errno saying why. */
static int write_synced(const char *path, const void *p, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return errno == ENOSPC ? TRAWL_ENOSPC : TRAWL_EIO;
	const char *c = p;
	while (n > 0) {
		ssize_t w = write(fd, c, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		c += w;
		n -= (size_t)w;
	}
	int ok = n == 0 && fsync(fd) == 0, e = errno;
	close(fd);
	errno = e;
	return ok ? TRAWL_OK : e == ENOSPC ? TRAWL_ENOSPC : TRAWL_EIO;
}

/* read_whole reads the file at path into *out (malloc'ed, NUL-terminated,
 * *len bytes without the NUL): TRAWL_OK, ENOTFOUND, EIO (errno says why) or
 * ENOMEM. */
static int read_whole(const char *path, char **out, size_t *len)
{
	*out = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? TRAWL_ENOTFOUND : TRAWL_EIO;
	struct stat st;
	char *buf = NULL;
	size_t n = 0;
	int rc = fstat(fd, &st) != 0 ? TRAWL_EIO : TRAWL_OK;
	if (rc == TRAWL_OK && !(buf = malloc((size_t)st.st_size + 1)))
		rc = TRAWL_ENOMEM;
	while (rc == TRAWL_OK && n < (size_t)st.st_size) {
		ssize_t r = read(fd, buf + n, (size_t)st.st_size - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			rc = TRAWL_EIO;
		else if (r == 0)
			break; /* shorter than it was: read what there is */
		else
			n += (size_t)r;
	}
	int e = errno;
	close(fd);
	errno = e;
	if (rc) {
		free(buf);
		return rc;
	}
	buf[n] = 0;
	*out = buf;
	*len = n;
	return TRAWL_OK;
}

uint32_t idx_gen_prune(const char *dir, uint64_t live, uint32_t keep)
{
	/* the numbers below the live one, highest first: the first keep stay */
	DIR *d = opendir(dir);
	if (!d)
		return 0;
	uint64_t *old = NULL;
	size_t n = 0, cap = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		uint64_t g;
		int tmp;
		if (!parse_gen_name(e->d_name, &g, &tmp) || tmp || g >= live)
			continue;
		if (n == cap) {
			size_t nc = cap ? 2 * cap : 64;
			uint64_t *o = realloc(old, nc * sizeof *o);
			if (!o)
				break;
			old = o;
			cap = nc;
		}
		old[n++] = g;
	}
	closedir(d);
	uint32_t removed = 0;
	for (size_t i = 0; i < n; i++) {
		size_t newer = 0; /* older generations newer than this one */
		for (size_t j = 0; j < n; j++)
			newer += old[j] > old[i];
		if (newer < keep)
			continue;
		char name[32], path[LIMIT_PATH_BYTES];
		idx_gen_dirname(name, old[i]);
		snprintf(path, sizeof path, "%s/%s", dir, name);
		idx_remove_tree(path);
		removed++;
	}
	free(old);
	return removed;
}

int idx_file_write_new(const char *path, const void *p, size_t n, char *err, size_t errlen)
{
	char tmp[LIMIT_PATH_BYTES];
	if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", path) >= sizeof tmp)
		return errf(err, errlen, TRAWL_ELIMIT, "%s: path too long", path);
	int rc = write_synced(tmp, p, n);
	if (rc) {
		int e = errno;
		unlink(tmp);
		return errf(err, errlen, rc, "%s: %s", tmp, strerror(e));
	}
	if (rename(tmp, path) != 0) {
		int e = errno;
		unlink(tmp);
		return errf(err, errlen, TRAWL_EIO, "%s: %s", path, strerror(e));
	}
	/* the new name must survive a power cut too */
	char dir[LIMIT_PATH_BYTES];
	snprintf(dir, sizeof dir, "%s", path);
	char *slash = strrchr(dir, '/');
	if (slash)
		*slash = 0;
	if ((rc = idx_fsync_path(slash ? (*dir ? dir : "/") : ".")))
		return errf(err, errlen, rc, "%s: cannot sync its directory", path);
	return TRAWL_OK;
}

int idx_file_read_all(const char *path, char **out, size_t *len, char *err, size_t errlen)
{
	int rc = read_whole(path, out, len);
	if (rc)
		return errf(err, errlen, rc == TRAWL_ENOTFOUND ? TRAWL_EIO : rc, "%s: %s", path,
		            rc == TRAWL_ENOMEM ? "out of memory" : strerror(errno));
	return TRAWL_OK;
}

int idx_manifest_set_segments(idx_manifest *m, uint32_t s, uint32_t n)
{
	idx_mseg *v = calloc(n ? n : 1, sizeof *v);
	if (!v)
		return TRAWL_ENOMEM;
	free(m->shard[s].segs);
	m->shard[s].segs = v;
	m->shard[s].nsegs = n;
	return TRAWL_OK;
}

/* Whether m needs format 3: anything but one undeleted segment per shard
 * with its statistics inside. */
static int needs_segments(const idx_manifest *m)
{
	if (m->stats_base.file[0] || m->applied_seq)
		return 1;
	for (uint32_t i = 0; i < m->shards; i++)
		if (m->shard[i].nsegs != 1 || m->shard[i].segs[0].del.file[0] ||
		    m->shard[i].segs[0].ver.file[0])
			return 1;
	return 0;
}

static json_t *mfile_json(const idx_mfile *f)
{
	return json_pack("{s:s, s:I, s:s}", "file", f->file, "bytes", (json_int_t)f->bytes,
	                 "xxh3_128", f->xxh3_128);
}

static json_t *shard_json(const idx_manifest *m, uint32_t i, int v3)
{
	const idx_manifest_shard *sh = &m->shard[i];
	if (!v3)
		return json_pack("{s:i, s:s, s:I, s:I, s:s}", "shard", (int)i, "file",
		                 sh->segs[0].f.file, "docs", (json_int_t)sh->segs[0].docs, "bytes",
		                 (json_int_t)sh->segs[0].f.bytes, "xxh3_128",
		                 sh->segs[0].f.xxh3_128);
	json_t *segs = json_array();
	uint64_t live = 0;
	for (uint32_t j = 0; segs && j < sh->nsegs; j++) {
		const idx_mseg *g = &sh->segs[j];
		json_t *o = json_pack("{s:s, s:I, s:I, s:s}", "file", g->f.file, "docs",
		                      (json_int_t)g->docs, "bytes", (json_int_t)g->f.bytes,
		                      "xxh3_128", g->f.xxh3_128);
		if (o && g->del.file[0]) {
			json_t *d = mfile_json(&g->del);
			json_object_set_new(d, "count", json_integer((json_int_t)g->deleted));
			json_object_set_new(o, "deletes", d);
		}
		if (o && g->ver.file[0])
			json_object_set_new(o, "versions", mfile_json(&g->ver));
		json_array_append_new(segs, o);
		live += g->docs - g->deleted;
	}
	return json_pack("{s:i, s:I, s:o}", "shard", (int)i, "docs", (json_int_t)live, "segments",
	                 segs);
}

int idx_manifest_write(const char *gendir, const idx_manifest *m, char *err, size_t errlen)
{
	json_error_t je;
	int v3 = needs_segments(m);
	json_t *schema = json_loads(m->schema_json, 0, &je);
	json_t *files = json_array();
	for (uint32_t i = 0; i < m->shards; i++)
		json_array_append_new(files, shard_json(m, i, v3));
	char when[32];
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
	json_t *root = json_pack("{s:i, s:I, s:i, s:I, s:s, s:o, s:o}", "format", v3 ? 3 : 2,
	                         "generation", (json_int_t)m->generation, "shards", (int)m->shards,
	                         "docs", (json_int_t)m->docs, "created", when, "schema",
	                         schema ? schema : json_object(), "files", files);
	if (root && v3) {
		json_object_set_new(root, "applied_seq", json_integer((json_int_t)m->applied_seq));
		if (m->stats_base.file[0]) {
			json_t *st = json_pack("{s:o}", "base", mfile_json(&m->stats_base));
			if (st && m->stats_delta.file[0])
				json_object_set_new(st, "delta", mfile_json(&m->stats_delta));
			json_object_set_new(root, "stats", st);
		}
	}
	char *text = root ? json_dumps(root, JSON_INDENT(2) | JSON_REAL_PRECISION(9)) : NULL;
	json_decref(root);
	if (!text)
		return errf(err, errlen, TRAWL_ENOMEM, "%s/MANIFEST.json: out of memory", gendir);
	/* MANIFEST.xxh3: the XXH3-128 of MANIFEST.json's bytes, written after it */
	size_t len = strlen(text);
	char sum[34];
	th_hex128(XXH3_128bits(text, len), sum);
	sum[32] = '\n';
	char path[LIMIT_PATH_BYTES];
	snprintf(path, sizeof path, "%s/MANIFEST.json", gendir);
	int rc = write_synced(path, text, len);
	free(text);
	if (rc == TRAWL_OK) {
		snprintf(path, sizeof path, "%s/MANIFEST.xxh3", gendir);
		rc = write_synced(path, sum, 33);
	}
	if (rc)
		return errf(err, errlen, rc, "%s: %s", path, strerror(errno));
	return TRAWL_OK;
}

/* manifest_check_sum compares MANIFEST.json's bytes (text, len; read from
 * path) with gendir/MANIFEST.xxh3; without that file, sets m->unsummed. */
static int manifest_check_sum(const char *gendir, const char *path, const char *text, size_t len,
                              idx_manifest *m, char *err, size_t errlen)
{
	char sumpath[LIMIT_PATH_BYTES], *want;
	size_t n;
	snprintf(sumpath, sizeof sumpath, "%s/MANIFEST.xxh3", gendir);
	int rc = read_whole(sumpath, &want, &n);
	if (rc == TRAWL_ENOTFOUND) {
		m->unsummed = 1;
		return TRAWL_OK;
	}
	if (rc)
		return errf(err, errlen, rc, "%s: %s", sumpath, strerror(errno));
	int ok = n == 33 && want[32] == '\n';
	for (size_t i = 0; ok && i < 32; i++)
		ok = (want[i] >= '0' && want[i] <= '9') || (want[i] >= 'a' && want[i] <= 'f');
	if (!ok) {
		free(want);
		return errf(err, errlen, TRAWL_ECORRUPT,
		            "%s: malformed: not 32 lowercase hex digits and a newline", sumpath);
	}
	want[32] = 0;
	char hex[33];
	th_hex128(XXH3_128bits(text, len), hex);
	int same = strcmp(hex, want) == 0;
	if (!same)
		errf(err, errlen, TRAWL_ECORRUPT,
		     "%s: checksum mismatch: expected xxh3-128 %s, actual %s", path, want, hex);
	free(want);
	return same ? TRAWL_OK : TRAWL_ECORRUPT;
}

void idx_manifest_fini(idx_manifest *m)
{
	free(m->schema_json);
	m->schema_json = NULL;
	for (uint32_t i = 0; i < TRAWL_MAX_SHARDS; i++) {
		free(m->shard[i].segs);
		m->shard[i].segs = NULL;
		m->shard[i].nsegs = 0;
	}
}

/* A file entry {"file", "bytes", "xxh3_128"} of MANIFEST.json into *f. */
static int read_mfile(json_t *o, idx_mfile *f, const char *path, const char *what, char *err,
                      size_t errlen)
{
	json_error_t je;
	const char *file, *hx;
	json_int_t bytes;
	if (json_unpack_ex(o, &je, 0, "{s:s, s:I, s:s}", "file", &file, "bytes", &bytes, "xxh3_128",
	                   &hx) != 0 ||
	    strlen(file) == 0 || strlen(file) >= sizeof f->file || strchr(file, '/') ||
	    file[0] == '.' || strlen(hx) != 32 || bytes < 0)
		return errf(err, errlen, TRAWL_ECORRUPT, "%s: %s is malformed", path, what);
	snprintf(f->file, sizeof f->file, "%s", file);
	snprintf(f->xxh3_128, sizeof f->xxh3_128, "%s", hx);
	f->bytes = (uint64_t)bytes;
	return TRAWL_OK;
}

/* A segment entry (a format 2 shard entry is one too): the file, its
 * documents and, in format 3, its delete set. */
static int read_seg(json_t *o, idx_mseg *g, const char *path, const char *what, char *err,
                    size_t errlen)
{
	int rc = read_mfile(o, &g->f, path, what, err, errlen);
	if (rc)
		return rc;
	json_t *d = json_object_get(o, "docs");
	if (!json_is_integer(d) || json_integer_value(d) < 0 ||
	    json_integer_value(d) > (json_int_t)LIMIT_DOCS_PER_SHARD - 1)
		return errf(err, errlen, TRAWL_ECORRUPT, "%s: %s.docs is malformed", path, what);
	g->docs = (uint64_t)json_integer_value(d);
	char w[96];
	json_t *ver = json_object_get(o, "versions");
	snprintf(w, sizeof w, "%s.versions", what);
	if (ver && (rc = read_mfile(ver, &g->ver, path, w, err, errlen)))
		return rc;
	json_t *del = json_object_get(o, "deletes");
	if (!del)
		return TRAWL_OK;
	snprintf(w, sizeof w, "%s.deletes", what);
	if ((rc = read_mfile(del, &g->del, path, w, err, errlen)))
		return rc;
	json_t *c = json_object_get(del, "count");
	if (!json_is_integer(c) || json_integer_value(c) < 1 ||
	    (uint64_t)json_integer_value(c) > g->docs)
		return errf(err, errlen, TRAWL_ECORRUPT, "%s: %s.count is malformed", path, w);
	g->deleted = (uint64_t)json_integer_value(c);
	return TRAWL_OK;
}

/* Format 3's own members: applied_seq and the statistics files. */
static int read_v3(json_t *root, idx_manifest *m, const char *path, char *err, size_t errlen)
{
	json_t *a = json_object_get(root, "applied_seq");
	if (!json_is_integer(a) || json_integer_value(a) < 0)
		return errf(err, errlen, TRAWL_ECORRUPT, "%s: applied_seq is malformed", path);
	m->applied_seq = (uint64_t)json_integer_value(a);
	json_t *st = json_object_get(root, "stats");
	if (!st)
		return TRAWL_OK;
	int rc = read_mfile(json_object_get(st, "base"), &m->stats_base, path, "stats.base", err,
	                    errlen);
	json_t *d = json_object_get(st, "delta");
	if (!rc && d)
		rc = read_mfile(d, &m->stats_delta, path, "stats.delta", err, errlen);
	return rc;
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A format 3 manifest's files are distinct (a segment listed twice would
 * give its documents twice) and its live documents add up to "docs". */
static int check_v3(const idx_manifest *m, const char *path, char *err, size_t errlen)
{
	size_t n = 2, k = 0;
	uint64_t live = 0;
	for (uint32_t i = 0; i < m->shards; i++)
		n += 3 * (size_t)m->shard[i].nsegs;
	const char **names = malloc(n * sizeof *names);
	if (!names)
		return errf(err, errlen, TRAWL_ENOMEM, "%s: out of memory", path);
	for (uint32_t i = 0; i < m->shards; i++)
		for (uint32_t j = 0; j < m->shard[i].nsegs; j++) {
			const idx_mseg *g = &m->shard[i].segs[j];
			names[k++] = g->f.file;
			if (g->del.file[0])
				names[k++] = g->del.file;
			if (g->ver.file[0])
				names[k++] = g->ver.file;
			live += g->docs - g->deleted;
		}
	if (m->stats_base.file[0])
		names[k++] = m->stats_base.file;
	if (m->stats_delta.file[0])
		names[k++] = m->stats_delta.file;
	qsort(names, k, sizeof *names, cmp_name);
	int rc = TRAWL_OK;
	for (size_t i = 1; i < k && !rc; i++)
		if (!strcmp(names[i - 1], names[i]))
			rc = errf(err, errlen, TRAWL_ECORRUPT, "%s: %s is listed twice", path,
			          names[i]);
	free(names);
	if (!rc && live != m->docs)
		rc = errf(err, errlen, TRAWL_ECORRUPT,
		          "%s: docs is %llu, but the segments hold %llu live documents", path,
		          (unsigned long long)m->docs, (unsigned long long)live);
	return rc;
}

int idx_manifest_read(const char *gendir, idx_manifest *m, char *err, size_t errlen)
{
	memset(m, 0, sizeof *m);
	char path[LIMIT_PATH_BYTES];
	snprintf(path, sizeof path, "%s/MANIFEST.json", gendir);
	char *text;
	size_t len;
	int rc = read_whole(path, &text, &len);
	if (rc)
		return errf(err, errlen, rc, "%s: %s", path, strerror(errno));
	if ((rc = manifest_check_sum(gendir, path, text, len, m, err, errlen))) {
		free(text);
		return rc;
	}
	json_error_t je;
	json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	free(text);
	if (!root)
		return errf(err, errlen, TRAWL_ECORRUPT, "%s: line %d, column %d: %s", path,
		            je.line, je.column, je.text);
	rc = TRAWL_ECORRUPT;
	json_int_t format = 0, gen = 0, shards = 0, docs = 0;
	json_t *schema = NULL, *files = NULL;
	if (json_unpack_ex(root, &je, 0, "{s:I, s:I, s:I, s:I, s:o, s:o}", "format", &format,
	                   "generation", &gen, "shards", &shards, "docs", &docs, "schema", &schema,
	                   "files", &files) != 0) {
		errf(err, errlen, rc, "%s: %s", path, je.text);
		goto out;
	}
	if (format < IDX_FORMAT_OLDEST || format > IDX_MANIFEST_VERSION) {
		rc = errf(err, errlen, TRAWL_EVERSION, "%s: format %lld; this trawl reads %d to %d",
		          path, (long long)format, IDX_FORMAT_OLDEST, IDX_MANIFEST_VERSION);
		goto out;
	}
	if (shards < 1 || shards > TRAWL_MAX_SHARDS || !json_is_array(files) ||
	    json_array_size(files) != (size_t)shards) {
		errf(err, errlen, rc, "%s: bad shard count", path);
		goto out;
	}
	m->format = (uint32_t)format;
	m->generation = (uint64_t)gen;
	m->shards = (uint32_t)shards;
	m->docs = (uint64_t)docs;
	if (format >= 3 && (rc = read_v3(root, m, path, err, errlen)))
		goto out;
	rc = TRAWL_ECORRUPT;
	for (uint32_t i = 0; i < m->shards; i++) {
		json_t *fo = json_array_get(files, i);
		if (format >= 3) {
			json_t *segs = json_object_get(fo, "segments");
			size_t ns = json_is_array(segs) ? json_array_size(segs) : 0;
			if (ns < 1 || ns > LIMIT_SEGMENTS) {
				errf(err, errlen, rc, "%s: files[%u].segments: 1 to %d segments",
				     path, i, LIMIT_SEGMENTS);
				goto out;
			}
			if (idx_manifest_set_segments(m, i, (uint32_t)ns)) {
				rc = TRAWL_ENOMEM;
				goto out;
			}
			uint64_t total = 0;
			for (uint32_t j = 0; j < ns; j++) {
				char what[64];
				snprintf(what, sizeof what, "files[%u].segments[%u]", i, j);
				if ((rc = read_seg(json_array_get(segs, j), &m->shard[i].segs[j],
				                   path, what, err, errlen)))
					goto out;
				total += m->shard[i].segs[j].docs;
			}
			rc = TRAWL_ECORRUPT;
			if (total > LIMIT_DOCS_PER_SHARD - 1) {
				errf(err, errlen, rc, "%s: files[%u]: %llu documents in one shard",
				     path, i, (unsigned long long)total);
				goto out;
			}
			continue;
		}
		if (idx_manifest_set_segments(m, i, 1)) {
			rc = TRAWL_ENOMEM;
			goto out;
		}
		char what[32];
		snprintf(what, sizeof what, "files[%u]", i);
		if ((rc = read_seg(fo, &m->shard[i].segs[0], path, what, err, errlen)))
			goto out;
		rc = TRAWL_ECORRUPT;
	}
	if (format >= 3 && (rc = check_v3(m, path, err, errlen)))
		goto out;
	m->schema_json = json_dumps(schema, JSON_COMPACT | JSON_REAL_PRECISION(9));
	rc = m->schema_json ? TRAWL_OK : TRAWL_ENOMEM;
out:
	json_decref(root);
	return rc;
}

/* Checks one listed file's size and checksum. */
static int verify_file(const char *gendir, const idx_mfile *f, char *err, size_t errlen)
{
	char path[LIMIT_PATH_BYTES], hex[33];
	uint64_t bytes;
	snprintf(path, sizeof path, "%s/%s", gendir, f->file);
	int rc = idx_file_hash(path, hex, &bytes);
	if (rc == TRAWL_ENOTFOUND)
		return errf(err, errlen, TRAWL_ECORRUPT, "%s: missing", path);
	if (rc)
		return errf(err, errlen, rc, "%s: cannot read: %s", path, strerror(errno));
	if (bytes != f->bytes)
		return errf(err, errlen, TRAWL_ECORRUPT,
		            "%s: size %llu bytes, the manifest expects %llu", path,
		            (unsigned long long)bytes, (unsigned long long)f->bytes);
	if (strcmp(hex, f->xxh3_128) != 0)
		return errf(err, errlen, TRAWL_ECORRUPT,
		            "%s: checksum mismatch: expected xxh3-128 %s, actual %s", path,
		            f->xxh3_128, hex);
	return TRAWL_OK;
}

int idx_manifest_verify(const char *gendir, const idx_manifest *m, const uint8_t *want, char *err,
                        size_t errlen)
{
	return idx_manifest_verify_with(gendir, m, want, NULL, NULL, err, errlen);
}

/* verify_file, unless trusted says the file was verified already. */
static int verify_or_trust(const char *gendir, const idx_mfile *f, idx_trusted_fn trusted,
                           void *ctx, char *err, size_t errlen)
{
	if (trusted) {
		char path[LIMIT_PATH_BYTES];
		snprintf(path, sizeof path, "%s/%s", gendir, f->file);
		if (trusted(ctx, path, f))
			return TRAWL_OK;
	}
	return verify_file(gendir, f, err, errlen);
}

int idx_manifest_verify_with(const char *gendir, const idx_manifest *m, const uint8_t *want,
                             idx_trusted_fn trusted, void *ctx, char *err, size_t errlen)
{
	int rc = TRAWL_OK;
	for (uint32_t i = 0; i < m->shards && !rc; i++) {
		if (want && !want[i])
			continue;
		for (uint32_t j = 0; j < m->shard[i].nsegs && !rc; j++) {
			const idx_mseg *g = &m->shard[i].segs[j];
			rc = verify_or_trust(gendir, &g->f, trusted, ctx, err, errlen);
			if (!rc && g->del.file[0])
				rc = verify_or_trust(gendir, &g->del, trusted, ctx, err, errlen);
			if (!rc && g->ver.file[0])
				rc = verify_or_trust(gendir, &g->ver, trusted, ctx, err, errlen);
		}
	}
	if (!rc && m->stats_base.file[0])
		rc = verify_or_trust(gendir, &m->stats_base, trusted, ctx, err, errlen);
	if (!rc && m->stats_delta.file[0])
		rc = verify_or_trust(gendir, &m->stats_delta, trusted, ctx, err, errlen);
	return rc;
}

int idx_gen_publish(const char *dir, const char *tmpdir, uint64_t gen, char *err, size_t errlen)
{
	char name[32], final[LIMIT_PATH_BYTES], cur[LIMIT_PATH_BYTES], curtmp[LIMIT_PATH_BYTES];
	idx_gen_dirname(name, gen);
	snprintf(final, sizeof final, "%s/%s", dir, name);
	snprintf(cur, sizeof cur, "%s/CURRENT", dir);
	snprintf(curtmp, sizeof curtmp, "%s/CURRENT.tmp", dir);
	int rc;
	if ((rc = idx_fsync_path(tmpdir)))
		return errf(err, errlen, rc, "%s: fsync failed", tmpdir);
	if (rename(tmpdir, final) != 0)
		return errf(err, errlen, TRAWL_EIO, "rename %s -> %s: %s", tmpdir, final,
		            strerror(errno));
	if ((rc = idx_fsync_path(dir)))
		return errf(err, errlen, rc, "%s: fsync failed", dir);
	char line[40];
	int n = snprintf(line, sizeof line, "%s\n", name);
	if ((rc = write_synced(curtmp, line, (size_t)n))) {
		int e = errno;
		unlink(curtmp);
		return errf(err, errlen, rc, "%s: %s", curtmp, strerror(e));
	}
	if (rename(curtmp, cur) != 0)
		return errf(err, errlen, TRAWL_EIO, "rename %s: %s", cur, strerror(errno));
	if ((rc = idx_fsync_path(dir)))
		return errf(err, errlen, rc, "%s: fsync failed", dir);
	return TRAWL_OK;
}
