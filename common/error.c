/*
 * error.c - trawl_strerror: one table of messages for the one error enum.
 * Messages are short and stable; the detail (file, line, column, limit) of a
 * particular failure travels with the handle that failed, not here. Also
 * errf, which writes such a detail (common/error.h).
 */
#include "common/error.h"

#include <stdio.h>

#include "trawl/trawl.h"

int verrf(char *err, size_t errlen, int code, const char *fmt, va_list ap)
{
	if (err && errlen)
		vsnprintf(err, errlen, fmt, ap);
	return code;
}

int errf(char *err, size_t errlen, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	verrf(err, errlen, code, fmt, ap);
	va_end(ap);
	return code;
}

static const char *const messages[] = {
	[TRAWL_OK] = "success",
	[TRAWL_ENOMEM] = "out of memory",
	[TRAWL_EIO] = "input/output error",
	[TRAWL_EINVAL] = "invalid argument",
	[TRAWL_ECORRUPT] = "index data is damaged",
	[TRAWL_ENOTFOUND] = "not found",
	[TRAWL_EQUERY] = "query syntax error",
	[TRAWL_ELIMIT] = "limit exceeded",
	[TRAWL_EUTF8] = "invalid UTF-8",
	[TRAWL_EJSON] = "malformed JSON",
	[TRAWL_ESCHEMA] = "invalid schema",
	[TRAWL_ENOSPC] = "no space left on device",
	[TRAWL_EDOC] = "invalid document",
	[TRAWL_EVERSION] = "unsupported index format version",
	[TRAWL_EINTERNAL] = "internal error",
	[TRAWL_EBUSY] = "server overloaded, try again later",
};

const char *trawl_strerror(int err)
{
	if (err < 0 || (unsigned)err >= sizeof(messages) / sizeof(messages[0]) || !messages[err])
		return "unknown error";
	return messages[err];
}

const char *trawl_version(void)
{
	return TRAWL_VERSION_STRING;
}
