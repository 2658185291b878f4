/*
 * fuzz_build.c - fuzz target for the build messages between a builder and
 * its build workers (shard/msg.c) and the builder's check of the runs they
 * send (shard/audit.c): every byte of them comes from another process.
 *
 * An input is a work item (JSON Lines, or _bulk when it starts with an
 * action), then a NUL byte and a message as a peer would send it. The
 * message is decoded as a request (what the builder reads) and as an item
 * reply (what a worker reads); a 'D' request's run is made to name the item
 * and its parameters (as a run passing sh_run_check must), then audited
 * against the item; an 'F' request's item is parsed. Without a NUL, the
 * input is only the item: the target makes the honest run itself, which
 * the audit must accept (a refusal aborts), then audits it again with a
 * few bytes changed, and round-trips the item reply.
 *
 * Corpus (tests/fuzz/corpus/build): items alone; items with requests of
 * every type, malformed ones, item replies, and the runs that
 * `trawl index --partition 0/2` made of those items.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hash.h"
#include "shard/msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static sh_params P;
static char *schema_json;
static sh_worker *W;
static sh_auditor *A;
static tbuf RUN, MSG, COPY;

static void setup(void)
{
	if (schema_json)
		return;
	idx_schema_default(&P.schema);
	schema_json = idx_schema_to_json(&P.schema);
	P.schema_json = schema_json;
	P.nshards = 2;
	P.max_doc = 1u << 20;
	P.skip_bad = 1;
	sh_params_hash(&P);
	if (sh_worker_new(&W) || sh_auditor_new(&A))
		abort();
	tbuf_init(&RUN, 1u << 28);
	tbuf_init(&MSG, 1u << 28);
	tbuf_init(&COPY, 1u << 28);
}

/* The audit of the len bytes at b as it's run, its header made to name it
 * and P (b is changed); TRAWL_OK or why not. */
static int audit(const sh_item *it, uint8_t *b, size_t len)
{
	if (len < SH_RUN_HEAD + 8)
		return TRAWL_ECORRUPT;
	memcpy(b + 16, &it->id, 8);
	memcpy(b + 24, &it->hash, 8);
	memcpy(b + 32, &P.hash, 8);
	uint64_t sum = th_hash64(b, len - 8);
	memcpy(b + len - 8, &sum, 8);
	sh_run r;
	char err[512];
	int bad;
	int rc = sh_run_check(&r, b, len, err, sizeof err);
	return rc ? rc : sh_run_audit(A, &P, it, &r, &bad, err, sizeof err);
}

/* What a worker does with an item reply. */
static void worker_reads(const uint8_t *b, size_t len)
{
	sh_itemmsg m;
	if (sh_itemmsg_decode(b, len, &m) == TRAWL_OK) {
		idx_schema s;
		char why[256];
		(void)idx_schema_parse(&s, m.schema_json, m.schema_len, why, sizeof why);
	}
}

/* The honest run of it, accepted; changed, audited; the item reply. */
static void self_check(const sh_item *it)
{
	char err[1024];
	if (sh_work(W, &P, it, &RUN, err, sizeof err))
		return; /* a bad line that even skip_bad does not skip (out of memory) */
	tbuf_reset(&MSG);
	if (tbuf_putc(&MSG, SH_MSG_DONE) || tbuf_append(&MSG, &it->id, 8) ||
	    tbuf_append(&MSG, RUN.data, RUN.len))
		return;
	sh_request req;
	const char *why;
	if (sh_request_decode(MSG.data, MSG.len, &req, &why) || req.type != SH_MSG_DONE ||
	    req.item != it->id || req.run_len != RUN.len)
		abort();
	if (audit(it, RUN.data, RUN.len) != TRAWL_OK)
		abort(); /* an honest run refused */
	uint64_t h = th_hash64(it->bytes, it->len);
	for (int k = 0; k < 8; k++) {
		size_t at = (size_t)((h >> (8 * k)) * 2654435761u % (RUN.len - 8));
		RUN.data[at] ^= (uint8_t)(1u << k);
		(void)audit(it, RUN.data, RUN.len);
		RUN.data[at] ^= (uint8_t)(1u << k);
	}
	tbuf_reset(&MSG);
	sh_itemmsg m;
	if (sh_itemmsg_encode(&MSG, it, &P) || sh_itemmsg_decode(MSG.data, MSG.len, &m) ||
	    m.it.id != it->id || m.it.hash != it->hash || m.it.len != it->len ||
	    memcmp(m.it.bytes, it->bytes, it->len) || m.params_hash != P.hash ||
	    m.schema_len != strlen(P.schema_json))
		abort();
	worker_reads(MSG.data, MSG.len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > (16u << 20))
		return 0;
	setup();
	const uint8_t *nul = memchr(data, 0, size);
	size_t ilen = nul ? (size_t)(nul - data) : size;
	/* the item: whole lines, as the splitter makes them */
	tbuf_reset(&COPY);
	if (tbuf_append(&COPY, data, ilen) ||
	    (ilen && data[ilen - 1] != '\n' && tbuf_putc(&COPY, '\n')))
		return 0;
	int bulk = ilen > 9 && (!memcmp(data, "{\"index\"", 8) || !memcmp(data, "{\"delete\"", 9) ||
	                        !memcmp(data, "{\"create\"", 9));
	sh_item it = {0, 0, 1, bulk, "fuzz", (const char *)COPY.data, COPY.len};
	it.hash = th_hash64_seeded(it.bytes, it.len, 2 + (uint64_t)bulk);
	if (!nul) {
		self_check(&it);
		return 0;
	}
	const uint8_t *msg = nul + 1;
	size_t mlen = size - ilen - 1;
	worker_reads(msg, mlen);
	sh_request req;
	const char *why;
	if (sh_request_decode(msg, mlen, &req, &why))
		return 0;
	char err[1024];
	if (req.type == SH_MSG_DONE) {
		uint8_t *b = malloc(req.run_len); /* exact size: ASan sees any overread */
		if (!b)
			return 0;
		memcpy(b, req.run, req.run_len);
		(void)audit(&it, b, req.run_len);
		free(b);
	} else if (req.type == SH_MSG_FAIL) {
		(void)sh_item_audit(A, &P, &it, err, sizeof err);
	}
	return 0;
}
