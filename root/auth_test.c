/*
 * auth_test.c - what each request needs (the endpoint table written out),
 * and every way a header is judged: no token, another scheme, a token that
 * is a prefix or an extension of a known one, a search token where an admin
 * one is needed; token files' errors name the file, line and column.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "root/auth.h"
#include "trawl/trawl.h"

static void test_needs(void **state)
{
	(void)state;
	static const struct {
		const char *method, *path;
		auth_need need;
	} t[] = {
	    {"GET", "/livez", AUTH_OPEN},
	    {"HEAD", "/readyz", AUTH_OPEN},
	    {"GET", "/healthz", AUTH_OPEN},
	    {"GET", "/_ui/", AUTH_OPEN},
	    {"GET", "/_ui/app.js", AUTH_OPEN},
	    {"POST", "/livez", AUTH_ADMIN},
	    {"GET", "/search", AUTH_SEARCH},
	    {"POST", "/search", AUTH_SEARCH},
	    {"GET", "/doc/x", AUTH_SEARCH},
	    {"GET", "/", AUTH_SEARCH},
	    {"GET", "/_mapping", AUTH_SEARCH},
	    {"POST", "/wiki/_search", AUTH_SEARCH},
	    {"POST", "/wiki/_search/", AUTH_SEARCH},
	    {"POST", "/_count", AUTH_SEARCH},
	    {"POST", "/wiki/_count", AUTH_SEARCH},
	    {"POST", "/wiki/my_search", AUTH_ADMIN},
	    {"POST", "/_search_shards", AUTH_ADMIN},
	    {"GET", "/metrics", AUTH_ADMIN},
	    {"GET", "/_trawl/cluster", AUTH_ADMIN},
	    {"PUT", "/wiki/_doc/1", AUTH_ADMIN},
	    {"POST", "/wiki/_doc", AUTH_ADMIN},
	    {"DELETE", "/wiki", AUTH_ADMIN},
	    {"POST", "/_bulk", AUTH_ADMIN},
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
		if (auth_need_of(t[i].method, t[i].path) != t[i].need)
			fail_msg("%s %s: %d, want %d", t[i].method, t[i].path,
			         auth_need_of(t[i].method, t[i].path), t[i].need);
}

static char *write_file(const char *text)
{
	char *path = strdup("/tmp/trawl-auth-XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return path;
}

static void test_check(void **state)
{
	(void)state;
	char *s = write_file("# search\n0123456789abcdef\n\nsearch-two-0123456789\n");
	char *a = write_file("admin-0123456789abcdef\r\n");
	auth_tokens *t;
	char err[256], why[256];
	assert_int_equal(auth_load(&t, s, a, err, sizeof err), TRAWL_OK);
	static const struct {
		const char *header;
		auth_need need;
		int want;
	} c[] = {
	    {NULL, AUTH_OPEN, 0},
	    {NULL, AUTH_SEARCH, 401},
	    {"", AUTH_SEARCH, 401},
	    {"Bearer", AUTH_SEARCH, 401},
	    {"Bearer ", AUTH_SEARCH, 401},
	    {"Basic MDEyMzQ1Njc4OWFiY2RlZg==", AUTH_SEARCH, 401},
	    {"Bearer 0123456789abcdef", AUTH_SEARCH, 0},
	    {"bearer\t0123456789abcdef  ", AUTH_SEARCH, 0},
	    {"Bearer 0123456789abcde", AUTH_SEARCH, 401},   /* a prefix */
	    {"Bearer 0123456789abcdefg", AUTH_SEARCH, 401}, /* longer */
	    {"Bearer search-two-0123456789", AUTH_SEARCH, 0},
	    {"Bearer 0123456789abcdef", AUTH_ADMIN, 403},
	    {"Bearer admin-0123456789abcdef", AUTH_ADMIN, 0},
	    {"Bearer admin-0123456789abcdef", AUTH_SEARCH, 0},
	    {"Bearer # search", AUTH_SEARCH, 401}, /* a comment is no token */
	};
	for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
		int got = auth_check(t, c[i].header, c[i].need, why, sizeof why);
		if (got != c[i].want)
			fail_msg("%s (need %d): %d, want %d", c[i].header ? c[i].header : "(none)",
			         c[i].need, got, c[i].want);
		if (got)
			assert_true(strlen(why) > 10);
	}
	/* no tokens at all: everything passes */
	assert_int_equal(auth_check(NULL, NULL, AUTH_ADMIN, why, sizeof why), 0);
	auth_free(t);
	unlink(s);
	unlink(a);
	free(s);
	free(a);
}

static void test_bad_files(void **state)
{
	(void)state;
	static const struct {
		const char *text, *want;
	} c[] = {
	    {"", "no token in the file"},
	    {"# only a comment\n", "no token in the file"},
	    {"tooshort\n", ":1: a token has 16 to 256 bytes; this one has 8"},
	    {"0123456789abcdef\nwith a space 0123456789\n", ":2, column 5: a token is printable"},
	    {"caf\xc3\xa9-0123456789abcdef\n", ":1, column 4: a token is printable"},
	};
	char err[512];
	auth_tokens *t;
	for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
		char *p = write_file(c[i].text);
		assert_int_not_equal(auth_load(&t, p, NULL, err, sizeof err), TRAWL_OK);
		assert_null(t);
		if (!strstr(err, c[i].want) || !strstr(err, p))
			fail_msg("%s: %s", c[i].want, err);
		unlink(p);
		free(p);
	}
	char big[400];
	memset(big, 'x', 300);
	strcpy(big + 300, "\n");
	char *p = write_file(big);
	assert_int_equal(auth_load(&t, p, NULL, err, sizeof err), TRAWL_ELIMIT);
	assert_non_null(strstr(err, "at most 256 bytes"));
	unlink(p);
	free(p);
	assert_int_equal(auth_load(&t, "/nonexistent/tokens", NULL, err, sizeof err), TRAWL_EIO);
	assert_non_null(strstr(err, "/nonexistent/tokens"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_needs),
	    cmocka_unit_test(test_check),
	    cmocka_unit_test(test_bad_files),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
