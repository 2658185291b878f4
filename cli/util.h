/*
 * util.h - what the trawl tool's commands share: error reporting with
 * sysexits codes and argument parsing.
 */
#ifndef TRAWL_CLI_UTIL_H
#define TRAWL_CLI_UTIL_H

/* The tool's name, as its messages start. */
extern const char cli_prog[];

/* cli_fail prints "trawl: MSG" (or the error's name) and returns the
 * sysexits code for err. */
int cli_fail(int err, const char *msg);

/* cli_usage_error prints a usage message for cmd and returns EX_USAGE. */
int cli_usage_error(const char *cmd, const char *msg);

/* cli_parse_num reads a decimal number 0..max (nothing else); 0 or -1. */
int cli_parse_num(const char *s, unsigned long max, unsigned long *out);

#endif
