/*
 * indexer_rpc.h - the indexer's server for a cluster (`trawl indexer DIR
 * --listen URL`, issue #12 item 5): roots send it writes, realtime GETs,
 * refreshes and requests for its figures as write messages
 * (common/wmsg.h), and it answers each from its trawl_indexer. Kept apart
 * from the command's options (cli/serve.c) so that the messages' handling
 * reads on its own.
 */
#ifndef TRAWL_CLI_INDEXER_RPC_H
#define TRAWL_CLI_INDEXER_RPC_H

#include <stddef.h>

#include "common/rpc.h"
#include "trawl/trawl.h"

typedef struct indexer_rpc indexer_rpc;

/* indexer_rpc_start listens on url (tls may be NULL) with workers threads
 * (each a write, get or refresh at a time: a refresh waits up to
 * LIMIT_REFRESH_WAIT_MS) and answers from x, which must outlive it, and
 * leaves pulling generations from the files of dir, x's directory. */
int indexer_rpc_start(indexer_rpc **out, trawl_indexer *x, const char *dir, const char *url,
                      const rpc_tls *tls, unsigned workers, char *err, size_t errlen);
/* indexer_rpc_requests: requests answered, and of them refused undecoded. */
void indexer_rpc_counts(const indexer_rpc *s, uint64_t *answered, uint64_t *refused);
void indexer_rpc_stop(indexer_rpc *s);

#endif
