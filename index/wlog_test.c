/*
 * wlog_test.c - the write log (wlog.c): what is appended is read back
 * byte for byte and in order, sequence numbers never repeat (across trims
 * and reopens), threads appending at once lose nothing and share commits,
 * an acknowledged append survives kill -9 of its process, a damaged record
 * and a full log are reported, bad operations are refused naming the limit,
 * and a log has one owner.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/limits.h"
#include "index/testhooks.h"
#include "index/testdir.h"
#include "index/wlog.h"
#include "trawl/trawl.h"

static char g_err[LIMIT_ERRMSG_BYTES];

/* A copy of an operation read back. */
typedef struct got_op {
	idx_wop_kind kind;
	char id[LIMIT_ID_BYTES + 1];
	char *doc;
	uint32_t doclen;
	uint64_t version, seq;
} got_op;

typedef struct got {
	got_op *op;
	size_t n, cap;
} got;

static int collect(void *ctx, const idx_wop *op)
{
	got *g = ctx;
	if (g->n == g->cap) {
		g->cap = g->cap ? 2 * g->cap : 16;
		g->op = realloc(g->op, g->cap * sizeof *g->op);
	}
	got_op *o = &g->op[g->n++];
	o->kind = op->kind;
	memcpy(o->id, op->id, op->idlen);
	o->id[op->idlen] = 0;
	o->doclen = op->doclen;
	o->doc = op->doclen ? malloc(op->doclen) : NULL;
	if (op->doclen)
		memcpy(o->doc, op->doc, op->doclen);
	o->version = op->version;
	o->seq = op->seq;
	return 0;
}

static void got_free(got *g)
{
	for (size_t i = 0; i < g->n; i++)
		free(g->op[i].doc);
	free(g->op);
	*g = (got){0};
}

static idx_wop index_op(const char *id, const char *doc, uint64_t version)
{
	return (idx_wop){.kind = IDX_WOP_INDEX,
	                 .id = id,
	                 .idlen = (uint32_t)strlen(id),
	                 .doc = doc,
	                 .doclen = (uint32_t)strlen(doc),
	                 .version = version};
}

static void test_roundtrip(void **state)
{
	(void)state;
	idx_wlog *w;
	assert_int_equal(idx_wlog_open(&w, g_path, 0, g_err, sizeof g_err), TRAWL_OK);
	idx_wop ops[3] = {index_op("a", "{\"id\":\"a\",\"n\":1}", 1),
	                  index_op("b", "{\"id\":\"b\",\"t\":\"x\\u0000y\"}", 1),
	                  {.kind = IDX_WOP_DELETE, .id = "a", .idlen = 1, .version = 2}};
	assert_int_equal(idx_wlog_append(w, ops, 3, g_err, sizeof g_err), TRAWL_OK);
	for (int i = 0; i < 3; i++)
		assert_int_equal(ops[i].seq, (uint64_t)i + 1);
	got g = {0};
	assert_int_equal(idx_wlog_read(w, 1, 100, SIZE_MAX, collect, &g, g_err, sizeof g_err),
	                 TRAWL_OK);
	assert_int_equal(g.n, 3);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(g.op[i].kind, ops[i].kind);
		assert_string_equal(g.op[i].id, ops[i].id);
		assert_int_equal(g.op[i].doclen, ops[i].kind == IDX_WOP_INDEX ? ops[i].doclen : 0);
		if (ops[i].kind == IDX_WOP_INDEX)
			assert_memory_equal(g.op[i].doc, ops[i].doc, ops[i].doclen);
		assert_int_equal(g.op[i].version, ops[i].version);
		assert_int_equal(g.op[i].seq, (uint64_t)i + 1);
	}
	got_free(&g);
	/* from the middle, one at a time; past the end nothing */
	assert_int_equal(idx_wlog_read(w, 2, 1, SIZE_MAX, collect, &g, g_err, sizeof g_err),
	                 TRAWL_OK);
	assert_int_equal(g.n, 1);
	assert_string_equal(g.op[0].id, "b");
	got_free(&g);
	/* a byte bound still gives one operation, then stops */
	assert_int_equal(idx_wlog_read(w, 1, 100, 1, collect, &g, g_err, sizeof g_err), TRAWL_OK);
	assert_int_equal(g.n, 1);
	got_free(&g);
	assert_int_equal(idx_wlog_read(w, 4, 100, SIZE_MAX, collect, &g, g_err, sizeof g_err),
	                 TRAWL_OK);
	assert_int_equal(g.n, 0);
	idx_wlog_info in;
	idx_wlog_stat(w, &in);
	assert_int_equal(in.first, 1);
	assert_int_equal(in.next, 4);
	assert_int_equal(in.ops, 3);
	assert_int_equal(in.appends, 1);
	assert_int_equal(in.commits, 1);
	idx_wlog_close(w);
}

static int stop_at_second(void *ctx, const idx_wop *op)
{
	(void)op;
	return ++*(int *)ctx == 2 ? 42 : 0;
}

static void test_reopen_trim_and_numbers(void **state)
{
	(void)state;
	idx_wlog *w;
	assert_int_equal(idx_wlog_open(&w, g_path, 0, g_err, sizeof g_err), TRAWL_OK);
	char id[16];
	for (int i = 1; i <= 10; i++) {
		snprintf(id, sizeof id, "d%d", i);
		idx_wop op = index_op(id, "{}", (uint64_t)i);
		assert_int_equal(idx_wlog_append(w, &op, 1, g_err, sizeof g_err), TRAWL_OK);
		assert_int_equal(op.seq, (uint64_t)i);
	}
	idx_wlog_close(w);
	assert_int_equal(idx_wlog_open(&w, g_path, 0, g_err, sizeof g_err), TRAWL_OK);
	idx_wlog_info in;
	idx_wlog_stat(w, &in);
	assert_int_equal(in.next, 11);
	assert_int_equal(in.ops, 10);
	/* a callback's nonzero value stops the read and is returned */
	int calls = 0;
	assert_int_equal(
	    idx_wlog_read(w, 1, 100, SIZE_MAX, stop_at_second, &calls, g_err, sizeof g_err), 42);
	assert_int_equal(calls, 2);
	assert_int_equal(idx_wlog_trim(w, 5, g_err, sizeof g_err), TRAWL_OK);
	got g = {0};
	assert_int_equal(idx_wlog_read(w, 1, 100, SIZE_MAX, collect, &g, g_err, sizeof g_err),
	                 TRAWL_OK);
	assert_int_equal(g.n, 5);
	assert_int_equal(g.op[0].seq, 6);
	assert_string_equal(g.op[0].id, "d6");
	got_free(&g);
	idx_wlog_stat(w, &in);
	assert_int_equal(in.first, 6);
	/* trimmed empty, closed and opened again: numbers go on */
	assert_int_equal(idx_wlog_trim(w, 10, g_err, sizeof g_err), TRAWL_OK);
	idx_wlog_close(w);
	assert_int_equal(idx_wlog_open(&w, g_path, 0, g_err, sizeof g_err), TRAWL_OK);
	idx_wlog_stat(w, &in);
	assert_int_equal(in.ops, 0);
	assert_int_equal(in.first, 11);
	idx_wop op = {.kind = IDX_WOP_DELETE, .id = "d1", .idlen = 2, .version = 3};
	assert_int_equal(idx_wlog_append(w, &op, 1, g_err, sizeof g_err), TRAWL_OK);
	assert_int_equal(op.seq, 11);
	idx_wlog_close(w);
}

static void test_bad_operations_refused(void **state)
{
	(void)state;
	idx_wlog *w;
	assert_int_equal(idx_wlog_open(&w, g_path, 0, g_err, sizeof g_err), TRAWL_OK);
	static char longid[LIMIT_ID_BYTES + 2];
	memset(longid, 'x', LIMIT_ID_BYTES + 1);
	idx_wop good = index_op("ok", "{}", 1);
	idx_wop bad[] = {
	    {.kind = IDX_WOP_INDEX, .id = "e", .idlen = 0, .doc = "{}", .doclen = 2},
	    index_op(longid, "{}", 1),
	    {.kind = IDX_WOP_INDEX,
	     .id = "big",
	     .idlen = 3,
	     .doc = "{}",
	     .doclen = LIMIT_STORED_DOC_BYTES + 1},
	    {.kind = IDX_WOP_INDEX, .id = "nodoc", .idlen = 5, .doc = NULL, .doclen = 0},
	    {.kind = (idx_wop_kind)7, .id = "k", .idlen = 1},
	};
	const char *why[] = {"operation 1: empty id", "over " LIMIT_STR(LIMIT_ID_BYTES),
	                     "document of 67108865 bytes, over 67108864", "empty document",
	                     "unknown kind 7"};
	int code[] = {TRAWL_EINVAL, TRAWL_ELIMIT, TRAWL_ELIMIT, TRAWL_EINVAL, TRAWL_EINVAL};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		idx_wop two[2] = {good, bad[i]};
		assert_int_equal(idx_wlog_append(w, two, 2, g_err, sizeof g_err), code[i]);
		if (!strstr(g_err, why[i]))
			fail_msg("case %zu: \"%s\" does not say \"%s\"", i, g_err, why[i]);
	}
	assert_int_equal(idx_wlog_append(w, &good, 0, g_err, sizeof g_err), TRAWL_EINVAL);
	assert_int_equal(idx_wlog_append(w, &good, LIMIT_WLOG_APPEND_OPS + 1, g_err, sizeof g_err),
	                 TRAWL_ELIMIT);
	assert_non_null(strstr(g_err, "over " LIMIT_STR(LIMIT_WLOG_APPEND_OPS)));
	/* nothing of a refused append was written: the next number is 1 */
	idx_wlog_info in;
	idx_wlog_stat(w, &in);
	assert_int_equal(in.next, 1);
	assert_int_equal(in.ops, 0);
	idx_wlog_close(w);
}

/* A trim of more records than one of its transactions takes. */
static void test_long_trim_in_chunks(void **state)
{
	(void)state;
	idx_wlog *w;
	assert_int_equal(idx_wlog_open(&w, g_path, 0, g_err, sizeof g_err), TRAWL_OK);
	static idx_wop ops[1000];
	static char ids[1000][12];
	for (int round = 0; round < 40; round++) {
		for (int i = 0; i < 1000; i++) {
			snprintf(ids[i], sizeof ids[i], "r%d-%d", round, i);
			ops[i] = index_op(ids[i], "{}", 1);
		}
		assert_int_equal(idx_wlog_append(w, ops, 1000, g_err, sizeof g_err), TRAWL_OK);
	}
	idx_wlog_info in;
	assert_int_equal(idx_wlog_trim(w, 35000, g_err, sizeof g_err), TRAWL_OK);
	idx_wlog_stat(w, &in);
	assert_int_equal(in.first, 35001);
	assert_int_equal(in.ops, 5000);
	got g = {0};
	assert_int_equal(idx_wlog_read(w, 1, 1, SIZE_MAX, collect, &g, g_err, sizeof g_err),
	                 TRAWL_OK);
	assert_int_equal(g.op[0].seq, 35001);
	assert_string_equal(g.op[0].id, "r35-0");
	got_free(&g);
	uint64_t before = in.bytes;
	assert_int_equal(idx_wlog_trim(w, 40000, g_err, sizeof g_err), TRAWL_OK);
	idx_wlog_stat(w, &in);
	assert_int_equal(in.ops, 0);
	assert_int_equal(in.bytes, 0);
	assert_true(before > 0);
	idx_wlog_close(w);
}

/* ---- a failed commit ---- */

static idx_wlog *g_hook_log;
static idx_wop g_behind[2];
static idx_wlog_waiter g_behind_wt[2];
static char g_behind_err[2][LIMIT_ERRMSG_BYTES];
static int g_hook_calls;

/* The first commit: two more appends are submitted behind it, then it
 * fails. Later commits pass. */
static int fail_first_commit(void)
{
	if (g_hook_calls++)
		return 0;
	for (int i = 0; i < 2; i++) {
		g_behind[i] = index_op(i ? "c" : "b", "{}", 1);
		assert_int_equal(idx_wlog_submit(g_hook_log, &g_behind[i], 1, &g_behind_wt[i],
		                                 g_behind_err[i], sizeof g_behind_err[i]),
		                 TRAWL_OK);
	}
	return 1;
}

static void test_failed_commit_fails_those_behind(void **state)
{
	(void)state;
	idx_wlog *w;
	assert_int_equal(idx_wlog_open(&w, g_path, 0, g_err, sizeof g_err), TRAWL_OK);
	idx_wop first = index_op("x", "{}", 1);
	assert_int_equal(idx_wlog_append(w, &first, 1, g_err, sizeof g_err), TRAWL_OK);
	assert_int_equal(first.seq, 1);

	/* numbers are given at submit, in submit order */
	idx_wop a = index_op("a", "{}", 1);
	idx_wlog_waiter wa;
	uint64_t epoch = idx_wlog_epoch(w);
	assert_int_equal(idx_wlog_submit_at(w, epoch, &a, 1, &wa, g_err, sizeof g_err), TRAWL_OK);
	assert_int_equal(a.seq, 2);
	g_hook_log = w;
	g_hook_calls = 0;
	idx_wlog_commit_hook = fail_first_commit;
	assert_int_equal(idx_wlog_wait(w, &wa), TRAWL_ENOSPC);
	assert_int_equal(g_behind[0].seq, 3);
	assert_int_equal(g_behind[1].seq, 4);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(idx_wlog_wait(w, &g_behind_wt[i]), TRAWL_ENOSPC);
		assert_non_null(strstr(g_behind_err[i], "an earlier append failed"));
	}
	idx_wlog_commit_hook = NULL;

	/* an append decided before the failure is refused, not queued */
	idx_wop late = index_op("late", "{}", 1);
	idx_wlog_waiter wl;
	assert_int_equal(idx_wlog_epoch(w), epoch + 1);
	assert_int_equal(idx_wlog_submit_at(w, epoch, &late, 1, &wl, g_err, sizeof g_err),
	                 TRAWL_EBUSY);
	assert_non_null(strstr(g_err, "decide again"));

	/* what was durable before the failure stays so; what was queued was
	 * lost, also once its number is given again */
	assert_int_equal(idx_wlog_wait_durable(w, 1, epoch), TRAWL_OK);
	assert_int_equal(idx_wlog_wait_durable(w, 2, epoch), TRAWL_EIO);
	assert_int_equal(idx_wlog_wait_durable(w, 4, epoch), TRAWL_EIO);

	/* nothing of the three is in the log, and the numbers have no gap */
	idx_wlog_info in;
	idx_wlog_stat(w, &in);
	assert_int_equal(in.next, 2);
	assert_int_equal(in.ops, 1);
	idx_wop d = index_op("d", "{}", 1);
	assert_int_equal(idx_wlog_append(w, &d, 1, g_err, sizeof g_err), TRAWL_OK);
	assert_int_equal(d.seq, 2);
	got g = {0};
	assert_int_equal(idx_wlog_read(w, 1, 100, SIZE_MAX, collect, &g, g_err, sizeof g_err),
	                 TRAWL_OK);
	assert_int_equal(g.n, 2);
	assert_string_equal(g.op[0].id, "x");
	assert_string_equal(g.op[1].id, "d");
	got_free(&g);
	assert_int_equal(idx_wlog_wait_durable(w, 2, epoch + 1), TRAWL_OK);
	assert_int_equal(idx_wlog_wait_durable(w, 2, epoch), TRAWL_EIO); /* not that 2 */
	idx_wlog_close(w);
}

/* ---- threads appending at once ---- */

#define THREADS 8
#define PER_THREAD 150

typedef struct appender {
	idx_wlog *w;
	int no;
	int failed;
	uint64_t seq[PER_THREAD][3];
	uint32_t n[PER_THREAD];
} appender;

static void *append_main(void *arg)
{
	appender *a = arg;
	char ids[3][32], doc[3][64], err[LIMIT_ERRMSG_BYTES];
	for (int i = 0; i < PER_THREAD; i++) {
		uint32_t n = 1 + (uint32_t)((a->no + i) % 3);
		idx_wop ops[3];
		for (uint32_t j = 0; j < n; j++) {
			snprintf(ids[j], sizeof ids[j], "t%d-%d-%u", a->no, i, j);
			snprintf(doc[j], sizeof doc[j], "{\"id\":\"%s\"}", ids[j]);
			ops[j] = index_op(ids[j], doc[j], (uint64_t)i);
		}
		if (idx_wlog_append(a->w, ops, n, err, sizeof err) != TRAWL_OK) {
			a->failed++;
			continue;
		}
		a->n[i] = n;
		for (uint32_t j = 0; j < n; j++)
			a->seq[i][j] = ops[j].seq;
	}
	return NULL;
}

static void test_threads_share_commits(void **state)
{
	(void)state;
	idx_wlog *w;
	assert_int_equal(idx_wlog_open(&w, g_path, 0, g_err, sizeof g_err), TRAWL_OK);
	static appender a[THREADS];
	pthread_t t[THREADS];
	uint64_t total = 0;
	for (int i = 0; i < THREADS; i++) {
		memset(&a[i], 0, sizeof a[i]);
		a[i].w = w;
		a[i].no = i;
		assert_int_equal(pthread_create(&t[i], NULL, append_main, &a[i]), 0);
	}
	for (int i = 0; i < THREADS; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(a[i].failed, 0);
		for (int k = 0; k < PER_THREAD; k++)
			total += a[i].n[k];
	}
	idx_wlog_info in;
	idx_wlog_stat(w, &in);
	assert_int_equal(in.next, total + 1);
	assert_int_equal(in.ops, total);
	assert_int_equal(in.appends, THREADS * PER_THREAD);
	assert_true(in.commits >= 1 && in.commits <= in.appends);
	print_message("%llu appends in %llu commits\n", (unsigned long long)in.appends,
	              (unsigned long long)in.commits);

	got g = {0};
	assert_int_equal(
	    idx_wlog_read(w, 1, UINT32_MAX, SIZE_MAX, collect, &g, g_err, sizeof g_err), TRAWL_OK);
	assert_int_equal(g.n, total);
	/* every acknowledged number holds the operation it was given for; an
	 * append's operations are consecutive; a thread's appends in its order */
	for (int i = 0; i < THREADS; i++) {
		uint64_t last = 0;
		for (int k = 0; k < PER_THREAD; k++) {
			for (uint32_t j = 0; j < a[i].n[k]; j++) {
				uint64_t s = a[i].seq[k][j];
				assert_true(s >= 1 && s <= total);
				assert_true(s > last);
				if (j)
					assert_int_equal(s, a[i].seq[k][j - 1] + 1);
				last = s;
				char want[32];
				snprintf(want, sizeof want, "t%d-%d-%u", i, k, j);
				assert_string_equal(g.op[s - 1].id, want);
				assert_int_equal(g.op[s - 1].seq, s);
			}
		}
	}
	got_free(&g);
	idx_wlog_close(w);
}

/* ---- kill -9 ---- */

/* The child: appends one operation at a time for ever, and after each is
 * acknowledged writes its (counter, sequence number) to fd. */
static void crash_child(int fd)
{
	idx_wlog *w;
	char err[LIMIT_ERRMSG_BYTES];
	if (idx_wlog_open(&w, g_path, 0, err, sizeof err) != TRAWL_OK)
		_exit(3);
	for (uint64_t i = 0;; i++) {
		char id[32], doc[96];
		snprintf(id, sizeof id, "k%llu", (unsigned long long)i);
		snprintf(doc, sizeof doc, "{\"id\":\"%s\",\"pad\":\"%040llu\"}", id,
		         (unsigned long long)i);
		idx_wop op = index_op(id, doc, i);
		if (idx_wlog_append(w, &op, 1, err, sizeof err) != TRAWL_OK)
			_exit(4);
		uint64_t pair[2] = {i, op.seq};
		if (write(fd, pair, sizeof pair) != (ssize_t)sizeof pair)
			_exit(5);
	}
}

static void test_acknowledged_survives_kill9(void **state)
{
	(void)state;
	for (int round = 0; round < 3; round++) {
		int p[2];
		assert_int_equal(pipe(p), 0);
		pid_t pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			close(p[0]);
			crash_child(p[1]);
		}
		close(p[1]);
		/* let it acknowledge some, then kill it in the middle of others */
		uint64_t pair[2], seen = 0;
		size_t cap = 4096, n = 0;
		uint64_t(*acked)[2] = malloc(cap * sizeof *acked);
		while (seen < 40 + 30 * (uint64_t)round &&
		       read(p[0], pair, sizeof pair) == (ssize_t)sizeof pair) {
			memcpy(acked[n++], pair, sizeof pair);
			seen++;
		}
		kill(pid, SIGKILL);
		int st;
		waitpid(pid, &st, 0);
		assert_true(WIFSIGNALED(st));
		while (n < cap && read(p[0], pair, sizeof pair) == (ssize_t)sizeof pair)
			memcpy(acked[n++], pair, sizeof pair);
		close(p[0]);
		assert_true(n >= seen);

		idx_wlog *w;
		assert_int_equal(idx_wlog_open(&w, g_path, 0, g_err, sizeof g_err), TRAWL_OK);
		got g = {0};
		assert_int_equal(
		    idx_wlog_read(w, 1, UINT32_MAX, SIZE_MAX, collect, &g, g_err, sizeof g_err),
		    TRAWL_OK);
		/* numbers consecutive from 1, every record whole (checksums held) */
		for (size_t i = 0; i < g.n; i++)
			assert_int_equal(g.op[i].seq, i + 1);
		/* every acknowledged operation is there, as it was given */
		for (size_t i = 0; i < n; i++) {
			uint64_t s = acked[i][1];
			assert_true(s >= 1 && s <= g.n);
			char want[32];
			snprintf(want, sizeof want, "k%llu", (unsigned long long)acked[i][0]);
			assert_string_equal(g.op[s - 1].id, want);
			assert_int_equal(g.op[s - 1].version, acked[i][0]);
		}
		idx_wlog_info in;
		idx_wlog_stat(w, &in);
		assert_int_equal(in.next, g.n + 1);
		got_free(&g);
		free(acked);
		/* the next round's child starts over on an empty log */
		assert_int_equal(idx_wlog_trim(w, in.next - 1, g_err, sizeof g_err), TRAWL_OK);
		idx_wlog_close(w);
		unlink(g_path);
		char lock[160];
		snprintf(lock, sizeof lock, "%s-lock", g_path);
		unlink(lock);
	}
}

/* ---- damage, a full log, one owner ---- */

static void test_damaged_record_named(void **state)
{
	(void)state;
	idx_wlog *w;
	assert_int_equal(idx_wlog_open(&w, g_path, 0, g_err, sizeof g_err), TRAWL_OK);
	char doc[300];
	snprintf(doc, sizeof doc, "{\"id\":\"z\",\"t\":\"%s\"}",
	         "QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ");
	idx_wop ops[2] = {index_op("y", "{\"id\":\"y\"}", 1), index_op("z", doc, 1)};
	assert_int_equal(idx_wlog_append(w, ops, 2, g_err, sizeof g_err), TRAWL_OK);
	idx_wlog_close(w);
	/* flip one byte of the second record's document in the file */
	FILE *f = fopen(g_path, "r+b");
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	long size = ftell(f);
	char *buf = malloc((size_t)size);
	fseek(f, 0, SEEK_SET);
	assert_int_equal(fread(buf, 1, (size_t)size, f), (size_t)size);
	char *q = memmem(buf, (size_t)size, "QQQQQQQQQQ", 10);
	assert_non_null(q);
	fseek(f, (long)(q - buf) + 5, SEEK_SET);
	fputc('R', f);
	fclose(f);
	free(buf);

	assert_int_equal(idx_wlog_open(&w, g_path, 0, g_err, sizeof g_err), TRAWL_OK);
	got g = {0};
	assert_int_equal(idx_wlog_read(w, 1, 100, SIZE_MAX, collect, &g, g_err, sizeof g_err),
	                 TRAWL_ECORRUPT);
	assert_non_null(strstr(g_err, "wlog.mdb: operation 2: checksum mismatch"));
	assert_int_equal(g.n, 1); /* the first was given before the damage was met */
	got_free(&g);
	idx_wlog_close(w);
}

static void test_full_log_refuses_then_recovers(void **state)
{
	(void)state;
	idx_wlog *w;
	assert_int_equal(idx_wlog_open(&w, g_path, LIMIT_WLOG_MIN_BYTES, g_err, sizeof g_err),
	                 TRAWL_OK);
	static char doc[64 << 10];
	memset(doc, 'v', sizeof doc - 1);
	int i, rc = TRAWL_OK;
	for (i = 0; i < 100 && rc == TRAWL_OK; i++) {
		idx_wop op = index_op("f", doc, (uint64_t)i);
		rc = idx_wlog_append(w, &op, 1, g_err, sizeof g_err);
	}
	assert_int_equal(rc, TRAWL_ENOSPC);
	assert_non_null(strstr(g_err, "full"));
	assert_true(i > 2); /* some fitted */
	idx_wlog_info in;
	idx_wlog_stat(w, &in);
	assert_int_equal(in.ops, (uint64_t)i - 1);
	assert_true(in.bytes <= LIMIT_WLOG_MIN_BYTES);
	/* reads go on, and a trim makes room again */
	got g = {0};
	assert_int_equal(
	    idx_wlog_read(w, 1, UINT32_MAX, SIZE_MAX, collect, &g, g_err, sizeof g_err), TRAWL_OK);
	assert_int_equal(g.n, (size_t)i - 1);
	got_free(&g);
	assert_int_equal(idx_wlog_trim(w, in.next - 1, g_err, sizeof g_err), TRAWL_OK);
	idx_wop op = index_op("f", doc, 1000);
	assert_int_equal(idx_wlog_append(w, &op, 1, g_err, sizeof g_err), TRAWL_OK);
	assert_int_equal(op.seq, in.next);
	idx_wlog_close(w);
}

static void test_one_owner_and_not_a_log(void **state)
{
	(void)state;
	idx_wlog *w, *w2;
	assert_int_equal(idx_wlog_open(&w, g_path, 0, g_err, sizeof g_err), TRAWL_OK);
	assert_int_equal(idx_wlog_open(&w2, g_path, 0, g_err, sizeof g_err), TRAWL_EIO);
	assert_non_null(strstr(g_err, "in use"));
	assert_null(w2);
	/* nor in another process */
	pid_t pid = fork();
	if (pid == 0) {
		idx_wlog *w3;
		char e[LIMIT_ERRMSG_BYTES];
		_exit(idx_wlog_open(&w3, g_path, 0, e, sizeof e) == TRAWL_EIO && strstr(e, "in use")
		          ? 0
		          : 1);
	}
	int st;
	waitpid(pid, &st, 0);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	/* the refused opens left the first one whole: LMDB's locks are its own */
	idx_wop op = index_op("o", "{}", 1);
	assert_int_equal(idx_wlog_append(w, &op, 1, g_err, sizeof g_err), TRAWL_OK);
	char lockf[160];
	snprintf(lockf, sizeof lockf, "%s-lock", g_path);
	FILE *pl = fopen("/proc/locks", "r");
	struct stat lst;
	assert_int_equal(stat(lockf, &lst), 0);
	char want[64], linebuf[256];
	snprintf(want, sizeof want, ":%lu ", (unsigned long)lst.st_ino);
	int posix_on_lock = 0;
	while (pl && fgets(linebuf, sizeof linebuf, pl))
		posix_on_lock += strstr(linebuf, "POSIX") && strstr(linebuf, want);
	if (pl)
		fclose(pl);
	assert_true(posix_on_lock > 0); /* LMDB's reader-table lock still held */
	idx_wlog_close(w);
	assert_int_equal(idx_wlog_open(&w2, g_path, 0, g_err, sizeof g_err), TRAWL_OK);
	idx_wlog_close(w2);

	char other[160];
	snprintf(other, sizeof other, "%s/junk.mdb", g_dir);
	FILE *f = fopen(other, "wb");
	assert_non_null(f);
	for (int i = 0; i < 3 * 4096; i++)
		fputc((i * 7919) & 0xff, f);
	fclose(f);
	assert_int_not_equal(idx_wlog_open(&w, other, 0, g_err, sizeof g_err), TRAWL_OK);
	assert_null(w);
	assert_non_null(strstr(g_err, "junk.mdb"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    TESTDIR_TEST(test_roundtrip),
	    TESTDIR_TEST(test_reopen_trim_and_numbers),
	    TESTDIR_TEST(test_bad_operations_refused),
	    TESTDIR_TEST(test_long_trim_in_chunks),
	    TESTDIR_TEST(test_failed_commit_fails_those_behind),
	    TESTDIR_TEST(test_threads_share_commits),
	    TESTDIR_TEST(test_acknowledged_survives_kill9),
	    TESTDIR_TEST(test_damaged_record_named),
	    TESTDIR_TEST(test_full_log_refuses_then_recovers),
	    TESTDIR_TEST(test_one_owner_and_not_a_log),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
