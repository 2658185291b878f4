/*
 * queue.c - the work queue of a build: the splitter pushes items, workers
 * take them under a lease and report them done (their run file written) or
 * failed. A lease taken by a remote worker expires unless the worker renews
 * it (remote.c sends a heartbeat every second); an expired item goes back
 * to the front of the queue for the next worker, and whichever copy
 * finishes first counts (runs are deterministic, so both are the same).
 *
 * The queue holds at most `capacity` items that are not done, so the
 * splitter waits when the workers fall behind: memory stays bounded.
 * Completed items leave a record (counts and rejected-line messages) that
 * the builder's thread collects with sh_queue_poll.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "queue.h"

enum { Q_QUEUED, Q_LEASED, Q_DONE };

typedef struct qitem {
	sh_item it; /* bytes owned */
	int state;
	int remote;
	uint32_t holder;      /* the remote peer holding the lease */
	uint64_t lease_until; /* clock_mono_us */
	uint64_t taken_at;
	unsigned checking; /* runs of it being checked (sh_queue_claim) */
	unsigned expiries; /* remote leases that ran out */
	int local_only;    /* left to this process */
	struct qitem *next;
} qitem;

typedef struct qnote {
	char *msg;
	struct qnote *next;
} qnote;

#define MAX_NOTES 64

typedef struct qdone {
	sh_qdone d;
	struct qdone *next;
} qdone;

struct sh_queue {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	unsigned capacity;
	uint64_t lease_us;
	qitem *items;  /* not done, oldest first */
	unsigned open; /* items not done */
	int closed;    /* no more items will come */
	int failed;
	char err[1024];
	int err_rc;
	qdone *done_head, *done_tail;
	uint64_t taken, expired;
	qnote *notes, **notes_tail;
	unsigned nnotes;
	uint64_t notes_dropped;
};

int sh_queue_new(sh_queue **out, unsigned capacity, unsigned lease_ms)
{
	sh_queue *q = calloc(1, sizeof *q);
	if (!q)
		return TRAWL_ENOMEM;
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_mutex_init(&q->mu, NULL);
	pthread_cond_init(&q->cv, &ca);
	pthread_condattr_destroy(&ca);
	q->capacity = capacity ? capacity : 1;
	q->lease_us = (uint64_t)lease_ms * 1000u;
	q->notes_tail = &q->notes;
	*out = q;
	return TRAWL_OK;
}

static void free_done(sh_qdone *d)
{
	free(d->rejects);
}

void sh_queue_free(sh_queue *q)
{
	if (!q)
		return;
	for (qitem *i = q->items, *n; i; i = n) {
		n = i->next;
		free((void *)i->it.bytes);
		free(i);
	}
	for (qdone *d = q->done_head, *n; d; d = n) {
		n = d->next;
		free_done(&d->d);
		free(d);
	}
	for (qnote *e = q->notes, *n; e; e = n) {
		n = e->next;
		free(e->msg);
		free(e);
	}
	pthread_mutex_destroy(&q->mu);
	pthread_cond_destroy(&q->cv);
	free(q);
}

/* Waits (lock held) up to 100 ms for a change, then runs tick unlocked. */
static void wait_tick(sh_queue *q, void (*tick)(void *), void *ctx)
{
	struct timespec ts;
	clock_after(&ts, CLOCK_MONOTONIC, 100);
	pthread_cond_timedwait(&q->cv, &q->mu, &ts);
	if (tick) {
		pthread_mutex_unlock(&q->mu);
		tick(ctx);
		pthread_mutex_lock(&q->mu);
	}
}

int sh_queue_push(sh_queue *q, sh_item *it, void (*tick)(void *), void *ctx)
{
	qitem *e = calloc(1, sizeof *e);
	if (!e) {
		free((void *)it->bytes);
		return TRAWL_ENOMEM;
	}
	e->it = *it;
	e->state = Q_QUEUED;
	pthread_mutex_lock(&q->mu);
	while (q->open >= q->capacity && !q->failed)
		wait_tick(q, tick, ctx);
	if (q->failed) {
		int rc = q->err_rc;
		pthread_mutex_unlock(&q->mu);
		free((void *)it->bytes);
		free(e);
		return rc;
	}
	qitem **at = &q->items;
	while (*at)
		at = &(*at)->next;
	*at = e;
	q->open++;
	pthread_cond_broadcast(&q->cv);
	pthread_mutex_unlock(&q->mu);
	return TRAWL_OK;
}

/* Whether who (peer) may take e now (q->mu held). */
static int may_take(const qitem *e, int who)
{
	if (e->state != Q_QUEUED)
		return 0;
	if (who == SH_TAKE_RESCUE)
		return e->local_only;
	return who == SH_TAKE_LOCAL || !e->local_only;
}

/* Copies e's item into copy and *out (q->mu held); 0, or ELIMIT. */
static int copy_item(const qitem *e, tbuf *copy, sh_item *out)
{
	tbuf_reset(copy);
	if (tbuf_append(copy, e->it.bytes, e->it.len))
		return TRAWL_ELIMIT;
	*out = e->it;
	out->bytes = (const char *)copy->data;
	return TRAWL_OK;
}

int sh_queue_take(sh_queue *q, tbuf *copy, int who, uint32_t peer, int wait_ms, sh_item *out)
{
	struct timespec ts;
	clock_after(&ts, CLOCK_MONOTONIC, wait_ms);
	pthread_mutex_lock(&q->mu);
	int rc;
	for (;;) {
		if (q->failed || (q->closed && q->open == 0)) {
			rc = SH_Q_OVER;
			break;
		}
		uint64_t now = clock_mono_us();
		qitem *pick = NULL;
		unsigned held = 0;
		for (qitem *i = q->items; i; i = i->next) {
			if (i->state == Q_LEASED && i->remote && i->lease_until < now &&
			    !i->checking) {
				i->state = Q_QUEUED; /* its worker went silent */
				q->expired++;
				if (++i->expiries >= SH_EXPIRIES_LOCAL)
					i->local_only = 1;
			}
			if (i->state == Q_LEASED && i->remote && i->holder == peer)
				held++;
			if (!pick && may_take(i, who))
				pick = i;
		}
		if (who == SH_TAKE_REMOTE && held >= SH_PEER_LEASES)
			pick = NULL;
		if (pick) {
			/* copied: the queue frees its bytes when the item is done,
			 * which another worker may do first (an expired lease) */
			if (copy_item(pick, copy, out)) {
				pthread_mutex_unlock(&q->mu);
				sh_queue_fail(q, TRAWL_ELIMIT,
				              "a work item is larger than a worker may take");
				return SH_Q_OVER;
			}
			pick->state = Q_LEASED;
			pick->remote = who == SH_TAKE_REMOTE;
			pick->holder = who == SH_TAKE_REMOTE ? peer : 0;
			pick->taken_at = now;
			pick->lease_until = now + q->lease_us;
			q->taken++;
			rc = SH_Q_ITEM;
			break;
		}
		if (wait_ms <= 0 || pthread_cond_timedwait(&q->cv, &q->mu, &ts) != 0) {
			rc = SH_Q_WAIT;
			break;
		}
	}
	pthread_mutex_unlock(&q->mu);
	return rc;
}

/* The item with id id, not done (q->mu held), or NULL. */
static qitem *find(sh_queue *q, uint64_t id)
{
	for (qitem *i = q->items; i; i = i->next)
		if (i->it.id == id)
			return i;
	return NULL;
}

int sh_queue_claim(sh_queue *q, uint64_t id, tbuf *copy, sh_item *out)
{
	pthread_mutex_lock(&q->mu);
	qitem *e = find(q, id);
	int found = e && copy_item(e, copy, out) == TRAWL_OK;
	if (found)
		e->checking++;
	pthread_mutex_unlock(&q->mu);
	return found;
}

void sh_queue_release(sh_queue *q, uint64_t id, uint32_t peer, int refused)
{
	pthread_mutex_lock(&q->mu);
	qitem *e = find(q, id);
	if (e) {
		e->checking--;
		/* only the worker given the item can lose it: a refused run or
		 * report from any other peer leaves the holder's lease alone */
		if (refused && e->state == Q_LEASED && e->remote && e->holder == peer) {
			e->local_only = 1;
			e->state = Q_QUEUED;
		}
	}
	pthread_cond_broadcast(&q->cv);
	pthread_mutex_unlock(&q->mu);
}

int sh_queue_wants_rescue(sh_queue *q)
{
	pthread_mutex_lock(&q->mu);
	int want = 0;
	for (qitem *i = q->items; i && !want; i = i->next)
		want = i->state == Q_QUEUED && i->local_only;
	pthread_mutex_unlock(&q->mu);
	return want;
}

void sh_queue_beat(sh_queue *q, uint64_t id, uint32_t peer)
{
	pthread_mutex_lock(&q->mu);
	qitem *i = find(q, id);
	uint64_t now = clock_mono_us();
	if (i && i->state == Q_LEASED && i->remote && i->holder == peer &&
	    now - i->taken_at < (uint64_t)SH_LEASE_MAX_MS * 1000u)
		i->lease_until = now + q->lease_us;
	pthread_mutex_unlock(&q->mu);
}

int sh_queue_complete(sh_queue *q, uint64_t id, const sh_run *r)
{
	qdone *d = calloc(1, sizeof *d);
	if (!d)
		return TRAWL_ENOMEM;
	d->d.item = id;
	d->d.lines = r->lines;
	d->d.bytes_in = r->bytes_in;
	d->d.rejected = r->rejected;
	d->d.docs = r->docs;
	if (r->rejects_len && (d->d.rejects = malloc(r->rejects_len))) {
		memcpy(d->d.rejects, r->rejects, r->rejects_len);
		d->d.rejects_len = r->rejects_len;
	}
	pthread_mutex_lock(&q->mu);
	qitem **at = &q->items;
	while (*at && (*at)->it.id != id)
		at = &(*at)->next;
	qitem *e = *at;
	if (e) {
		*at = e->next;
		q->open--;
		if (q->done_tail)
			q->done_tail->next = d;
		else
			q->done_head = d;
		q->done_tail = d;
		d = NULL;
	}
	pthread_cond_broadcast(&q->cv);
	pthread_mutex_unlock(&q->mu);
	if (e) {
		free((void *)e->it.bytes);
		free(e);
	}
	if (d) {
		/* a second copy of an item already done */
		free_done(&d->d);
		free(d);
	}
	return TRAWL_OK;
}

void sh_queue_fail(sh_queue *q, int rc, const char *msg)
{
	pthread_mutex_lock(&q->mu);
	if (!q->failed) {
		q->failed = 1;
		q->err_rc = rc ? rc : TRAWL_EINTERNAL;
		snprintf(q->err, sizeof q->err, "%s", msg);
	}
	pthread_cond_broadcast(&q->cv);
	pthread_mutex_unlock(&q->mu);
}

int sh_queue_error(sh_queue *q, char *err, size_t errlen)
{
	pthread_mutex_lock(&q->mu);
	int rc = q->failed ? q->err_rc : TRAWL_OK;
	if (rc && err)
		snprintf(err, errlen, "%s", q->err);
	pthread_mutex_unlock(&q->mu);
	return rc;
}

void sh_queue_poll(sh_queue *q, void (*fn)(void *ctx, const sh_qdone *d), void *ctx)
{
	pthread_mutex_lock(&q->mu);
	qdone *list = q->done_head;
	q->done_head = q->done_tail = NULL;
	pthread_mutex_unlock(&q->mu);
	for (qdone *d = list, *n; d; d = n) {
		n = d->next;
		fn(ctx, &d->d);
		free_done(&d->d);
		free(d);
	}
}

int sh_queue_drain(sh_queue *q, void (*tick)(void *), void *ctx)
{
	pthread_mutex_lock(&q->mu);
	q->closed = 1;
	pthread_cond_broadcast(&q->cv);
	while (q->open > 0 && !q->failed)
		wait_tick(q, tick, ctx);
	int rc = q->failed ? q->err_rc : TRAWL_OK;
	pthread_mutex_unlock(&q->mu);
	return rc;
}

void sh_queue_notice(sh_queue *q, const char *msg)
{
	qnote *e = malloc(sizeof *e);
	char *m = strdup(msg);
	pthread_mutex_lock(&q->mu);
	if (e && m && q->nnotes < MAX_NOTES) {
		e->msg = m;
		e->next = NULL;
		*q->notes_tail = e;
		q->notes_tail = &e->next;
		q->nnotes++;
		e = NULL;
		m = NULL;
	} else {
		q->notes_dropped++;
	}
	pthread_mutex_unlock(&q->mu);
	free(e);
	free(m);
}

void sh_queue_notices(sh_queue *q, void (*fn)(void *ctx, const char *msg), void *ctx)
{
	pthread_mutex_lock(&q->mu);
	qnote *list = q->notes;
	uint64_t dropped = q->notes_dropped;
	q->notes = NULL;
	q->notes_tail = &q->notes;
	q->nnotes = 0;
	q->notes_dropped = 0;
	pthread_mutex_unlock(&q->mu);
	for (qnote *e = list, *n; e; e = n) {
		n = e->next;
		fn(ctx, e->msg);
		free(e->msg);
		free(e);
	}
	if (dropped) {
		char msg[96];
		snprintf(msg, sizeof msg, "%llu more such messages were not shown",
		         (unsigned long long)dropped);
		fn(ctx, msg);
	}
}

void sh_queue_counts(sh_queue *q, uint64_t *taken, uint64_t *expired)
{
	pthread_mutex_lock(&q->mu);
	*taken = q->taken;
	*expired = q->expired;
	pthread_mutex_unlock(&q->mu);
}
