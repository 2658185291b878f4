/*
 * shardguard.c - leases and a scrub over the shard files a leaf serves (see
 * shardguard.h for why).
 *
 * Each file has a state (shard_guard_state) and a count of the requests reading it.
 * A request raises the count and then looks at the state; the watcher thread
 * sets the state and then looks at the count. Both are sequentially
 * consistent atomics, so once the watcher has seen a withdrawn file unread,
 * no request reads it again, and only then is its lease given up.
 */
/* F_SETLEASE and F_GETLEASE need _GNU_SOURCE, which meson.build defines */
#include "shardguard.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/hash.h"
#include "common/limits.h"

enum {
	CHUNK = 1 << 20, /* bytes the scrub reads at once */
	WHY_BYTES = 256,
	WAIT_SAY_S = 10, /* a writer that keeps a file open this long is logged */
};

typedef struct gfile {
	uint32_t shard;
	int fd;            /* read-only; holds the lease when leased */
	atomic_int leased; /* 1: a read lease is held on fd (set by one thread) */
	char path[LIMIT_PATH_BYTES];
	uint64_t bytes;
	char want[33];
	atomic_int state;
	atomic_uint in_use;  /* requests reading the file */
	char why[WHY_BYTES]; /* under the guard's mutex */
	uint64_t off;        /* the scrub's place in the file */
	XXH3_state_t *xs;
	uint64_t waiting_since; /* GUARD_WAITING since (the tick's clock) */
	int said_waiting;       /* logged that the writer stays */
} gfile;

struct shard_guard {
	shard_guard_config cfg;
	uint32_t n;
	gfile *f;
	int32_t local[TRAWL_MAX_SHARDS];  /* shard number -> its first file in f, or -1 */
	uint32_t nfile[TRAWL_MAX_SHARDS]; /* shard number -> its files (segments, their
	                                     delete sets and versions, statistics) */
	uint8_t *buf;
	uint32_t cursor; /* the file the scrub reads */
	int pass_read;   /* the scrub has read something in this pass */
	int resting;     /* a pass is done; the next starts at next_pass_us */
	uint64_t pass_start_us, next_pass_us;
	uint64_t now_us; /* the clock of the current tick */
	uint64_t last_us;
	uint64_t credit;
	pthread_mutex_t mu;
	atomic_uint_fast64_t scrubbed, passes, breaks, damaged;
};

static void say(shard_guard *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void say(shard_guard *g, const char *fmt, ...)
{
	if (!g->cfg.log)
		return;
	char msg[LIMIT_PATH_BYTES + 512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	g->cfg.log(g->cfg.log_ctx, msg);
}

/* A broken lease signals its holder with SIGIO, whose default action ends
 * the process. The guard looks at its leases instead (F_GETLEASE), so the
 * signal is ignored, unless the program has a use of its own for it. */
static void ignore_sigio(void)
{
	struct sigaction sa;
	if (sigaction(SIGIO, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL &&
	    !(sa.sa_flags & SA_SIGINFO)) {
		memset(&sa, 0, sizeof sa);
		sa.sa_handler = SIG_IGN;
		sigemptyset(&sa.sa_mask);
		sigaction(SIGIO, &sa, NULL);
	}
}

static void condemn(shard_guard *g, gfile *f, const char *why);

static void set_why(shard_guard *g, gfile *f, const char *why)
{
	pthread_mutex_lock(&g->mu);
	snprintf(f->why, sizeof f->why, "%s", why);
	pthread_mutex_unlock(&g->mu);
}

static int take_lease(gfile *f)
{
	if (fcntl(f->fd, F_SETLEASE, F_RDLCK) != 0)
		return errno;
	f->leased = 1;
	return 0;
}

static void drop_lease(gfile *f)
{
	if (f->leased) {
		fcntl(f->fd, F_SETLEASE, F_UNLCK);
		f->leased = 0;
	}
}

int shard_guard_open(shard_guard **out, const trawl_index *idx, const uint32_t *shards, uint32_t n,
                     const shard_guard_config *cfg)
{
	*out = NULL;
	shard_guard *g = calloc(1, sizeof *g);
	if (!g)
		return TRAWL_ENOMEM;
	g->cfg = *cfg;
	pthread_mutex_init(&g->mu, NULL);
	for (uint32_t i = 0; i < TRAWL_MAX_SHARDS; i++)
		g->local[i] = -1;
	/* every file each shard reads: its segments, their delete sets and
	 * versions, and the generation's statistics (trawl_index_shard_files) */
	uint32_t total = 0;
	trawl_shard_file sf;
	for (uint32_t i = 0; i < n; i++)
		for (uint32_t k = 0; shards[i] < TRAWL_MAX_SHARDS &&
		                     trawl_index_shard_files(idx, shards[i], k, &sf) == TRAWL_OK;
		     k++)
			total++;
	g->f = calloc(total ? total : 1, sizeof *g->f);
	g->buf = malloc(CHUNK);
	if (!g->f || !g->buf) {
		shard_guard_close(g);
		return TRAWL_ENOMEM;
	}
	ignore_sigio();
	uint32_t unleased = 0;
	char first[LIMIT_PATH_BYTES + 64] = "";
	for (uint32_t i = 0; i < n; i++) {
		if (shards[i] >= TRAWL_MAX_SHARDS || g->local[shards[i]] >= 0 ||
		    trawl_index_shard_files(idx, shards[i], 0, &sf) != TRAWL_OK)
			continue; /* not open in idx: shard_guard_enter refuses it */
		g->local[shards[i]] = (int32_t)g->n;
		for (uint32_t k = 0;
		     g->n < total && trawl_index_shard_files(idx, shards[i], k, &sf) == TRAWL_OK;
		     k++) {
			gfile *f = &g->f[g->n];
			f->shard = shards[i];
			snprintf(f->path, sizeof f->path, "%s", sf.path);
			f->bytes = sf.bytes;
			snprintf(f->want, sizeof f->want, "%s", sf.xxh3_128);
			if (!(f->xs = XXH3_createState())) {
				shard_guard_close(g);
				return TRAWL_ENOMEM;
			}
			XXH3_128bits_reset(f->xs);
			g->n++;
			g->nfile[shards[i]]++;
			f->fd = open(f->path, O_RDONLY | O_CLOEXEC);
			int e = f->fd < 0 ? errno : take_lease(f);
			if (e && !unleased++)
				snprintf(first, sizeof first, "%s (%s)", f->path, strerror(e));
			/* verified before the lease was taken: a truncation in between
			 * would otherwise wait for the scrub */
			struct stat st;
			if (f->fd >= 0 &&
			    (fstat(f->fd, &st) != 0 || (uint64_t)st.st_size != f->bytes)) {
				char why[WHY_BYTES];
				snprintf(why, sizeof why,
				         "%s: no longer the manifest's %" PRIu64 " bytes", f->path,
				         f->bytes);
				condemn(g, f, why);
			}
		}
	}
	/* one line, however many shards */
	if (unleased)
		say(g,
		    "no read lease on %u of %u shard files, e.g. %s: a process that truncates "
		    "or rewrites one is found by the scrub only, and a truncation can crash "
		    "this leaf",
		    unleased, g->n, first);
	*out = g;
	return TRAWL_OK;
}

void shard_guard_close(shard_guard *g)
{
	if (!g)
		return;
	for (uint32_t i = 0; i < g->n; i++) {
		if (g->f[i].fd >= 0)
			close(g->f[i].fd); /* gives up the lease */
		XXH3_freeState(g->f[i].xs);
	}
	pthread_mutex_destroy(&g->mu);
	free(g->f);
	free(g->buf);
	free(g);
}

int shard_guard_enter(shard_guard *g, const uint32_t *shards, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		int32_t li = shards[i] < TRAWL_MAX_SHARDS ? g->local[shards[i]] : -1;
		uint32_t nf = li >= 0 ? g->nfile[shards[i]] : 0, k = 0;
		for (; k < nf; k++) {
			gfile *f = &g->f[li + (int32_t)k];
			atomic_fetch_add(&f->in_use, 1);
			if (atomic_load(&f->state) != GUARD_SERVING)
				break;
		}
		if (li < 0 || k < nf) {
			/* this shard's files so far, and the shards before it */
			for (uint32_t j = 0; li >= 0 && j <= k && j < nf; j++)
				atomic_fetch_sub(&g->f[li + (int32_t)j].in_use, 1);
			shard_guard_leave(g, shards, i);
			return (int)shards[i];
		}
	}
	return -1;
}

void shard_guard_leave(shard_guard *g, const uint32_t *shards, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		for (uint32_t k = 0; k < g->nfile[shards[i]]; k++)
			atomic_fetch_sub(&g->f[g->local[shards[i]] + (int32_t)k].in_use, 1);
}

/* Reads f from start to end through its own descriptor (never the map, so
 * a truncated file is a short read, not a SIGBUS): 0 when it has the
 * manifest's size and checksum, else 1 with the difference in why. */
static int reread(shard_guard *g, gfile *f, char *why, size_t whylen)
{
	struct stat st;
	if (fstat(f->fd, &st) != 0) {
		snprintf(why, whylen, "%s: %s", f->path, strerror(errno));
		return 1;
	}
	if ((uint64_t)st.st_size != f->bytes) {
		snprintf(why, whylen, "%s: %" PRIu64 " bytes, the manifest says %" PRIu64, f->path,
		         (uint64_t)st.st_size, f->bytes);
		return 1;
	}
	XXH3_state_t *xs = XXH3_createState();
	if (!xs) {
		snprintf(why, whylen, "%s: out of memory re-reading it", f->path);
		return 1;
	}
	XXH3_128bits_reset(xs);
	uint64_t off = 0;
	while (off < f->bytes) {
		size_t want = f->bytes - off < CHUNK ? (size_t)(f->bytes - off) : CHUNK;
		ssize_t got = pread(f->fd, g->buf, want, (off_t)off);
		if (got <= 0)
			break;
		XXH3_128bits_update(xs, g->buf, (size_t)got);
		off += (uint64_t)got;
		atomic_fetch_add(&g->scrubbed, (uint64_t)got);
	}
	char hex[33];
	th_hex128(XXH3_128bits_digest(xs), hex);
	XXH3_freeState(xs);
	if (off != f->bytes) {
		snprintf(why, whylen, "%s: could read %" PRIu64 " of its %" PRIu64 " bytes",
		         f->path, off, f->bytes);
		return 1;
	}
	if (strcmp(hex, f->want) != 0) {
		snprintf(why, whylen, "%s: checksum mismatch: expected xxh3-128 %s, actual %s",
		         f->path, f->want, hex);
		return 1;
	}
	return 0;
}

/* f's bytes are not the manifest's: out of service for this generation.
 * Its lease goes once nobody reads it (step), so a writer waits no longer. */
static void condemn(shard_guard *g, gfile *f, const char *why)
{
	set_why(g, f, why);
	atomic_store(&f->state, GUARD_DAMAGED);
	atomic_fetch_add(&g->damaged, 1);
	say(g, "shard %u out of service, damaged: %s", f->shard, why);
}

/* One step of f's state machine (shardguard.h): leases, writers, re-reads. */
static void step(shard_guard *g, gfile *f)
{
	switch ((shard_guard_state)atomic_load(&f->state)) {
	case GUARD_SERVING:
		if (!f->leased && f->fd >= 0 && take_lease(f) == 0)
			break; /* the writer it had at open is gone (the scrub reads it) */
		/* a break pending (or timed out) reads as F_UNLCK */
		if (f->leased && fcntl(f->fd, F_GETLEASE) != F_RDLCK) {
			atomic_fetch_add(&g->breaks, 1);
			set_why(g, f, "another process opened it for writing or truncated it");
			atomic_store(&f->state, GUARD_WITHDRAWN);
			say(g,
			    "shard %u out of service: %s opened for writing or truncated by "
			    "another process",
			    f->shard, f->path);
		} else {
			break;
		}
		__attribute__((fallthrough));
	case GUARD_WITHDRAWN:
		if (atomic_load(&f->in_use) == 0) {
			drop_lease(f); /* the writer goes on */
			f->waiting_since = g->now_us;
			f->said_waiting = 0;
			atomic_store(&f->state, GUARD_WAITING);
		}
		break;
	case GUARD_WAITING: {
		/* a read lease is refused while anybody has the file open for
		 * writing: once it is granted, the writer is gone */
		int e = take_lease(f);
		if (e == EAGAIN) {
			if (!f->said_waiting &&
			    g->now_us - f->waiting_since > WAIT_SAY_S * 1000000ull) {
				f->said_waiting = 1;
				say(g,
				    "shard %u still out of service: %s is still open for writing",
				    f->shard, f->path);
			}
			break;
		}
		/* another error (a new owner, say): the scrub alone will watch it */
		char why[WHY_BYTES];
		if (reread(g, f, why, sizeof why)) {
			condemn(g, f, why);
		} else if (!f->leased || fcntl(f->fd, F_GETLEASE) == F_RDLCK) {
			f->off = 0;
			XXH3_128bits_reset(f->xs);
			set_why(g, f, "");
			atomic_store(&f->state, GUARD_SERVING);
			say(g, "shard %u back in service: %s is unchanged", f->shard, f->path);
		} else {
			drop_lease(f); /* written to again meanwhile: wait again */
		}
		break;
	}
	case GUARD_DAMAGED:
		if (f->leased && atomic_load(&f->in_use) == 0)
			drop_lease(f);
		break;
	}
}

/* The scrub reads up to budget bytes of the file at its cursor; returns
 * the bytes read. A file out of service is skipped; one read to its end is
 * compared with the manifest. */
static uint64_t scrub(shard_guard *g, uint64_t budget)
{
	gfile *f = &g->f[g->cursor];
	uint64_t done = 0;
	if (atomic_load(&f->state) == GUARD_SERVING && f->fd >= 0) {
		uint64_t left = f->bytes - f->off;
		size_t want = (size_t)(left < budget ? left : budget);
		ssize_t got = want ? pread(f->fd, g->buf, want, (off_t)f->off) : 0;
		if (got > 0) {
			XXH3_128bits_update(f->xs, g->buf, (size_t)got);
			f->off += (uint64_t)got;
			done = (uint64_t)got;
			atomic_fetch_add(&g->scrubbed, done);
		}
		g->pass_read |= got > 0;
		if (f->off < f->bytes && got > 0)
			return done; /* more of this file next time */
		char hex[33], why[WHY_BYTES];
		th_hex128(XXH3_128bits_digest(f->xs), hex);
		struct stat st;
		if (f->off < f->bytes || fstat(f->fd, &st) != 0 ||
		    (uint64_t)st.st_size != f->bytes) {
			snprintf(why, sizeof why,
			         "%s: shorter or longer than the manifest's %" PRIu64
			         " bytes (found by the scrub)",
			         f->path, f->bytes);
			condemn(g, f, why);
		} else if (strcmp(hex, f->want) != 0) {
			snprintf(why, sizeof why,
			         "%s: checksum mismatch: expected xxh3-128 %s, actual %s (found by "
			         "the scrub)",
			         f->path, f->want, hex);
			condemn(g, f, why);
		}
	}
	f->off = 0;
	XXH3_128bits_reset(f->xs);
	if (++g->cursor == g->n) {
		g->cursor = 0;
		if (g->pass_read) /* a pass over files all out of service is none */
			atomic_fetch_add(&g->passes, 1);
		g->pass_read = 0;
		if (g->cfg.scrub_period_s) {
			g->resting = 1;
			g->next_pass_us = g->pass_start_us + g->cfg.scrub_period_s * 1000000ull;
		}
	}
	return done;
}

void shard_guard_tick(shard_guard *g, uint64_t now_us)
{
	g->now_us = now_us;
	for (uint32_t i = 0; i < g->n; i++)
		step(g, &g->f[i]);
	uint64_t rate = g->cfg.scrub_bytes_per_s;
	if (!rate || !g->n || (g->resting && now_us < g->next_pass_us)) {
		g->last_us = now_us; /* nothing owed for the time at rest */
		return;
	}
	if (g->resting || !g->pass_start_us) {
		g->resting = 0;
		g->pass_start_us = now_us;
	}
	/* owed after a long pause: at most a quarter of a second's worth */
	uint64_t cap = rate / 4 > CHUNK ? rate / 4 : CHUNK;
	if (g->last_us && now_us > g->last_us) {
		long double owed = (long double)rate * (long double)(now_us - g->last_us) / 1e6L;
		g->credit += owed > cap ? cap : (uint64_t)owed;
		if (g->credit > cap)
			g->credit = cap;
	}
	g->last_us = now_us;
	/* files out of service are skipped: a round of them ends the tick */
	for (uint32_t idle = 0; g->credit > 0 && idle < g->n && !g->resting;) {
		uint64_t budget = g->credit < CHUNK ? g->credit : CHUNK;
		uint64_t used = scrub(g, budget);
		idle = used ? 0 : idle + 1;
		g->credit -= used < g->credit ? used : g->credit;
	}
}

int shard_guard_status(shard_guard *g, uint32_t shard, char *why, size_t whylen)
{
	int32_t li = shard < TRAWL_MAX_SHARDS ? g->local[shard] : -1;
	if (li < 0)
		return -1;
	/* the shard's state is its worst file's (damaged over out of service) */
	gfile *worst = &g->f[li];
	for (uint32_t k = 1; k < g->nfile[shard]; k++) {
		gfile *f = &g->f[li + (int32_t)k];
		if (atomic_load(&f->state) > atomic_load(&worst->state))
			worst = f;
	}
	if (why && whylen) {
		pthread_mutex_lock(&g->mu);
		snprintf(why, whylen, "%s", worst->why);
		pthread_mutex_unlock(&g->mu);
	}
	return atomic_load(&worst->state);
}

void shard_guard_get_stats(shard_guard *g, shard_guard_stats *st)
{
	memset(st, 0, sizeof *st);
	st->scrubbed_bytes = atomic_load(&g->scrubbed);
	st->scrub_passes = atomic_load(&g->passes);
	st->lease_breaks = atomic_load(&g->breaks);
	st->damaged = atomic_load(&g->damaged);
	for (uint32_t i = 0; i < g->n; i++) {
		st->out_of_service += atomic_load(&g->f[i].state) != GUARD_SERVING;
		st->unleased += !g->f[i].leased && atomic_load(&g->f[i].state) == GUARD_SERVING;
	}
}
