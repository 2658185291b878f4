/*
 * clock.h - trawl's one clock. Durations, timeouts and rates inside a
 * process are measured on the monotonic clock, which never jumps. A
 * deadline that travels between processes (the wire's deadline_unix_us, a
 * search's deadline_us) is wall-clock time, the only clock two machines
 * share. A condition-variable wait takes an absolute time on the clock the
 * variable was made with: clock_after gives one on either.
 */
#ifndef TRAWL_COMMON_CLOCK_H
#define TRAWL_COMMON_CLOCK_H

#include <stdint.h>
#include <time.h>

/* clock_mono_us: microseconds on the monotonic clock (from an arbitrary start). */
uint64_t clock_mono_us(void);

/* clock_mono_ms: milliseconds on the monotonic clock. */
uint64_t clock_mono_ms(void);

/* clock_mono_s: seconds on the monotonic clock, for durations shown to people. */
double clock_mono_s(void);

/* clock_unix_us: microseconds since the Unix epoch (wall clock). */
uint64_t clock_unix_us(void);

/* clock_ms_until: the timeout to give a call that must end by deadline
 * (Unix us): the whole milliseconds left, plus one (1 once it is past). */
int clock_ms_until(uint64_t deadline_unix_us);

/* clock_after sets *ts to ms milliseconds from now on clock id
 * (CLOCK_MONOTONIC or CLOCK_REALTIME), for pthread_cond_timedwait. */
void clock_after(struct timespec *ts, clockid_t id, uint64_t ms);

#endif
