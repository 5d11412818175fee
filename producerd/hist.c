/* hist.c: durations into buckets (hist.h). */
#include "hist.h"

/* ms: 1 ms to an hour, roughly three to a decade. */
const uint64_t hist_bounds[HIST_BUCKETS] = {
	1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 60000,
	300000, 3600000,
};

/* ms's bucket, remembered as the last. */
void
hist_bucket(struct hist *h, uint64_t ms)
{
	size_t	 b;

	for (b = 0; b < HIST_BUCKETS && ms > hist_bounds[b]; b++)
		;
	h->last = ms;
	h->lastb = b;
}
