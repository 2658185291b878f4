/*
 * input.c - plain, zstd and gzip input files (see input.h).
 */
#include "input.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "docstore.h"
#include "index_int.h"

#define RAW_BUF (1u << 20)

enum { PLAIN, ZSTD, GZIP };

struct idx_input {
	FILE *f;
	int is_stdin;
	int kind;
	char name[512];
	uint8_t *raw; /* compressed bytes read ahead */
	size_t rawlen, rawpos;
	uint64_t raw_total; /* bytes read from the file */
	uint64_t size;      /* of the file; 0 if unknown (standard input, a pipe) */
	int raw_eof;
	idx_zstream *zs;
	int seen; /* zstd: some input was decompressed */
	z_stream gz;
	int gz_open, gz_done;
};

static int fill(idx_input *in, char *err, size_t errlen)
{
	if (in->rawpos < in->rawlen || in->raw_eof)
		return TRAWL_OK;
	in->rawpos = 0;
	in->rawlen = fread(in->raw, 1, RAW_BUF, in->f);
	in->raw_total += in->rawlen;
	if (in->rawlen == 0) {
		if (ferror(in->f))
			return errf(err, errlen, TRAWL_EIO, "%s: read error: %s", in->name,
			            strerror(errno));
		in->raw_eof = 1;
	}
	return TRAWL_OK;
}

int idx_input_open(idx_input **out, const char *path, char *err, size_t errlen)
{
	*out = NULL;
	idx_input *in = calloc(1, sizeof *in);
	if (!in || !(in->raw = malloc(RAW_BUF))) {
		free(in);
		return TRAWL_ENOMEM;
	}
	in->is_stdin = !strcmp(path, "-");
	snprintf(in->name, sizeof in->name, "%s", in->is_stdin ? "<stdin>" : path);
	in->f = in->is_stdin ? stdin : fopen(path, "rb");
	if (!in->f) {
		int e = errno;
		free(in->raw);
		free(in);
		return errf(err, errlen, e == ENOENT ? TRAWL_ENOTFOUND : TRAWL_EIO, "%s: %s", path,
		            strerror(e));
	}
	struct stat st;
	if (!in->is_stdin && fstat(fileno(in->f), &st) == 0 && S_ISREG(st.st_mode))
		in->size = (uint64_t)st.st_size;
	int rc = fill(in, err, errlen);
	if (!rc && in->rawlen >= 4 && !memcmp(in->raw, "\x28\xb5\x2f\xfd", 4)) {
		in->kind = ZSTD;
		rc = idx_zstream_alloc(&in->zs);
	} else if (!rc && in->rawlen >= 2 && in->raw[0] == 0x1f && in->raw[1] == 0x8b) {
		in->kind = GZIP;
		/* 15 + 32: a gzip (or zlib) header, detected automatically */
		if (inflateInit2(&in->gz, 15 + 32) != Z_OK)
			rc = TRAWL_ENOMEM;
		else
			in->gz_open = 1;
	}
	if (rc) {
		idx_input_close(in);
		return rc;
	}
	*out = in;
	return TRAWL_OK;
}

int idx_input_read(idx_input *in, void *buf, size_t cap, size_t *n, char *err, size_t errlen)
{
	*n = 0;
	while (*n == 0) {
		int rc = fill(in, err, errlen);
		if (rc)
			return rc;
		size_t avail = in->rawlen - in->rawpos;
		if (in->kind == PLAIN) {
			if (!avail)
				return TRAWL_OK;
			size_t m = avail < cap ? avail : cap;
			memcpy(buf, in->raw + in->rawpos, m);
			in->rawpos += m;
			*n = m;
		} else if (in->kind == ZSTD) {
			if (!avail) {
				if (in->zs && !idx_zstream_complete(in->zs) && in->seen)
					return errf(err, errlen, TRAWL_ECORRUPT,
					            "%s: zstd data ends in the middle of a frame",
					            in->name);
				return TRAWL_OK;
			}
			in->seen = 1;
			const uint8_t *p = in->raw + in->rawpos;
			size_t left = avail, got = 0;
			if (idx_zstream_decompress(in->zs, &p, &left, buf, cap, &got))
				return errf(err, errlen, TRAWL_ECORRUPT, "%s: damaged zstd data",
				            in->name);
			in->rawpos += avail - left;
			*n = got;
		} else {
			if (in->gz_done) {
				/* another gzip member may follow */
				if (!avail)
					return TRAWL_OK;
				inflateReset(&in->gz);
				in->gz_done = 0;
			}
			if (!avail)
				return errf(err, errlen, TRAWL_ECORRUPT, "%s: gzip data ends early",
				            in->name);
			in->gz.next_in = in->raw + in->rawpos;
			in->gz.avail_in = (uInt)avail;
			in->gz.next_out = buf;
			in->gz.avail_out = (uInt)(cap > UINT32_MAX ? UINT32_MAX : cap);
			int zr = inflate(&in->gz, Z_NO_FLUSH);
			if (zr != Z_OK && zr != Z_STREAM_END && zr != Z_BUF_ERROR)
				return errf(err, errlen, TRAWL_ECORRUPT,
				            "%s: damaged gzip data: %s", in->name,
				            in->gz.msg ? in->gz.msg : "inflate failed");
			in->rawpos += avail - in->gz.avail_in;
			*n = (size_t)((uint8_t *)in->gz.next_out - (uint8_t *)buf);
			if (zr == Z_STREAM_END)
				in->gz_done = 1;
		}
	}
	return TRAWL_OK;
}

const char *idx_input_format(const idx_input *in)
{
	return in->kind == ZSTD ? "zstd" : in->kind == GZIP ? "gzip" : "jsonl";
}

void idx_input_close(idx_input *in)
{
	if (!in)
		return;
	if (in->f && !in->is_stdin)
		fclose(in->f);
	idx_zstream_free(in->zs);
	if (in->gz_open)
		inflateEnd(&in->gz);
	free(in->raw);
	free(in);
}

uint64_t idx_input_consumed(const idx_input *in)
{
	return in->raw_total - (in->rawlen - in->rawpos);
}

uint64_t idx_input_size(const idx_input *in)
{
	return in->size;
}
