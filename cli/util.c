/*
 * util.c - what the trawl tool's commands share: error messages and the
 * sysexits code of every trawl_err, usage errors, number arguments.
 *
 * Exit codes follow sysexits.h: 64 usage, 65 bad data (a bad document or
 * query, a damaged index), 66 missing input, 70 internal error, 71 out of
 * memory, 74 I/O error or disk full, 75 a server overloaded (try again), 78 bad
 * schema.
 */
#include "cli/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sysexits.h>

#include "trawl/trawl.h"

const char cli_prog[] = "trawl";

static int exit_code(int err)
{
	switch (err) {
	case TRAWL_OK:
		return 0;
	case TRAWL_ENOTFOUND:
		return EX_NOINPUT;
	case TRAWL_EIO:
	case TRAWL_ENOSPC:
		return EX_IOERR;
	case TRAWL_ESCHEMA:
		return EX_CONFIG;
	case TRAWL_EINVAL:
		return EX_USAGE;
	case TRAWL_ENOMEM:
		return EX_OSERR;
	case TRAWL_EINTERNAL:
		return EX_SOFTWARE;
	case TRAWL_EBUSY:
		return EX_TEMPFAIL;
	default: /* ECORRUPT, EQUERY, ELIMIT, EUTF8, EJSON, EDOC, EVERSION */
		return EX_DATAERR;
	}
}

int cli_fail(int err, const char *msg)
{
	fprintf(stderr, "%s: %s\n", cli_prog, msg && *msg ? msg : trawl_strerror(err));
	return exit_code(err);
}

int cli_usage_error(const char *cmd, const char *msg)
{
	fprintf(stderr, "%s %s: %s (see '%s %s --help')\n", cli_prog, cmd, msg, cli_prog, cmd);
	return EX_USAGE;
}

int cli_tls_option(int c, const char *arg, const char **cert, const char **key, const char **ca)
{
	const char **to = c == CLI_OPT_CERT  ? cert
	                  : c == CLI_OPT_KEY ? key
	                  : c == CLI_OPT_CA  ? ca
	                                     : NULL;
	if (to)
		*to = arg;
	return to != NULL;
}

int cli_parse_num(const char *s, unsigned long max, unsigned long *out)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || !*s || *end || v > max || s[0] == '-')
		return -1;
	*out = v;
	return 0;
}
