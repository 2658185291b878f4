/*
 * msg.c - the build messages (msg.h; docs/WIRE.md, "Build messages"): the
 * bytes a builder and a `trawl build-worker` exchange, little-endian, the
 * first byte saying what a message is. A decoder checks each length against
 * what is left before it reads, and refuses a message whose length does not
 * fit its type exactly, so that whatever a peer sends is either a request
 * the builder understands or a refusal it counts (remote.c).
 */
#include <string.h>

#include "msg.h"

int sh_request_decode(const uint8_t *b, size_t len, sh_request *out, const char **why)
{
	memset(out, 0, sizeof *out);
	*why = NULL;
	if (len == 0) {
		*why = "an empty message";
		return TRAWL_ECORRUPT;
	}
	out->type = b[0];
	switch (b[0]) {
	case SH_MSG_NEXT:
		if (len != 1)
			*why = "a next-item request with bytes after it";
		break;
	case SH_MSG_BEAT:
		if (len != 9)
			*why = "a heartbeat that is not 9 bytes";
		else
			out->item = sh_rd64(b + 1);
		break;
	case SH_MSG_DONE:
		if (len < 9 + SH_RUN_HEAD + 8) {
			*why = "a finished item too short to hold a run";
			break;
		}
		out->item = sh_rd64(b + 1);
		out->run = b + 9;
		out->run_len = len - 9;
		break;
	case SH_MSG_FAIL: {
		if (len < 13) {
			*why = "a failure shorter than 13 bytes";
			break;
		}
		out->item = sh_rd64(b + 1);
		out->code = (int32_t)sh_rd32(b + 9);
		if (out->code <= 0 || out->code > TRAWL_EINTERNAL) {
			*why = "a failure with an unknown error code";
			break;
		}
		out->text = (const char *)b + 13;
		out->text_len = len - 13 > SH_MSG_FAIL_TEXT ? SH_MSG_FAIL_TEXT : len - 13;
		break;
	}
	default:
		*why = "an unknown message type";
	}
	return *why ? TRAWL_ECORRUPT : TRAWL_OK;
}

static int put64(tbuf *b, uint64_t v)
{
	return tbuf_append(b, &v, 8);
}

static int put32(tbuf *b, uint32_t v)
{
	return tbuf_append(b, &v, 4);
}

int sh_itemmsg_encode(tbuf *out, const sh_item *it, const sh_params *p)
{
	size_t sl = strlen(it->source) > 65535 ? 65535 : strlen(it->source);
	uint16_t sl16 = (uint16_t)sl;
	size_t jl = strlen(p->schema_json);
	int rc = tbuf_putc(out, SH_MSG_ITEM);
	rc = rc ? rc : put64(out, it->id);
	rc = rc ? rc : put64(out, it->hash);
	rc = rc ? rc : put64(out, it->first_line);
	rc = rc ? rc : tbuf_putc(out, (uint8_t)it->bulk);
	rc = rc ? rc : tbuf_append(out, &sl16, 2);
	rc = rc ? rc : tbuf_append(out, it->source, sl);
	rc = rc ? rc : put32(out, (uint32_t)jl);
	rc = rc ? rc : tbuf_append(out, p->schema_json, jl);
	rc = rc ? rc : put32(out, p->nshards);
	rc = rc ? rc : put32(out, p->max_doc);
	rc = rc ? rc : tbuf_putc(out, (uint8_t)p->skip_bad);
	rc = rc ? rc : put32(out, (uint32_t)p->zdict_len);
	rc = rc ? rc : tbuf_append(out, p->zdict, p->zdict_len);
	rc = rc ? rc : put64(out, p->hash);
	rc = rc ? rc : tbuf_append(out, it->bytes, it->len);
	return rc;
}

int sh_itemmsg_decode(const uint8_t *b, size_t len, sh_itemmsg *m)
{
	const uint8_t *p = b + 1, *end = b + len;
	memset(m, 0, sizeof *m);
#define NEED(n)                                                                                    \
	do {                                                                                       \
		if ((size_t)(end - p) < (size_t)(n))                                               \
			return TRAWL_ECORRUPT;                                                     \
	} while (0)
	if (len < 1 || b[0] != SH_MSG_ITEM)
		return TRAWL_ECORRUPT;
	NEED(27);
	m->it.id = sh_rd64(p);
	m->it.hash = sh_rd64(p + 8);
	m->it.first_line = sh_rd64(p + 16);
	m->it.bulk = p[24];
	uint16_t sl;
	memcpy(&sl, p + 25, 2);
	p += 27;
	NEED(sl);
	m->source = (const char *)p;
	m->source_len = sl;
	p += sl;
	NEED(4);
	uint32_t jl = sh_rd32(p);
	p += 4;
	NEED(jl);
	m->schema_json = (const char *)p;
	m->schema_len = jl;
	p += jl;
	NEED(13);
	m->nshards = sh_rd32(p);
	m->max_doc = sh_rd32(p + 4);
	m->skip_bad = p[8];
	uint32_t zl = sh_rd32(p + 9);
	p += 13;
	NEED((size_t)zl + 8);
	m->zdict = p;
	m->zdict_len = zl;
	p += zl;
	m->params_hash = sh_rd64(p);
	p += 8;
#undef NEED
	m->it.bytes = (const char *)p;
	m->it.len = (size_t)(end - p);
	if (m->nshards == 0 || m->nshards > TRAWL_MAX_SHARDS || m->max_doc == 0 ||
	    m->zdict_len > (1u << 20))
		return TRAWL_ECORRUPT;
	return TRAWL_OK;
}
