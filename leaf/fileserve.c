/*
 * fileserve.c - FILES and FILE_READ answered from an index directory (see
 * fileserve.h).
 *
 * Each request reads the generation's manifest again (checked against its
 * MANIFEST.xxh3 by index/gen.c), so that a FILE_READ is answered only for
 * a name that manifest lists, and nothing is cached between requests: a
 * generation pruned meanwhile is answered TRAWL_ENOTFOUND, and the puller
 * asks for the live one again.
 */
#include "fileserve.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"
#include "common/limits.h"
#include "common/wire.h"
#include "index/gen.h"
#include "trawl/trawl.h"

_Static_assert(IDX_FILE_NAME_BYTES == LIMIT_GEN_FILE_NAME_BYTES + 1,
               "the wire's file names are the manifest's");

/* Opens path for reading, never through a symbolic link: the descriptor,
 * or -1 with rc set (TRAWL_ENOTFOUND, TRAWL_EIO) and err naming it. */
static int open_file(const char *path, int *rc, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		*rc = errf(err, errlen, errno == ENOENT ? TRAWL_ENOTFOUND : TRAWL_EIO, "%s: %s",
		           path, strerror(errno));
	return fd;
}

/* Reads all of path, at most max bytes, into *out (malloc'ed; NULL for an
 * empty file): TRAWL_OK, TRAWL_ENOTFOUND, TRAWL_ELIMIT, TRAWL_EIO or
 * TRAWL_ENOMEM, err naming the file. */
static int read_small(const char *path, size_t max, char **out, size_t *len, char *err,
                      size_t errlen)
{
	*out = NULL;
	*len = 0;
	int rc = TRAWL_OK;
	int fd = open_file(path, &rc, err, errlen);
	if (fd < 0)
		return rc;
	struct stat st;
	char *buf = NULL;
	size_t n = 0;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
		rc = errf(err, errlen, TRAWL_EIO, "%s: not a readable file", path);
	else if ((uint64_t)st.st_size > max)
		rc = errf(err, errlen, TRAWL_ELIMIT, "%s is %llu bytes; the limit is %zu", path,
		          (unsigned long long)st.st_size, max);
	else if (st.st_size > 0 && !(buf = malloc((size_t)st.st_size)))
		rc = errf(err, errlen, TRAWL_ENOMEM, "%s: out of memory", path);
	while (!rc && n < (size_t)st.st_size) {
		ssize_t r = read(fd, buf + n, (size_t)st.st_size - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			rc = errf(err, errlen, TRAWL_EIO, "%s: %s", path,
			          r < 0 ? strerror(errno) : "shorter than it was");
		else
			n += (size_t)r;
	}
	close(fd);
	if (rc) {
		free(buf);
		return rc;
	}
	*out = buf;
	*len = n;
	return TRAWL_OK;
}

/* The generation dir/gen-N (gen 0: the live one) and its manifest, checked
 * against its checksum and parsed: TRAWL_OK with *gen set, or an error
 * (TRAWL_ENOTFOUND for no such generation) with err. */
static int open_gen(const char *dir, uint64_t *gen, char *gendir, size_t gdlen, idx_manifest *m,
                    char *err, size_t errlen)
{
	int rc;
	if (*gen == 0 && (rc = idx_gen_current(dir, gen, err, errlen)))
		return rc == TRAWL_ENOTFOUND
		           ? errf(err, errlen, rc, "%s has no live generation yet", dir)
		           : rc;
	char name[32];
	idx_gen_dirname(name, *gen);
	snprintf(gendir, gdlen, "%s/%s", dir, name);
	struct stat st;
	if (lstat(gendir, &st) != 0 || !S_ISDIR(st.st_mode))
		return errf(err, errlen, TRAWL_ENOTFOUND, "generation %llu is not in %s",
		            (unsigned long long)*gen, dir);
	return idx_manifest_read(gendir, m, err, errlen);
}

static void answer_files(const char *dir, const wire_header *h, tbuf *out)
{
	char err[LIMIT_ERRMSG_BYTES] = "", gendir[LIMIT_PATH_BYTES], path[LIMIT_PATH_BYTES];
	uint64_t gen = h->generation;
	char *text = NULL, *sum = NULL;
	size_t tlen = 0, slen = 0;
	idx_manifest *m = calloc(1, sizeof *m);
	int rc = m ? open_gen(dir, &gen, gendir, sizeof gendir, m, err, sizeof err)
	           : errf(err, sizeof err, TRAWL_ENOMEM, "out of memory");
	if (m)
		idx_manifest_fini(m);
	free(m);
	if (!rc) {
		snprintf(path, sizeof path, "%s/MANIFEST.json", gendir);
		rc = read_small(path, LIMIT_MANIFEST_BYTES, &text, &tlen, err, sizeof err);
	}
	if (!rc) {
		/* none (an older trawl's generation) is sent as none: the puller
		 * refuses it */
		snprintf(path, sizeof path, "%s/MANIFEST.xxh3", gendir);
		rc = read_small(path, WIRE_MANIFEST_SUM_BYTES, &sum, &slen, err, sizeof err);
		if (rc == TRAWL_ENOTFOUND)
			rc = TRAWL_OK;
		else if (rc == TRAWL_ELIMIT)
			rc = errf(err, sizeof err, TRAWL_ECORRUPT, "%s: malformed", path);
	}
	wire_header rh = *h;
	rh.flags = 0;
	rh.generation = gen;
	wire_files_reply r = {.status = (uint16_t)rc};
	if (rc) {
		r.errmsg = err;
		r.errmsg_len = (uint32_t)strnlen(err, LIMIT_ERRMSG_BYTES);
	} else {
		r.manifest = text;
		r.manifest_len = (uint32_t)tlen;
		r.sum = sum;
		r.sum_len = (uint8_t)slen;
	}
	if (wire_encode_files_reply(out, &rh, &r) != TRAWL_OK) {
		wire_files_reply e = {.status = TRAWL_ENOMEM, .errmsg = "out of memory"};
		e.errmsg_len = (uint32_t)strlen(e.errmsg);
		wire_encode_files_reply(out, &rh, &e);
	}
	free(text);
	free(sum);
}

/* 1 when m lists name (len bytes) as a file of any shard or statistics. */
static int listed(const idx_manifest *m, const char *name, size_t len)
{
#define IS(f) ((f).file[0] && strlen((f).file) == len && !memcmp((f).file, name, len))
	for (uint32_t i = 0; i < m->shards; i++)
		for (uint32_t j = 0; j < m->shard[i].nsegs; j++) {
			const idx_mseg *g = &m->shard[i].segs[j];
			if (IS(g->f) || IS(g->del) || IS(g->ver))
				return 1;
		}
	return IS(m->stats_base) || IS(m->stats_delta);
#undef IS
}

/* FILE_READ's work: the bytes into *data (malloc'ed), the file's size. */
static int read_piece(const char *dir, const wire_header *h, const wire_file_read *f,
                      uint8_t **data, uint32_t *n, uint64_t *size, char *err, size_t errlen)
{
	char gendir[LIMIT_PATH_BYTES], path[LIMIT_PATH_BYTES];
	char name[LIMIT_GEN_FILE_NAME_BYTES + 1];
	snprintf(name, sizeof name, "%.*s", (int)f->name_len, f->name);
	if (h->generation == 0)
		return errf(err, errlen, TRAWL_EINVAL,
		            "FILE_READ needs a generation: the one whose manifest FILES gave");
	uint64_t gen = h->generation;
	idx_manifest *m = calloc(1, sizeof *m);
	if (!m)
		return errf(err, errlen, TRAWL_ENOMEM, "out of memory");
	int rc = open_gen(dir, &gen, gendir, sizeof gendir, m, err, errlen);
	if (!rc && !listed(m, name, strlen(name)))
		rc = errf(err, errlen, TRAWL_ENOTFOUND,
		          "%s is not a file of generation %llu (its manifest does not list it)",
		          name, (unsigned long long)gen);
	idx_manifest_fini(m);
	free(m);
	if (rc)
		return rc;
	snprintf(path, sizeof path, "%s/%s", gendir, name);
	int fd = open_file(path, &rc, err, errlen);
	if (fd < 0)
		return rc;
	struct stat st;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return errf(err, errlen, TRAWL_EIO, "%s: not a readable file", path);
	}
	*size = (uint64_t)st.st_size;
	uint64_t left = f->offset < *size ? *size - f->offset : 0;
	uint32_t want = left < f->max_len ? (uint32_t)left : f->max_len;
	*data = want ? malloc(want) : NULL;
	if (want && !*data) {
		close(fd);
		return errf(err, errlen, TRAWL_ENOMEM, "out of memory (%u bytes)", want);
	}
	*n = 0;
	while (*n < want) {
		ssize_t r = pread(fd, *data + *n, want - *n, (off_t)(f->offset + *n));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			rc = errf(err, errlen, TRAWL_EIO, "%s: %s", path,
			          r < 0 ? strerror(errno) : "shorter than it was");
			break;
		}
		*n += (uint32_t)r;
	}
	close(fd);
	if (rc) {
		free(*data);
		*data = NULL;
		*n = 0;
	}
	return rc;
}

static void answer_read(const char *dir, const wire_header *h, const wire_file_read *f, tbuf *out)
{
	char err[LIMIT_ERRMSG_BYTES] = "";
	uint8_t *data = NULL;
	uint32_t n = 0;
	uint64_t size = 0;
	int rc = read_piece(dir, h, f, &data, &n, &size, err, sizeof err);
	wire_header rh = *h;
	rh.flags = 0;
	wire_file_read_reply r = {
	    .status = (uint16_t)rc, .size = size, .data = data, .data_len = n};
	if (rc) {
		r.errmsg = err;
		r.errmsg_len = (uint32_t)strnlen(err, LIMIT_ERRMSG_BYTES);
	}
	if (wire_encode_file_read_reply(out, &rh, &r) != TRAWL_OK) {
		wire_file_read_reply e = {.status = TRAWL_ENOMEM, .errmsg = "out of memory"};
		e.errmsg_len = (uint32_t)strlen(e.errmsg);
		wire_encode_file_read_reply(out, &rh, &e);
	}
	free(data);
}

int fileserve_answer(const char *index_dir, const uint8_t *req, size_t len, tbuf *out)
{
	wire_header h;
	if (wire_header_decode(req, len, &h, NULL, 0) != TRAWL_OK ||
	    (h.type != WIRE_FILES && h.type != WIRE_FILE_READ))
		return 0;
	wire_msg m;
	char err[256];
	if (wire_decode(req, len, &m, err, sizeof err) != TRAWL_OK) {
		/* the reply of the type asked, with the decoder's message */
		h.flags = 0;
		uint32_t el = (uint32_t)strnlen(err, sizeof err);
		if (h.type == WIRE_FILES) {
			wire_files_reply r = {
			    .status = TRAWL_EINVAL, .errmsg = err, .errmsg_len = el};
			wire_encode_files_reply(out, &h, &r);
		} else {
			wire_file_read_reply r = {
			    .status = TRAWL_EINVAL, .errmsg = err, .errmsg_len = el};
			wire_encode_file_read_reply(out, &h, &r);
		}
		return 1;
	}
	if (m.h.type == WIRE_FILES)
		answer_files(index_dir, &m.h, out);
	else
		answer_read(index_dir, &m.h, &m.u.file_read, out);
	return 1;
}
