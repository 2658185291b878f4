/*
 * shardguard_test.c - the guard against real files and real writers: a child
 * process truncates or rewrites a shard file of an open index while the
 * guard holds its lease, and the test checks that the writer waits until
 * no request reads the file, that the shard is out of service from the
 * moment the writer knocks, and what it becomes afterwards (damaged, or
 * back in service when the bytes did not change). The scrub finds a change
 * to a file that could not be leased (a writer had it open when the guard
 * started) within two passes at its rate.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "leaf/shardguard.h"

typedef struct fixture {
	char dir[64];
	trawl_index *idx;
	shard_guard *g;
	uint64_t now; /* the clock shard_guard_tick is given */
	char path[2][4200];
	uint64_t bytes[2];
	int logged;
} fixture;

static void on_log(void *ctx, const char *msg)
{
	fixture *fx = ctx;
	fx->logged++;
	(void)msg;
}

static void build(const char *dir)
{
	trawl_build_opts o = {0};
	o.shards = 2;
	char err[512] = "", doc[256];
	trawl_builder *b = NULL;
	if (trawl_builder_open(&b, dir, &o, err, sizeof err))
		fail_msg("trawl_builder_open: %s", err);
	for (unsigned d = 0; d < 400; d++) {
		int n = snprintf(doc, sizeof doc,
		                 "{\"id\":\"d%u\",\"title\":\"doc %u\",\"body\":\"words of "
		                 "document %u in the guard test\"}",
		                 d, d, d * 7);
		if (trawl_builder_add_json(b, doc, (size_t)n, "guard", d + 1))
			fail_msg("add_json: %s", trawl_builder_errmsg(b));
	}
	if (trawl_builder_commit(b, NULL))
		fail_msg("commit: %s", trawl_builder_errmsg(b));
	trawl_builder_close(b);
}

static void open_guard(fixture *fx, uint64_t rate)
{
	shard_guard_config gc = {rate, 0, on_log, fx};
	uint32_t shards[2] = {0, 1};
	assert_int_equal(shard_guard_open(&fx->g, fx->idx, shards, 2, &gc), TRAWL_OK);
}

static int setup(void **state)
{
	fixture *fx = calloc(1, sizeof *fx);
	snprintf(fx->dir, sizeof fx->dir, "/tmp/trawl-guard-XXXXXX");
	assert_non_null(mkdtemp(fx->dir));
	build(fx->dir);
	char err[512];
	if (trawl_index_open(&fx->idx, fx->dir, err, sizeof err))
		fail_msg("open: %s", err);
	for (uint32_t s = 0; s < 2; s++) {
		trawl_shard_file f;
		assert_int_equal(trawl_index_shard_file(fx->idx, s, &f), TRAWL_OK);
		snprintf(fx->path[s], sizeof fx->path[s], "%s", f.path);
		fx->bytes[s] = f.bytes;
		struct stat st;
		assert_int_equal(stat(f.path, &st), 0);
		assert_int_equal((uint64_t)st.st_size, f.bytes);
		assert_int_equal(strlen(f.xxh3_128), 32);
	}
	trawl_shard_file f;
	assert_int_equal(trawl_index_shard_file(fx->idx, 2, &f), TRAWL_ENOTFOUND);
	fx->now = 1000000;
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	fixture *fx = *state;
	shard_guard_close(fx->g);
	trawl_index_close(fx->idx);
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", fx->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", fx->dir);
	free(fx);
	return 0;
}

/* Ticks (10 ms of the guard's clock, 10 ms of real time each) until shard's
 * state is want; fails after 10 s. */
static void tick_until(fixture *fx, uint32_t shard, int want)
{
	for (int i = 0; i < 1000; i++) {
		shard_guard_tick(fx->g, fx->now += 10000);
		if (shard_guard_status(fx->g, shard, NULL, 0) == want)
			return;
		usleep(10000);
	}
	fail_msg("shard %u never reached state %d (it is %d)", shard, want,
	         shard_guard_status(fx->g, shard, NULL, 0));
}

/* A child that opens path for writing (truncating it to trunc bytes if
 * trunc >= 0, else flipping the byte at flip if flip >= 0, else changing
 * nothing) and exits 0. Its open waits for the guard's lease. */
static pid_t writer(const char *path, long trunc, long flip)
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid)
		return pid;
	if (trunc >= 0)
		_exit(truncate(path, trunc) == 0 ? 0 : 1);
	int fd = open(path, O_RDWR);
	if (fd < 0)
		_exit(2);
	if (flip >= 0) {
		unsigned char c;
		if (pread(fd, &c, 1, flip) != 1)
			_exit(3);
		c ^= 0x20;
		if (pwrite(fd, &c, 1, flip) != 1)
			_exit(4);
	}
	close(fd);
	_exit(0);
}

/* A child that opens path for writing without waiting (O_NONBLOCK, as
 * coreutils' truncate does): exits 0 when the open was refused with
 * EAGAIN (a lease is held), 1 when it opened. */
static pid_t impatient_writer(const char *path)
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid)
		return pid;
	int fd = open(path, O_WRONLY | O_NONBLOCK);
	_exit(fd < 0 && errno == EWOULDBLOCK ? 0 : 1);
}

static int exited(pid_t pid, int *status)
{
	return waitpid(pid, status, WNOHANG) == pid;
}

static void test_serving(void **state)
{
	fixture *fx = *state;
	open_guard(fx, 0);
	uint32_t both[2] = {0, 1}, other[1] = {7};
	assert_int_equal(shard_guard_enter(fx->g, both, 2), -1);
	shard_guard_leave(fx->g, both, 2);
	assert_int_equal(shard_guard_enter(fx->g, other, 1), 7); /* not watched here */
	assert_int_equal(shard_guard_status(fx->g, 7, NULL, 0), -1);
	shard_guard_tick(fx->g, fx->now);
	shard_guard_stats st;
	shard_guard_get_stats(fx->g, &st);
	assert_int_equal(st.out_of_service, 0);
	assert_int_equal(st.unleased, 0); /* this test runs where leases work */
	assert_int_equal(fx->logged, 0);
}

/* The finding: a truncated file under a running leaf was a SIGBUS. */
static void test_truncation_waits_for_readers(void **state)
{
	fixture *fx = *state;
	open_guard(fx, 0);
	uint32_t s1[1] = {1}, both[2] = {0, 1};
	assert_int_equal(shard_guard_enter(fx->g, s1, 1), -1); /* a request reads shard 1 */
	pid_t pid = writer(fx->path[1], 4096, -1);
	tick_until(fx, 1, GUARD_WITHDRAWN);
	/* out of service for new requests; shard 0 still serves */
	assert_int_equal(shard_guard_enter(fx->g, both, 2), 1);
	assert_int_equal(shard_guard_enter(fx->g, both, 1), -1);
	shard_guard_leave(fx->g, both, 1);
	/* the reader is still in: the truncation waits */
	for (int i = 0; i < 20; i++) {
		shard_guard_tick(fx->g, fx->now += 10000);
		usleep(10000);
	}
	int status;
	assert_false(exited(pid, &status));
	struct stat st;
	assert_int_equal(stat(fx->path[1], &st), 0);
	assert_int_equal((uint64_t)st.st_size, fx->bytes[1]);
	assert_int_equal(shard_guard_status(fx->g, 1, NULL, 0), GUARD_WITHDRAWN);
	shard_guard_leave(fx->g, s1, 1); /* the reader leaves: the writer goes on */
	tick_until(fx, 1, GUARD_DAMAGED);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_int_equal(stat(fx->path[1], &st), 0);
	assert_int_equal(st.st_size, 4096);
	char why[256];
	assert_int_equal(shard_guard_status(fx->g, 1, why, sizeof why), GUARD_DAMAGED);
	assert_non_null(strstr(why, "4096 bytes, the manifest says"));
	assert_non_null(strstr(why, fx->path[1]));
	shard_guard_stats gs;
	shard_guard_get_stats(fx->g, &gs);
	assert_int_equal(gs.lease_breaks, 1);
	assert_int_equal(gs.damaged, 1);
	assert_int_equal(gs.out_of_service, 1);
	assert_int_equal(shard_guard_status(fx->g, 0, NULL, 0), GUARD_SERVING);
}

static void test_rewrite_is_damage(void **state)
{
	fixture *fx = *state;
	open_guard(fx, 0);
	pid_t pid = writer(fx->path[0], -1, (long)fx->bytes[0] / 2);
	tick_until(fx, 0, GUARD_DAMAGED);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	char why[256];
	shard_guard_status(fx->g, 0, why, sizeof why);
	assert_non_null(strstr(why, "checksum mismatch"));
	uint32_t s0[1] = {0};
	assert_int_equal(shard_guard_enter(fx->g, s0, 1), 0);
}

/* Opened for writing and closed unchanged: back in service. */
static void test_unchanged_file_comes_back(void **state)
{
	fixture *fx = *state;
	open_guard(fx, 0);
	pid_t pid = writer(fx->path[0], -1, -1);
	int status, i;
	for (i = 0; i < 1000 && !exited(pid, &status); i++) {
		shard_guard_tick(fx->g, fx->now += 10000);
		usleep(10000);
	}
	assert_true(i < 1000);
	tick_until(fx, 0, GUARD_SERVING);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	uint32_t s0[1] = {0};
	assert_int_equal(shard_guard_enter(fx->g, s0, 1), -1);
	shard_guard_leave(fx->g, s0, 1);
	shard_guard_stats gs;
	shard_guard_get_stats(fx->g, &gs);
	assert_int_equal(gs.lease_breaks, 1);
	assert_int_equal(gs.damaged, 0);
	assert_int_equal(gs.out_of_service, 0);
}

/* A descriptor opened for writing before the guard: no lease, so the scrub
 * is what finds the change, within a pass of both files at its rate. */
static void test_scrub_finds_what_no_lease_sees(void **state)
{
	fixture *fx = *state;
	int fd = open(fx->path[1], O_RDWR);
	assert_true(fd >= 0);
	uint64_t rate = 256 * 1024; /* bytes per second of the guard's clock */
	open_guard(fx, rate);
	shard_guard_stats gs;
	shard_guard_get_stats(fx->g, &gs);
	assert_int_equal(gs.unleased, 1);
	assert_true(fx->logged >= 1); /* said so */
	/* a whole pass over clean files finds nothing */
	shard_guard_tick(fx->g, fx->now);
	uint64_t pass_us = (fx->bytes[0] + fx->bytes[1]) * 1000000 / rate + 1;
	for (uint64_t t = 0; t <= pass_us + 200000; t += 50000)
		shard_guard_tick(fx->g, fx->now += 50000);
	shard_guard_get_stats(fx->g, &gs);
	assert_true(gs.scrub_passes >= 1);
	assert_int_equal(gs.out_of_service, 0);
	/* a byte flipped: found within two passes (the scrub may have read that
	 * part of the file just before) */
	unsigned char c;
	off_t at = (off_t)(fx->bytes[1] - 100);
	assert_int_equal(pread(fd, &c, 1, at), 1);
	c ^= 1;
	assert_int_equal(pwrite(fd, &c, 1, at), 1);
	close(fd);
	uint64_t waited = 0;
	while (shard_guard_status(fx->g, 1, NULL, 0) == GUARD_SERVING && waited < 3 * pass_us) {
		shard_guard_tick(fx->g, fx->now += 50000);
		waited += 50000;
	}
	assert_int_equal(shard_guard_status(fx->g, 1, NULL, 0), GUARD_DAMAGED);
	assert_true(waited <= 2 * pass_us);
	char why[256];
	shard_guard_status(fx->g, 1, why, sizeof why);
	assert_non_null(strstr(why, "found by the scrub"));
	shard_guard_get_stats(fx->g, &gs);
	assert_true(gs.scrubbed_bytes >= fx->bytes[0] + fx->bytes[1]);
	/* the scrub keeps going over the other file */
	uint64_t before = gs.scrubbed_bytes;
	for (int i = 0; i < 20; i++)
		shard_guard_tick(fx->g, fx->now += 50000);
	shard_guard_get_stats(fx->g, &gs);
	assert_true(gs.scrubbed_bytes > before);
	assert_int_equal(shard_guard_status(fx->g, 0, NULL, 0), GUARD_SERVING);
}

/* Refused at once (EWOULDBLOCK): the file stays whole, and the shard,
 * withdrawn when the writer knocked, comes back. */
static void test_impatient_writer_is_refused(void **state)
{
	fixture *fx = *state;
	open_guard(fx, 0);
	int status;
	pid_t pid = impatient_writer(fx->path[1]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	tick_until(fx, 1, GUARD_SERVING);
	shard_guard_stats gs;
	shard_guard_get_stats(fx->g, &gs);
	assert_int_equal(gs.lease_breaks, 1);
	assert_int_equal(gs.damaged, 0);
	struct stat st;
	assert_int_equal(stat(fx->path[1], &st), 0);
	assert_int_equal((uint64_t)st.st_size, fx->bytes[1]);
}

/* Truncated after the index verified it and before the guard leased it. */
static void test_truncated_before_the_lease(void **state)
{
	fixture *fx = *state;
	assert_int_equal(truncate(fx->path[0], 8192), 0);
	open_guard(fx, 0);
	char why[256];
	assert_int_equal(shard_guard_status(fx->g, 0, why, sizeof why), GUARD_DAMAGED);
	assert_non_null(strstr(why, "no longer the manifest's"));
	assert_int_equal(shard_guard_status(fx->g, 1, NULL, 0), GUARD_SERVING);
}

/* Where the kernel grants no leases (fs.leases-enable=0, some network and
 * container file systems), every test here would fail for that alone. */
static int leases_work(void)
{
	char path[] = "/tmp/trawl-lease-XXXXXX";
	int fd = mkstemp(path);
	if (fd < 0)
		return 0;
	close(fd);
	fd = open(path, O_RDONLY);
	int ok = fd >= 0 && fcntl(fd, F_SETLEASE, F_RDLCK) == 0;
	if (fd >= 0)
		close(fd);
	unlink(path);
	return ok;
}

int main(void)
{
	if (!leases_work()) {
		printf("SKIP: this kernel or file system grants no read leases (F_SETLEASE); "
		       "the guard then relies on its scrub alone\n");
		return 77;
	}
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_serving, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_truncation_waits_for_readers, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rewrite_is_damage, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unchanged_file_comes_back, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_scrub_finds_what_no_lease_sees, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_impatient_writer_is_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_truncated_before_the_lease, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
