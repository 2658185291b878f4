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
	uint64_t lease_until;
	struct qitem *next;
} qitem;

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

int sh_queue_take(sh_queue *q, tbuf *copy, int expires, int wait_ms, sh_item *out)
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
		for (qitem *i = q->items; i; i = i->next) {
			if (i->state == Q_LEASED && i->remote && i->lease_until < now) {
				i->state = Q_QUEUED; /* its worker went silent */
				q->expired++;
			}
			if (i->state == Q_QUEUED && !pick)
				pick = i;
		}
		if (pick) {
			/* copied: the queue frees its bytes when the item is done,
			 * which another worker may do first (an expired lease) */
			tbuf_reset(copy);
			if (tbuf_append(copy, pick->it.bytes, pick->it.len)) {
				pthread_mutex_unlock(&q->mu);
				sh_queue_fail(q, TRAWL_ELIMIT,
				              "a work item is larger than a worker may take");
				return SH_Q_OVER;
			}
			pick->state = Q_LEASED;
			pick->remote = expires;
			pick->lease_until = now + q->lease_us;
			*out = pick->it;
			out->bytes = (const char *)copy->data;
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

int sh_queue_item_hash(sh_queue *q, uint64_t id, uint64_t *hash)
{
	int found = 0;
	pthread_mutex_lock(&q->mu);
	for (qitem *i = q->items; i && !found; i = i->next)
		if (i->it.id == id) {
			*hash = i->it.hash;
			found = 1;
		}
	pthread_mutex_unlock(&q->mu);
	return found;
}

void sh_queue_beat(sh_queue *q, uint64_t id)
{
	pthread_mutex_lock(&q->mu);
	for (qitem *i = q->items; i; i = i->next)
		if (i->it.id == id && i->state == Q_LEASED)
			i->lease_until = clock_mono_us() + q->lease_us;
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

void sh_queue_counts(sh_queue *q, uint64_t *taken, uint64_t *expired)
{
	pthread_mutex_lock(&q->mu);
	*taken = q->taken;
	*expired = q->expired;
	pthread_mutex_unlock(&q->mu);
}
