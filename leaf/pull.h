/*
 * pull.h - a leaf's own copy of an index directory, kept up to date over
 * the network (issue #12, item 7).
 *
 * A leaf that does not share a file system with the indexer (another
 * machine, a pod without the indexer's volume) cannot read the
 * generations the indexer publishes. A puller asks a process that can (a
 * leaf on the indexer's directory, or the indexer: leaf/fileserve.h) for
 * its live generation, and when that is newer than the local CURRENT
 * makes the same generation in the local directory: the files it already
 * has (the same name, size and XXH3-128 in a local generation's manifest:
 * an update shares most of them) are hard-linked, the others downloaded in
 * bounded reads into DIR/gen-N.tmp (a file cut short by a crash continues
 * from its size), each checked against the manifest's size and XXH3-128;
 * only then is the generation published as a build publishes one
 * (index/gen.c: fsyncs, a rename, CURRENT replaced atomically), and the
 * leaf's watch switches to it as to any other. A file that fails its
 * check is discarded and the generation refused: the local CURRENT keeps
 * naming the last good one. Old generations are pruned as the indexer
 * prunes them.
 */
#ifndef TRAWL_LEAF_PULL_H
#define TRAWL_LEAF_PULL_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "common/rpc.h"

typedef struct pull_config {
	const char *dir;        /* the local index directory (made if missing) */
	const char *url;        /* a process answering FILES and FILE_READ */
	const rpc_tls *tls;     /* for a tls+tcp:// url; may be NULL */
	const uint32_t *shards; /* the shards whose files are wanted; NULL: all */
	uint32_t nshards;
	uint32_t keep;        /* generations kept below the live one; 0: LIMIT_KEEP_GENERATIONS */
	uint64_t bytes_per_s; /* download rate; 0: unbounded */
	unsigned timeout_ms;  /* per request; 0: 10 s */
	atomic_int *stop;     /* nonzero: give up the pull in hand at once (may be NULL) */
} pull_config;

typedef struct pull_stats {
	uint64_t pulled;        /* generations pulled and published */
	uint64_t refused;       /* generations refused: a file or the manifest failed its check */
	uint64_t failed;        /* attempts that failed otherwise (no answer, a local error) */
	uint64_t bytes;         /* bytes of files received */
	uint64_t files_fetched; /* files downloaded (whole or the rest of one) */
	uint64_t files_linked;  /* files hard-linked from local generations */
	uint64_t source_generation; /* the source's live generation, as last seen */
} pull_stats;

typedef struct puller puller;

/* puller_open makes the directory if it is missing and dials url (in the
 * background). TRAWL_OK, or an error naming the directory or URL. */
int puller_open(puller **out, const pull_config *cfg, char *err, size_t errlen);

/*
 * puller_step asks the source for its live generation and, when it is
 * newer than the local one, pulls, checks and publishes it. Returns
 * TRAWL_OK with *published the generation published (0: none was newer,
 * or a refused one waits for its retry: after 1 s, doubling to 60 s, or
 * at once when the source publishes another), else an error with err
 * (TRAWL_ECORRUPT: the source's generation was refused, and why; others:
 * no answer, a full disk...). Blocks for as long as the pull takes; one
 * thread at a time.
 */
int puller_step(puller *p, uint64_t *published, char *err, size_t errlen);

/* puller_get_stats: counters since puller_open. Any thread. */
void puller_get_stats(puller *p, pull_stats *st);

void puller_close(puller *p);

#endif
