/*
 * admit.c: new events in.  An ENQUEUE's batch meets the queue's limits
 * and its overflow policy (docs/overflow.md), all in enqueue_part; its
 * unique ids make duplicates and its delays hold events back; a stage's
 * or a cluster's events (dispatch_push*) come in past the policy, which
 * their origin applied.  Whatever is taken goes into every group's
 * buffer through push_new; delivering it is dispatch.c's.  No I/O, as
 * dispatch.c: the tests drive it alone.
 */
#include <stdlib.h>
#include <string.h>

#include "dcore.h"
#include "frame.h"

/*
 * Buffer one event (from origin upstream, or 0) for d and the groups
 * after it; its id, or 0 no memory.  The journal hears of it once.
 */
uint64_t
dispatch_push(struct dispatch *d, const void *data, uint32_t len,
    uint64_t origin)
{
	return dispatch_push_key(d, NULL, -1, NULL, 0, data, len, origin);
}

/* The journal hears of a new event, on a handle made up for it. */
static void
pushed(struct dispatch *d, const void *key, int klen, const void *hdr,
    uint16_t hlen, const void *data, uint32_t len, uint16_t prio,
    uint64_t due, const struct ps_attrs *a)
{
	struct dispatch_new	 n;

	memset(&n, 0, sizeof n);
	n.ev.id = *d->ids;
	n.ev.data = data;
	n.ev.len = len;
	n.ev.key = key;
	n.ev.klen = klen < 0 ? 0 : (uint8_t)klen;
	n.ev.hdr = hdr;
	n.ev.hlen = hlen;
	n.ev.prio = prio;
	n.due = due;
	if (a != NULL && a->uid != NULL) {
		n.uid = a->uid;
		n.ulen = a->ulen;
	}
	dispatch_changed(d, DISPATCH_PUSHED, &n.ev);
}

/*
 * A new event (from an ENQUEUE's attributes a, or NULL: none) buffered
 * for d and the groups after it, or held until due (wall ms, 0: now);
 * its id, or 0 no memory.
 */
static uint64_t
push_new(struct dispatch *d, const void *key, int klen, const void *hdr,
    uint16_t hlen, const void *data, uint32_t len, uint64_t origin,
    uint32_t attempts, uint16_t prio, uint64_t due, const struct ps_attrs *a)
{
	struct dispatch	*g;

	if (due != 0) {
		if (dispatch_sched_get(d) == NULL || delays_add(&d->sched->delays, due,
		    *d->ids, prio, key, klen, hdr, hlen, data, len) != 0)
			return 0;
		for (g = d; g != NULL; g = g->next_group)
			g->delayed++;
	} else if (push_at(d, *d->ids, attempts, origin, prio, key, klen, hdr,
	    hlen, data, len) != 0)
		return 0;
	d->counts.enqueued_total++;
	for (g = d->next_group; g != NULL; g = g->next_group)
		g->counts.enqueued_total++;
	if (d->change != NULL)
		pushed(d, key, klen, hdr, hlen, data, len, prio, due, a);
	return (*d->ids)++;
}

/*
 * The same, with a key (klen -1: none; 0 to 255: a key) and headers (hlen
 * bytes of HEADER attributes).
 */
uint64_t
dispatch_push_key(struct dispatch *d, const void *key, int klen,
    const void *hdr, uint16_t hlen, const void *data, uint32_t len,
    uint64_t origin)
{
	return push_new(d, key, klen, hdr, hlen, data, len, origin, 0,
	    QUEUE_PRIO_DEFAULT, 0, NULL);
}

/*
 * An event from origin that was delivered attempts times before (on
 * another host: a cluster's redelivery); its id, or 0 no memory.
 */
uint64_t
dispatch_push_tried(struct dispatch *d, const void *hdr, uint16_t hlen,
    const void *data, uint32_t len, uint64_t origin, uint32_t attempts)
{
	return push_new(d, NULL, -1, hdr, hlen, data, len, origin, attempts,
	    QUEUE_PRIO_DEFAULT, 0, NULL);
}

/* d's unique ids, made if it has none; NULL out of memory. */
struct uniq *
dispatch_uniq_get(struct dispatch *d)
{
	struct sched	*s;

	if ((s = dispatch_sched_get(d)) == NULL)
		return NULL;
	if (s->uniq == NULL && (s->uniq = malloc(sizeof *s->uniq)) != NULL)
		uniq_init(s->uniq);
	return s->uniq;
}

/*
 * Would bytes more stay within the daemon's memory cap (--max-memory),
 * shared by every queue?
 */
static int
memory_fits(const struct dispatch *d, uint64_t bytes)
{
	const struct qstore	*st = d->queue.log->store;

	return st->max == 0 || (bytes <= st->max && st->bytes <= st->max -
	    bytes);
}

/*
 * Would n more events of bytes in all stay within the queue's limits?
 * Events waiting behind their key or for their partition are buffered
 * too, and so are the queue's delayed events.
 */
static int
queue_fits(const struct dispatch *d, uint64_t n, uint64_t bytes)
{
	uint64_t	 count = d->queue.count + d->keys.nwaiting +
			     d->parts_waiting;
	uint64_t	 held = d->queue.bytes + d->keys.waiting_bytes +
			     d->parts_waiting_bytes;
	const struct delays *ds = delays_of(d);
	const struct dpolicy *p = d->policy;

	/* Delayed events are the queue's, every group's to take. */
	if (ds != NULL) {
		count += ds->n;
		held += ds->bytes;
	}


	if (p->max_queue != 0 && (n > p->max_queue ||
	    count > p->max_queue - n))
		return 0;
	if (p->max_queue_bytes != 0 && (bytes > p->max_queue_bytes ||
	    held > p->max_queue_bytes - bytes))
		return 0;
	return 1;
}

/* Within the queue's limits and the daemon's memory cap. */
static int
dispatch_fits(const struct dispatch *d, uint64_t n, uint64_t bytes)
{
	return queue_fits(d, n, bytes) && memory_fits(d, bytes);
}

/*
 * drop-oldest's next to go: the oldest buffered event, or with the buffer
 * empty the oldest waiting behind its key or for its partition.
 */
static struct qevent *
oldest(struct dispatch *d)
{
	struct qevent	*ev;

	if (d->queue.count != 0)
		return d->restored != NULL || d->refail != NULL ?
		    dispatch_pop_restored(d) :
		    queue_shed(&d->queue);
	if ((ev = keys_shed(&d->keys)) != NULL)
		return ev;
	return dispatch_parts_shed(d);
}

/*
 * drop-oldest: shed buffered events until one of len bytes fits the
 * queue's limits (the daemon's memory cap is not the queue's to meet by
 * shedding: what others hold would empty it).
 */
static uint32_t
make_room(struct dispatch *d, uint32_t len)
{
	struct qevent	*ev;
	uint32_t	 shed = 0;

	while (!queue_fits(d, 1, len) && (ev = oldest(d)) != NULL) {
		dispatch_finish(d, ev, PS_ACK, 0);	/* shed by policy: done with */
		dispatch_key_handover(d, ev);
		dispatch_changed(d, DISPATCH_GONE, ev);
		queue_release(&d->queue, ev);
		shed++;
	}
	d->counts.shed_total += shed;
	return shed;
}

/* Room on a ready list, counted up to n. */
static uint64_t
list_room(const struct dconsumers *list, uint64_t n)
{
	const struct dconsumer	*dc;
	uint64_t		 room = 0;

	TAILQ_FOREACH(dc, list, entry) {
		if ((room += avail(dc)) >= n)
			return n;
	}
	return room;
}

/*
 * How many of the events left in it consumers waiting now would take at
 * once.  After dispatch_run either the buffer is empty or no consumer
 * waits, so only into an empty buffer does anything go straight out; in
 * partition mode, the events up to the first whose partition has no room.
 * In key mode a batch may still go beyond the limits by the consumers'
 * room, once: its events that find their key busy wait, and count.
 */
static uint32_t
ready_room(struct dispatch *d, const struct ps_enqueue_iter *it)
{
	struct ps_enqueue_iter	 at = *it;
	struct dpart		*p;
	const uint8_t		*data;
	uint32_t		 len, i, n = 0;

	/* Paused or rate-limited, nothing goes at once for sure. */
	if (d->paused || d->queue.count != 0 || (d->sched != NULL &&
	    (d->held || d->sched->rate_ms != 0)))
		return 0;
	/*
	 * Key order: events behind a busy key would not go, so while any
	 * wait none count as taken at once: the limits stay whole.
	 */
	if (d->keys.nwaiting != 0)
		return 0;
	if (d->nparts == 0)
		return (uint32_t)list_room(&d->ready, it->left);
	for (i = 0; i < d->nparts; i++)
		d->parts[i].room = list_room(&d->parts[i].ready, it->left);
	while (ps_enqueue_next(&at, &data, &len)) {
		p = &d->parts[ps_partition(at.key, at.key != NULL ? at.klen :
		    -1, d->nparts)];
		if (p->room == 0)
			break;
		p->room--;
		n++;
	}
	return n;
}

/* A duplicate: not taken, its index in the reply; -1 out of memory. */
static int
duplicate(struct dispatch *d, const struct ps_enqueue_iter *it,
    struct ps_enqueued *r)
{
	struct dispatch	*g;
	uint8_t		 v[4];
	uint32_t	 i = it->count - it->left - 1;

	if (r->dups != NULL) {
		v[0] = (uint8_t)(i >> 24);
		v[1] = (uint8_t)(i >> 16);
		v[2] = (uint8_t)(i >> 8);
		v[3] = (uint8_t)i;
		if (ps_buf_reserve(r->dups, 4) != 0)
			return -1;
		memcpy(r->dups->data + r->dups->len, v, 4);
		r->dups->len += 4;
	}
	r->duplicates++;
	for (g = d; g != NULL; g = g->next_group)
		g->counts.duplicates_total++;
	return 0;
}

/* An event's due time from its attributes: wall ms, or 0 for now. */
static uint64_t
due_of(const struct dispatch *d, const struct ps_attrs *a)
{
	uint64_t	 due;

	if (a->when == PS_WHEN_NOW)
		return 0;
	due = a->when == PS_WHEN_DELAY ? *d->wall + a->delay : a->not_before;
	return due > *d->wall ? due : 0;
}

/*
 * One event of an ENQUEUE into the buffer (or held until its time),
 * counted in its reply; a unique id already held makes it a duplicate.
 */
static int
take(struct dispatch *d, const struct ps_enqueue_iter *it,
    const uint8_t *data, uint32_t len, struct ps_enqueued *r)
{
	const struct ps_attrs	*a = &it->a;
	struct dispatch		*g;
	struct uniq		*u = NULL;
	uint64_t		 id;
	uint32_t		 groups = 0;

	if (a->uid != NULL) {
		if ((u = dispatch_uniq_get(d)) == NULL)
			return -1;
		uniq_sweep(u, *d->wall);
		if (uniq_seen(u, a->uid, a->ulen, *d->wall))
			return duplicate(d, it, r);
		for (g = d; g != NULL; g = g->next_group)
			groups++;
		if (uniq_add(u, a->uid, a->ulen, *d->ids, groups, 0) != 0)
			return -1;
	}
	if ((id = push_new(d, it->key, it->key != NULL ? it->klen : -1, a->hdr,
	    a->hlen, data, len, 0, 0, a->priority, due_of(d, a), a)) == 0) {
		if (u != NULL)
			uniq_forget(u, *d->ids);
		return -1;
	}
	if (r->accepted++ == 0)
		r->first_id = id;
	return 0;
}

/*
 * Do n more events of bytes in all fit in every group?  Under block one
 * event always goes into an empty buffer.
 */
static int
groups_fit(const struct dispatch *d, uint32_t n, uint64_t bytes)
{
	for (; d != NULL; d = d->next_group) {
		if (!dispatch_fits(d, n, bytes) && (d->policy->overflow !=
		    OVERFLOW_BLOCK || d->queue.count != 0 || n != 1))
			return 0;
	}
	return 1;
}

/* Would a waiting batch's next event, of len bytes, be taken now? */
int
dispatch_room(const struct dispatch *d, uint32_t len)
{
	for (; d != NULL; d = d->next_group) {
		if (d->queue.count != 0 && !dispatch_fits(d, 1, len))
			return 0;
	}
	return 1;
}

/*
 * The whole overflow rule (docs/overflow.md), for the events of one
 * ENQUEUE left in it, adding to its reply r.  Demand is served first:
 * events that waiting consumers take at once never count against the
 * buffer's limits.  What is left then meets the policy:
 *   reject       the longest prefix that fits is taken, the rest refused;
 *   drop-newest  the same, the rest shed;
 *   drop-oldest  all taken, buffered events shed to make room; events
 *                that could not fit even an empty buffer shed first;
 *   block        the longest prefix that fits is taken (one event into
 *                an empty buffer always); DISPATCH_WAIT says the rest
 *                waits, in it, until dispatch_room says its next event
 *                fits.
 * DISPATCH_NOMEM: out of memory, the rest refused.  DISPATCH_TAKEN: r is
 * final.
 *
 * With groups (d the lead), an event is every group's: it is served at
 * once only as far as every group's waiting consumers take it, it fits
 * only if it fits every group, and drop-oldest makes room in each; the
 * counts of the reply add up over the groups.
 */
static int
enqueue_part(struct dispatch *d, struct ps_enqueue_iter *it,
    struct ps_enqueued *r)
{
	const struct dpolicy	*p = d->policy;
	struct ps_enqueue_iter	 at;
	struct dispatch		*g;
	const uint8_t		*data;
	uint32_t		 len, served, n;
	uint64_t		 bytes;
	int			 all, rc = DISPATCH_TAKEN;

	served = it->left;
	for (g = d; g != NULL; g = g->next_group) {
		if ((n = ready_room(g, it)) < served)
			served = n;
	}
	for (; served != 0; served--) {
		ps_enqueue_next(it, &data, &len);
		if (take(d, it, data, len, r) != 0)
			goto nomem;
	}
	dispatch_run_all(d);

	switch (p->overflow) {
	case OVERFLOW_DROP_OLDEST:
		bytes = it->bytes;
		while (it->left != 0 && ((p->max_queue != 0 &&
		    it->left > p->max_queue) || (p->max_queue_bytes != 0 &&
		    bytes > p->max_queue_bytes))) {
			ps_enqueue_next(it, &data, &len);
			bytes -= len;
			r->shed_new++;
			for (g = d; g != NULL; g = g->next_group)
				g->counts.shed_total++;
		}
		while (ps_enqueue_next(it, &data, &len)) {
			for (g = d; g != NULL; g = g->next_group)
				r->shed_old += make_room(g, len);
			/* Other queues' memory is not this one's to shed. */
			if (!memory_fits(d, len)) {
				r->shed_new++;
				for (g = d; g != NULL; g = g->next_group)
					g->counts.shed_total++;
				continue;
			}
			if (take(d, it, data, len, r) != 0)
				goto nomem;
		}
		dispatch_run_all(d);
		return DISPATCH_TAKEN;
	default:
		/* The whole rest at once when it fits, else event by event. */
		all = groups_fit(d, it->left, it->bytes);
		while (it->left != 0) {
			at = *it;
			ps_enqueue_next(&at, &data, &len);
			if (!all && !groups_fit(d, 1, len))
				break;
			*it = at;
			if (take(d, it, data, len, r) != 0)
				goto nomem;
		}
		dispatch_run_all(d);
		if (it->left != 0 && p->overflow == OVERFLOW_BLOCK)
			return DISPATCH_WAIT;
		break;
	}
	goto rest;
nomem:
	rc = DISPATCH_NOMEM;
rest:
	dispatch_run_all(d);
	if (p->overflow == OVERFLOW_DROP_NEWEST && rc == DISPATCH_TAKEN) {
		r->shed_new += it->left;
		for (g = d; g != NULL; g = g->next_group)
			g->counts.shed_total += it->left;
		it->left = 0;
	} else
		dispatch_refuse(d, it, r);
	return rc;
}

/*
 * A batch taken in parts keeps its ids in sequence, as its one answer
 * says (first_id, accepted): when it first waits with some taken, the ids
 * of its rest are set aside, others' events (of any queue) take theirs
 * past them, and its later parts take its own.  Ids left unused by a
 * rest refused or shed are never given.
 */
int
dispatch_enqueue(struct dispatch *d, struct ps_enqueue_iter *it,
    struct ps_enqueued *r)
{
	uint64_t	 after = 0;
	int		 rc;

	if (r->accepted != 0) {
		after = *d->ids;
		*d->ids = r->first_id + r->accepted;
	}
	rc = enqueue_part(d, it, r);
	if (after != 0) {
		if (*d->ids < after)
			*d->ids = after;
	} else if (rc == DISPATCH_WAIT && r->accepted != 0)
		*d->ids += it->left;
	return rc;
}

/* The rest of a batch is refused (no room for it, or no taking now). */
void
dispatch_refuse(struct dispatch *d, struct ps_enqueue_iter *it,
    struct ps_enqueued *r)
{
	r->refused += it->left;
	for (; d != NULL; d = d->next_group)
		d->counts.rejected_total += it->left;
	it->left = 0;
}
