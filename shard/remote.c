/*
 * remote.c - work items over nng, for builds on many machines: the builder
 * listens (trawl_build_opts.listen) and `trawl build-worker` processes
 * connect, ask for an item, work it (work.c) and send its run back in the
 * request that asks for the next. REQ/REP through common/rpc.c, because a
 * run must be acknowledged: the builder writes it to the build directory
 * before it counts the item as done.
 *
 * A worker renews the lease on the item it works every second ('B'); one
 * that dies or hangs stops renewing, its lease runs out after 5 s and the
 * item goes to the next worker that asks (queue.c).
 *
 * Over tls+tcp:// with a CA, a peer without a certificate signed by it is
 * refused by the TLS handshake, before any message is read (rpc.c).
 *
 * Messages (little-endian; docs/WIRE.md, "Build messages"):
 *   worker -> builder  'N'                       next item, please
 *                      'D' u64 item, run bytes   done; next item, please
 *                      'B' u64 item              still working on it
 *                      'F' u64 item, i32 code, message   it failed
 *   builder -> worker  'I' item (below)  'W' wait and ask again
 *                      'O' the build is over     'K' noted
 *   item: u64 id, u64 hash, u64 first line, u8 bulk, u16 source length,
 *         source, u32 schema length, schema JSON, u32 shards, u32 document
 *         limit, u8 skip_bad, u32 dictionary length, dictionary, u64
 *         parameters hash, then the item's bytes to the end.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/rpc.h"
#include "queue.h"
#include "remote.h"

/* An 'N' waits up to NEXT_WAIT_MS for an item in a server thread; with
 * many idle workers that would hold every thread, and the heartbeats of
 * the busy ones would wait behind them: enough threads, short waits. */
#define SERVER_THREADS 32
#define NEXT_WAIT_MS 200

struct sh_remote {
	rpc_server *srv;
	sh_queue *q;
	const sh_params *p;
	const char *dir;           /* where runs go */
	atomic_ullong last_ms;     /* when the last request came */
	tbuf copy[SERVER_THREADS]; /* item bytes, per server thread */
};

static void put64(tbuf *b, uint64_t v)
{
	tbuf_append(b, &v, 8);
}

static void put32(tbuf *b, uint32_t v)
{
	tbuf_append(b, &v, 4);
}

/* Answers 'N' (and the 'N' in 'D'): an item, wait, or over. */
static void next_item(sh_remote *r, unsigned worker, tbuf *out)
{
	sh_item it;
	int k = sh_queue_take(r->q, &r->copy[worker], 1, NEXT_WAIT_MS, &it);
	if (k == SH_Q_OVER) {
		tbuf_putc(out, 'O');
		return;
	}
	if (k != SH_Q_ITEM) {
		tbuf_putc(out, 'W');
		return;
	}
	const sh_params *p = r->p;
	size_t sl = strlen(it.source) > 65535 ? 65535 : strlen(it.source);
	uint16_t sl16 = (uint16_t)sl;
	tbuf_putc(out, 'I');
	put64(out, it.id);
	put64(out, it.hash);
	put64(out, it.first_line);
	tbuf_putc(out, (uint8_t)it.bulk);
	tbuf_append(out, &sl16, 2);
	tbuf_append(out, it.source, sl);
	put32(out, (uint32_t)strlen(p->schema_json));
	tbuf_append(out, p->schema_json, strlen(p->schema_json));
	put32(out, p->nshards);
	put32(out, p->max_doc);
	tbuf_putc(out, (uint8_t)p->skip_bad);
	put32(out, (uint32_t)p->zdict_len);
	tbuf_append(out, p->zdict, p->zdict_len);
	put64(out, p->hash);
	tbuf_append(out, it.bytes, it.len);
	/* let the copy go: 32 threads must not each keep an item's worth */
	size_t max = r->copy[worker].max;
	tbuf_fini(&r->copy[worker]);
	tbuf_init(&r->copy[worker], max);
}

static void handle(void *ctx, unsigned worker, const uint8_t *req, size_t len, tbuf *out)
{
	sh_remote *r = ctx;
	atomic_store(&r->last_ms, clock_mono_ms());
	uint64_t id = 0;
	if (len >= 9)
		memcpy(&id, req + 1, 8);
	switch (len ? req[0] : 0) {
	case 'N':
		next_item(r, worker, out);
		return;
	case 'B':
		if (len >= 9)
			sh_queue_beat(r->q, id);
		tbuf_putc(out, 'K');
		return;
	case 'D': {
		char err[512];
		sh_run run;
		uint64_t hash;
		if (len >= 9 && !sh_queue_item_hash(r->q, id, &hash)) {
			next_item(r, worker, out); /* done already, by another worker */
			return;
		}
		if (len < 9 || sh_run_check(&run, req + 9, len - 9, err, sizeof err) ||
		    !sh_run_fits(&run, r->p, id, hash)) {
			/* a damaged or foreign run: the item stays leased, and is
			 * handed out again when its lease runs out */
			tbuf_putc(out, 'W');
			return;
		}
		int rc = sh_run_write(r->dir, id, req + 9, len - 9, err, sizeof err);
		if (rc == TRAWL_OK)
			rc = sh_queue_complete(r->q, id, &run);
		if (rc) {
			sh_queue_fail(r->q, rc, err);
			tbuf_putc(out, 'O');
			return;
		}
		next_item(r, worker, out);
		return;
	}
	case 'F': {
		int32_t code = TRAWL_EINTERNAL;
		if (len >= 13)
			memcpy(&code, req + 9, 4);
		char msg[1024];
		size_t n = len > 13 ? len - 13 : 0;
		if (n >= sizeof msg)
			n = sizeof msg - 1;
		memcpy(msg, req + 13, n);
		msg[n] = 0;
		sh_queue_fail(r->q, code > 0 && code <= TRAWL_EINTERNAL ? code : TRAWL_EINTERNAL,
		              n ? msg : "a build worker failed");
		tbuf_putc(out, 'O');
		return;
	}
	default:
		tbuf_putc(out, 'O');
	}
}

int sh_remote_start(sh_remote **out, const char *url, const rpc_tls *tls, sh_queue *q,
                    const sh_params *p, const char *dir, char *err, size_t errlen)
{
	sh_remote *r = calloc(1, sizeof *r);
	if (!r)
		return idx_errf(err, errlen, TRAWL_ENOMEM, "out of memory");
	r->q = q;
	r->p = p;
	r->dir = dir;
	for (int i = 0; i < SERVER_THREADS; i++)
		tbuf_init(&r->copy[i], SH_ITEM_LIMIT);
	char why[512];
	int rc = rpc_server_start(&r->srv, url, tls, SERVER_THREADS, handle, r, why, sizeof why);
	if (rc) {
		sh_remote_stop(r);
		return idx_errf(err, errlen, rc, "build: cannot listen: %s", why);
	}
	*out = r;
	return TRAWL_OK;
}

void sh_remote_stop(sh_remote *r)
{
	if (!r)
		return;
	/* Every worker still connected asks at least every NEXT_WAIT_MS and is
	 * told the build is over: wait for a quiet spell so that they all hear
	 * it and exit, rather than retry until they give up. */
	for (uint64_t t0 = clock_mono_ms(); clock_mono_ms() - t0 < 3000;) {
		if (clock_mono_ms() - atomic_load(&r->last_ms) > NEXT_WAIT_MS + 400)
			break;
		usleep(50000);
	}
	if (r->srv)
		rpc_server_stop(r->srv);
	for (int i = 0; i < SERVER_THREADS; i++)
		tbuf_fini(&r->copy[i]);
	free(r);
}

/* ---- the worker process ---- */

typedef struct wstate {
	rpc_client *c;
	atomic_int over;
	atomic_int failed;
	unsigned give_up_ms;
	int tls; /* over tls+tcp:// */
	pthread_mutex_t mu;
	/* item + 1 held by each thread (worked, or its run being sent), 0 none */
	_Atomic uint64_t working[SH_MAX_WORKERS];
	unsigned nthreads;
	sh_params params; /* of the build, once known */
	uint8_t *zdict;
	char *schema_json;
	int have_params;
	char err[1024];
	int rc;
} wstate;

static void wfail(wstate *s, int rc, const char *msg)
{
	pthread_mutex_lock(&s->mu);
	if (!s->rc) {
		s->rc = rc;
		snprintf(s->err, sizeof s->err, "%s", msg);
	}
	pthread_mutex_unlock(&s->mu);
	atomic_store(&s->failed, 1);
}

/* One call, retried until it gets an answer or give_up_ms pass. */
static int call(wstate *s, const uint8_t *req, size_t len, uint8_t **reply, size_t *rlen)
{
	uint64_t start = clock_mono_ms();
	for (;;) {
		rpc_call c = {0};
		c.peer = s->c;
		c.req = req;
		c.len = len;
		uint64_t spent = clock_mono_ms() - start;
		uint64_t left = spent < s->give_up_ms ? s->give_up_ms - spent : 0;
		rpc_call_many(&c, 1, (int)(left > 100 ? left : 100));
		if (c.rc == TRAWL_OK && c.reply_len > 0) {
			*reply = c.reply;
			*rlen = c.reply_len;
			return TRAWL_OK;
		}
		rpc_call_fini(&c);
		if (clock_mono_ms() - start > s->give_up_ms)
			return TRAWL_EIO;
		usleep(200000);
	}
}

/* Reads an 'I' reply into it (bytes pointing into rep) and the build's
 * parameters into s (once). */
static int read_item(wstate *s, const uint8_t *rep, size_t len, sh_item *it, char **source)
{
	const uint8_t *p = rep + 1, *end = rep + len;
#define NEED(n)                                                                                    \
	do {                                                                                       \
		if ((size_t)(end - p) < (size_t)(n))                                               \
			return TRAWL_ECORRUPT;                                                     \
	} while (0)
	NEED(27);
	memcpy(&it->id, p, 8);
	memcpy(&it->hash, p + 8, 8);
	memcpy(&it->first_line, p + 16, 8);
	it->bulk = p[24];
	uint16_t sl;
	memcpy(&sl, p + 25, 2);
	p += 27;
	NEED(sl);
	free(*source);
	if (!(*source = strndup((const char *)p, sl)))
		return TRAWL_ENOMEM;
	it->source = *source;
	p += sl;
	uint32_t jl;
	NEED(4);
	memcpy(&jl, p, 4);
	p += 4;
	NEED(jl);
	const char *json = (const char *)p;
	p += jl;
	NEED(13);
	uint32_t ns, maxdoc, zl;
	memcpy(&ns, p, 4);
	memcpy(&maxdoc, p + 4, 4);
	int skip = p[8];
	memcpy(&zl, p + 9, 4);
	p += 13;
	NEED((size_t)zl + 8);
	const uint8_t *zd = p;
	p += zl;
	uint64_t hash;
	memcpy(&hash, p, 8);
	p += 8;
	it->bytes = (const char *)p;
	it->len = (size_t)(end - p);
#undef NEED
	if (s->have_params && s->params.hash == hash)
		return TRAWL_OK;
	/* the build's parameters (the same for every item of one build) */
	if (s->have_params)
		return TRAWL_EINVAL;
	char why[512];
	if (ns == 0 || ns > TRAWL_MAX_SHARDS || maxdoc == 0 || zl > (1u << 20) ||
	    idx_schema_parse(&s->params.schema, json, jl, why, sizeof why))
		return TRAWL_ECORRUPT;
	s->schema_json = strndup(json, jl);
	s->zdict = malloc(zl ? zl : 1);
	if (!s->schema_json || !s->zdict)
		return TRAWL_ENOMEM;
	memcpy(s->zdict, zd, zl);
	s->params.schema_json = s->schema_json;
	s->params.nshards = ns;
	s->params.max_doc = maxdoc;
	s->params.skip_bad = skip;
	s->params.zdict = s->zdict;
	s->params.zdict_len = zl;
	sh_params_hash(&s->params);
	if (s->params.hash != hash)
		return TRAWL_EVERSION; /* this worker encodes runs differently */
	s->have_params = 1;
	return TRAWL_OK;
}

typedef struct wthread {
	wstate *s;
	unsigned no;
} wthread;

static void *work_thread(void *arg)
{
	wthread *t = arg;
	wstate *s = t->s;
	sh_worker *w = NULL;
	tbuf req, run;
	tbuf_init(&req, RPC_MAX_MESSAGE);
	tbuf_init(&run, RPC_MAX_MESSAGE);
	char *source = NULL;
	char err[1024];
	if (sh_worker_new(&w)) {
		wfail(s, TRAWL_ENOMEM, "out of memory");
		goto out;
	}
	tbuf_putc(&req, 'N');
	while (!atomic_load(&s->over) && !atomic_load(&s->failed)) {
		uint8_t *rep = NULL;
		size_t rlen = 0;
		int crc = call(s, req.data, req.len, &rep, &rlen);
		atomic_store(&s->working[t->no], 0); /* the run (if any) was acknowledged */
		if (crc) {
			wfail(s, TRAWL_EIO,
			      s->tls ? "the builder stopped answering (or never did: a builder "
			               "with a CA "
			               "refuses a worker without a certificate it signed)"
			             : "the builder stopped answering");
			break;
		}
		tbuf_reset(&req);
		tbuf_putc(&req, 'N');
		if (rep[0] == 'O') {
			atomic_store(&s->over, 1);
			free(rep);
			break;
		}
		if (rep[0] != 'I') {
			free(rep);
			usleep(50000);
			continue;
		}
		sh_item it;
		pthread_mutex_lock(&s->mu);
		int rc = read_item(s, rep, rlen, &it, &source);
		pthread_mutex_unlock(&s->mu);
		if (rc) {
			free(rep);
			wfail(s, rc,
			      rc == TRAWL_EVERSION
			          ? "this worker and the builder are different versions"
			          : "a malformed work item");
			break;
		}
		/* the lease is renewed until the run is acknowledged, not just made */
		atomic_store(&s->working[t->no], it.id + 1);
		rc = sh_work(w, &s->params, &it, &run, err, sizeof err);
		free(rep);
		if (rc) {
			atomic_store(&s->working[t->no], 0);
			/* a bad line (without skip_bad) fails the whole build */
			tbuf_reset(&req);
			tbuf_putc(&req, 'F');
			put64(&req, it.id);
			int32_t code = rc;
			tbuf_append(&req, &code, 4);
			tbuf_append(&req, err, strlen(err));
			if (call(s, req.data, req.len, &rep, &rlen) == TRAWL_OK)
				free(rep);
			wfail(s, rc, err);
			break;
		}
		tbuf_reset(&req);
		tbuf_putc(&req, 'D');
		put64(&req, it.id);
		if (tbuf_append(&req, run.data, run.len)) {
			wfail(s, TRAWL_ELIMIT, "a run larger than a message may be");
			break;
		}
	}
out:
	sh_worker_free(w);
	tbuf_fini(&req);
	tbuf_fini(&run);
	free(source);
	return NULL;
}

/* Renews the leases of the items being worked, every second. */
static void *beat_thread(void *arg)
{
	wstate *s = arg;
	while (!atomic_load(&s->over) && !atomic_load(&s->failed)) {
		for (int i = 0; i < 10 && !atomic_load(&s->over) && !atomic_load(&s->failed); i++)
			usleep(100000);
		for (unsigned t = 0; t < s->nthreads; t++) {
			uint64_t w = atomic_load(&s->working[t]);
			if (!w)
				continue;
			uint8_t req[9] = {'B'};
			uint64_t id = w - 1;
			memcpy(req + 1, &id, 8);
			rpc_call c = {0};
			c.peer = s->c;
			c.req = req;
			c.len = 9;
			rpc_call_many(&c, 1, 2000);
			rpc_call_fini(&c);
		}
	}
	return NULL;
}

int trawl_build_worker(const char *url, unsigned threads, unsigned give_up_ms, char *errbuf,
                       size_t errlen)
{
	return trawl_build_worker_tls(url, NULL, threads, give_up_ms, errbuf, errlen);
}

int trawl_build_worker_tls(const char *url, const trawl_tls *tls, unsigned threads,
                           unsigned give_up_ms, char *errbuf, size_t errlen)
{
	int is_tls = !strncmp(url, "tls+", 4);
	if (tls && (tls->cert_file || tls->key_file || tls->ca_file) && !is_tls)
		return idx_errf(errbuf, errlen, TRAWL_EINVAL,
		                "%s: certificates are for tls+tcp:// URLs only", url);
	if (tls && !tls->cert_file != !tls->key_file)
		return idx_errf(errbuf, errlen, TRAWL_EINVAL,
		                "a certificate needs its key, and a key its certificate");
	rpc_tls rt = {tls ? tls->cert_file : NULL, tls ? tls->key_file : NULL,
	              tls ? tls->ca_file : NULL};
	wstate *s = calloc(1, sizeof *s);
	if (!s)
		return idx_errf(errbuf, errlen, TRAWL_ENOMEM, "out of memory");
	if (!threads) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		threads = n > 0 ? (unsigned)n : 1;
	}
	if (threads > SH_MAX_WORKERS)
		threads = SH_MAX_WORKERS;
	s->nthreads = threads;
	s->give_up_ms = give_up_ms ? give_up_ms : 30000;
	s->tls = is_tls;
	pthread_mutex_init(&s->mu, NULL);
	char why[512];
	int rc = rpc_client_open(&s->c, url, &rt, why, sizeof why);
	if (rc) {
		idx_errf(errbuf, errlen, rc, "%s: %s", url, why);
		pthread_mutex_destroy(&s->mu);
		free(s);
		return rc;
	}
	wthread wt[SH_MAX_WORKERS];
	pthread_t tid[SH_MAX_WORKERS], beat;
	unsigned started = 0;
	for (unsigned i = 0; i < threads; i++) {
		wt[i] = (wthread){s, i};
		if (pthread_create(&tid[started], NULL, work_thread, &wt[i]) == 0)
			started++;
	}
	int beating = pthread_create(&beat, NULL, beat_thread, s) == 0;
	for (unsigned i = 0; i < started; i++)
		pthread_join(tid[i], NULL);
	atomic_store(&s->over, 1);
	if (beating)
		pthread_join(beat, NULL);
	rpc_client_close(s->c);
	rc = started ? s->rc : TRAWL_ENOMEM;
	if (rc)
		idx_errf(errbuf, errlen, rc, "%s", s->rc ? s->err : "cannot start threads");
	pthread_mutex_destroy(&s->mu);
	free(s->zdict);
	free(s->schema_json);
	free(s);
	return rc;
}
