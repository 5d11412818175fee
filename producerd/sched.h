/*
 * sched.h: the clock's part in one group's dispatch (sched.c): a pause
 * until a time, a rate limit's tokens, and events held back until their
 * time (retries with backoff); in a queue's first group also the queue's
 * delayed events (delays.h) and unique ids (uniq.h).  Plain C, no I/O:
 * times are the dispatcher's clock, in ms (delays and unique ids: wall
 * clock).  A group has one only while it has something of these, so
 * that a queue that uses none of them pays one pointer.
 */
#ifndef PS_SCHED_H
#define PS_SCHED_H

#include <stddef.h>
#include <stdint.h>

#include "delays.h"
#include "queue.h"
#include "uniq.h"

#define SCHED_FOREVER	UINT64_MAX	/* paused until resumed */

/* An event held back until due. */
struct later {
	uint64_t	 due;
	struct qevent	*ev;
};

struct sched {
	uint64_t	 until;		/* paused until, or SCHED_FOREVER;
					   0: not paused */
	uint32_t	 rate_n;	/* at most rate_n events per rate_ms */
	uint32_t	 rate_ms;	/* 0: no rate limit */
	uint64_t	 tokens;	/* events allowed now, times rate_ms */
	uint64_t	 refilled;	/* the clock at the last refill */
	uint32_t	 backoff_base;	/* ms; 0: retries at once */
	uint32_t	 backoff_max;
	struct later	*later;		/* a heap, soonest first */
	size_t		 nlater;
	size_t		 laterc;
	uint32_t	 seed;		/* the jitter's */
	struct delays	 delays;	/* the lead's: events not yet due */
	struct uniq	*uniq;		/* the lead's: NULL until the first */
};

void		 sched_init(struct sched *, uint64_t);
void		 sched_rate(struct sched *, uint32_t, uint32_t, uint64_t);
int		 sched_paused(struct sched *, uint64_t);
uint64_t	 sched_budget(struct sched *, uint64_t);
void		 sched_spend(struct sched *, uint64_t);
uint64_t	 sched_refill_at(const struct sched *);
uint32_t	 sched_backoff(struct sched *, uint32_t);
int		 sched_hold(struct sched *, struct qevent *, uint64_t);
struct qevent	*sched_due(struct sched *, uint64_t);
struct qevent	*sched_take(struct sched *);
struct qevent	*sched_remove(struct sched *, uint64_t);
int		 sched_next_due(const struct sched *, uint64_t *);
int		 sched_idle(const struct sched *);
void		 sched_free(struct sched *);

#endif
