/*
 * error.h - how trawl's internal functions report an error: they return
 * the trawl_err code and, when the caller gave them a buffer, a message
 * that names the file, line, column, field or limit. errf is the one helper
 * that writes such a message; every module's own error reporting (a
 * handle's errmsg, an HTTP error's reason, a prefix of its own) goes
 * through it or through verrf.
 */
#ifndef TRAWL_COMMON_ERROR_H
#define TRAWL_COMMON_ERROR_H

#include <stdarg.h>
#include <stddef.h>

/* errf formats the message into err (errlen bytes, NUL-terminated, cut to
 * fit; nothing when err is NULL or errlen is 0) and returns code. */
int errf(char *err, size_t errlen, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* verrf is errf with a va_list. */
int verrf(char *err, size_t errlen, int code, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));

#endif
