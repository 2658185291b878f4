/*
 * auth.c - bearer tokens on the HTTP API (see auth.h): the token files
 * read once at start into SHA-256 digests, and each request judged by the
 * digest of the token it names, compared with every digest kept.
 */
#include "auth.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/error.h"
#include "common/limits.h"
#include "common/sha256.h"
#include "trawl/trawl.h"

typedef struct digests {
	uint8_t (*d)[32];
	uint32_t n;
} digests;

struct auth_tokens {
	digests search, admin;
};

/* Reads one token file into ds. */
static int load_file(digests *ds, const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return errf(err, errlen, TRAWL_EIO, "%s: %s", path, strerror(errno));
	if (!(ds->d = calloc(LIMIT_BEARER_TOKENS, sizeof *ds->d))) {
		fclose(f);
		return errf(err, errlen, TRAWL_ENOMEM, "out of memory");
	}
	char line[LIMIT_BEARER_BYTES + 3];
	int rc = TRAWL_OK;
	for (unsigned no = 1; !rc && fgets(line, sizeof line, f); no++) {
		size_t n = strlen(line);
		int whole = n > 0 && line[n - 1] == '\n';
		if (!whole && !feof(f)) {
			rc = errf(err, errlen, TRAWL_ELIMIT,
			          "%s:%u: a token is at most %d bytes (LIMIT_BEARER_BYTES)", path,
			          no, LIMIT_BEARER_BYTES);
			break;
		}
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = 0;
		if (n == 0 || line[0] == '#')
			continue;
		for (size_t i = 0; i < n && !rc; i++)
			if ((unsigned char)line[i] <= 0x20 || (unsigned char)line[i] >= 0x7f)
				rc = errf(err, errlen, TRAWL_EINVAL,
				          "%s:%u, column %zu: a token is printable ASCII without "
				          "spaces",
				          path, no, i + 1);
		if (rc)
			break;
		if (n < 16 || n > LIMIT_BEARER_BYTES)
			rc = errf(err, errlen, n < 16 ? TRAWL_EINVAL : TRAWL_ELIMIT,
			          "%s:%u: a token has 16 to %d bytes; this one has %zu", path, no,
			          LIMIT_BEARER_BYTES, n);
		else if (ds->n == LIMIT_BEARER_TOKENS)
			rc = errf(err, errlen, TRAWL_ELIMIT,
			          "%s:%u: a file holds at most %d tokens (LIMIT_BEARER_TOKENS)",
			          path, no, LIMIT_BEARER_TOKENS);
		else if (th_sha256(line, n, ds->d[ds->n++]))
			rc = errf(err, errlen, TRAWL_EINTERNAL, "%s:%u: SHA-256 failed", path, no);
		memset(line, 0, sizeof line); /* the token itself is not kept */
	}
	if (!rc && ferror(f))
		rc = errf(err, errlen, TRAWL_EIO, "%s: read error", path);
	if (!rc && ds->n == 0)
		rc = errf(err, errlen, TRAWL_EINVAL, "%s: no token in the file", path);
	fclose(f);
	return rc;
}

int auth_load(auth_tokens **out, const char *search_file, const char *admin_file, char *err,
              size_t errlen)
{
	*out = NULL;
	auth_tokens *t = calloc(1, sizeof *t);
	if (!t)
		return errf(err, errlen, TRAWL_ENOMEM, "out of memory");
	int rc = TRAWL_OK;
	if (search_file)
		rc = load_file(&t->search, search_file, err, errlen);
	if (!rc && admin_file)
		rc = load_file(&t->admin, admin_file, err, errlen);
	if (rc) {
		auth_free(t);
		return rc;
	}
	*out = t;
	return TRAWL_OK;
}

void auth_free(auth_tokens *t)
{
	if (!t)
		return;
	free(t->search.d);
	free(t->admin.d);
	free(t);
}

static int ends_with_segment(const char *path, const char *seg)
{
	size_t n = strlen(path), k = strlen(seg);
	while (n > 1 && path[n - 1] == '/')
		n--; /* a trailing slash */
	return n > k && path[n - k - 1] == '/' && !strncmp(path + n - k, seg, k);
}

auth_need auth_need_of(const char *method, const char *path)
{
	int get = !strcmp(method, "GET") || !strcmp(method, "HEAD");
	if (get && (!strcmp(path, "/livez") || !strcmp(path, "/readyz") ||
	            !strcmp(path, "/healthz") || !strncmp(path, "/_ui", 4)))
		return AUTH_OPEN; /* probes, and the search page's own files */
	if (!strcmp(path, "/metrics") || !strncmp(path, "/_trawl", 7))
		return AUTH_ADMIN;
	if (get)
		return AUTH_SEARCH;
	if (!strcmp(method, "POST") &&
	    (!strcmp(path, "/search") || ends_with_segment(path, "_search") ||
	     ends_with_segment(path, "_count")))
		return AUTH_SEARCH;
	return AUTH_ADMIN; /* writes, and whatever else */
}

/* Whether digest h is one of ds's, in time that does not depend on which. */
static int known(const digests *ds, const uint8_t h[32])
{
	unsigned found = 0;
	for (uint32_t i = 0; i < ds->n; i++) {
		unsigned diff = 0;
		for (int k = 0; k < 32; k++)
			diff |= ds->d[i][k] ^ h[k];
		found |= diff == 0;
	}
	return found != 0;
}

int auth_check(const auth_tokens *t, const char *authorization, auth_need need, char *why,
               size_t whylen)
{
	if (need == AUTH_OPEN || !t)
		return 0;
	if (!authorization || !*authorization)
		return errf(why, whylen, 401,
		            "missing authentication credentials: send Authorization: Bearer TOKEN");
	const char *p = authorization;
	while (*p == ' ')
		p++;
	if (strncasecmp(p, "Bearer", 6) != 0 || (p[6] != ' ' && p[6] != '\t'))
		return errf(why, whylen, 401, "the Authorization header is not Bearer TOKEN");
	p += 6;
	while (*p == ' ' || *p == '\t')
		p++;
	size_t n = strlen(p);
	while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
		n--;
	uint8_t h[32];
	if (n == 0 || n > LIMIT_BEARER_BYTES || th_sha256(p, n, h))
		return errf(why, whylen, 401, "unable to authenticate: unknown token");
	if (known(&t->admin, h))
		return 0;
	if (known(&t->search, h)) {
		if (need == AUTH_SEARCH)
			return 0;
		return errf(why, whylen, 403,
		            "this token may search; this request needs an admin token");
	}
	return errf(why, whylen, 401, "unable to authenticate: unknown token");
}
