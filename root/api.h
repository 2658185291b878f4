/*
 * api.h - the root's HTTP API (docs/HTTP.md): the native endpoints, health
 * and metrics, served by common/http over a root_* cluster.
 */
#ifndef TRAWL_ROOT_API_H
#define TRAWL_ROOT_API_H

#include <stdint.h>

#include "root/catalog.h"
#include "root/root.h"

typedef struct api_config {
	const char *bind;                 /* address to listen on, e.g. "127.0.0.1" */
	uint16_t port;                    /* 0: any free port */
	const struct auth_tokens *tokens; /* bearer tokens (root/auth.h); NULL: open */
	int quiet;
	/* 1: document writes run on the workers searches run on, at the same
	 * CPU priority; 0: on background workers at a low one (common/http.h),
	 * so that a search is not kept waiting for a core by a write (trawl
	 * serve and root --write-priority, docs/OPERATIONS.md) */
	int writes_normal;
} api_config;

typedef struct api api;

/* api_start serves the indexes of cat over HTTP; cat must outlive the
 * api. */
int api_start(api **out, catalog *cat, const api_config *cfg, char *err, size_t errlen);
uint16_t api_port(const api *a);
/*
 * api_drain: the first step of a graceful stop. From now on /readyz answers
 * 503 {"status":"draining"}, so that load balancers' health checks take
 * this root out, and every response closes its connection; searches are
 * answered as before. api_stop follows once the balancers have had time
 * (trawl root --drain-ms, docs/OPERATIONS.md).
 */
void api_drain(api *a);
void api_stop(api *a);

#endif
