/*
 * split.c - the splitter: input files into work items. An item is whole
 * lines of one file, about item_bytes of them, numbered in input order, so
 * that the same input cut with the same item size gives the same items,
 * ids and bytes on every run: that is what lets a rerun recognise the items
 * it finished before (their run files carry the item's id and checksum).
 *
 * The splitter never cuts a _bulk file between an index action and its
 * document, and stands a short marker line in for a line longer than any
 * document may be (SH_OVERLONG), so that the worker reports it at its line.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hash.h"
#include "index/input.h"
#include "sh.h"

#define READ_BUF (4u << 20)

struct sh_splitter {
	size_t item_bytes, max_doc;
	uint64_t next_id;
	sh_parser parser; /* for _bulk actions only */
	idx_schema none;
	tbuf item;        /* the item being filled */
	uint64_t item_line;
	/* add_json's documents */
	tbuf loose;
	int loose_bulk;
	/* progress of the current file */
	const idx_input *in;
	uint64_t done_bytes;
};

int sh_splitter_new(sh_splitter **out, size_t item_bytes, size_t max_doc, uint64_t first_id)
{
	sh_splitter *sp = calloc(1, sizeof *sp);
	if (!sp)
		return TRAWL_ENOMEM;
	sp->item_bytes = item_bytes;
	sp->max_doc = max_doc;
	sp->next_id = first_id;
	sh_parser_init(&sp->parser, &sp->none, max_doc);
	/* an item may exceed item_bytes by a document and its action line */
	tbuf_init(&sp->item, LIMIT_ITEM_BYTES);
	tbuf_init(&sp->loose, LIMIT_ITEM_BYTES);
	*out = sp;
	return TRAWL_OK;
}

void sh_splitter_free(sh_splitter *sp)
{
	if (!sp)
		return;
	sh_parser_fini(&sp->parser);
	tbuf_fini(&sp->item);
	tbuf_fini(&sp->loose);
	free(sp);
}

uint64_t sh_split_next_id(const sh_splitter *sp)
{
	return sp->next_id;
}

void sh_split_progress(const sh_splitter *sp, uint64_t *consumed, uint64_t *size)
{
	*consumed = sp->in ? idx_input_consumed(sp->in) : 0;
	*size = sp->in ? idx_input_size(sp->in) : 0;
}

/* Hands the bytes of b over as an item; b is left empty. */
static int emit(sh_splitter *sp, tbuf *b, uint64_t first_line, int bulk, const char *source,
                sh_item_fn fn, void *ctx)
{
	if (b->len == 0)
		return TRAWL_OK;
	/* the hash covers where the bytes come from too: the same bytes at
	 * another line or in another format make other messages or documents */
	sh_item it = {sp->next_id++,
	              th_hash64_seeded(b->data, b->len, first_line * 2 + (uint64_t)(bulk != 0)),
	              first_line, bulk, source, (const char *)b->data, b->len};
	/* the callee owns the bytes: give it the buffer, start a new one */
	size_t max = b->max;
	b->data = NULL;
	b->len = b->cap = 0;
	b->max = max;
	return fn(ctx, &it);
}

int sh_split_file(sh_splitter *sp, const char *path, const char *source, sh_item_fn fn, void *ctx,
                  char *err, size_t errlen)
{
	idx_input *in;
	int rc = idx_input_open(&in, path, err, errlen);
	if (rc)
		return rc;
	size_t cap = sp->max_doc + 2 > READ_BUF ? sp->max_doc + 2 : READ_BUF;
	char *buf = malloc(cap);
	if (!buf) {
		idx_input_close(in);
		return errf(err, errlen, TRAWL_ENOMEM, "out of memory");
	}
	sp->in = in;
	tbuf *item = &sp->item;
	tbuf_reset(item);
	size_t have = 0, start = 0;
	uint64_t line = 0, skipped = 0;
	int eof = 0, skipping = 0;
	int mode = 0;    /* 0 undecided, 1 JSON Lines, 2 _bulk */
	int pending = 0; /* _bulk: the last line opened a document */
	while (rc == TRAWL_OK) {
		char *nl = memchr(buf + start, '\n', have - start);
		if (!nl && !eof) {
			if (start) {
				memmove(buf, buf + start, have - start);
				have -= start;
				start = 0;
			}
			if (have == cap) {
				/* longer than any document may be: skip to its end */
				skipped += have;
				have = 0;
				skipping = 1;
				continue;
			}
			size_t n = 0;
			if ((rc = idx_input_read(in, buf + have, cap - have, &n, err, errlen)))
				break;
			if (n == 0)
				eof = 1;
			have += n;
			continue;
		}
		size_t end = nl ? (size_t)(nl - buf) : have;
		if (!nl && end == start && !skipping)
			break; /* the end */
		const char *l = buf + start;
		size_t len = end - start;
		char marker[32];
		line++;
		/* no cut between a _bulk action and its document (blank lines
		 * between them included) */
		int blocked = mode == 2 && pending;
		if (skipping) {
			/* the end of an over-long line */
			int m = snprintf(marker, sizeof marker, "%s%llu", SH_OVERLONG,
			                 (unsigned long long)(skipped + len));
			l = marker;
			len = (size_t)m;
			skipping = 0;
			skipped = 0;
			pending = 0;
		} else if (!sh_is_blank(l, len)) {
			int opens = 0, kind = SH_BULK_NONE;
			if (mode != 1 && !pending)
				kind = sh_bulk_kind(&sp->parser, l, len, &opens);
			if (mode == 0)
				mode = kind != SH_BULK_NONE ? 2 : 1;
			if (mode == 2)
				pending = pending ? 0 : opens; /* a document closes, an action opens */
		}
		if (item->len && item->len + len + 1 > sp->item_bytes && !blocked &&
		    (rc = emit(sp, item, sp->item_line, mode == 2, source, fn, ctx)))
			break;
		if (item->len == 0)
			sp->item_line = line;
		if ((rc = tbuf_append(item, l, len)) || (rc = tbuf_putc(item, '\n'))) {
			if (rc == TRAWL_ELIMIT)
				errf(err, errlen, rc,
				     "%s:%llu: a work item would grow past %u MiB (a _bulk action "
				     "whose document never comes?)",
				     source, (unsigned long long)line, LIMIT_ITEM_BYTES >> 20);
			else
				errf(err, errlen, rc, "%s: out of memory", source);
			break;
		}
		if (!nl)
			break;
		start = end + 1;
	}
	if (rc == TRAWL_OK)
		rc = emit(sp, item, sp->item_line, mode == 2, source, fn, ctx);
	free(buf);
	sp->in = NULL;
	idx_input_close(in);
	return rc;
}

int sh_split_add_line(sh_splitter *sp, const char *line, size_t len, int bulk, sh_item_fn fn,
                      void *ctx)
{
	/* an item is of one kind; and a _bulk pair is added as one "line" */
	if (sp->loose.len && (sp->loose.len + len + 1 > sp->item_bytes || bulk != sp->loose_bulk)) {
		int rc = sh_split_flush(sp, fn, ctx);
		if (rc)
			return rc;
	}
	sp->loose_bulk = bulk;
	int rc = tbuf_append(&sp->loose, line, len);
	return rc ? rc : tbuf_putc(&sp->loose, '\n');
}

int sh_split_flush(sh_splitter *sp, sh_item_fn fn, void *ctx)
{
	return emit(sp, &sp->loose, 1, sp->loose_bulk, "document", fn, ctx);
}
