/*
 * fuzz_postings.c - fuzz target for the postings decoder (index/postings.c).
 *
 * Shard files are checksummed before they are mapped, but postings.h promises
 * more: a cursor never reads outside the value it was given, and damaged
 * values make it end (setting ->corrupt). This target holds the decoder to
 * that with arbitrary bytes.
 *
 * Input layout:
 *   byte 0      flags: bit 0 set: a positions value follows the postings
 *               value; bits 1..7 seed the targets of the advance walk
 *   bytes 1..2  (only with bit 0) length of the postings value, little-endian
 *   ...         the postings value as idx_plist_parse reads it, then (with
 *               bit 0) the positions value
 * Each value is copied into a buffer of exactly its size, so that a read one
 * byte past it is caught by AddressSanitizer.
 *
 * The list is walked three ways: idx_pcur_next over every document (with
 * tf, positions and bounds), idx_pcur_advance to increasing targets (with
 * bounds ahead), and idx_pcur_each_block. Besides memory errors, the target
 * checks what the API promises whatever the bytes: a walk yields at most df
 * documents, in increasing order, advance never returns a document below its
 * target, an ended cursor stays ended, and positions never exceed tf.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "index/postings.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond, const char *what)
{
	if (!cond) {
		fprintf(stderr, "fuzz_postings: %s\n", what);
		abort();
	}
}

static uint8_t *dup_exact(const uint8_t *p, size_t n)
{
	uint8_t *q = malloc(n ? n : 1);
	check(q != NULL, "out of memory");
	if (n)
		memcpy(q, p, n);
	return q;
}

typedef struct block_count {
	uint64_t blocks, docs;
} block_count;

static void on_block(void *ctx, const uint32_t *docs, uint32_t n)
{
	block_count *bc = ctx;
	volatile uint32_t sink = 0;
	for (uint32_t i = 0; i < n; i++)
		sink ^= docs[i]; /* every reported doc id must be readable */
	(void)sink;
	bc->blocks++;
	bc->docs += n;
}

/* Positions of the current document: at most tf, and readable. */
static void read_positions(idx_pcur *c, uint32_t tf)
{
	uint32_t pos[64];
	idx_pcur_prefetch_positions(c); /* on damaged lists too */
	uint32_t n = idx_pcur_positions(c, pos, 64);
	check(n == 0 || n == tf, "positions count differs from tf");
	/* a second call answers the same (cached prefix sums) */
	uint32_t again[64];
	check(idx_pcur_positions(c, again, 64) == n, "positions not repeatable");
	if (n)
		check(memcmp(pos, again, (n < 64 ? n : 64) * sizeof *pos) == 0,
		      "positions changed between calls");
}

static void walk_next(const idx_plist *pl, const uint8_t *pos, size_t poslen)
{
	idx_pcur c;
	idx_pcur_init(&c, pl, pos, poslen);
	uint64_t steps = 0;
	uint32_t prev = 0;
	while (c.doc != IDX_END) {
		check(++steps <= pl->df, "next yields more documents than df");
		check(steps == 1 || c.doc > prev, "doc ids do not increase");
		prev = c.doc;
		uint32_t tf = idx_pcur_tf(&c);
		check(idx_pcur_tf(&c) == tf, "tf not repeatable");
		if (pos)
			read_positions(&c, tf);
		uint32_t upto = 0;
		(void)idx_pcur_bound(&c, c.doc, &upto);
		(void)idx_pcur_bound(&c, c.doc + 1 == IDX_END ? c.doc : c.doc + 1, &upto);
		(void)idx_pcur_bound(&c, IDX_END - 1, &upto);
		uint32_t before = c.doc;
		check(idx_pcur_advance(&c, before) == before, "advance to the current doc moved");
		idx_pcur_next(&c);
	}
	check(idx_pcur_next(&c) == IDX_END, "an ended cursor moved on (next)");
	check(idx_pcur_advance(&c, 7) == IDX_END, "an ended cursor moved on (advance)");
	uint32_t upto = 0;
	check(idx_pcur_bound(&c, 0, &upto) < 0 && upto == IDX_END, "bound of an ended cursor");
}

static void walk_advance(const idx_plist *pl, const uint8_t *pos, size_t poslen, uint32_t seed)
{
	idx_pcur c;
	idx_pcur_init(&c, pl, pos, poslen);
	uint32_t x = seed * 2654435761u + 12345u, target = 0;
	uint64_t steps = 0;
	while (c.doc != IDX_END) {
		check(++steps <= (uint64_t)pl->df + 1, "advance yields more documents than df");
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		/* mostly small steps, sometimes a jump of a few blocks or far */
		uint32_t kind = x & 7, delta;
		if (kind < 5)
			delta = 1 + (x >> 8) % 4;
		else if (kind < 7)
			delta = 1 + (x >> 8) % (4 * IDX_BLOCK);
		else
			delta = 1 + (x >> 4);
		if (c.doc > target)
			target = c.doc;
		target = delta >= IDX_END - target ? IDX_END - 1 : target + delta;
		uint32_t upto = 0;
		(void)idx_pcur_bound(&c, target, &upto);
		uint32_t d = idx_pcur_advance(&c, target);
		check(d == c.doc, "advance returned another doc than the cursor's");
		check(d == IDX_END || d >= target, "advance returned a doc below its target");
		if (d != IDX_END && (x & 8)) {
			uint32_t tf = idx_pcur_tf(&c);
			if (pos)
				read_positions(&c, tf);
		}
		if (target == IDX_END - 1)
			break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint8_t flags = data[0];
	const uint8_t *p = data + 1;
	size_t n = size - 1, plen = n, poslen = 0;
	int has_pos = flags & 1;
	if (has_pos) {
		if (n < 2)
			return 0;
		plen = (size_t)p[0] | (size_t)p[1] << 8;
		p += 2;
		n -= 2;
		if (plen > n)
			plen = n;
		poslen = n - plen;
	}
	uint8_t *post = dup_exact(p, plen);
	uint8_t *pos = has_pos ? dup_exact(p + plen, poslen) : NULL;

	idx_plist pl;
	memset(&pl, 0xa5, sizeof pl);
	if (idx_plist_parse(post, plen, &pl) == TRAWL_OK) {
		check(pl.df >= 1 && pl.nblocks == (pl.df + IDX_BLOCK - 1) / IDX_BLOCK,
		      "parse accepted an inconsistent header");
		check(pl.blocks >= post && pl.blocks <= post + plen && pl.end == post + plen,
		      "parse points outside the value");
		walk_next(&pl, pos, poslen);
		walk_advance(&pl, pos, poslen, flags >> 1);
		if (has_pos)
			walk_next(&pl, NULL, 0); /* and without positions */
		block_count bc = {0, 0};
		int bad = idx_pcur_each_block(&pl, on_block, &bc);
		check(bc.blocks <= pl.nblocks && bc.docs <= pl.df, "each_block went too far");
		check(bad || bc.docs == pl.df, "each_block: an undamaged list with missing docs");
	}
	free(post);
	free(pos);
	return 0;
}
