/*
 * remote.h - a cluster root's writer (root/root.h's root_writer) over an
 * index's indexer in another process (`trawl indexer DIR --listen URL`):
 * each write, realtime GET, refresh and the indexer's figures sent as a
 * write message (common/wmsg.h) and answered by it. The root keeps no
 * write state of its own, so that a root killed at any moment loses
 * nothing the indexer acknowledged, and any root of the cluster can take
 * any write.
 */
#ifndef TRAWL_ROOT_REMOTE_H
#define TRAWL_ROOT_REMOTE_H

#include "common/rpc.h"
#include "root/root.h"

typedef struct remote_writer remote_writer;

/* remote_writer_open dials url (tls may be NULL); the connection is made
 * in the background and remade after a loss, so a root starts while its
 * indexer is down (its writes then fail). */
int remote_writer_open(remote_writer **out, const char *url, const rpc_tls *tls, char *err,
                       size_t errlen);
/* remote_writer_of: the root_writer to put in root_config.writer (lives as
 * long as w). */
const root_writer *remote_writer_of(const remote_writer *w);
void remote_writer_close(remote_writer *w);

#endif
