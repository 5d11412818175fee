/* clock.h: the monotonic clock, in the units its users count in. */
#ifndef PS_CLOCK_H
#define PS_CLOCK_H

#include <sys/time.h>

#include <stdint.h>

uint64_t	 clock_ns(void);
uint64_t	 clock_ms(void);
uint64_t	 clock_wall_ms(void);
struct timeval	*ms_timeval(uint64_t, struct timeval *);

#endif
