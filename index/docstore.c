/*
 * docstore.c - the zstd boundary: dictionary training, and compressing and
 * checking stored document records (see docstore.h).
 */
#include "docstore.h"

#define ZDICT_STATIC_LINKING_ONLY
#include <stdlib.h>
#include <string.h>
#include <zdict.h>
#include <zstd.h>

#include "common/hash.h"
#include "trawl/trawl.h"

struct idx_zenc {
	ZSTD_CCtx *cctx;
	ZSTD_CDict *cdict;
};

struct idx_zdec {
	ZSTD_DCtx *dctx;
	ZSTD_DDict *ddict;
};

int idx_zdict_train(const void *samples, const size_t *sizes, unsigned n, void *dict, size_t cap,
                    size_t *dictlen)
{
	*dictlen = 0;
	size_t total = 0;
	for (unsigned i = 0; i < n; i++)
		total += sizes[i];
	/* zstd needs a reasonable amount of material: about 100 times the dictionary. */
	if (n < 64 || total < 64 * 1024)
		return TRAWL_OK;
	size_t want = total / 32;
	if (want > cap)
		want = cap;
	if (want < 4096)
		want = 4096;
	ZDICT_fastCover_params_t p;
	memset(&p, 0, sizeof p);
	p.k = 256;
	p.d = 8;
	p.f = 20;
	p.steps = 1;
	p.accel = 2;
	p.zParams.compressionLevel = 3;
	size_t r = ZDICT_trainFromBuffer_fastCover(dict, want, samples, sizes, n, p);
	if (ZDICT_isError(r))
		return TRAWL_OK; /* not enough structure to learn from: store without */
	*dictlen = r;
	return TRAWL_OK;
}

int idx_zenc_alloc(idx_zenc **out, const void *dict, size_t dictlen, int level)
{
	idx_zenc *z = calloc(1, sizeof *z);
	if (!z)
		return TRAWL_ENOMEM;
	z->cctx = ZSTD_createCCtx();
	if (dictlen)
		z->cdict = ZSTD_createCDict(dict, dictlen, level);
	if (!z->cctx || (dictlen && !z->cdict)) {
		idx_zenc_free(z);
		return TRAWL_ENOMEM;
	}
	ZSTD_CCtx_setParameter(z->cctx, ZSTD_c_compressionLevel, level);
	ZSTD_CCtx_setParameter(z->cctx, ZSTD_c_checksumFlag, 0);
	ZSTD_CCtx_setParameter(z->cctx, ZSTD_c_contentSizeFlag, 1);
	ZSTD_CCtx_setParameter(z->cctx, ZSTD_c_dictIDFlag, 0);
	if (z->cdict)
		ZSTD_CCtx_refCDict(z->cctx, z->cdict);
	*out = z;
	return TRAWL_OK;
}

void idx_zenc_free(idx_zenc *z)
{
	if (!z)
		return;
	ZSTD_freeCCtx(z->cctx);
	ZSTD_freeCDict(z->cdict);
	free(z);
}

int idx_zenc_record(idx_zenc *z, const void *doc, size_t n, tbuf *out)
{
	tbuf_reset(out);
	if (n > LIMIT_STORED_DOC_BYTES)
		return TRAWL_ELIMIT;
	size_t bound = ZSTD_compressBound(n);
	int rc = tbuf_reserve(out, 12 + bound);
	if (rc)
		return rc;
	uint64_t h = th_hash64(doc, n);
	uint32_t len = (uint32_t)n;
	memcpy(out->data, &h, 8);
	memcpy(out->data + 8, &len, 4);
	size_t r = ZSTD_compress2(z->cctx, out->data + 12, bound, doc, n);
	if (ZSTD_isError(r))
		return TRAWL_EINTERNAL;
	out->len = 12 + r;
	return TRAWL_OK;
}

int idx_zdec_alloc(idx_zdec **out, const void *dict, size_t dictlen)
{
	idx_zdec *z = calloc(1, sizeof *z);
	if (!z)
		return TRAWL_ENOMEM;
	z->dctx = ZSTD_createDCtx();
	if (dictlen)
		z->ddict = ZSTD_createDDict(dict, dictlen);
	if (!z->dctx || (dictlen && !z->ddict)) {
		idx_zdec_free(z);
		return TRAWL_ENOMEM;
	}
	*out = z;
	return TRAWL_OK;
}

void idx_zdec_free(idx_zdec *z)
{
	if (!z)
		return;
	ZSTD_freeDCtx(z->dctx);
	ZSTD_freeDDict(z->ddict);
	free(z);
}

int idx_zdec_record(idx_zdec *z, const void *rec, size_t n, char **doc, size_t *len)
{
	*doc = NULL;
	if (n < 12)
		return TRAWL_ECORRUPT;
	uint64_t h;
	uint32_t rawlen;
	memcpy(&h, rec, 8);
	memcpy(&rawlen, (const uint8_t *)rec + 8, 4);
	if (rawlen > LIMIT_STORED_DOC_BYTES)
		return TRAWL_ECORRUPT;
	char *buf = malloc((size_t)rawlen + 1);
	if (!buf)
		return TRAWL_ENOMEM;
	size_t r =
	    z->ddict ? ZSTD_decompress_usingDDict(z->dctx, buf, rawlen, (const uint8_t *)rec + 12,
	                                          n - 12, z->ddict)
	             : ZSTD_decompressDCtx(z->dctx, buf, rawlen, (const uint8_t *)rec + 12, n - 12);
	if (ZSTD_isError(r) || r != rawlen || th_hash64(buf, rawlen) != h) {
		free(buf);
		return TRAWL_ECORRUPT;
	}
	buf[rawlen] = 0;
	*doc = buf;
	*len = rawlen;
	return TRAWL_OK;
}

int idx_zdec_matches(idx_zdec *z, const void *rec, size_t n, const void *doc, size_t len,
                     tbuf *scratch)
{
	const uint8_t *r = rec;
	uint64_t h;
	uint32_t rawlen;
	if (n < 12 || len > LIMIT_STORED_DOC_BYTES)
		return 0;
	memcpy(&h, r, 8);
	memcpy(&rawlen, r + 8, 4);
	if (rawlen != len || h != th_hash64(doc, len) ||
	    ZSTD_findFrameCompressedSize(r + 12, n - 12) != n - 12)
		return 0;
	tbuf_reset(scratch);
	if (tbuf_reserve(scratch, len + 1))
		return -1;
	size_t got = z->ddict
	                 ? ZSTD_decompress_usingDDict(z->dctx, scratch->data, len + 1, r + 12,
	                                              n - 12, z->ddict)
	                 : ZSTD_decompressDCtx(z->dctx, scratch->data, len + 1, r + 12, n - 12);
	return !ZSTD_isError(got) && got == len && !memcmp(scratch->data, doc, len);
}

struct idx_zstream {
	ZSTD_DStream *ds;
	size_t last; /* ZSTD_decompressStream's last hint: 0 when a frame just ended */
};

int idx_zstream_alloc(idx_zstream **out)
{
	idx_zstream *z = calloc(1, sizeof *z);
	if (!z || !(z->ds = ZSTD_createDStream())) {
		free(z);
		return TRAWL_ENOMEM;
	}
	ZSTD_initDStream(z->ds);
	*out = z;
	return TRAWL_OK;
}

void idx_zstream_free(idx_zstream *z)
{
	if (!z)
		return;
	ZSTD_freeDStream(z->ds);
	free(z);
}

int idx_zstream_decompress(idx_zstream *z, const uint8_t **in, size_t *inlen, uint8_t *out,
                           size_t cap, size_t *outlen)
{
	ZSTD_inBuffer ib = {*in, *inlen, 0};
	ZSTD_outBuffer ob = {out, cap, 0};
	size_t r = ZSTD_decompressStream(z->ds, &ob, &ib);
	z->last = r;
	*in += ib.pos;
	*inlen -= ib.pos;
	*outlen = ob.pos;
	return ZSTD_isError(r) ? TRAWL_ECORRUPT : TRAWL_OK;
}

int idx_zstream_complete(const idx_zstream *z)
{
	return z->last == 0;
}
