/*
 * hist.h: a histogram of durations in ms, in fixed buckets, for the
 * Prometheus histograms of /metrics (a queue's time waiting, and its
 * handling time).  Plain C, no clock: the caller gives each duration.
 */
#ifndef PS_HIST_H
#define PS_HIST_H

#include <stddef.h>
#include <stdint.h>

#define HIST_BUCKETS	15		/* and one more: above the last */

/*
 * n[i] counts durations of at most hist_bounds[i] ms and over the bound
 * before (n[HIST_BUCKETS]: over the last); /metrics adds them up.  last
 * and lastb remember the bucket of the last duration, since a run of
 * events sent or acked together mostly has one.
 */
struct hist {
	uint64_t	 n[HIST_BUCKETS + 1];
	uint64_t	 count;
	uint64_t	 sum;		/* ms */
	uint64_t	 last;
	size_t		 lastb;
};

extern const uint64_t	hist_bounds[HIST_BUCKETS];

void	hist_bucket(struct hist *, uint64_t);

/* Inline: it runs for each event sent and each ACK. */
static inline void
hist_add(struct hist *h, uint64_t ms)
{
	if (ms != h->last || h->count == 0)
		hist_bucket(h, ms);
	h->n[h->lastb]++;
	h->count++;
	h->sum += ms;
}

#endif
