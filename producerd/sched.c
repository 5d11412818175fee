/*
 * sched.c: a group's pause, rate limit and events held back
 * (docs/scheduling.md).  The rate is a token bucket of rate_n events that
 * refills continuously, rate_n every rate_ms: tokens count in units of
 * 1/rate_ms of an event, so that the arithmetic stays whole.  Events held
 * back (a retry's backoff) wait in a binary heap by due time, then id.
 */
#include <stdlib.h>
#include <string.h>

#include "backoff.h"
#include "heap.h"
#include "sched.h"

void
sched_init(struct sched *s, uint64_t now)
{
	memset(s, 0, sizeof *s);
	s->refilled = now;
	s->seed = (uint32_t)now | 1;
}

/* At most n events per ms milliseconds (n 0: no limit), starting full. */
void
sched_rate(struct sched *s, uint32_t n, uint32_t ms, uint64_t now)
{
	if (s->rate_n == n && s->rate_ms == ms)
		return;
	s->rate_n = ms != 0 ? n : 0;
	s->rate_ms = n != 0 ? ms : 0;
	s->tokens = (uint64_t)s->rate_n * s->rate_ms;
	s->refilled = now;
}

/* Is the group paused now?  A pause whose time has come ends. */
int
sched_paused(struct sched *s, uint64_t now)
{
	if (s->until != 0 && s->until != SCHED_FOREVER && now >= s->until)
		s->until = 0;
	return s->until != 0;
}

/* How many events the rate lets go now: UINT64_MAX without a limit. */
uint64_t
sched_budget(struct sched *s, uint64_t now)
{
	uint64_t	 full;

	if (s->rate_ms == 0)
		return UINT64_MAX;
	full = (uint64_t)s->rate_n * s->rate_ms;
	if (now > s->refilled) {
		if ((now - s->refilled) >= s->rate_ms)
			s->tokens = full;
		else if ((s->tokens += (now - s->refilled) * s->rate_n) > full)
			s->tokens = full;
		s->refilled = now;
	}
	return s->tokens / s->rate_ms;
}

/* n events went: their tokens are spent. */
void
sched_spend(struct sched *s, uint64_t n)
{
	if (s->rate_ms != 0)
		s->tokens -= n * s->rate_ms;
}

/* When, at the rate, the next event may go (after a budget of 0). */
uint64_t
sched_refill_at(const struct sched *s)
{
	uint64_t	 lack = s->rate_ms - s->tokens % s->rate_ms;

	return s->refilled + (lack + s->rate_n - 1) / s->rate_n;
}

/*
 * The delay before an event's retry after attempt attempts: base doubled
 * each attempt after the first, at most max, then give or take 20 %.
 */
uint32_t
sched_backoff(struct sched *s, uint32_t attempt)
{
	return backoff_delay(s->backoff_base, s->backoff_max, attempt,
	    &s->seed);
}

static inline int
before(struct later a, struct later b)
{
	return a.due < b.due || (a.due == b.due && a.ev->id < b.ev->id);
}

HEAP_GENERATE(lheap, struct later, before)

/* ev waits until due; -1 out of memory. */
int
sched_hold(struct sched *s, struct qevent *ev, uint64_t due)
{
	struct later	 l = { due, ev };

	if (lheap_reserve(&s->later, s->nlater, &s->laterc, 16) != 0)
		return -1;
	lheap_push(s->later, &s->nlater, l);
	return 0;
}

/* The soonest event held back, taken off the heap; NULL if none. */
struct qevent *
sched_take(struct sched *s)
{
	struct qevent	*ev;

	if (s->nlater == 0)
		return NULL;
	ev = lheap_pop(s->later, &s->nlater).ev;
	if (s->nlater == 0) {
		free(s->later);
		s->later = NULL;
		s->laterc = 0;
	}
	return ev;
}

/* Event id held back, taken off the heap; NULL if it is not held. */
struct qevent *
sched_remove(struct sched *s, uint64_t id)
{
	struct qevent	*ev;
	size_t		 i;

	for (i = 0; i < s->nlater; i++) {
		if (s->later[i].ev->id == id)
			break;
	}
	if (i == s->nlater)
		return NULL;
	ev = lheap_remove(s->later, &s->nlater, i).ev;
	if (s->nlater == 0) {
		free(s->later);
		s->later = NULL;
		s->laterc = 0;
	}
	return ev;
}

/* The soonest event held back if its time has come, taken; else NULL. */
struct qevent *
sched_due(struct sched *s, uint64_t now)
{
	if (s->nlater == 0 || s->later[0].due > now)
		return NULL;
	return sched_take(s);
}

/* When the soonest event held back is due, if there is one. */
int
sched_next_due(const struct sched *s, uint64_t *when)
{
	if (s->nlater == 0)
		return 0;
	*when = s->later[0].due;
	return 1;
}

/* Has s nothing to do: no pause, rate, backoff, events or unique ids? */
int
sched_idle(const struct sched *s)
{
	return s->until == 0 && s->rate_ms == 0 && s->backoff_base == 0 &&
	    s->nlater == 0 && s->delays.n == 0 &&
	    (s->uniq == NULL || s->uniq->count == 0);
}

/* What s holds goes (the events held back are the caller's first). */
void
sched_free(struct sched *s)
{
	free(s->later);
	delays_free(&s->delays);
	if (s->uniq != NULL) {
		uniq_free(s->uniq);
		free(s->uniq);
	}
	free(s);
}
