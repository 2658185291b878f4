/*
 * indexer_rpc.c - the indexer's server (indexer_rpc.h): each request a
 * write message, decoded (a request that does not decode is answered with
 * why, and counted), handed to the trawl_indexer, and its outcome encoded.
 * A write is answered once it is durable in the index's log (the indexer's
 * promise), so a root that got an answer may acknowledge it. Leaves that
 * pull the index's generations ask the same port for its files (FILES,
 * FILE_READ: leaf/fileserve.c answers them).
 */
#include "cli/indexer_rpc.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/limits.h"
#include "common/wmsg.h"
#include "leaf/fileserve.h"

struct indexer_rpc {
	trawl_indexer *x;
	char dir[LIMIT_PATH_BYTES]; /* the index directory, whose files it serves */
	rpc_server *srv;
	atomic_uint_fast64_t answered, refused;
};

static void on_write(indexer_rpc *s, const wmsg_request *q, tbuf *out)
{
	char err[LIMIT_ERRMSG_BYTES];
	trawl_write_result *res = calloc(q->n, sizeof *res);
	int rc = res ? trawl_indexer_write(s->x, q->writes, q->n, res, err, sizeof err)
	             : errf(err, sizeof err, TRAWL_ENOMEM, "out of memory");
	if (rc)
		wmsg_error_reply(out, WMSG_WRITE_REPLY, rc, err);
	else
		wmsg_write_reply(out, res, q->n);
	free(res);
}

static void on_get(indexer_rpc *s, const wmsg_request *q, tbuf *out)
{
	char err[LIMIT_ERRMSG_BYTES];
	trawl_doc_state st;
	memset(&st, 0, sizeof st);
	int rc = trawl_indexer_get(s->x, q->id, q->idlen, &st, err, sizeof err);
	if (rc)
		wmsg_error_reply(out, WMSG_GET_REPLY, rc, err);
	else
		wmsg_get_reply(out, &st);
	free(st.doc);
}

static void on_refresh(indexer_rpc *s, const wmsg_request *q, tbuf *out)
{
	char err[LIMIT_ERRMSG_BYTES];
	unsigned wait = q->timeout_ms && q->timeout_ms < LIMIT_REFRESH_WAIT_MS
	                    ? q->timeout_ms
	                    : LIMIT_REFRESH_WAIT_MS;
	int rc = trawl_indexer_refresh(s->x, q->seq, wait, err, sizeof err);
	trawl_indexer_stats st;
	trawl_indexer_get_stats(s->x, &st);
	if (rc)
		wmsg_error_reply(out, WMSG_REFRESH_REPLY, rc, err);
	else
		wmsg_refresh_reply(out, st.generation);
}

static void handle(void *ctx, unsigned worker, const uint8_t *req, size_t len, tbuf *out)
{
	(void)worker;
	indexer_rpc *s = ctx;
	/* a leaf pulling what the indexer published (leaf/pull.c): FILES and
	 * FILE_READ, wire messages (their own magic) */
	if (fileserve_answer(s->dir, req, len, out))
		return;
	wmsg_request q;
	const char *why;
	int rc = wmsg_request_decode(req, len, &q, &why);
	if (rc) {
		atomic_fetch_add(&s->refused, 1);
		/* the reply of the type the request claimed, when it claimed one */
		uint8_t t = q.type >= WMSG_WRITE && q.type <= WMSG_STATS && (q.type & 1)
		                ? q.type + 1
		                : WMSG_WRITE_REPLY;
		wmsg_error_reply(out, t, rc == TRAWL_ENOMEM ? TRAWL_ENOMEM : TRAWL_EINVAL,
		                 rc == TRAWL_ENOMEM ? "out of memory" : why);
		return;
	}
	atomic_fetch_add(&s->answered, 1);
	switch (q.type) {
	case WMSG_WRITE:
		on_write(s, &q, out);
		break;
	case WMSG_GET:
		on_get(s, &q, out);
		break;
	case WMSG_REFRESH:
		on_refresh(s, &q, out);
		break;
	default: { /* WMSG_STATS */
		trawl_indexer_stats st;
		trawl_indexer_get_stats(s->x, &st);
		wmsg_stats_reply(out, &st);
	}
	}
	wmsg_request_fini(&q);
}

int indexer_rpc_start(indexer_rpc **out, trawl_indexer *x, const char *dir, const char *url,
                      const rpc_tls *tls, unsigned workers, char *err, size_t errlen)
{
	*out = NULL;
	indexer_rpc *s = calloc(1, sizeof *s);
	if (!s)
		return errf(err, errlen, TRAWL_ENOMEM, "out of memory");
	s->x = x;
	snprintf(s->dir, sizeof s->dir, "%s", dir);
	rpc_server_opts o = {0};
	o.tls = tls;
	o.workers = workers;
	int rc = rpc_server_start(&s->srv, url, &o, handle, s, err, errlen);
	if (rc) {
		free(s);
		return rc;
	}
	*out = s;
	return TRAWL_OK;
}

void indexer_rpc_counts(const indexer_rpc *s, uint64_t *answered, uint64_t *refused)
{
	*answered = atomic_load(&s->answered);
	*refused = atomic_load(&s->refused);
}

void indexer_rpc_stop(indexer_rpc *s)
{
	if (!s)
		return;
	rpc_server_stop(s->srv);
	free(s);
}
