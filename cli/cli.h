/*
 * cli.h - the trawl tool's commands, as main.c dispatches them: each takes
 * its own argv (argv[0] is the command's name) and returns the exit code.
 */
#ifndef TRAWL_CLI_CLI_H
#define TRAWL_CLI_CLI_H

/* search.c: commands that read an index (the public API only) */
int cmd_search(int argc, char **argv);
int cmd_get(int argc, char **argv);
int cmd_stats(int argc, char **argv);
int cmd_verify(int argc, char **argv);

/* build.c: commands that build one (the public API only) */
int cmd_index(int argc, char **argv);
int cmd_build_worker(int argc, char **argv);
int cmd_reshard(int argc, char **argv);
int cmd_compact(int argc, char **argv);
int cmd_snapshot(int argc, char **argv);

/* schema.c: schemas without an index (the public API only) */
int cmd_schema(int argc, char **argv);

/* serve.c: the services, over leaf/ and root/ */
int cmd_leaf(int argc, char **argv);
int cmd_root(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_indexer(int argc, char **argv);

#endif
