/*
 * run.c - the run file: what a worker makes of one work item, and what the
 * mergers read. One file per item, holding one section per shard; written
 * once (to a temporary name, fsynced, renamed), so a run file that exists
 * and passes its checksum is a finished item: that is how a build resumes
 * (docs/FORMAT.md, "Build runs").
 */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/hash.h"
#include "index/codec.h"
#include "sh.h"

void sh_run_name(char out[32], uint64_t item)
{
	snprintf(out, 32, "item-%08llu.run", (unsigned long long)item);
}

int sh_run_check(sh_run *r, const uint8_t *b, size_t len, char *err, size_t errlen)
{
	memset(r, 0, sizeof *r);
	if (len < SH_RUN_HEAD + 8 || memcmp(b, SH_RUN_MAGIC, 8))
		return errf(err, errlen, TRAWL_ECORRUPT, "not a run file");
	if (sh_rd32(b + 8) != SH_RUN_VERSION)
		return errf(err, errlen, TRAWL_ECORRUPT, "run file version %u (want %u)",
		            sh_rd32(b + 8), SH_RUN_VERSION);
	if (th_hash64(b, len - 8) != sh_rd64(b + len - 8))
		return errf(err, errlen, TRAWL_ECORRUPT, "run file checksum mismatch");
	uint32_t ns = sh_rd32(b + 12), nf = sh_rd32(b + 72), rlen = sh_rd32(b + 76);
	size_t body = SH_RUN_HEAD + (size_t)ns * 32;
	if (ns == 0 || ns > TRAWL_MAX_SHARDS || nf > LIMIT_FIELDS || body + rlen > len - 8 ||
	    (rlen && b[body + rlen - 1] != 0))
		return errf(err, errlen, TRAWL_ECORRUPT, "run file header out of range");
	size_t at = body + rlen;
	for (uint32_t s = 0; s < ns; s++) {
		const uint8_t *e = b + SH_RUN_HEAD + (size_t)s * 32;
		uint64_t d = sh_rd64(e + 8), t = sh_rd64(e + 16), end = sh_rd64(e + 24);
		/* the counts are bounded by the bytes: a document record takes at
		 * least 12 bytes plus one per field, a term record at least 6 */
		uint64_t ndocs = sh_rd32(e), nterms = sh_rd32(e + 4);
		if (d != at || t < d || end < t || end > len - 8 || ndocs * (12 + nf) > t - d ||
		    nterms * 6 > end - t)
			return errf(err, errlen, TRAWL_ECORRUPT, "run file section %u out of range",
			            s);
		at = end;
	}
	r->map = (uint8_t *)b;
	r->len = len;
	r->item = sh_rd64(b + 16);
	r->item_hash = sh_rd64(b + 24);
	r->params_hash = sh_rd64(b + 32);
	r->lines = sh_rd64(b + 40);
	r->bytes_in = sh_rd64(b + 48);
	r->rejected = sh_rd64(b + 56);
	r->docs = sh_rd64(b + 64);
	r->nshards = ns;
	r->nfields = nf;
	r->rejects = (const char *)b + body;
	r->rejects_len = rlen;
	return TRAWL_OK;
}

int sh_run_open(sh_run *r, const char *path, char *err, size_t errlen)
{
	memset(r, 0, sizeof *r);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errf(err, errlen, errno == ENOENT ? TRAWL_ENOTFOUND : TRAWL_EIO, "%s: %s",
		            path, strerror(errno));
	struct stat st;
	if (fstat(fd, &st) != 0 || st.st_size < SH_RUN_HEAD + 8) {
		close(fd);
		return errf(err, errlen, TRAWL_ECORRUPT, "%s: not a run file", path);
	}
	void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (m == MAP_FAILED)
		return errf(err, errlen, TRAWL_EIO, "%s: mmap: %s", path, strerror(errno));
	char why[256];
	int rc = sh_run_check(r, m, (size_t)st.st_size, why, sizeof why);
	if (rc) {
		munmap(m, (size_t)st.st_size);
		memset(r, 0, sizeof *r);
		return errf(err, errlen, rc, "%s: %s", path, why);
	}
	r->mapped = 1;
	return TRAWL_OK;
}

void sh_run_close(sh_run *r)
{
	if (r->mapped && r->map)
		munmap(r->map, r->len);
	memset(r, 0, sizeof *r);
}

int sh_run_fits(const sh_run *r, const sh_params *p, uint64_t item, uint64_t item_hash)
{
	return r->item == item && r->item_hash == item_hash && r->params_hash == p->hash &&
	       r->nshards == p->nshards && r->nfields == p->schema.nfields;
}

void sh_run_section(const sh_run *r, uint32_t s, sh_section *out)
{
	const uint8_t *e = r->map + SH_RUN_HEAD + (size_t)s * 32;
	out->ndocs = sh_rd32(e);
	out->nterms = sh_rd32(e + 4);
	out->docs = r->map + sh_rd64(e + 8);
	out->docs_end = out->terms = r->map + sh_rd64(e + 16);
	out->terms_end = r->map + sh_rd64(e + 24);
}

int sh_run_write(const char *dir, uint64_t item, const uint8_t *bytes, size_t len, char *err,
                 size_t errlen)
{
	char name[32], path[LIMIT_PATH_BYTES], tmp[LIMIT_PATH_BYTES];
	sh_run_name(name, item);
	snprintf(path, sizeof path, "%s/%s", dir, name);
	/* unique: two workers may finish one item (an expired lease) */
	static atomic_uint seq;
	snprintf(tmp, sizeof tmp, "%s/%s.%d.%u.tmp", dir, name, (int)getpid(),
	         atomic_fetch_add(&seq, 1));
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		goto fail;
	for (size_t done = 0; done < len;) {
		ssize_t n = write(fd, bytes + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			goto fail;
		}
		done += (size_t)n;
	}
	if (fdatasync(fd) != 0)
		goto fail;
	if (close(fd) != 0) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (rename(tmp, path) != 0)
		goto fail;
	return TRAWL_OK;
fail:;
	int e = errno;
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return errf(err, errlen, e == ENOSPC || e == EDQUOT ? TRAWL_ENOSPC : TRAWL_EIO, "%s: %s",
	            tmp, strerror(e));
}

int sh_rdoc_next(const uint8_t **pp, const uint8_t *end, uint32_t nfields, sh_rdoc *d)
{
	const uint8_t *p = *pp;
	uint64_t v;
	if (end - p < 9)
		return TRAWL_ECORRUPT;
	d->hash = sh_rd64(p);
	p += 8;
	if (sh_getv(&p, end, &v) || v > UINT32_MAX)
		return TRAWL_ECORRUPT;
	d->seq = v;
	if (p >= end || *p > 1)
		return TRAWL_ECORRUPT;
	d->tomb = *p++;
	if (sh_getv(&p, end, &v) || v == 0 || v > LIMIT_ID_BYTES || (uint64_t)(end - p) < v)
		return TRAWL_ECORRUPT;
	d->id = p;
	d->id_len = (uint32_t)v;
	p += v;
	for (uint32_t f = 0; f < nfields; f++) {
		if (sh_getv(&p, end, &v) || v > UINT32_MAX)
			return TRAWL_ECORRUPT;
		d->lens[f] = (uint32_t)v;
	}
	if (sh_getv(&p, end, &v) || (uint64_t)(end - p) < v)
		return TRAWL_ECORRUPT;
	d->rec = p;
	d->rec_len = (uint32_t)v;
	p += v;
	if (sh_getv(&p, end, &v) || (uint64_t)(end - p) < v || v > LIMIT_MESSAGE_BYTES)
		return TRAWL_ECORRUPT;
	d->typed = p;
	d->typed_len = (uint32_t)v;
	p += v;
	*pp = p;
	return TRAWL_OK;
}

/* The parameters a run is made under, hashed: a run is reused only by a
 * build with the same ones (sh_run_fits). */
void sh_params_hash(sh_params *p)
{
	XXH3_state_t *s = XXH3_createState();
	uint32_t v = SH_RUN_VERSION, fmt = IDX_FORMAT_VERSION;
	XXH3_64bits_reset(s);
	XXH3_64bits_update(s, &v, 4);
	XXH3_64bits_update(s, &fmt, 4);
	/* a run made by another version of trawl may analyse text differently */
	XXH3_64bits_update(s, trawl_version(), strlen(trawl_version()));
	XXH3_64bits_update(s, p->schema_json, strlen(p->schema_json));
	XXH3_64bits_update(s, &p->nshards, 4);
	XXH3_64bits_update(s, &p->max_doc, 4);
	XXH3_64bits_update(s, &p->skip_bad, sizeof p->skip_bad);
	if (p->zdict_len)
		XXH3_64bits_update(s, p->zdict, p->zdict_len);
	if (p->schema.store_none) /* a scratch build's (sh_builder_store) too */
		XXH3_64bits_update(s, "store none", 10);
	p->hash = XXH3_64bits_digest(s);
	XXH3_freeState(s);
}
