/*
 * buf.c - bounded growable byte buffers (see buf.h).
 */
#include "buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "trawl/trawl.h"

void tbuf_init(tbuf *b, size_t max)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = max;
}

void tbuf_fini(tbuf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

int tbuf_reserve(tbuf *b, size_t n)
{
	if (n > b->max || b->len > b->max - n)
		return TRAWL_ELIMIT;
	size_t need = b->len + n + 1; /* +1: room for tbuf_cstr's NUL */
	if (need <= b->cap)
		return TRAWL_OK;
	size_t cap = b->cap ? b->cap : 64;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	uint8_t *p = realloc(b->data, cap);
	if (!p)
		return TRAWL_ENOMEM;
	b->data = p;
	b->cap = cap;
	return TRAWL_OK;
}

int tbuf_append(tbuf *b, const void *p, size_t n)
{
	int rc = tbuf_reserve(b, n);
	if (rc)
		return rc;
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	return TRAWL_OK;
}

int tbuf_putc(tbuf *b, uint8_t c)
{
	int rc = tbuf_reserve(b, 1);
	if (rc)
		return rc;
	b->data[b->len++] = c;
	return TRAWL_OK;
}

int tbuf_printf(tbuf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return TRAWL_EINVAL;
	int rc = tbuf_reserve(b, (size_t)n + 1);
	if (rc)
		return rc;
	va_start(ap, fmt);
	vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return TRAWL_OK;
}

const char *tbuf_cstr(tbuf *b)
{
	if (tbuf_reserve(b, 0) != TRAWL_OK || !b->data)
		return "";
	b->data[b->len] = 0;
	return (const char *)b->data;
}

int tgrow(void *p, size_t *cap, size_t need, size_t elem)
{
	if (need <= *cap)
		return 0;
	size_t nc = *cap ? *cap : 16;
	while (nc < need)
		nc *= 2;
	void **pp = p;
	void *n = realloc(*pp, nc * elem);
	if (!n)
		return -1;
	*pp = n;
	*cap = nc;
	return 0;
}
