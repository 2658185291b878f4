/*
 * serve.c - the service commands of the trawl tool: `trawl leaf`, `trawl
 * root` and `trawl serve` (a root and a leaf in one process, the root
 * calling the leaf on its own thread through a local:// URL: the cluster's
 * code path on one machine). Each runs until SIGINT or SIGTERM.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <sysexits.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/indexer_rpc.h"
#include "cli/serve_host.h"
#include "cli/util.h"
#include "common/clock.h"
#include "common/error.h"
#include "common/limits.h"
#include "leaf/leaf.h"
#include "root/api.h"
#include "root/auth.h"
#include "root/cluster.h"
#include "root/remote.h"
#include "root/root.h"
#include "trawl/trawl.h"

/* Raises the limit on open descriptors to what the system allows: a root
 * holds up to 1,088 HTTP connections (1,024 and a margin), besides its
 * leaves', and a soft limit of 1,024 (a common default) would make accept
 * fail while the guard is making room (common/connguard.h). */
static void raise_fd_limit(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* Blocks SIGINT/SIGTERM in every thread (call before starting any), then
 * waits for one. */
static sigset_t stop_set;

static void block_signals(void)
{
	sigemptyset(&stop_set);
	sigaddset(&stop_set, SIGINT);
	sigaddset(&stop_set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &stop_set, NULL);
	signal(SIGPIPE, SIG_IGN);
}

static int wait_for_signal(void)
{
	int sig;
	sigwait(&stop_set, &sig);
	return sig;
}

/* The stop after the signal (and the drain) gets LIMIT_STOP_MS: nng 1.5.2
 * can leave a connection's teardown, and every one after it, waiting
 * forever (docs/RESILIENCE.md, known limits), and a request in hand (a
 * leaf's worker finishes it) may be slow. Past the bound the process says
 * so and exits 0 without finishing: what it served is answered, and what
 * is left is memory and sockets that the exit frees. Once per process. */
static void *stop_watch(void *arg)
{
	(void)arg;
	struct timespec t = {LIMIT_STOP_MS / 1000, (long)(LIMIT_STOP_MS % 1000) * 1000000L};
	while (nanosleep(&t, &t) != 0 && errno == EINTR)
		;
	fprintf(stderr,
	        "trawl: still stopping %d ms after the signal: exiting without finishing (a "
	        "request in hand, or nng waiting on a connection's teardown: "
	        "docs/OPERATIONS.md)\n",
	        LIMIT_STOP_MS);
	_exit(0);
	return NULL;
}

static void stop_within_bound(void)
{
	static atomic_flag started = ATOMIC_FLAG_INIT;
	pthread_t t;
	if (!atomic_flag_test_and_set(&started) && pthread_create(&t, NULL, stop_watch, NULL) == 0)
		pthread_detach(t);
}

/* A graceful stop (SIGTERM with --drain-ms): /readyz answers 503 and
 * searches are still answered for drain_ms, so that a load balancer's health
 * checks take this root out before its port closes; a second signal ends
 * the wait. SIGINT (an operator's Ctrl-C) stops at once. */
static void drain(api *a, unsigned drain_ms, int sig, int quiet)
{
	if (sig != SIGTERM || !drain_ms)
		return;
	api_drain(a);
	if (!quiet)
		fprintf(stderr,
		        "trawl: SIGTERM: draining for %u ms (/readyz answers 503), then "
		        "stopping; another signal stops at once\n",
		        drain_ms);
	/* until then, or a signal (an interrupted wait, after SIGSTOP and
	 * SIGCONT say, waits for the rest) */
	struct timespec end, now, left;
	clock_gettime(CLOCK_MONOTONIC, &end);
	end.tv_sec += (time_t)(drain_ms / 1000);
	end.tv_nsec += (long)(drain_ms % 1000) * 1000000L;
	if (end.tv_nsec >= 1000000000L) {
		end.tv_sec++;
		end.tv_nsec -= 1000000000L;
	}
	for (;;) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		left.tv_sec = end.tv_sec - now.tv_sec;
		left.tv_nsec = end.tv_nsec - now.tv_nsec;
		if (left.tv_nsec < 0) {
			left.tv_sec--;
			left.tv_nsec += 1000000000L;
		}
		if (left.tv_sec < 0 || sigtimedwait(&stop_set, NULL, &left) >= 0 || errno != EINTR)
			return;
	}
}

/* "HOST:PORT" or ":PORT" or "PORT" into bind and port. */
static int parse_addr(const char *s, char *bind, size_t cap, uint16_t *port)
{
	const char *colon = strrchr(s, ':');
	const char *p = colon ? colon + 1 : s;
	char *end;
	long v = strtol(p, &end, 10);
	if (*end || v < 0 || v > 65535 || !*p)
		return -1;
	*port = (uint16_t)v;
	if (colon && colon > s) {
		size_t n = (size_t)(colon - s);
		if (s[0] == '[' && colon[-1] == ']') { /* [::1]:9200 */
			s++;
			n -= 2;
		}
		if (n >= cap)
			return -1;
		memcpy(bind, s, n);
		bind[n] = 0;
	} else {
		snprintf(bind, cap, "127.0.0.1");
	}
	return 0;
}

/* A whole number from lo to hi, nothing after it; -1 if not. */
static long parse_range(const char *s, long lo, long hi)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	return errno || end == s || *end || v < lo || v > hi ? -1 : v;
}

/* --cache-mb's value: 0 (no cache) to 65536. */
static int parse_cache_mb(const char *s, long *mb)
{
	char *end;
	*mb = strtol(s, &end, 10);
	return *end || end == s || *mb < 0 || *mb > 65536 ? -1 : 0;
}

/* The cache size a --cache-mb value asks for. */
static void set_cache(root_config *cfg, long mb)
{
	cfg->cache_bytes = (size_t)mb << 20;
	cfg->no_cache = mb == 0;
}

/* "0,1,5" or "0-3" into shard numbers. */
static int parse_shards(const char *s, uint32_t *out, uint32_t *n)
{
	*n = 0;
	while (*s) {
		char *end;
		long a = strtol(s, &end, 10), b = a;
		if (end == s || a < 0 || a >= TRAWL_MAX_SHARDS)
			return -1;
		if (*end == '-') {
			s = end + 1;
			b = strtol(s, &end, 10);
			if (end == s || b < a || b >= TRAWL_MAX_SHARDS)
				return -1;
		}
		for (long i = a; i <= b; i++) {
			if (*n >= TRAWL_MAX_SHARDS)
				return -1;
			out[(*n)++] = (uint32_t)i;
		}
		if (*end == ',')
			end++;
		else if (*end)
			return -1;
		s = end;
	}
	return *n ? 0 : -1;
}

/* Says loudly when the leaf will be reachable beyond this machine and
 * nothing keeps strangers out (issue #13: a leaf answers whoever connects,
 * and serves its stored documents; the build coordinator says the same,
 * shard/builder.c). */
static void warn_exposed(const leaf_config *cfg)
{
	const char *url = cfg->listen_url;
	int tls = !strncmp(url, "tls+", 4);
	if ((tls && cfg->tls.ca_file) || rpc_url_loopback(url))
		return;
	fprintf(stderr,
	        "%s leaf: WARNING: listening on %s %s: whoever reaches that address can search "
	        "the shards and read their stored documents%s. Listen on tls+tcp:// with --cert, "
	        "--key and a --ca that the roots' certificates must be signed by "
	        "(docs/OPERATIONS.md), or on a loopback address.\n",
	        cli_prog, url, tls ? "with TLS but no CA" : "without TLS",
	        tls ? "" : ", in clear text on the network");
}

#define SCRUB_RATE_USAGE "--scrub-rate takes MiB per second, 0 to 4096 (0: no scrub)"
#define SCRUB_PERIOD_USAGE "--scrub-period takes seconds, 1 to 86400"
#define QUEUE_USAGE "--queue takes a number from 1 to " LIMIT_STR(LIMIT_RPC_MAX_QUEUE)
#define QUEUE_HELP                                                                                 \
	"  --queue N      searches let wait for a worker; one more is refused as\n"                \
	"                 overloaded, at once (HTTP 429 when no replica has room;\n"               \
	"                 default " LIMIT_STR(                                                     \
	    LIMIT_LEAF_QUEUE_PER_WORKER) " per worker, at most " LIMIT_STR(LIMIT_RPC_MAX_QUEUE) ")\n"
#define WRITE_PRIORITY_HELP                                                                        \
	"  --write-priority low|normal  low (the default): writes run at the\n"                    \
	"                 lowest CPU priority (nice 19), so that searches keep their\n"            \
	"                 latency while writes stream in; normal: at the searches'\n"              \
	"                 priority (for a write-heavy load)\n"

/* --write-priority: 0 for low, 1 for normal, -1 for anything else. */
static int parse_write_priority(const char *s)
{
	return !strcmp(s, "low") ? 0 : !strcmp(s, "normal") ? 1 : -1;
}

#define FLOOD_HELP                                                                                 \
	"  --flood-stage PCT writes are refused (507) while the disk holding the\n"                \
	"                 index is more than PCT% full, so that what is logged can\n"              \
	"                 still be applied (default " LIMIT_STR(                                   \
	    LIMIT_DISK_FLOOD_PCT) "; 100: never)\n"
#define FLOOD_USAGE "--flood-stage takes a percent from 1 to 100"
#define SCRUB_HELP                                                                                 \
	"  --scrub-rate N MiB/s the shard files are read again at, to find damage\n"               \
	"                 while they are served (default 64; 0: no scrub)\n"                       \
	"  --scrub-period S  a pass over them starts at most every S s (default 60)\n"

/* --scrub-rate N: MiB/s into bytes/s, 0 into "none" (below 0). */
static int parse_scrub_rate(const char *s, int64_t *out)
{
	long mib = parse_range(s, 0, 4096);
	if (mib < 0 || mib > 4096)
		return -1;
	*out = mib ? (int64_t)mib << 20 : -1;
	return 0;
}

static const char leaf_help[] =
    "usage: trawl leaf --index DIR --listen URL [--shards LIST] [--workers N] [--queue N]\n"
    "                  [--http [HOST:]PORT] [--cert FILE --key FILE] [--ca FILE]\n"
    "                  [--pull URL [--pull-rate KIB]]\n"
    "\n"
    "Serves shards of the live generation of DIR to roots over nng. It follows\n"
    "DIR/CURRENT: a newly published generation is verified, then served without\n"
    "dropping a query. It also serves DIR's generations to leaves that --pull.\n"
    "\n"
    "  --pull URL     DIR is this leaf's own copy (it may start empty): every\n"
    "                 watch interval, pull the live generation of the leaf (or\n"
    "                 indexer) at URL when it is newer, the files of this leaf's\n"
    "                 shards only, linking those DIR has; check each against\n"
    "                 the manifest, then publish it in DIR and serve it\n"
    "  --pull-rate N  download at most N KiB per second (default: unbounded)\n"
    "  --listen URL   tcp://HOST:PORT, ipc:///PATH or tls+tcp://HOST:PORT\n"
    "  --shards LIST  shard numbers, e.g. 0,2 or 0-3 (default: all)\n"
    "  --workers N    requests served at once (default 2)\n" QUEUE_HELP
    "  --cert, --key  certificate and key for tls+tcp://; --ca to verify roots\n"
    "  --http ADDR    health and metrics port: /livez, /readyz, /metrics\n" SCRUB_HELP
    "  --delay F:MS   fault injection (tests, benchmarks): delay a fraction F of\n"
    "                 SEARCH answers by MS milliseconds\n";

int cmd_leaf(int argc, char **argv)
{
	leaf_config cfg = {0};
	uint32_t shards[TRAWL_MAX_SHARDS];
	static const struct option longs[] = {{"index", required_argument, 0, 'i'},
	                                      {"listen", required_argument, 0, 'l'},
	                                      {"shards", required_argument, 0, 's'},
	                                      {"workers", required_argument, 0, 'w'},
	                                      {"queue", required_argument, 0, 'Q'},
	                                      {"cert", required_argument, 0, 'c'},
	                                      {"key", required_argument, 0, 'k'},
	                                      {"ca", required_argument, 0, 'a'},
	                                      {"quiet", no_argument, 0, 'q'},
	                                      {"http", required_argument, 0, 'H'},
	                                      {"delay", required_argument, 0, 'd'},
	                                      {"scrub-rate", required_argument, 0, 'S'},
	                                      {"scrub-period", required_argument, 0, 'P'},
	                                      {"pull", required_argument, 0, 'p'},
	                                      {"pull-rate", required_argument, 0, 'R'},
	                                      {"help", no_argument, 0, 'h'},
	                                      {0, 0, 0, 0}};
	char hbind[128];
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
		switch (c) {
		case 'i':
			cfg.index_dir = optarg;
			break;
		case 'l':
			cfg.listen_url = optarg;
			break;
		case 's':
			if (parse_shards(optarg, shards, &cfg.nshards))
				return cli_usage_error("leaf",
				                       "--shards takes a list like 0,2 or 0-3");
			cfg.shards = shards;
			break;
		case 'w':
			cfg.workers = (unsigned)parse_range(optarg, 1, LIMIT_RPC_WORKERS);
			if (cfg.workers < 1 || cfg.workers > LIMIT_RPC_WORKERS)
				return cli_usage_error(
				    "leaf", "--workers takes a number from 1 to " LIMIT_STR(
				                LIMIT_RPC_WORKERS));
			break;
		case 'Q':
			cfg.queue = (unsigned)parse_range(optarg, 1, LIMIT_RPC_MAX_QUEUE);
			if (cfg.queue < 1 || cfg.queue > LIMIT_RPC_MAX_QUEUE)
				return cli_usage_error("leaf", QUEUE_USAGE);
			break;
		case 'c':
			cfg.tls.cert_file = optarg;
			break;
		case 'k':
			cfg.tls.key_file = optarg;
			break;
		case 'a':
			cfg.tls.ca_file = optarg;
			break;
		case 'q':
			cfg.quiet = 1;
			break;
		case 'H':
			if (parse_addr(optarg, hbind, sizeof hbind, &cfg.http_port))
				return cli_usage_error("leaf", "--http takes [HOST:]PORT");
			cfg.http_bind = hbind;
			break;
		case 'S':
			if (parse_scrub_rate(optarg, &cfg.scrub_bytes_per_s))
				return cli_usage_error("leaf", SCRUB_RATE_USAGE);
			break;
		case 'P':
			if ((cfg.scrub_period_s = (unsigned)parse_range(optarg, 1, 86400)) < 1 ||
			    cfg.scrub_period_s > 86400)
				return cli_usage_error("leaf", SCRUB_PERIOD_USAGE);
			break;
		case 'p':
			cfg.pull_url = optarg;
			break;
		case 'R': {
			long kib = parse_range(optarg, 1, 1L << 30);
			if (kib < 1 || kib > (1L << 30))
				return cli_usage_error(
				    "leaf", "--pull-rate takes KiB per second, 1 to 2^30");
			cfg.pull_bytes_per_s = (uint64_t)kib << 10;
			break;
		}
		case 'd': {
			double f;
			unsigned ms;
			if (sscanf(optarg, "%lf:%u", &f, &ms) != 2 || !(f > 0 && f <= 1) ||
			    ms > 60000)
				return cli_usage_error("leaf",
				                       "--delay takes FRACTION:MS, e.g. 0.1:50");
			cfg.delay_fraction = f;
			cfg.delay_ms = ms;
			break;
		}
		case 'h':
			fputs(leaf_help, stdout);
			return 0;
		default:
			return cli_usage_error("leaf", "unknown option");
		}
	}
	if (!cfg.index_dir || !cfg.listen_url || optind != argc)
		return cli_usage_error("leaf", "needs --index DIR and --listen URL");
	if (cfg.pull_bytes_per_s && !cfg.pull_url)
		return cli_usage_error("leaf", "--pull-rate goes with --pull");
	warn_exposed(&cfg);
	raise_fd_limit();
	block_signals();
	char err[1024];
	leaf *l;
	int rc = leaf_start(&l, &cfg, err, sizeof err);
	if (rc)
		return cli_fail(rc, err);
	if (cfg.http_bind && !cfg.quiet)
		fprintf(stderr, "trawl leaf: health on http://%s:%u/\n", cfg.http_bind,
		        (unsigned)leaf_http_port(l));
	wait_for_signal();
	stop_within_bound();
	leaf_stop(l);
	return 0;
}

/* --search-tokens and --admin-tokens (root/auth.h). */
typedef struct token_files {
	const char *search, *admin;
} token_files;

/* --search-tokens (Q) and --admin-tokens (A): 1 when c was one of them. */
static int token_option(int c, token_files *tf)
{
	if (c == 'Q')
		tf->search = optarg;
	else if (c == 'A')
		tf->admin = optarg;
	else
		return 0;
	return 1;
}

#define DRAIN_HELP                                                                                 \
	"  --drain-ms N     on SIGTERM, answer /readyz 503 and go on serving for N ms\n"           \
	"                   before stopping (default 0), for a load balancer to move\n"            \
	"                   away first; SIGINT stops at once\n"
#define DRAIN_USAGE "--drain-ms takes 0 to " LIMIT_STR(LIMIT_DRAIN_MS)

#define TOKENS_HELP                                                                                \
	"  --search-tokens FILE, --admin-tokens FILE\n"                                            \
	"                 bearer tokens, one per line: with either, every request but\n"           \
	"                 /livez, /readyz and /healthz needs Authorization: Bearer TOKEN;\n"       \
	"                 a search token searches and reads, an admin token does all\n"

static const char root_help[] =
    "usage: trawl root --cluster FILE --http [HOST:]PORT [--timeout-ms N]\n"
    "                  [--name NAME] [--ca FILE] [--cert FILE --key FILE]\n"
    "\n"
    "Serves the HTTP search API (docs/HTTP.md) over the leaves the cluster file\n"
    "lists: {\"shards\": S, \"leaves\": [{\"url\": URL, \"shards\": [..]}, ...]}\n"
    "(one index, named by --name), or several indexes and their aliases:\n"
    "{\"indexes\": {\"NAME\": {\"shards\": S, \"leaves\": [...], \"indexer\": URL}, ...},\n"
    " \"aliases\": {\"ALIAS\": {\"indexes\": [NAME, ...], \"write_index\": NAME}}}\n"
    "(docs/OPERATIONS.md, the cluster file).\n"
    "\n"
    "  --http ADDR      where to listen (default 127.0.0.1:9200)\n"

    "  --timeout-ms N   default query deadline (default 2000)\n"
    "  --name NAME      the index's name in the OpenSearch-style API (default\n"
    "                   trawl); with several, the cluster's (GET /'s cluster_uuid)\n"
    "  --cache-mb N     result cache size, per index (default 64; 0: no cache)\n" DRAIN_HELP
        WRITE_PRIORITY_HELP TOKENS_HELP;

/* Serves the indexes of cat over HTTP on addr until a signal. */
static int run_api(catalog *cat, const char *addr, int quiet, const char *banner,
                   const token_files *tf, unsigned drain_ms, int writes_normal)
{
	char err[1024], bind[128];
	uint16_t port;
	if (parse_addr(addr, bind, sizeof bind, &port))
		return cli_usage_error("root", "--http takes [HOST:]PORT");
	auth_tokens *tokens = NULL;
	int rc = tf->search || tf->admin
	             ? auth_load(&tokens, tf->search, tf->admin, err, sizeof err)
	             : TRAWL_OK;
	if (rc)
		return cli_fail(rc, err);
	api_config ac = {bind, port, tokens, quiet, writes_normal};
	api *a;
	if ((rc = api_start(&a, cat, &ac, err, sizeof err))) {
		auth_free(tokens);
		return cli_fail(rc, err);
	}
	if (!quiet) {
		fprintf(stderr, "trawl: %s; HTTP API on http://%s:%u/\n", banner, bind,
		        (unsigned)api_port(a));
		/* the native /search answers for one index; over several, the
		 * OpenSearch-style search of them all */
		cat_set all;
		cat_all(cat, &all);
		fprintf(stderr, "trawl: try: curl 'http://%s:%u/%s'\n", bind, (unsigned)api_port(a),
		        all.n == 1 ? "search?q=solar+eclipse&k=3"
		                   : "_search?q=solar+eclipse&size=3");
		cat_set_release(&all);
		fprintf(stderr, "trawl: search page: http://%s:%u/_ui/\n", bind,
		        (unsigned)api_port(a));
	}
	drain(a, drain_ms, wait_for_signal(), quiet);
	stop_within_bound();
	api_stop(a);
	auth_free(tokens);
	return 0;
}

/* What a cluster's root answers to creating, deleting and aliasing. */
static const char cluster_fixed[] =
    "a cluster's indexes and aliases are defined by its cluster file (trawl root "
    "--cluster FILE): edit the file and restart the roots to change them";

/* The banner of a cluster's root: its indexes, their leaves, shards and
 * indexers. */
static void cluster_banner(const cluster_file *cf, char *out, size_t cap)
{
	const root_config *c = &cf->ix[0].cfg;
	if (!cf->several) {
		snprintf(out, cap, "root over %u leaves, %u shards%s%s", c->nleaves, c->nshards,
		         c->indexer_url[0] ? ", writes to " : "", c->indexer_url);
		return;
	}
	size_t at = (size_t)snprintf(out, cap, "root over %u indexes:", cf->n);
	for (uint32_t i = 0; i < cf->n && at < cap; i++) {
		c = &cf->ix[i].cfg;
		at += (size_t)snprintf(out + at, cap - at, "%s %s (%u leaves, %u shards%s%s)",
		                       i ? "," : "", cf->ix[i].name, c->nleaves, c->nshards,
		                       c->indexer_url[0] ? ", writes to " : "", c->indexer_url);
	}
}

/* What GET /{index} and _cat/indices say of a cluster's index: its shard
 * count (its live documents are counted by a search, cat_describe; deleted
 * documents and bytes are the leaves', unknown here). */
static void cluster_describe(void *ctx, void *data, cat_stats *out)
{
	(void)ctx;
	out->nshards = ((const cluster_index *)data)->cfg.nshards;
}

/* Opens index i of cf: its writer over its indexer (when it has one), its
 * root, its place in cat. */
static int open_index(cluster_file *cf, uint32_t i, catalog *cat, remote_writer **rw, root **r,
                      char *err, size_t errlen)
{
	root_config *c = &cf->ix[i].cfg;
	char why[1024];
	int rc = TRAWL_OK;
	if (c->indexer_url[0] &&
	    !(rc = remote_writer_open(rw, c->indexer_url, &c->tls, why, sizeof why)))
		c->writer = remote_writer_of(*rw);
	if (!rc)
		rc = root_open(r, c, why, sizeof why);
	if (!rc)
		rc = cat_add(cat, cf->ix[i].name, *r, &cf->ix[i], why, sizeof why);
	if (rc && cf->several)
		return errf(err, errlen, rc, "index [%s]: %s", cf->ix[i].name, why);
	return rc ? errf(err, errlen, rc, "%s", why) : TRAWL_OK;
}

/* A cluster's root: the indexes its cluster file describes (path), each a
 * root over its own leaves that writes through its own indexer, in a
 * catalog that is fixed: the file defines the indexes and the aliases. */
static int run_cluster(cluster_file *cf, const char *path, const char *addr, const char *name,
                       int quiet, const token_files *tf, unsigned drain_ms, int writes_normal)
{
	char err[1024], why[1024];
	remote_writer *rw[LIMIT_INDEXES] = {0};
	root *r[LIMIT_INDEXES] = {0};
	catalog *cat = NULL;
	/* a host that only describes: nothing is created, deleted or kept */
	cat_host host = {NULL, NULL, NULL, NULL, cluster_describe};
	int rc = cat_open(&cat, &host, name);
	if (rc)
		errf(err, sizeof err, rc, "out of memory");
	for (uint32_t i = 0; !rc && i < cf->n; i++)
		rc = open_index(cf, i, cat, &rw[i], &r[i], err, sizeof err);
	if (!rc && cf->aliases &&
	    (rc = cat_aliases_load(cat, cf->aliases, cf->aliases_len, why, sizeof why)))
		errf(err, sizeof err, rc, "%s: aliases: %s", path, why);
	if (!rc) {
		cat_fix(cat, cluster_fixed);
		char banner[4096];
		cluster_banner(cf, banner, sizeof banner);
		rc = run_api(cat, addr, quiet, banner, tf, drain_ms, writes_normal);
	} else {
		rc = cli_fail(rc, err);
	}
	cat_close(cat);
	for (uint32_t i = 0; i < cf->n; i++) {
		root_close(r[i]);
		remote_writer_close(rw[i]);
	}
	return rc;
}

int cmd_root(int argc, char **argv)
{
	const char *cluster = NULL, *addr = "127.0.0.1:9200", *name = "trawl";
	unsigned timeout = 0;
	int quiet = 0;
	rpc_tls tls = {0};
	static const struct option longs[] = {{"cluster", required_argument, 0, 'c'},
	                                      {"http", required_argument, 0, 'H'},
	                                      {"timeout-ms", required_argument, 0, 'T'},
	                                      {"name", required_argument, 0, 'n'},
	                                      {"ca", required_argument, 0, 'a'},
	                                      {"cert", required_argument, 0, 'C'},
	                                      {"key", required_argument, 0, 'k'},
	                                      {"quiet", no_argument, 0, 'q'},
	                                      {"help", no_argument, 0, 'h'},
	                                      {"cache-mb", required_argument, 0, 'm'},
	                                      {"search-tokens", required_argument, 0, 'Q'},
	                                      {"admin-tokens", required_argument, 0, 'A'},
	                                      {"drain-ms", required_argument, 0, 'D'},
	                                      {"write-priority", required_argument, 0, 'W'},
	                                      {0, 0, 0, 0}};
	int c;
	long cache_mb = 64, drain_ms = 0;
	int writes_normal = 0;
	token_files tf = {NULL, NULL};
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
		if (token_option(c, &tf))
			continue;
		switch (c) {
		case 'm':
			if (parse_cache_mb(optarg, &cache_mb))
				return cli_usage_error("root", "--cache-mb takes 0 to 65536");
			break;
		case 'D':
			if ((drain_ms = parse_range(optarg, 0, LIMIT_DRAIN_MS)) < 0)
				return cli_usage_error("root", DRAIN_USAGE);
			break;
		case 'W':
			if ((writes_normal = parse_write_priority(optarg)) < 0)
				return cli_usage_error("root",
				                       "--write-priority takes low or normal");
			break;
		case 'c':
			cluster = optarg;
			break;
		case 'H':
			addr = optarg;
			break;
		case 'T':
			timeout = (unsigned)parse_range(optarg, 1, LIMIT_TIMEOUT_MS);
			if (timeout < 1 || timeout > LIMIT_TIMEOUT_MS)
				return cli_usage_error(
				    "root", "--timeout-ms takes 1 to " LIMIT_STR(LIMIT_TIMEOUT_MS));
			break;
		case 'n':
			name = optarg;
			break;
		case 'a':
			tls.ca_file = optarg;
			break;
		case 'C':
			tls.cert_file = optarg;
			break;
		case 'k':
			tls.key_file = optarg;
			break;
		case 'q':
			quiet = 1;
			break;
		case 'h':
			fputs(root_help, stdout);
			return 0;
		default:
			return cli_usage_error("root", "unknown option");
		}
	}
	if (!cluster || optind != argc)
		return cli_usage_error("root", "needs --cluster FILE");
	raise_fd_limit();
	block_signals();
	cluster_file cf;
	char err[1024];
	int rc = cluster_file_load(&cf, cluster, name, err, sizeof err);
	if (rc) {
		cluster_file_fini(&cf);
		return cli_fail(rc == TRAWL_EINVAL ? TRAWL_ESCHEMA : rc, err);
	}
	for (uint32_t i = 0; i < cf.n; i++) {
		root_config *cfg = &cf.ix[i].cfg;
		cfg->tls = tls;
		cfg->timeout_ms = timeout;
		cfg->quiet = quiet;
		set_cache(cfg, cache_mb);
	}
	rc = run_cluster(&cf, cluster, addr, name, quiet, &tf, (unsigned)drain_ms, writes_normal);
	cluster_file_fini(&cf);
	return rc;
}

static const char serve_help[] =
    "usage: trawl serve DIR [--http [HOST:]PORT] [--name NAME] [--workers N] [--queue N]\n"
    "\n"
    "Serves the index in DIR over HTTP on one machine: a root and a leaf in one\n"
    "process (the cluster's code path; the root calls the leaf on its own thread).\n"
    "The index is served under NAME (default: DIR's base name) in the\n"
    "OpenSearch-style API. New generations published in DIR are picked up.\n"
    "\n"
    "  --http ADDR    where to listen (default 127.0.0.1:9200)\n"
    "  --workers N    searches at once (default: 2)\n" QUEUE_HELP
    "  --cache-mb N   result cache size (default 64; 0: no cache)\n"
    "  --refresh-ms N how often writes become searchable (default 1000)\n"
    "  --max-backlog N writes acknowledged and not yet searchable past which\n"
    "                 writes are refused with 429 (default and most: 200000)\n" FLOOD_HELP
    "  --read-only    refuse writes (otherwise this process is the index's\n"
    "                 indexer: writes are logged in DIR/wlog.mdb and published\n"
    "                 as new generations)\n" WRITE_PRIORITY_HELP SCRUB_HELP DRAIN_HELP TOKENS_HELP;

int cmd_serve(int argc, char **argv)
{
	const char *addr = "127.0.0.1:9200", *name = NULL;
	unsigned workers = 2, queue = 0;
	int quiet = 0;
	int64_t scrub = 0;
	unsigned scrub_period = 0;
	static const struct option longs[] = {{"http", required_argument, 0, 'H'},
	                                      {"scrub-rate", required_argument, 0, 'S'},
	                                      {"scrub-period", required_argument, 0, 'P'},
	                                      {"name", required_argument, 0, 'n'},
	                                      {"workers", required_argument, 0, 'w'},
	                                      {"queue", required_argument, 0, 'u'},
	                                      {"quiet", no_argument, 0, 'q'},
	                                      {"cache-mb", required_argument, 0, 'm'},
	                                      {"search-tokens", required_argument, 0, 'Q'},
	                                      {"admin-tokens", required_argument, 0, 'A'},
	                                      {"drain-ms", required_argument, 0, 'D'},
	                                      {"write-priority", required_argument, 0, 'W'},
	                                      {"refresh-ms", required_argument, 0, 'R'},
	                                      {"max-backlog", required_argument, 0, 'B'},
	                                      {"flood-stage", required_argument, 0, 'F'},
	                                      {"read-only", no_argument, 0, 'r'},
	                                      {"help", no_argument, 0, 'h'},
	                                      {0, 0, 0, 0}};
	int c;
	long cache_mb = 64, drain_ms = 0, refresh_ms = 1000, backlog = 0, flood = 0;
	int writes_normal = 0;
	int read_only = 0;
	token_files tf = {NULL, NULL};
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
		if (token_option(c, &tf))
			continue;
		switch (c) {
		case 'm':
			if (parse_cache_mb(optarg, &cache_mb))
				return cli_usage_error("serve", "--cache-mb takes 0 to 65536");
			break;
		case 'D':
			if ((drain_ms = parse_range(optarg, 0, LIMIT_DRAIN_MS)) < 0)
				return cli_usage_error("serve", DRAIN_USAGE);
			break;
		case 'W':
			if ((writes_normal = parse_write_priority(optarg)) < 0)
				return cli_usage_error("serve",
				                       "--write-priority takes low or normal");
			break;
		case 'H':
			addr = optarg;
			break;
		case 'n':
			name = optarg;
			break;
		case 'w':
			workers = (unsigned)parse_range(optarg, 1, LIMIT_RPC_WORKERS);
			if (workers < 1 || workers > LIMIT_RPC_WORKERS)
				return cli_usage_error(
				    "serve", "--workers takes a number from 1 to " LIMIT_STR(
				                 LIMIT_RPC_WORKERS));
			break;
		case 'u':
			queue = (unsigned)parse_range(optarg, 1, LIMIT_RPC_MAX_QUEUE);
			if (queue < 1 || queue > LIMIT_RPC_MAX_QUEUE)
				return cli_usage_error("serve", QUEUE_USAGE);
			break;
		case 'q':
			quiet = 1;
			break;
		case 'R':
			if ((refresh_ms = parse_range(optarg, 1, 3600000)) < 1)
				return cli_usage_error("serve", "--refresh-ms takes 1 to 3600000");
			break;
		case 'B': /* the help's default is LIMIT_INDEXER_BACKLOG_OPS */
			if ((backlog = parse_range(optarg, 1, LIMIT_INDEXER_BACKLOG_OPS)) < 1)
				return cli_usage_error("serve",
				                       "--max-backlog takes 1 to " LIMIT_STR(
				                           LIMIT_INDEXER_BACKLOG_OPS));
			break;
		case 'F':
			if ((flood = parse_range(optarg, 1, 100)) < 1)
				return cli_usage_error("serve", FLOOD_USAGE);
			break;
		case 'r':
			read_only = 1;
			break;
		case 'S':
			if (parse_scrub_rate(optarg, &scrub))
				return cli_usage_error("serve", SCRUB_RATE_USAGE);
			break;
		case 'P':
			if ((scrub_period = (unsigned)parse_range(optarg, 1, 86400)) < 1 ||
			    scrub_period > 86400)
				return cli_usage_error("serve", SCRUB_PERIOD_USAGE);
			break;
		case 'h':
			fputs(serve_help, stdout);
			return 0;
		default:
			return cli_usage_error("serve", "unknown option");
		}
	}
	if (argc - optind != 1)
		return cli_usage_error("serve", "needs DIR");
	const char *dir = argv[optind];
	raise_fd_limit();
	block_signals();
	serve_host_config hc = {0};
	hc.name = name;
	hc.workers = workers;
	hc.queue = queue;
	hc.scrub = scrub;
	hc.scrub_period = scrub_period;
	hc.cache_mb = cache_mb;
	hc.refresh_ms = refresh_ms;
	hc.max_backlog = (uint64_t)backlog;
	hc.flood_pct = (unsigned)flood;
	hc.writes_normal = writes_normal;
	hc.read_only = read_only;
	hc.quiet = quiet;
	char err[1024];
	serve_host *h;
	catalog *cat;
	int rc = serve_host_open(&h, dir, &hc, &cat, err, sizeof err);
	if (rc)
		return cli_fail(rc, err);
	char banner[600];
	serve_host_banner(h, banner, sizeof banner);
	rc = run_api(cat, addr, quiet, banner, &tf, (unsigned)drain_ms, writes_normal);
	serve_host_close(h);
	return rc;
}

/* ---- trawl indexer: an index's writes for a cluster ---- */

static const char indexer_help[] =
    "usage: trawl indexer DIR --listen URL [--refresh-ms N] [--workers N]\n"
    "                     [--cert FILE --key FILE --ca FILE] [--quiet]\n"
    "\n"
    "The indexer of the index in DIR for a cluster (issue #12): roots whose\n"
    "cluster file names it (\"indexer\": URL) send it their writes; it logs each\n"
    "durably (DIR/wlog.mdb, fsynced before the answer) and publishes what the\n"
    "log holds as a new generation in DIR every refresh interval. Leaves that\n"
    "read DIR switch to it, leaves elsewhere pull it from URL (trawl leaf\n"
    "--pull URL); a restart resumes from the log.\n"
    "\n"
    "  --listen URL     tcp://HOST:PORT, ipc://PATH or tls+tcp://HOST:PORT\n"
    "  --refresh-ms N   how often writes become searchable (default 1000)\n"
    "  --workers N      requests at once (default 16; a refresh holds one)\n" FLOOD_HELP
    "  --cert, --key, --ca  TLS for a tls+tcp:// URL: the roots' certificates\n"
    "                   must be signed by the CA\n";

int cmd_indexer(int argc, char **argv)
{
	static const struct option longs[] = {
	    {"listen", required_argument, 0, 'l'},  {"refresh-ms", required_argument, 0, 'R'},
	    {"workers", required_argument, 0, 'w'}, {"flood-stage", required_argument, 0, 'F'},
	    {"cert", required_argument, 0, 'c'},    {"key", required_argument, 0, 'k'},
	    {"ca", required_argument, 0, 'a'},      {"quiet", no_argument, 0, 'q'},
	    {"help", no_argument, 0, 'h'},          {0, 0, 0, 0}};
	const char *url = NULL;
	long refresh_ms = 1000, workers = 16, flood = 0;
	int quiet = 0, c;
	rpc_tls tls = {0};
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
		switch (c) {
		case 'l':
			url = optarg;
			break;
		case 'R':
			if ((refresh_ms = parse_range(optarg, 1, 3600000)) < 1)
				return cli_usage_error("indexer",
				                       "--refresh-ms takes 1 to 3600000");
			break;
		case 'w':
			if ((workers = parse_range(optarg, 1, LIMIT_RPC_WORKERS)) < 1)
				return cli_usage_error("indexer", "--workers takes 1 to " LIMIT_STR(
				                                      LIMIT_RPC_WORKERS));
			break;
		case 'F':
			if ((flood = parse_range(optarg, 1, 100)) < 1)
				return cli_usage_error("indexer", FLOOD_USAGE);
			break;
		case 'c':
			tls.cert_file = optarg;
			break;
		case 'k':
			tls.key_file = optarg;
			break;
		case 'a':
			tls.ca_file = optarg;
			break;
		case 'q':
			quiet = 1;
			break;
		case 'h':
			fputs(indexer_help, stdout);
			return 0;
		default:
			return cli_usage_error("indexer", "unknown option");
		}
	}
	if (!url || argc - optind != 1)
		return cli_usage_error("indexer", "needs DIR and --listen URL");
	const char *dir = argv[optind];
	int is_tls = !strncmp(url, "tls+", 4);
	if (!(is_tls && tls.ca_file) && !rpc_url_loopback(url))
		fprintf(
		    stderr,
		    "%s indexer: WARNING: listening on %s %s: whoever reaches that address can "
		    "write to the index. Listen on tls+tcp:// with --cert, --key and a --ca that "
		    "the roots' certificates must be signed by, or on a loopback address.\n",
		    cli_prog, url, is_tls ? "with TLS but no CA" : "without TLS");
	raise_fd_limit();
	block_signals();
	char err[1024];
	trawl_indexer *x = NULL;
	trawl_indexer_opts xo = {0};
	xo.refresh_ms = (unsigned)refresh_ms;
	xo.quiet = quiet;
	xo.flood_pct = (unsigned)flood;
	int rc = trawl_indexer_open(&x, dir, &xo, err, sizeof err);
	if (rc)
		return cli_fail(rc, err);
	indexer_rpc *srv;
	if ((rc = indexer_rpc_start(&srv, x, dir, url, tls.cert_file || tls.ca_file ? &tls : NULL,
	                            (unsigned)workers, err, sizeof err))) {
		trawl_indexer_close(x);
		return cli_fail(rc, err);
	}
	if (!quiet) {
		trawl_indexer_stats st;
		trawl_indexer_get_stats(x, &st);
		fprintf(stderr, "trawl indexer: %s at generation %llu, writes on %s\n", dir,
		        (unsigned long long)st.generation, url);
	}
	wait_for_signal();
	stop_within_bound();
	indexer_rpc_stop(srv);
	trawl_indexer_close(x);
	return 0;
}
