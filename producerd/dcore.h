/*
 * dcore.h: what dispatch.c lends admit.c, the two halves of the pure
 * dispatch core; the daemon and the tests include dispatch.h only.  What
 * the hot path of both needs is inline here, so that moving admission out
 * of dispatch.c costs an ENQUEUE no call.
 */
#ifndef PS_DCORE_H
#define PS_DCORE_H

#include <string.h>

#include "delays.h"
#include "dispatch.h"

struct qevent	*dispatch_pop_restored(struct dispatch *);
struct qevent	*dispatch_parts_shed(struct dispatch *);
struct sched	*dispatch_sched_get(struct dispatch *);
struct uniq	*dispatch_uniq_get(struct dispatch *);
void		 dispatch_key_handover(struct dispatch *, const struct qevent *);

/* Into the buffer of every group: by its priority, the log or the heaps. */
static inline int
push_at(struct dispatch *d, uint64_t id, uint32_t attempts, uint64_t origin,
    uint16_t prio, const void *key, int klen, const void *hdr, uint16_t hlen,
    const void *data, uint32_t len)
{
	if (prio == QUEUE_PRIO_DEFAULT)
		return queue_push(&d->queue, id, attempts, origin, key, klen,
		    hdr, hlen, data, len);
	return queue_push_prio(&d->queue, id, attempts, prio, key, klen, hdr,
	    hlen, data, len);
}

/* Events a consumer may still be sent now. */
static inline uint32_t
avail(const struct dconsumer *dc)
{
	uint32_t	 room;

	if (!dc->acks)
		return dc->demand;
	room = dc->max_demand > dc->ninflight ?
	    dc->max_demand - dc->ninflight : 0;
	return dc->demand < room ? dc->demand : room;
}

/* The lead's delayed events, or NULL when it holds none. */
static inline struct delays *
delays_of(const struct dispatch *d)
{
	const struct dispatch	*lead = d->lead;

	return lead->sched != NULL && lead->sched->delays.n != 0 ?
	    &lead->sched->delays : NULL;
}

/*
 * The journal, if there is one, hears of what happened to ev, and those
 * waiting for it of its end; an event gone lets go of its unique id in
 * this group.
 */
static inline void
dispatch_changed(struct dispatch *d, enum dispatch_change what,
    const struct qevent *ev)
{
	if (d->change != NULL)
		d->change(d->change_arg, what, ev);
	if (d->nwaits != 0 && (what == DISPATCH_GONE ||
	    what == DISPATCH_BURIED))
		dispatch_ended(d, what, ev);
	if (what == DISPATCH_GONE && d->lead->sched != NULL &&
	    d->lead->sched->uniq != NULL)
		uniq_gone(d->lead->sched->uniq, ev->id, *d->wall,
		    d->lead->policy->dedup_window);
}

/*
 * ev came from upstream (a stage, a cluster): its origin learns how it
 * ended, or (hand_back) that it is given back or still worked on.
 */
static inline void
dispatch_finish(struct dispatch *d, struct qevent *ev, int how, uint32_t wait)
{
	if (ev->origin != 0 && d->done != NULL)
		d->done(d->arg, ev, how, wait);
}

/* A delayed event as a handle made up for a look at it (or a record). */
static inline void
delayed_handle(const struct delayed *dv, struct qevent *h)
{
	memset(h, 0, sizeof *h);
	h->id = dv->id;
	h->len = dv->len;
	h->prio = dv->prio;
	h->data = dv->data;
	if (dv->keyed) {
		h->key = delayed_key(dv);
		h->klen = dv->klen;
	}
	if (dv->hlen != 0) {
		h->hdr = delayed_hdr(dv);
		h->hlen = dv->hlen;
	}
}

/* A time of d's clock (ms) as wall-clock ms, by their difference now. */
static inline uint64_t
dispatch_wall_of(const struct dispatch *d, uint64_t t)
{
	uint64_t	 now = *d->clock, wall = *d->wall;

	if (t == 0)
		return 0;
	return t >= now ? wall + (t - now) : wall > now - t ? wall -
	    (now - t) : 0;
}

#endif
