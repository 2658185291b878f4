/*
 * sha256.h - the boundary to mbedTLS's SHA-256 (libmbedcrypto, which nng's
 * TLS already brings in). Only this header includes mbedtls/.
 *
 * The HTTP API's bearer tokens are kept as their SHA-256 (root/auth.c): a
 * core dump or a memory read shows digests, not tokens.
 */
#ifndef TRAWL_COMMON_SHA256_H
#define TRAWL_COMMON_SHA256_H

#include <stddef.h>
#include <stdint.h>

#include <mbedtls/sha256.h>
#include <mbedtls/version.h>

/* th_sha256: the SHA-256 of p into out; 0, or -1 if mbedTLS failed. */
static inline int th_sha256(const void *p, size_t n, uint8_t out[32])
{
#if MBEDTLS_VERSION_MAJOR >= 3
	return mbedtls_sha256((const unsigned char *)p, n, out, 0) ? -1 : 0;
#else
	return mbedtls_sha256_ret((const unsigned char *)p, n, out, 0) ? -1 : 0;
#endif
}

#endif
