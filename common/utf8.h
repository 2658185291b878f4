/*
 * utf8.h - reading UTF-8 from outside input.
 *
 * Query text reaches trawl from users (the query parser), from JSON (the
 * OpenSearch layer) and from other processes (query trees on the wire), and
 * each of them must agree on what valid UTF-8 is: no overlong forms, no
 * surrogates, nothing above U+10FFFF. These two functions are that one
 * definition. They only read [s, s + n), and need no alignment.
 */
#ifndef TRAWL_COMMON_UTF8_H
#define TRAWL_COMMON_UTF8_H

#include <stddef.h>
#include <stdint.h>

/*
 * utf8_next decodes the character at s (n > 0 bytes available) and returns
 * its code point, with its length in *adv; for an invalid or truncated
 * sequence it returns UINT32_MAX with *adv = 1.
 */
static inline uint32_t utf8_next(const void *s, size_t n, size_t *adv)
{
	const unsigned char *p = s;
	unsigned char c = p[0];
	uint32_t cp, min;
	size_t len;
	*adv = 1;
	if (c < 0x80)
		return c;
	if (c >= 0xC2 && c <= 0xDF)
		len = 2, cp = c & 0x1Fu, min = 0x80;
	else if (c >= 0xE0 && c <= 0xEF)
		len = 3, cp = c & 0x0Fu, min = 0x800;
	else if (c >= 0xF0 && c <= 0xF4)
		len = 4, cp = c & 0x07u, min = 0x10000;
	else
		return UINT32_MAX;
	if (n < len)
		return UINT32_MAX;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xC0) != 0x80)
			return UINT32_MAX;
		cp = cp << 6 | (p[i] & 0x3Fu);
	}
	if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
		return UINT32_MAX;
	*adv = len;
	return cp;
}

/* utf8_check returns n if s (n bytes) is valid UTF-8, else the offset of the
 * first invalid sequence. */
static inline size_t utf8_check(const void *s, size_t n)
{
	const unsigned char *p = s;
	size_t i = 0, adv;
	while (i < n) {
		if (p[i] < 0x80) {
			i++;
			continue;
		}
		if (utf8_next(p + i, n - i, &adv) == UINT32_MAX)
			return i;
		i += adv;
	}
	return n;
}

#endif
