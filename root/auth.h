/*
 * auth.h - bearer tokens on the HTTP API (issue #13). Off unless token
 * files are given: `--search-tokens FILE` (searches and reads) and
 * `--admin-tokens FILE` (everything, the operators' endpoints and, once
 * they exist, writes). A request names its token in `Authorization:
 * Bearer TOKEN`; /livez, /readyz and /healthz stay open for probes.
 *
 * A token file has one token per line (blank lines and lines starting
 * with # are skipped): 16 to 256 bytes of printable ASCII without spaces
 * (LIMIT_BEARER_BYTES). The tokens are kept as SHA-256 digests and compared
 * in constant time, each against every digest.
 */
#ifndef TRAWL_ROOT_AUTH_H
#define TRAWL_ROOT_AUTH_H

#include <stddef.h>
#include <stdint.h>

/* What a request needs. */
typedef enum auth_need {
	AUTH_OPEN = 0, /* health probes */
	AUTH_SEARCH,   /* searches and reads: a search or an admin token */
	AUTH_ADMIN,    /* anything else: an admin token */
} auth_need;

typedef struct auth_tokens auth_tokens;

/* auth_load reads the token files (either may be NULL, not both): TRAWL_OK,
 * or an error with err naming the file, the line and what is wrong.
 * auth_free frees (NULL: nothing). */
int auth_load(auth_tokens **out, const char *search_file, const char *admin_file, char *err,
              size_t errlen);
void auth_free(auth_tokens *t);

/* auth_need_of: what a request of method to path needs. */
auth_need auth_need_of(const char *method, const char *path);

/* auth_check judges a request's Authorization header (NULL: none) against
 * need: 0 to let it through, 401 (no token, or one not known) or 403 (a
 * search token where an admin one is needed), with the reason in why. */
int auth_check(const auth_tokens *t, const char *authorization, auth_need need, char *why,
               size_t whylen);

#endif
