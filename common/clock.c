/*
 * clock.c - trawl's one clock (see clock.h).
 */
#include "common/clock.h"

static uint64_t us_of(const struct timespec *ts)
{
	return (uint64_t)ts->tv_sec * 1000000u + (uint64_t)ts->tv_nsec / 1000u;
}

uint64_t clock_mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return us_of(&ts);
}

uint64_t clock_mono_ms(void)
{
	return clock_mono_us() / 1000u;
}

double clock_mono_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

uint64_t clock_unix_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return us_of(&ts);
}

int clock_ms_until(uint64_t deadline_unix_us)
{
	uint64_t now = clock_unix_us();
	return deadline_unix_us > now ? (int)((deadline_unix_us - now) / 1000) + 1 : 1;
}

void clock_after(struct timespec *ts, clockid_t id, uint64_t ms)
{
	clock_gettime(id, ts);
	ts->tv_sec += (time_t)(ms / 1000);
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}
