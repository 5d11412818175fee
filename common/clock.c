/*
 * clock.c: CLOCK_MONOTONIC, which never jumps with the wall clock, for
 * spans; the wall clock only for times that outlive the process.
 */
#include <time.h>

#include "clock.h"
#include "log.h"

uint64_t
clock_ns(void)
{
	struct timespec	 ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) == -1)
		fatal("clock_gettime");
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t
clock_ms(void)
{
	return clock_ns() / 1000000u;
}

/* The wall clock: ms since 1970 (times kept across a restart). */
uint64_t
clock_wall_ms(void)
{
	struct timespec	 ts;

	if (clock_gettime(CLOCK_REALTIME, &ts) == -1)
		fatal("clock_gettime");
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ms milliseconds as the timeval libevent's timers take; returns tv. */
struct timeval *
ms_timeval(uint64_t ms, struct timeval *tv)
{
	tv->tv_sec = (time_t)(ms / 1000);
	tv->tv_usec = (suseconds_t)(ms % 1000) * 1000;
	return tv;
}
