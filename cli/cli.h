/*
 * cli.h - what the trawl tool's files share: error reporting with sysexits
 * codes, the build commands of build.c and the service commands of serve.c.
 */
#ifndef TRAWL_CLI_CLI_H
#define TRAWL_CLI_CLI_H

/* cli_fail prints "trawl: MSG" (or the error's name) and returns the
 * sysexits code for err. */
int cli_fail(int err, const char *msg);

/* cli_usage_error prints a usage message for cmd and returns EX_USAGE. */
int cli_usage_error(const char *cmd, const char *msg);

/* cli_parse_num reads a decimal number 0..max (nothing else); 0 or -1. */
int cli_parse_num(const char *s, unsigned long max, unsigned long *out);

int cmd_index(int argc, char **argv);
int cmd_build_worker(int argc, char **argv);
int cmd_reshard(int argc, char **argv);
int cmd_leaf(int argc, char **argv);
int cmd_root(int argc, char **argv);
int cmd_serve(int argc, char **argv);

#endif
