/*
 * snapshot.c - trawl_snapshot (trawl.h): a copy of an index's live
 * generation in a directory of its own, for a backup or to move the index.
 * A generation never changes once published, so its files are a
 * consistent snapshot without stopping anything; they are hard-linked
 * where the destination shares the file system (a snapshot then costs
 * directory entries only, and keeps the files when the indexer prunes the
 * generation) and copied otherwise, then every one is checked against the
 * manifest's size and XXH3-128, and the copy is published as the new
 * directory's one generation. A generation pruned while it is being read
 * (an indexer keeps 8 below the live one) is taken again from the newer
 * live one.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"
#include "gen.h"
#include "index_int.h"
#include "trawl/trawl.h"

/* Copies src to dst (a new file), fsynced. */
static int copy_file(const char *src, const char *dst, uint64_t *bytes, char *err, size_t errlen)
{
	int in = open(src, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return errf(err, errlen, errno == ENOENT ? TRAWL_ENOTFOUND : TRAWL_EIO, "%s: %s",
		            src, strerror(errno));
	int out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (out < 0) {
		int e = errno;
		close(in);
		return errf(err, errlen, e == ENOSPC ? TRAWL_ENOSPC : TRAWL_EIO, "%s: %s", dst,
		            strerror(e));
	}
	static const size_t chunk = (size_t)1 << 20;
	char *buf = malloc(chunk);
	int rc = buf ? TRAWL_OK : errf(err, errlen, TRAWL_ENOMEM, "out of memory");
	for (ssize_t n; !rc && (n = read(in, buf, chunk)) != 0;) {
		if (n < 0) {
			rc = errf(err, errlen, TRAWL_EIO, "%s: %s", src, strerror(errno));
			break;
		}
		for (ssize_t off = 0; !rc && off < n;) {
			ssize_t w = write(out, buf + off, (size_t)(n - off));
			if (w <= 0)
				rc = errf(err, errlen, errno == ENOSPC ? TRAWL_ENOSPC : TRAWL_EIO,
				          "%s: %s", dst, strerror(errno));
			else
				off += w;
		}
		*bytes += (uint64_t)n;
	}
	free(buf);
	if (!rc && fsync(out))
		rc = errf(err, errlen, TRAWL_EIO, "%s: %s", dst, strerror(errno));
	close(out);
	close(in);
	return rc;
}

/* Puts gendir/name into tmp/name: a hard link unless copy is set or the
 * file systems differ. TRAWL_ENOTFOUND when the source is gone. */
static int take(const char *gendir, const char *tmp, const char *name, int copy,
                trawl_snapshot_report *rep, char *err, size_t errlen)
{
	if (!name[0])
		return TRAWL_OK; /* a file the manifest does not have */
	char src[LIMIT_PATH_BYTES], dst[LIMIT_PATH_BYTES];
	if ((size_t)snprintf(src, sizeof src, "%s/%s", gendir, name) >= sizeof src ||
	    (size_t)snprintf(dst, sizeof dst, "%s/%s", tmp, name) >= sizeof dst)
		return errf(err, errlen, TRAWL_ELIMIT, "%s/%s: path too long", tmp, name);
	if (!copy && link(src, dst) == 0) {
		struct stat sb;
		rep->linked++;
		if (stat(dst, &sb) == 0)
			rep->bytes += (uint64_t)sb.st_size;
		return TRAWL_OK;
	}
	if (!copy && errno == ENOENT)
		return errf(err, errlen, TRAWL_ENOTFOUND, "%s: %s", src, strerror(errno));
	if (!copy && errno != EXDEV && errno != EPERM && errno != EMLINK)
		return errf(err, errlen, TRAWL_EIO, "%s: cannot link it into %s: %s", src, tmp,
		            strerror(errno));
	rep->copied++;
	return copy_file(src, dst, &rep->bytes, err, errlen);
}

/* One try on the live generation of dir; TRAWL_ENOTFOUND when a file of it
 * disappeared meanwhile (the caller tries the newer one). */
static int snapshot_once(const char *dir, const char *dest, int copy, trawl_snapshot_report *rep,
                         char *err, size_t errlen)
{
	uint64_t gen;
	char name[32], gendir[LIMIT_PATH_BYTES], tmp[LIMIT_PATH_BYTES];
	int rc = idx_gen_current(dir, &gen, err, errlen);
	if (rc)
		return rc == TRAWL_ENOTFOUND ? errf(err, errlen, TRAWL_EINVAL, "%s: no index", dir)
		                             : rc;
	idx_gen_dirname(name, gen);
	snprintf(gendir, sizeof gendir, "%s/%s", dir, name);
	if ((size_t)snprintf(tmp, sizeof tmp, "%s/%s.tmp", dest, name) >= sizeof tmp)
		return errf(err, errlen, TRAWL_ELIMIT, "%s: path too long", dest);
	idx_manifest m;
	if ((rc = idx_manifest_read(gendir, &m, err, errlen)))
		return rc == TRAWL_EIO && access(gendir, F_OK) ? TRAWL_ENOTFOUND : rc;
	memset(rep, 0, sizeof *rep);
	rep->generation = gen;
	idx_remove_tree(tmp); /* what an interrupted snapshot of it left */
	if (mkdir(tmp, 0755) != 0)
		rc = errf(err, errlen, TRAWL_EIO, "%s: %s", tmp, strerror(errno));
	static const char *const own[] = {"MANIFEST.json", "MANIFEST.xxh3"};
	for (int i = 0; !rc && i < 2; i++)
		rc = take(gendir, tmp, own[i], copy, rep, err, errlen);
	if (!rc)
		rc = take(gendir, tmp, m.stats_base.file, copy, rep, err, errlen);
	if (!rc)
		rc = take(gendir, tmp, m.stats_delta.file, copy, rep, err, errlen);
	for (uint32_t s = 0; !rc && s < m.shards; s++)
		for (uint32_t k = 0; !rc && k < m.shard[s].nsegs; k++) {
			const idx_mseg *g = &m.shard[s].segs[k];
			rc = take(gendir, tmp, g->f.file, copy, rep, err, errlen);
			if (!rc)
				rc = take(gendir, tmp, g->del.file, copy, rep, err, errlen);
			if (!rc)
				rc = take(gendir, tmp, g->ver.file, copy, rep, err, errlen);
		}
	/* every file as the manifest says, read back from the copy */
	if (!rc)
		rc = idx_manifest_verify(tmp, &m, NULL, err, errlen);
	rep->docs = m.docs;
	rep->shards = m.shards;
	idx_manifest_fini(&m);
	if (!rc)
		rc = idx_gen_publish(dest, tmp, gen, err, errlen);
	if (rc)
		idx_remove_tree(tmp);
	return rc;
}

int trawl_snapshot(const char *dir, const char *dest, int copy, trawl_snapshot_report *rep,
                   char *errbuf, size_t errlen)
{
	trawl_snapshot_report local;
	if (!rep)
		rep = &local;
	memset(rep, 0, sizeof *rep);
	struct stat sb;
	if (stat(dest, &sb) == 0) {
		char cur[LIMIT_PATH_BYTES];
		snprintf(cur, sizeof cur, "%s/CURRENT", dest);
		if (access(cur, F_OK) == 0)
			return errf(
			    errbuf, errlen, TRAWL_EINVAL,
			    "%s already holds an index: a snapshot goes into a new directory",
			    dest);
	} else if (mkdir(dest, 0755) != 0) {
		return errf(errbuf, errlen, TRAWL_EIO, "%s: %s", dest, strerror(errno));
	}
	int rc = TRAWL_ENOTFOUND;
	for (int attempt = 0; rc == TRAWL_ENOTFOUND && attempt < 5; attempt++)
		rc = snapshot_once(dir, dest, copy, rep, errbuf, errlen);
	return rc;
}
