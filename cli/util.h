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

/* --cert, --key and --ca: their entries in a getopt_long table (getopt.h),
 * and cli_tls_option, which stores arg for option c in *cert, *key or *ca
 * and returns 1, or returns 0 for any other option. */
enum { CLI_OPT_CERT = 1000, CLI_OPT_KEY, CLI_OPT_CA };
/* clang-format off */
#define CLI_TLS_OPTIONS {"cert", required_argument, 0, CLI_OPT_CERT}, \
	{"key", required_argument, 0, CLI_OPT_KEY}, {"ca", required_argument, 0, CLI_OPT_CA}
/* clang-format on */
int cli_tls_option(int c, const char *arg, const char **cert, const char **key, const char **ca);

#endif
