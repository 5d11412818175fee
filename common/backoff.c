/* backoff.c: reconnecting and restarting without hammering what failed. */
#include "backoff.h"

void
backoff_init(struct backoff *b, uint32_t first, uint32_t max)
{
	b->first = first;
	b->max = max;
	b->ms = first;
}

/* The wait to use now; the one after it is twice as long, up to max. */
uint32_t
backoff_next(struct backoff *b)
{
	uint32_t	 ms = b->ms;

	b->ms = b->ms > b->max / 2 ? b->max : b->ms * 2;
	return ms;
}

void
backoff_reset(struct backoff *b)
{
	b->ms = b->first;
}
