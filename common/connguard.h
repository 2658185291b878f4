/*
 * connguard.h - who keeps the HTTP server's connections when there are not
 * enough of them: a guard that knows every open connection, what it is
 * doing and since when, and closes the ones that hold a slot without using
 * it. It knows nothing of HTTP; common/http.c tells it what happens.
 *
 * A connection is WAITING (just opened, or answered, and its next request
 * not received whole yet) or BUSY (its request received whole: handled or
 * being answered). A WAITING connection has a deadline: its request must
 * arrive whole within deadline_ms of the connection's opening or of its
 * last answer, else the connection is closed, so a client that trickles a
 * byte every few seconds no longer keeps a slot (issue #13, finding 5).
 * When a connection needs a slot the limits say is not there (the server's
 * max_conns, or its address's max_per_ip), the oldest WAITING connections
 * (of that address, for the per-address limit) make room: at its opening,
 * those that have waited a second; when its request headers are complete,
 * those that have waited a tenth of a second. A BUSY connection never
 * makes room, nor one whose request headers were complete (admitted). A
 * newcomer no connection can make room for yet is let in on trial (up to
 * twice the per-address limit) and its request is refused (503) only if
 * still no room can be made when its headers are complete.
 *
 * Closing is shutdown(fd, SHUT_RDWR): the HTTP library then sees its
 * connection end and tears it down as if the client had left. The guard's
 * mutex orders that against the library's own close: guard_close is called
 * (under the mutex) before the library closes the descriptor, so a
 * descriptor the guard shuts down is always its connection's own.
 *
 * Thread-safe: every function takes the guard's mutex. A NULL connection
 * (one guard_open had no memory for) is allowed everywhere and ignored.
 */
#ifndef TRAWL_COMMON_CONNGUARD_H
#define TRAWL_COMMON_CONNGUARD_H

#include <stdint.h>

typedef struct guard guard;
typedef struct guard_conn guard_conn;

/* guard_new: a guard for at most max_conns connections (soft: see above),
 * max_per_ip from one address, deadline_ms to receive a request whole. NULL
 * on ENOMEM. */
guard *guard_new(unsigned max_conns, unsigned max_per_ip, unsigned deadline_ms);

/* guard_free: frees g and the records of connections still known. */
void guard_free(guard *g);

/*
 * guard_open records a new connection on descriptor fd from numeric address
 * addr, WAITING from now, making room for it if the limits are reached.
 * Returns its record (owned by g until guard_close), or NULL when there is
 * no room for it even on trial (its address has twice max_per_ip
 * connections: the guard has shut fd down) or no memory (fd untouched).
 */
guard_conn *guard_open(guard *g, int fd, const char *addr);

/* guard_close: the connection is ending; its record is freed. NULL is
 * allowed. Call it before the descriptor is closed. */
void guard_close(guard *g, guard_conn *c);

/*
 * guard_admit: c's request headers are complete. If the server is over
 * max_conns, the oldest WAITING connections are closed to bring it back;
 * c can no longer be closed to make room. Returns 1, or 0 when c was let in
 * on trial and no room can be made for it yet (the caller answers 503). A
 * connection that had its slot is never refused a request.
 */
int guard_admit(guard *g, guard_conn *c);

/* guard_busy: c's request was received whole; no deadline runs. */
void guard_busy(guard *g, guard_conn *c);

/* guard_waiting: c was answered and waits for its next request, with a new
 * deadline from now. */
void guard_waiting(guard *g, guard_conn *c);

/* guard_tick closes the WAITING connections past their deadline; call it
 * often (every 100 ms). Returns how many it closed. */
unsigned guard_tick(guard *g);

typedef struct guard_stats {
	uint64_t open;    /* connections known now */
	uint64_t expired; /* closed for missing their deadline */
	uint64_t evicted; /* closed to make room for another */
	uint64_t refused; /* refused: no room for them */
} guard_stats;

void guard_get_stats(guard *g, guard_stats *st);

#endif
