/*
 * pull_test.c - the puller (pull.c) against fileserve.c over nng's inproc
 * transport, and against sources that lie.
 *
 * A source is an rpc server whose handler answers with fileserve_answer
 * for a directory of hand-made generations (files of random bytes: the
 * puller never opens a shard file, it copies and checks them), and then,
 * by the test's mode, spoils the answer: a byte of a file's data flipped,
 * a wrong file size, a manifest that does not match its checksum, a
 * manifest naming "../escape" with a matching checksum, garbage, or an
 * older leaf's refusal. Each must leave the local CURRENT where it was,
 * nothing outside the local directory, and a message that says why; the
 * honest source's generations arrive whole, only the wanted shards' files,
 * the files an earlier generation has linked, and a file a crash cut short
 * continued from its size.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/hash.h"
#include "common/rpc.h"
#include "common/wire.h"
#include "index/gen.h"
#include "leaf/fileserve.h"
#include "leaf/pull.h"
#include "trawl/trawl.h"

#define TESTDIR_FILE "src"
#include "index/testdir.h"

enum mode { HONEST, FLIP, BAD_SIZE, BAD_SUM, ESCAPE, SELF, GARBAGE, OLD_LEAF };

static _Atomic int g_mode;
static char g_src[160], g_dst[160];
static rpc_server *g_srv;
static int g_url_no;
static char g_url[64];

/* The source's handler: fileserve_answer, then spoiled by g_mode. */
static void handler(void *ctx, unsigned worker, const uint8_t *req, size_t len, tbuf *out)
{
	int mode = g_mode;
	wire_header h;
	wire_header_decode(req, len, &h, NULL, 0);
	if (mode == GARBAGE) {
		tbuf_append(out, "garbage", 7);
		return;
	}
	if (mode == OLD_LEAF) {
		wire_search_reply r = {.status = TRAWL_EINVAL,
		                       .errmsg = "header: unknown message type 19",
		                       .errmsg_len = 31};
		wire_encode_search_reply(out, &h, &r);
		return;
	}
	if ((mode == ESCAPE || mode == SELF) && h.type == WIRE_FILES) {
		/* a manifest naming a file outside the directory, or its own
		 * file as a shard's, summed right */
		char man[512];
		snprintf(man, sizeof man,
		         "{\"format\": 2, \"generation\": 9, \"shards\": 1, \"docs\": 1, "
		         "\"schema\": {}, \"files\": [{\"shard\": 0, \"file\": \"%s\", \"docs\": "
		         "1, \"bytes\": 3, \"xxh3_128\": \"00000000000000000000000000000000\"}]}",
		         mode == ESCAPE ? "../escape" : "MANIFEST.json");
		char sum[34];
		th_hex128(XXH3_128bits(man, strlen(man)), sum);
		sum[32] = '\n';
		wire_header rh = h;
		rh.generation = 9;
		wire_files_reply r = {.manifest = man,
		                      .manifest_len = (uint32_t)strlen(man),
		                      .sum = sum,
		                      .sum_len = 33};
		wire_encode_files_reply(out, &rh, &r);
		return;
	}
	/* (no cmocka assertion on nng's thread: a failure shows in the test) */
	wire_msg m;
	if (!fileserve_answer(g_src, req, len, out) ||
	    wire_decode(out->data, out->len, &m, NULL, 0) != TRAWL_OK)
		return;
	if (mode == BAD_SUM && m.h.type == WIRE_FILES_REPLY && m.u.files_reply.manifest_len)
		out->data[40 + 10] ^= 1; /* a byte of the manifest */
	if (m.h.type == WIRE_FILE_READ_REPLY && m.u.file_read_reply.data_len) {
		if (mode == FLIP)
			out->data[48 + m.u.file_read_reply.data_len / 2] ^= 0x40;
		if (mode == BAD_SIZE)
			out->data[36] ^= 1; /* the size's low byte */
	}
}

/* A file of n random bytes named name in dir; its manifest entry. */
static void make_file(const char *dir, const char *name, size_t n, unsigned seed, idx_mfile *f)
{
	char path[512];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	FILE *fp = fopen(path, "wb");
	assert_non_null(fp);
	srand(seed);
	for (size_t i = 0; i < n; i++)
		fputc(rand() & 0xff, fp);
	fclose(fp);
	if (f->file != name)
		snprintf(f->file, sizeof f->file, "%s", name);
	assert_int_equal(idx_file_hash(path, f->xxh3_128, &f->bytes), TRAWL_OK);
}

/* Generation gen of g_src: 2 shards; generation 1 one file each, a later
 * one adds a segment and a versions file to shard 1 and the statistics
 * files, keeping generation 1's files as hard links. */
static void make_gen(uint64_t gen)
{
	char name[32], dir[256], prev[256], path[512], from[512];
	idx_gen_dirname(name, gen);
	snprintf(dir, sizeof dir, "%s/%s", g_src, name);
	assert_int_equal(mkdir(dir, 0777), 0);
	idx_manifest m;
	memset(&m, 0, sizeof m);
	m.generation = gen;
	m.shards = 2;
	m.docs = 2;
	m.schema_json = strdup("{}");
	for (uint32_t s = 0; s < 2; s++) {
		assert_int_equal(idx_manifest_set_segments(&m, s, gen > 1 && s == 1 ? 2 : 1), 0);
		idx_mseg *g = &m.shard[s].segs[0];
		g->docs = 1;
		snprintf(g->f.file, sizeof g->f.file, "shard-%03u.mdb", s);
		if (gen == 1) {
			make_file(dir, g->f.file, 300000 + 1000 * s, s + 1, &g->f);
			continue;
		}
		idx_gen_dirname(name, gen - 1);
		snprintf(prev, sizeof prev, "%s/%s", g_src, name);
		snprintf(from, sizeof from, "%s/%s", prev, g->f.file);
		snprintf(path, sizeof path, "%s/%s", dir, g->f.file);
		assert_int_equal(link(from, path), 0);
		assert_int_equal(idx_file_hash(path, g->f.xxh3_128, &g->f.bytes), 0);
	}
	if (gen > 1) {
		idx_mseg *g = &m.shard[1].segs[1];
		char seg[48];
		snprintf(seg, sizeof seg, "s001-g%06llu.mdb", (unsigned long long)gen);
		make_file(dir, seg, 70000, (unsigned)gen * 10, &g->f);
		g->docs = 1;
		snprintf(seg, sizeof seg, "s001-g%06llu.ver", (unsigned long long)gen);
		make_file(dir, seg, 40, (unsigned)gen * 10 + 1, &g->ver);
		snprintf(seg, sizeof seg, "stats-g%06llu.base", (unsigned long long)gen);
		make_file(dir, seg, 5000, (unsigned)gen * 10 + 2, &m.stats_base);
		m.applied_seq = gen;
		m.docs = 3;
	}
	char err[256];
	assert_int_equal(idx_manifest_write(dir, &m, err, sizeof err), TRAWL_OK);
	idx_manifest_fini(&m);
	snprintf(path, sizeof path, "%s/CURRENT", g_src);
	FILE *fp = fopen(path, "w");
	assert_non_null(fp);
	idx_gen_dirname(name, gen);
	fprintf(fp, "%s\n", name);
	fclose(fp);
}

static int setup(void **state)
{
	if (testdir_setup(state))
		return -1;
	snprintf(g_src, sizeof g_src, "%s/src", g_dir);
	snprintf(g_dst, sizeof g_dst, "%s/dst", g_dir);
	mkdir(g_src, 0777);
	snprintf(g_url, sizeof g_url, "inproc://pull-test-%d", g_url_no++);
	rpc_server_opts o = {.workers = 1};
	char err[256];
	g_mode = HONEST;
	return rpc_server_start(&g_srv, g_url, &o, handler, NULL, err, sizeof err);
}

static int teardown(void **state)
{
	rpc_server_stop(g_srv);
	g_srv = NULL;
	return testdir_teardown(state);
}

static puller *open_puller(const uint32_t *shards, uint32_t n)
{
	pull_config c = {.dir = g_dst, .url = g_url, .shards = shards, .nshards = n};
	puller *p;
	char err[256];
	assert_int_equal(puller_open(&p, &c, err, sizeof err), TRAWL_OK);
	return p;
}

static uint64_t local_current(void)
{
	uint64_t g = 0;
	char err[256];
	return idx_gen_current(g_dst, &g, err, sizeof err) == TRAWL_OK ? g : 0;
}

static ino_t inode(const char *dir, uint64_t gen, const char *file)
{
	char name[32], path[512];
	idx_gen_dirname(name, gen);
	snprintf(path, sizeof path, "%s/%s/%s", dir, name, file);
	struct stat st;
	if (stat(path, &st) != 0)
		return 0;
	return st.st_ino;
}

/* Generation gen of the copy: its manifest and every file it lists check. */
static void assert_verified(uint64_t gen)
{
	char name[32], gd[256], err[512];
	idx_gen_dirname(name, gen);
	snprintf(gd, sizeof gd, "%s/%s", g_dst, name);
	idx_manifest m;
	assert_int_equal(idx_manifest_read(gd, &m, err, sizeof err), TRAWL_OK);
	if (idx_manifest_verify(gd, &m, NULL, err, sizeof err) != TRAWL_OK)
		fail_msg("%s", err);
	idx_manifest_fini(&m);
}

static void test_pull_and_link(void **state)
{
	make_gen(1);
	puller *p = open_puller(NULL, 0);
	char err[512];
	uint64_t pub;
	assert_int_equal(puller_step(p, &pub, err, sizeof err), TRAWL_OK);
	assert_int_equal(pub, 1);
	assert_int_equal(local_current(), 1);
	assert_verified(1);
	/* nothing newer: nothing done */
	assert_int_equal(puller_step(p, &pub, err, sizeof err), TRAWL_OK);
	assert_int_equal(pub, 0);
	pull_stats s1;
	puller_get_stats(p, &s1);
	assert_int_equal(s1.pulled, 1);
	assert_int_equal(s1.bytes, 300000 + 301000);
	assert_int_equal(s1.files_fetched, 2);

	make_gen(2);
	assert_int_equal(puller_step(p, &pub, err, sizeof err), TRAWL_OK);
	assert_int_equal(pub, 2);
	pull_stats s2;
	puller_get_stats(p, &s2);
	assert_int_equal(s2.bytes - s1.bytes, 70000 + 40 + 5000);
	assert_int_equal(s2.files_linked, 2);
	assert_true(inode(g_dst, 2, "shard-000.mdb") == inode(g_dst, 1, "shard-000.mdb"));
	assert_true(inode(g_dst, 2, "shard-001.mdb") == inode(g_dst, 1, "shard-001.mdb"));
	assert_verified(2);
	puller_close(p);
}

/* Only the wanted shard's files and the statistics. */
static void test_some_shards(void **state)
{
	make_gen(1);
	make_gen(2);
	uint32_t one = 1;
	puller *p = open_puller(&one, 1);
	char err[512];
	uint64_t pub;
	assert_int_equal(puller_step(p, &pub, err, sizeof err), TRAWL_OK);
	assert_int_equal(pub, 2);
	assert_true(inode(g_dst, 2, "shard-000.mdb") == 0);
	assert_true(inode(g_dst, 2, "shard-001.mdb") != 0);
	assert_true(inode(g_dst, 2, "s001-g000002.mdb") != 0);
	assert_true(inode(g_dst, 2, "s001-g000002.ver") != 0);
	assert_true(inode(g_dst, 2, "stats-g000002.base") != 0);
	puller_close(p);
}

/* A piece of a file a crash left: only the rest is asked for. */
static void test_resume(void **state)
{
	make_gen(1);
	char path[512], from[512];
	mkdir(g_dst, 0777);
	snprintf(path, sizeof path, "%s/gen-000001.tmp", g_dst);
	mkdir(path, 0777);
	snprintf(from, sizeof from, "%s/gen-000001/shard-000.mdb", g_src);
	snprintf(path, sizeof path, "%s/gen-000001.tmp/shard-000.mdb", g_dst);
	FILE *in = fopen(from, "rb"), *out = fopen(path, "wb");
	assert_non_null(in);
	assert_non_null(out);
	for (int i = 0; i < 123456; i++)
		fputc(fgetc(in), out);
	fclose(in);
	fclose(out);
	/* and an abandoned pull of another generation, removed */
	snprintf(path, sizeof path, "%s/gen-000000.tmp", g_dst);
	mkdir(path, 0777);
	puller *p = open_puller(NULL, 0);
	char err[512];
	uint64_t pub;
	assert_int_equal(puller_step(p, &pub, err, sizeof err), TRAWL_OK);
	assert_int_equal(pub, 1);
	pull_stats s;
	puller_get_stats(p, &s);
	assert_int_equal(s.bytes, 300000 - 123456 + 301000);
	struct stat st;
	assert_int_not_equal(stat(path, &st), 0);
	assert_verified(1);
	puller_close(p);
}

/* Each lie is refused with its reason; the last good generation stays. */
static void test_lies(void **state)
{
	static const struct {
		int mode, rc;
		const char *why;
	} lies[] = {
	    {FLIP, TRAWL_ECORRUPT, "s001-g000002.mdb: checksum mismatch"},
	    {BAD_SIZE, TRAWL_ECORRUPT, "the source's file is"},
	    {BAD_SUM, TRAWL_ECORRUPT, "does not match MANIFEST.xxh3"},
	    {ESCAPE, TRAWL_ECORRUPT, "files[0] is malformed"},
	    {SELF, TRAWL_ECORRUPT, "lists MANIFEST.json as a file of a shard"},
	    {GARBAGE, TRAWL_EINVAL, "answered FILES with a bad reply"},
	    {OLD_LEAF, TRAWL_EINVAL, "refused FILES: header: unknown message type 19"},
	};
	make_gen(1);
	puller *p = open_puller(NULL, 0);
	char err[512];
	uint64_t pub;
	assert_int_equal(puller_step(p, &pub, err, sizeof err), TRAWL_OK);
	make_gen(2);
	for (size_t i = 0; i < sizeof lies / sizeof lies[0]; i++) {
		puller_close(p);
		p = open_puller(NULL, 0); /* no retry delay from the last refusal */
		g_mode = lies[i].mode;
		err[0] = 0;
		int rc = puller_step(p, &pub, err, sizeof err);
		if (rc != lies[i].rc || !strstr(err, lies[i].why))
			fail_msg("lie %zu: %d \"%s\"; expected %d \"%s\"", i, rc, err, lies[i].rc,
			         lies[i].why);
		assert_int_equal(pub, 0);
		assert_int_equal(local_current(), 1);
		char path[512];
		struct stat st;
		snprintf(path, sizeof path, "%s/escape", g_dir);
		assert_int_not_equal(stat(path, &st), 0);
		pull_stats s;
		puller_get_stats(p, &s);
		assert_int_equal(s.refused, lies[i].rc == TRAWL_ECORRUPT);
	}
	/* a refused file was discarded, and the generation waits for its retry */
	char path[512];
	struct stat st;
	snprintf(path, sizeof path, "%s/gen-000002.tmp/s001-g000002.mdb", g_dst);
	g_mode = FLIP;
	puller_close(p);
	p = open_puller(NULL, 0);
	assert_int_equal(puller_step(p, &pub, err, sizeof err), TRAWL_ECORRUPT);
	assert_int_not_equal(stat(path, &st), 0);
	g_mode = HONEST;
	assert_int_equal(puller_step(p, &pub, err, sizeof err), TRAWL_OK);
	assert_int_equal(pub, 0);
	assert_int_equal(local_current(), 1);
	usleep(1100 * 1000);
	assert_int_equal(puller_step(p, &pub, err, sizeof err), TRAWL_OK);
	assert_int_equal(pub, 2);
	assert_int_equal(local_current(), 2);
	puller_close(p);
}

/* No source: an error naming it, and nothing written but the directory. */
static void test_no_source(void **state)
{
	pull_config c = {.dir = g_dst, .url = "inproc://nobody-here", .timeout_ms = 200};
	puller *p;
	char err[512];
	assert_int_equal(puller_open(&p, &c, err, sizeof err), TRAWL_OK);
	uint64_t pub;
	assert_int_equal(puller_step(p, &pub, err, sizeof err), TRAWL_EIO);
	assert_non_null(strstr(err, "inproc://nobody-here"));
	assert_int_equal(local_current(), 0);
	puller_close(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_pull_and_link, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_some_shards, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_resume, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_lies, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_no_source, setup, teardown),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	rpc_fini();
	return rc;
}
