/*
 * backoff.h: waits that double after each failure, up to a ceiling, and
 * give or take 20 % where many waiters must not come back together; the
 * one small PRNG for that jitter.  Pure, so the dispatch core links it.
 */
#ifndef PS_BACKOFF_H
#define PS_BACKOFF_H

#include <stdint.h>

struct backoff {
	uint32_t	 first;		/* ms: the first wait, and after reset */
	uint32_t	 max;		/* ms: never longer */
	uint32_t	 attempt;	/* waits handed out since the reset */
};

void	 backoff_init(struct backoff *, uint32_t, uint32_t);
uint32_t backoff_next(struct backoff *);
void	 backoff_reset(struct backoff *);
uint32_t backoff_delay(uint32_t, uint32_t, uint32_t, uint32_t *);
uint32_t xorshift32(uint32_t *);

#endif
