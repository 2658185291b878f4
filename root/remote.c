/*
 * remote.c - a root's writer over a remote indexer (root/remote.h): one
 * nng REQ connection (common/rpc.h), one request per call, with a deadline
 * per kind of call. A write whose answer does not come back is reported as
 * such ("may or may not have been applied"): the indexer may have logged
 * it, and only a client that reads it back knows; the indexer's log, not
 * the root, is what makes an acknowledged write durable.
 */
#include "root/remote.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/error.h"
#include "common/limits.h"
#include "common/wmsg.h"

/* How long a root waits: a write for its fsync (a group commit behind a
 * large one), a get and the figures a moment, a refresh its own wait and
 * a margin. */
#define WRITE_WAIT_MS 30000
#define GET_WAIT_MS 5000
#define STATS_WAIT_MS 1000
#define REFRESH_MARGIN_MS 5000

struct remote_writer {
	rpc_client *cli;
	char url[LIMIT_URL_BYTES];
	root_writer iface;
};

/* One request and its reply of type expect (*reply decoded; the caller
 * frees it with wmsg_reply_fini and the bytes with rpc_call_fini). */
static int call(remote_writer *w, const tbuf *req, unsigned wait_ms, uint8_t expect, rpc_call *c,
                wmsg_reply *reply, char *err, size_t errlen)
{
	memset(c, 0, sizeof *c);
	memset(reply, 0, sizeof *reply);
	unsigned now;
	uint64_t made;
	rpc_client_connections(w->cli, &now, &made);
	if (!now) /* not connected: say so at once rather than wait for a dial */
		return errf(err, errlen, TRAWL_EIO, "the indexer at %s is not connected", w->url);
	c->peer = w->cli;
	c->req = req->data;
	c->len = req->len;
	rpc_call_many(c, 1, (int)wait_ms);
	if (c->rc)
		return errf(err, errlen, TRAWL_EIO, "the indexer at %s %s", w->url,
		            c->timed_out ? "did not answer in time" : "could not be reached");
	const char *why;
	int rc = wmsg_reply_decode(c->reply, c->reply_len, expect, reply, &why);
	if (rc)
		return errf(err, errlen, rc, "the indexer at %s answered %s", w->url,
		            rc == TRAWL_ENOMEM ? "more than fits in memory" : why);
	if (reply->status)
		return errf(err, errlen, reply->status, "%.*s", (int)reply->errmsg_len,
		            reply->errmsg ? reply->errmsg : "");
	return TRAWL_OK;
}

static int rw_write(void *ctx, const idx_wreq *reqs, uint32_t n, idx_wres *res, char *err,
                    size_t errlen)
{
	remote_writer *w = ctx;
	tbuf req;
	tbuf_init(&req, LIMIT_MESSAGE_BYTES);
	int rc = wmsg_write(&req, reqs, n);
	if (rc) {
		tbuf_fini(&req);
		return errf(err, errlen, rc, "the writes do not fit one message to the indexer");
	}
	rpc_call c;
	wmsg_reply r;
	rc = call(w, &req, WRITE_WAIT_MS, WMSG_WRITE_REPLY, &c, &r, err, errlen);
	if (rc == TRAWL_EIO && c.rc) /* sent, and no answer came */
		errf(
		    err, errlen, TRAWL_EIO,
		    "the indexer at %s did not answer: the writes may or may not have been applied "
		    "(read them back)",
		    w->url);
	if (!rc && r.n != n)
		rc = errf(err, errlen, TRAWL_ECORRUPT,
		          "the indexer at %s answered %u outcomes for %u "
		          "writes",
		          w->url, r.n, n);
	if (!rc)
		memcpy(res, r.results, n * sizeof *res);
	wmsg_reply_fini(&r);
	rpc_call_fini(&c);
	tbuf_fini(&req);
	return rc;
}

static int rw_get(void *ctx, const char *id, uint32_t idlen, idx_wlive *out, char *err,
                  size_t errlen)
{
	remote_writer *w = ctx;
	memset(out, 0, sizeof *out);
	tbuf req;
	tbuf_init(&req, LIMIT_MESSAGE_BYTES);
	int rc = wmsg_get(&req, id, idlen);
	rpc_call c;
	wmsg_reply r;
	memset(&c, 0, sizeof c);
	memset(&r, 0, sizeof r);
	if (rc)
		errf(err, errlen, rc, "an id of %u bytes", idlen);
	else
		rc = call(w, &req, GET_WAIT_MS, WMSG_GET_REPLY, &c, &r, err, errlen);
	if (!rc) {
		*out = r.state;
		out->doc = NULL;
		if (r.state.doc && !(out->doc = malloc(r.state.doclen + 1)))
			rc = errf(err, errlen, TRAWL_ENOMEM, "out of memory");
		else if (r.state.doc) {
			memcpy(out->doc, r.state.doc, r.state.doclen);
			out->doc[r.state.doclen] = 0;
		}
	}
	wmsg_reply_fini(&r);
	rpc_call_fini(&c);
	tbuf_fini(&req);
	return rc;
}

static int rw_refresh(void *ctx, uint64_t seq, unsigned timeout_ms, uint64_t *gen, char *err,
                      size_t errlen)
{
	remote_writer *w = ctx;
	tbuf req;
	tbuf_init(&req, 64);
	int rc = wmsg_refresh(&req, seq, timeout_ms);
	rpc_call c;
	wmsg_reply r;
	memset(&c, 0, sizeof c);
	memset(&r, 0, sizeof r);
	if (!rc)
		rc = call(w, &req, timeout_ms + REFRESH_MARGIN_MS, WMSG_REFRESH_REPLY, &c, &r, err,
		          errlen);
	if (!rc)
		*gen = r.generation;
	wmsg_reply_fini(&r);
	rpc_call_fini(&c);
	tbuf_fini(&req);
	return rc;
}

static void rw_stats(void *ctx, trawl_indexer_stats *out)
{
	remote_writer *w = ctx;
	memset(out, 0, sizeof *out);
	tbuf req;
	tbuf_init(&req, 64);
	char err[LIMIT_ERRMSG_BYTES];
	rpc_call c;
	wmsg_reply r;
	memset(&c, 0, sizeof c);
	memset(&r, 0, sizeof r);
	if (!wmsg_stats(&req) &&
	    !call(w, &req, STATS_WAIT_MS, WMSG_STATS_REPLY, &c, &r, err, sizeof err))
		*out = r.stats;
	wmsg_reply_fini(&r);
	rpc_call_fini(&c);
	tbuf_fini(&req);
}

int remote_writer_open(remote_writer **out, const char *url, const rpc_tls *tls, char *err,
                       size_t errlen)
{
	*out = NULL;
	remote_writer *w = calloc(1, sizeof *w);
	if (!w)
		return errf(err, errlen, TRAWL_ENOMEM, "out of memory");
	snprintf(w->url, sizeof w->url, "%s", url);
	int rc = rpc_client_open(&w->cli, url, tls, err, errlen);
	if (rc) {
		free(w);
		return rc;
	}
	w->iface = (root_writer){w, rw_write, rw_get, rw_refresh, rw_stats};
	*out = w;
	return TRAWL_OK;
}

const root_writer *remote_writer_of(const remote_writer *w)
{
	return &w->iface;
}

void remote_writer_close(remote_writer *w)
{
	if (!w)
		return;
	rpc_client_close(w->cli);
	free(w);
}
