/*
 * buf.h - bounded growable byte buffers.
 *
 * Every buffer that grows from outside input is created with the largest size
 * it may reach (curl's rule); growing past it fails with TRAWL_ELIMIT and
 * leaves the buffer as it was. tbuf is embedded (init/fini), not allocated.
 */
#ifndef TRAWL_COMMON_BUF_H
#define TRAWL_COMMON_BUF_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct tbuf {
	uint8_t *data; /* owned; NULL until the first append */
	size_t len;
	size_t cap;
	size_t max; /* hard bound on len */
} tbuf;

/* tbuf_init prepares b, empty, never to exceed max bytes. */
void tbuf_init(tbuf *b, size_t max);

/* tbuf_fini frees b's memory; b may be initialised again. */
void tbuf_fini(tbuf *b);

/* tbuf_reserve makes room for n more bytes: TRAWL_OK, ENOMEM or ELIMIT. */
int tbuf_reserve(tbuf *b, size_t n);

/* tbuf_append copies n bytes to the end of b. */
int tbuf_append(tbuf *b, const void *p, size_t n);

/* tbuf_putc appends one byte. */
int tbuf_putc(tbuf *b, uint8_t c);

/* tbuf_printf appends formatted text (no NUL is counted in len). */
int tbuf_printf(tbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* tbuf_cstr NUL-terminates b (not counted in len) and returns its data. */
const char *tbuf_cstr(tbuf *b);

/* tgrow makes the array *p (of *cap elements of elem bytes) hold at least
 * need elements, doubling; 0, or -1 (out of memory: *p unchanged). */
int tgrow(void *p, size_t *cap, size_t need, size_t elem);

static inline void tbuf_reset(tbuf *b)
{
	b->len = 0;
}

#endif
