/*
 * remote.h - the builder's side of distributed work (remote.c): an nng
 * listener that hands work items of the queue to `trawl build-worker`
 * processes, checks the runs they send back against their items
 * (audit.c, on checker threads) and writes the ones that pass.
 */
#ifndef TRAWL_SHARD_REMOTE_H
#define TRAWL_SHARD_REMOTE_H

#include "common/rpc.h"
#include "queue.h"

typedef struct sh_remote sh_remote;

/* sh_remote_start listens on url (with tls for tls+tcp://: the builder's
 * certificate and key, and the CA that workers' certificates must chain
 * to); runs go to dir. q, p and dir must outlive the listener; tls's files
 * are read before it returns. */
int sh_remote_start(sh_remote **out, const char *url, const rpc_tls *tls, sh_queue *q,
                    const sh_params *p, const char *dir, char *err, size_t errlen);

/* sh_remote_counts: what the listener has checked, refused and cut off so
 * far (all 0 for NULL). */
void sh_remote_counts(sh_remote *r, trawl_build_peers *out);

/* sh_remote_stop stops listening (after the requests being answered). */
void sh_remote_stop(sh_remote *r);

#endif
