/*
 * backoff.c: reconnecting, restarting and retrying without hammering what
 * failed: the upstream link and the map's restarts (no jitter), a queue's
 * retry backoff and NATS reconnects (with).
 */
#include <stddef.h>

#include "backoff.h"

/* xorshift32: jitter needs no more.  *seed must not be 0. */
uint32_t
xorshift32(uint32_t *seed)
{
	*seed ^= *seed << 13;
	*seed ^= *seed >> 17;
	*seed ^= *seed << 5;
	return *seed;
}

/*
 * The wait before try attempt + 1 (attempt 0 or 1: the first): base
 * doubled each attempt after the first, at most max; then, with a seed,
 * give or take 20 % drawn from it.
 */
uint32_t
backoff_delay(uint32_t base, uint32_t max, uint32_t attempt, uint32_t *seed)
{
	uint64_t	 d = base;
	uint32_t	 i, spread, r;

	for (i = 1; i < attempt && d < max; i++)
		d *= 2;
	if (d > max)
		d = max;
	if (seed == NULL)
		return (uint32_t)d;
	r = xorshift32(seed);
	spread = (uint32_t)(d * 2 / 5);		/* 40 %: from -20 to +20 */
	return (uint32_t)(d - spread / 2 + r % (spread + 1));
}

void
backoff_init(struct backoff *b, uint32_t first, uint32_t max)
{
	b->first = first;
	b->max = max;
	b->attempt = 0;
}

/* The wait to use now; the one after it is twice as long, up to max. */
uint32_t
backoff_next(struct backoff *b)
{
	if (b->attempt != UINT32_MAX)
		b->attempt++;
	return backoff_delay(b->first, b->max, b->attempt, NULL);
}

void
backoff_reset(struct backoff *b)
{
	b->attempt = 0;
}
