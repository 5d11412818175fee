/*
 * dispatch.c: GenStage's DemandDispatcher over a FIFO buffer, and the
 * bookkeeping of at-least-once delivery.
 *
 * Consumers with demand wait on a list ordered by outstanding demand,
 * largest first, and among equals the one that reached that level first.
 * The head takes up to its whole demand from the buffer, then goes back in
 * order; this repeats until the buffer or the demand runs out.  Unlike
 * GenStage, the buffer is always offered to new demand, so no event is
 * stranded.
 *
 * A consumer that acks keeps what it was sent in flight until it acks, and
 * never holds more than max_demand unacked.  What comes back (NACK, ack
 * timeout, disconnect) goes to the front of the buffer in id order, or to
 * the dead list once it has been tried max_attempts times.
 *
 * In partition mode each consumer belongs to one partition and waits on
 * its partition's ready list; an event goes to the head of its partition's
 * list, or, when that is empty, off the buffer onto the partition's
 * waiting list, which goes first once the partition has room again.
 */
#include <stdlib.h>
#include <string.h>

#include "dispatch.h"
#include "frame.h"
#include "idmap.h"

static void	parts_drain(struct dispatch *,
		    void (*)(void *, struct qevent *));

const struct dpolicy dpolicy_default = {
	.overflow = OVERFLOW_REJECT,
	.max_attempts = DPOLICY_MAX_ATTEMPTS,
	.dedup_window = DPOLICY_DEDUP_WINDOW,
};

/*
 * d reads log (another group's, a queue's), or with log NULL a buffer of
 * its own; -1 no memory for that.
 */
int
dispatch_init(struct dispatch *d, struct qlog *log, dispatch_emit_fn emit,
    void *arg)
{
	memset(d, 0, sizeof *d);
	if (queue_init(&d->queue, log) != 0)
		return -1;
	TAILQ_INIT(&d->ready);
	TAILQ_INIT(&d->deadlines);
	TAILQ_INIT(&d->dead);
	TAILQ_INIT(&d->aside);
	keys_init(&d->keys);
	d->next_id = 1;
	d->ids = &d->next_id;
	d->clock = &d->now;
	d->wall = &d->now;
	d->policy = &dpolicy_default;
	d->name = PS_QUEUE_DEFAULT;
	d->group = "";
	d->lead = d;
	d->emit = emit;
	d->arg = arg;
	return 0;
}

/* keys_free's way to let an event waiting behind its key go. */
static void
release(void *arg, struct qevent *ev)
{
	struct dispatch	*d = arg;

	queue_release(&d->queue, ev);
}

void
dispatch_free(struct dispatch *d)
{
	struct qevent	*ev;

	while ((ev = TAILQ_FIRST(&d->dead)) != NULL) {
		TAILQ_REMOVE(&d->dead, ev, entry);
		queue_release(&d->queue, ev);
	}
	if (d->sched != NULL) {
		while ((ev = sched_take(d->sched)) != NULL)
			queue_release(&d->queue, ev);
		sched_free(d->sched);
	}
	keys_free(&d->keys, release, d);
	parts_drain(d, release);
	free(d->parts);
	queue_free(&d->queue);
	if (d->restored != NULL) {
		idmap_free(d->restored);
		free(d->restored);
	}
	free(d->hash);
	free(d->tmp);
}

/*
 * id is in the log d reads, and not d's (v 0), or d's with v - 1
 * attempts: d's map says so.  -1 out of memory.
 */
int
dispatch_mark(struct dispatch *d, uint64_t id, uint64_t v)
{
	if (d->restored == NULL) {
		if ((d->restored = malloc(sizeof *d->restored)) == NULL)
			return -1;
		idmap_init(d->restored);
	}
	return idmap_put(d->restored, id, v);
}


/*
 * pop after a restart: the events pending in a queue with groups are in
 * its log once, in id order, and each group's map says which are its own
 * and with what attempts; so for a dead letter retried in one group.
 */
static struct qevent *
pop_restored(struct dispatch *d)
{
	struct qevent	*ev;
	uint64_t	 v;

	while ((ev = queue_pop(&d->queue)) != NULL &&
	    idmap_get(d->restored, ev->id, &v)) {
		idmap_del(d->restored, ev->id);
		if (v != 0) {
			ev->attempts = (uint32_t)(v - 1);
			break;
		}
		/* Not this group's: counted out at restore already. */
		d->queue.count++;
		d->queue.bytes += ev->len;
		queue_release(&d->queue, ev);
	}
	if (d->restored->count == 0) {
		idmap_free(d->restored);	/* all read: the plain way on */
		free(d->restored);
		d->restored = NULL;
	}
	return ev;
}

/* The next event of d's buffer. */
static inline struct qevent *
pop(struct dispatch *d)
{
	if (d->restored != NULL)
		return pop_restored(d);
	return queue_pop(&d->queue);
}

/* The id hash: ids are sequential, so the low bits spread them evenly. */
static int
hash_grow(struct dispatch *d)
{
	struct qevent	**h, *ev, *next;
	uint64_t	  cap = d->hash ? (d->hmask + 1) * 2 : 16, i;

	if ((h = calloc(cap, sizeof *h)) == NULL)
		return -1;
	for (i = 0; d->hash != NULL && i <= d->hmask; i++) {
		for (ev = d->hash[i]; ev != NULL; ev = next) {
			next = ev->hnext;
			ev->hnext = h[ev->id & (cap - 1)];
			h[ev->id & (cap - 1)] = ev;
		}
	}
	free(d->hash);
	d->hash = h;
	d->hmask = cap - 1;
	return 0;
}

static int
hash_put(struct dispatch *d, struct qevent *ev)
{
	struct qevent	**b;

	if ((d->hash == NULL || d->hcount > d->hmask) && hash_grow(d) != 0 &&
	    d->hash == NULL)
		return -1;
	b = &d->hash[ev->id & d->hmask];
	ev->hnext = *b;
	*b = ev;
	d->hcount++;
	return 0;
}

static struct qevent *
hash_get(const struct dispatch *d, uint64_t id)
{
	struct qevent	*ev;

	if (d->hash == NULL)
		return NULL;
	for (ev = d->hash[id & d->hmask]; ev != NULL; ev = ev->hnext) {
		if (ev->id == id)
			return ev;
	}
	return NULL;
}

static void
hash_del(struct dispatch *d, struct qevent *ev)
{
	struct qevent	**p;

	if (d->hash == NULL)
		return;
	for (p = &d->hash[ev->id & d->hmask]; *p != NULL; p = &(*p)->hnext) {
		if (*p == ev) {
			*p = ev->hnext;
			d->hcount--;
			return;
		}
	}
}

/* Events a consumer may still be sent now. */
static uint32_t
avail(const struct dconsumer *dc)
{
	uint32_t	 room;

	if (!dc->acks)
		return dc->demand;
	room = dc->max_demand > dc->ninflight ?
	    dc->max_demand - dc->ninflight : 0;
	return dc->demand < room ? dc->demand : room;
}

/* The ready list dc waits on: its partition's in partition mode. */
static struct dconsumers *
ready_list(struct dispatch *d, const struct dconsumer *dc)
{
	return d->nparts != 0 ? &d->parts[dc->partition].ready : &d->ready;
}

/* Behind every consumer with as much demand or more: from the tail. */
static void
insert(struct dispatch *d, struct dconsumer *dc)
{
	struct dconsumers	*list = ready_list(d, dc);
	struct dconsumer	*at;

	TAILQ_FOREACH_REVERSE(at, list, dconsumers, entry) {
		if (at->demand >= dc->demand)
			break;
	}
	if (at == NULL)
		TAILQ_INSERT_HEAD(list, dc, entry);
	else
		TAILQ_INSERT_AFTER(list, at, dc, entry);
	dc->ready = 1;
	if (d->nparts != 0)
		d->parts_ready++;
}

static void
unready(struct dispatch *d, struct dconsumer *dc)
{
	if (!dc->ready)
		return;
	TAILQ_REMOVE(ready_list(d, dc), dc, entry);
	dc->ready = 0;
	if (d->nparts != 0)
		d->parts_ready--;
}

/* Put dc where its demand and in-flight count now say it belongs. */
static void
requeue_consumer(struct dispatch *d, struct dconsumer *dc)
{
	unready(d, dc);
	if (avail(dc) != 0)
		insert(d, dc);
}

void
dispatch_attach(struct dispatch *d, struct dconsumer *dc, uint32_t max,
    uint32_t min, int acks, void *owner)
{
	memset(dc, 0, sizeof *dc);
	dc->max_demand = max;
	dc->min_demand = min;
	dc->acks = acks;
	dc->owner = owner;
	TAILQ_INIT(&dc->inflight);
	d->nconsumers++;
}

/* Take ev off its consumer: it is no longer in flight. */
static void
unfly(struct dispatch *d, struct qevent *ev)
{
	struct dconsumer	*dc = ev->owner;

	TAILQ_REMOVE(&dc->inflight, ev, entry);
	dc->ninflight--;
	if (ev->deadline != 0)
		TAILQ_REMOVE(&d->deadlines, ev, tentry);
	ev->deadline = 0;
	ev->owner = NULL;
	hash_del(d, ev);
	d->in_flight--;
}

/*
 * The journal, if there is one, hears of what happened to ev; an event
 * gone lets go of its unique id in this group.
 */
static void
changed(struct dispatch *d, enum dispatch_change what,
    const struct qevent *ev)
{
	if (d->change != NULL)
		d->change(d->change_arg, what, ev);
	if (what == DISPATCH_GONE && d->lead->sched != NULL &&
	    d->lead->sched->uniq != NULL)
		uniq_gone(d->lead->sched->uniq, ev->id, *d->wall,
		    d->lead->policy->dedup_window);
}

/*
 * ev came from upstream (a stage, a cluster): its origin learns how it
 * ended, or (hand_back) that it is given back or still worked on.
 */
static void
finish(struct dispatch *d, struct qevent *ev, int how, uint32_t wait)
{
	if (ev->origin != 0 && d->done != NULL)
		d->done(d->arg, ev, how, wait);
}

/*
 * Key mode: ev, its key's event in flight, is done with; the next of its
 * key that waited goes first in the buffer.
 */
static void
key_done(struct dispatch *d, const struct qevent *ev)
{
	struct qevent	*next;

	if (d->mode == DISPATCH_KEY && ev->key != NULL &&
	    (next = keys_done(&d->keys, ev)) != NULL)
		queue_push_front(&d->queue, &next, 1);
}

static void
bury(struct dispatch *d, struct qevent *ev, uint8_t reason)
{
	/* A stage's dead letters are its origin's: it gets them back. */
	if (ev->origin != 0 && d->done != NULL && !d->hand_back) {
		finish(d, ev, PS_NACK, 0);
		changed(d, DISPATCH_GONE, ev);
		queue_release(&d->queue, ev);
		return;
	}
	/* A cluster's are kept there, where every host lists them. */
	if (ev->origin != 0 && d->hand_back) {
		ev->reason = reason;
		finish(d, ev, PS_NACK, 0);
		changed(d, DISPATCH_GONE, ev);
		queue_release(&d->queue, ev);
		d->counts.dead_total++;
		return;
	}
	/* Out of memory, it keeps its chunk: still listed, just heavier. */
	(void)queue_own(&d->queue, ev);
	ev->reason = reason;
	changed(d, DISPATCH_BURIED, ev);
	/* Without a hash entry it cannot be retried by id, but is listed. */
	(void)hash_put(d, ev);
	TAILQ_INSERT_TAIL(&d->dead, ev, entry);
	d->ndead++;
	d->counts.dead_total++;
}

static int
by_id(const void *a, const void *b)
{
	uint64_t	 x = (*(struct qevent * const *)a)->id;
	uint64_t	 y = (*(struct qevent * const *)b)->id;

	return x < y ? -1 : x > y;
}

/*
 * Events off their consumer come back: to the dead list when they have
 * had all their attempts, else to the front of the buffer, in id order.
 * (Without memory to sort, dispatch_detach gives them back one by one.)
 */
/*
 * How long ev waits before its next delivery: wait ms (a NACK that says),
 * or with DELAY_BACKOFF the queue's retry backoff (none: at once).
 */
#define DELAY_BACKOFF	UINT32_MAX

static uint32_t
retry_wait(struct dispatch *d, const struct qevent *ev, uint32_t wait)
{
	if (wait != DELAY_BACKOFF)
		return wait;
	if (d->sched == NULL || d->sched->backoff_base == 0)
		return 0;
	return sched_backoff(d->sched, ev->attempts);
}

/* d's clock state, made if it has none; NULL out of memory. */
static struct sched *
sched_get(struct dispatch *d)
{
	if (d->sched == NULL) {
		if ((d->sched = malloc(sizeof *d->sched)) == NULL)
			return NULL;
		sched_init(d->sched, *d->clock);
		/* Held payloads, daemon-wide (--max-memory). */
		d->sched->delays.also = &d->queue.log->store->bytes;
	}
	return d->sched;
}

/* The lead's delayed events, or NULL when it holds none. */
static inline struct delays *
delays_of(const struct dispatch *d)
{
	const struct dispatch	*lead = d->lead;

	return lead->sched != NULL && lead->sched->delays.n != 0 ?
	    &lead->sched->delays : NULL;
}

/* ev is held back until its time; -1 no memory (it goes at once). */
static int
hold_back(struct dispatch *d, struct qevent *ev, uint32_t wait)
{
	if (sched_get(d) == NULL)
		return -1;
	if (sched_hold(d->sched, ev, *d->clock + wait) != 0)
		return -1;
	d->delayed++;
	d->counts.retries_scheduled_total++;
	return 0;
}

/*
 * Events back from consumers: to the dead list past max_attempts, else
 * to the front of the buffer in id order, or held back until their time
 * when wait (or the queue's backoff) says so; a consumer gone is no
 * failure, and its events go at once.  Held back, a keyed event keeps
 * its key busy.
 */
static void
give_back(struct dispatch *d, struct qevent **evs, size_t n, uint8_t reason,
    uint32_t wait)
{
	size_t	 i, live = 0;
	uint32_t ms;

	qsort(evs, n, sizeof *evs, by_id);
	for (i = 0; i < n; i++) {
		if (evs[i]->attempts >= d->policy->max_attempts) {
			key_done(d, evs[i]);
			bury(d, evs[i], reason);
			continue;
		}
		ms = reason == PS_DEAD_DISCONNECT ? 0 :
		    retry_wait(d, evs[i], wait);
		/* A cluster's event goes back to it, for any host, in ms. */
		if (evs[i]->origin != 0 && d->hand_back) {
			key_done(d, evs[i]);
			finish(d, evs[i], PS_NACK_LATER, ms);
			changed(d, DISPATCH_GONE, evs[i]);
			queue_release(&d->queue, evs[i]);
			continue;
		}
		if (ms != 0 && hold_back(d, evs[i], ms) == 0)
			continue;
		if (d->mode == DISPATCH_KEY && evs[i]->key != NULL)
			keys_back(&d->keys, evs[i]);
		evs[live++] = evs[i];
	}
	queue_push_front(&d->queue, evs, live);
	d->counts.redelivered_total += live;
}


static struct qevent **
tmp_room(struct dispatch *d, size_t n)
{
	struct qevent	**t;

	if (n <= d->tmpcap)
		return d->tmp;
	if ((t = realloc(d->tmp, n * sizeof *t)) == NULL)
		return NULL;
	d->tmp = t;
	d->tmpcap = n;
	return t;
}

/* Events held back whose time has come go first into the buffer. */
static void
due_back(struct dispatch *d)
{
	struct qevent	*ev, **evs;
	size_t		 n = 0;

	while ((ev = sched_due(d->sched, *d->clock)) != NULL) {
		d->delayed--;
		if (d->mode == DISPATCH_KEY && ev->key != NULL)
			keys_back(&d->keys, ev);
		if ((evs = tmp_room(d, n + 1)) == NULL) {
			queue_push_front(&d->queue, &ev, 1);
			continue;
		}
		evs[n++] = ev;
	}
	if (n != 0) {
		qsort(d->tmp, n, sizeof *d->tmp, by_id);
		queue_push_front(&d->queue, d->tmp, n);
	}
	d->counts.redelivered_total += n;
}

/* Partition mode: the partition of ev. */
static struct dpart *
part_of(struct dispatch *d, const struct qevent *ev)
{
	return &d->parts[ps_partition(ev->key, ev->key != NULL ? ev->klen : -1,
	    d->nparts)];
}

/* ev waits, off the buffer, for a consumer of its partition p. */
static void
set_aside(struct dispatch *d, struct dpart *p, struct qevent *ev)
{
	TAILQ_INSERT_TAIL(&p->waiting, ev, entry);
	TAILQ_INSERT_TAIL(&d->aside, ev, tentry);
	d->parts_waiting++;
	d->parts_waiting_bytes += ev->len;
}

/* ev, set aside for p, waits no more. */
static void
unset_aside(struct dispatch *d, struct dpart *p, struct qevent *ev)
{
	TAILQ_REMOVE(&p->waiting, ev, entry);
	TAILQ_REMOVE(&d->aside, ev, tentry);
	d->parts_waiting--;
	d->parts_waiting_bytes -= ev->len;
}

/* The oldest event set aside, taken away, or NULL. */
static struct qevent *
parts_shed(struct dispatch *d)
{
	struct qevent	*ev;

	if ((ev = TAILQ_FIRST(&d->aside)) != NULL)
		unset_aside(d, part_of(d, ev), ev);
	return ev;
}

/* Every event waiting for its partition goes to fn. */
static void
parts_drain(struct dispatch *d, void (*fn)(void *, struct qevent *))
{
	struct qevent	*ev;

	while ((ev = parts_shed(d)) != NULL)
		fn(d, ev);
}

/*
 * How d dispatches: mode, and for DISPATCH_PARTITION nparts partitions
 * (1 to PS_PARTITIONS_MAX).  Only while no consumer is attached.  Events
 * that waited for a partition go back to the front of the buffer in id
 * order.  -1 out of memory, nothing changed.
 */
int
dispatch_set_mode(struct dispatch *d, enum dispatch_mode mode,
    uint32_t nparts)
{
	struct dpart	*parts = NULL;
	struct qevent	**evs = d->tmp, *ev;
	size_t		 n = 0;
	uint32_t	 i;

	if (mode != DISPATCH_PARTITION)
		nparts = 0;
	if (mode == d->mode && nparts == d->nparts)
		return 0;
	if (nparts != 0 && (parts = calloc(nparts, sizeof *parts)) == NULL)
		return -1;
	if (d->parts_waiting != 0 &&
	    (evs = tmp_room(d, d->parts_waiting)) == NULL) {
		free(parts);
		return -1;
	}
	for (i = 0; i < nparts; i++) {
		TAILQ_INIT(&parts[i].ready);
		TAILQ_INIT(&parts[i].waiting);
	}
	while ((ev = parts_shed(d)) != NULL)
		evs[n++] = ev;
	if (n != 0) {
		qsort(evs, n, sizeof *evs, by_id);
		queue_push_front(&d->queue, evs, n);
	}
	free(d->parts);
	d->parts = parts;
	d->nparts = nparts;
	d->mode = mode;
	return 0;
}

/*
 * The clock's settings: paused until (clock ms; SCHED_FOREVER; 0 not), at
 * most rate_n events per rate_ms (0: no limit), retries backing off from
 * base to max ms (0: at once).  -1 out of memory, nothing changed.
 */
int
dispatch_schedule(struct dispatch *d, uint64_t until, uint32_t rate_n,
    uint32_t rate_ms, uint32_t base, uint32_t max)
{
	struct sched	*s = d->sched;

	if (until == 0 && rate_ms == 0 && base == 0 &&
	    (s == NULL || (s->nlater == 0 && s->delays.n == 0 &&
	    s->uniq == NULL))) {
		if (s != NULL)
			sched_free(s);
		d->sched = NULL;
		d->held = d->throttled = 0;
		return 0;
	}
	if ((s = sched_get(d)) == NULL)
		return -1;
	s->until = until;
	sched_rate(s, rate_n, rate_ms, *d->clock);
	s->backoff_base = base;
	s->backoff_max = max;
	d->held = sched_paused(s, *d->clock);
	return 0;
}

/* Everything dc holds comes back; returns how many events that was. */
int
dispatch_detach(struct dispatch *d, struct dconsumer *dc)
{
	struct qevent	*ev, **evs;
	size_t		 n = 0;
	int		 back = (int)dc->ninflight;

	unready(d, dc);
	d->demand_total -= dc->demand;
	dc->demand = 0;
	d->nconsumers--;
	evs = tmp_room(d, dc->ninflight);
	while ((ev = TAILQ_FIRST(&dc->inflight)) != NULL) {
		unfly(d, ev);
		if (evs != NULL)
			evs[n++] = ev;
		else
			give_back(d, &ev, 1, PS_DEAD_DISCONNECT, 0);
	}
	if (n != 0)
		give_back(d, evs, n, PS_DEAD_DISCONNECT, 0);
	free(dc->expired);
	dc->expired = NULL;
	dc->nexpired = 0;
	return back;
}

/*
 * Buffer one event (from origin upstream, or 0) for d and the groups
 * after it; its id, or 0 no memory.  The journal hears of it once.
 */
uint64_t
dispatch_push(struct dispatch *d, const void *data, uint32_t len,
    uint64_t origin)
{
	return dispatch_push_key(d, NULL, -1, data, len, origin);
}

/* The journal hears of a new event, on a handle made up for it. */
static void
pushed(struct dispatch *d, const void *key, int klen, const void *data,
    uint32_t len, uint16_t prio, uint64_t due, const struct ps_attrs *a)
{
	struct dispatch_new	 n;

	memset(&n, 0, sizeof n);
	n.ev.id = *d->ids;
	n.ev.data = data;
	n.ev.len = len;
	n.ev.key = key;
	n.ev.klen = klen < 0 ? 0 : (uint8_t)klen;
	n.ev.prio = prio;
	n.due = due;
	if (a != NULL && a->uid != NULL) {
		n.uid = a->uid;
		n.ulen = a->ulen;
	}
	changed(d, DISPATCH_PUSHED, &n.ev);
}

/* Into the buffer of every group: by its priority, the log or the heaps. */
static int
push_at(struct dispatch *d, uint64_t id, uint32_t attempts, uint64_t origin,
    uint16_t prio, const void *key, int klen, const void *data, uint32_t len)
{
	if (prio == QUEUE_PRIO_DEFAULT)
		return queue_push(&d->queue, id, attempts, origin, key, klen,
		    data, len);
	return queue_push_prio(&d->queue, id, attempts, prio, key, klen, data,
	    len);
}

/*
 * A new event (from an ENQUEUE's attributes a, or NULL: none) buffered
 * for d and the groups after it, or held until due (wall ms, 0: now);
 * its id, or 0 no memory.
 */
static uint64_t
push_new(struct dispatch *d, const void *key, int klen, const void *data,
    uint32_t len, uint64_t origin, uint32_t attempts, uint16_t prio,
    uint64_t due, const struct ps_attrs *a)
{
	struct dispatch	*g;

	if (due != 0) {
		if (sched_get(d) == NULL || delays_add(&d->sched->delays, due,
		    *d->ids, prio, key, klen, data, len) != 0)
			return 0;
		for (g = d; g != NULL; g = g->next_group)
			g->delayed++;
	} else if (push_at(d, *d->ids, attempts, origin, prio, key, klen, data,
	    len) != 0)
		return 0;
	d->counts.enqueued_total++;
	for (g = d->next_group; g != NULL; g = g->next_group)
		g->counts.enqueued_total++;
	if (d->change != NULL)
		pushed(d, key, klen, data, len, prio, due, a);
	return (*d->ids)++;
}

/* The same, with a key (klen -1: none; 0 to 255: a key). */
uint64_t
dispatch_push_key(struct dispatch *d, const void *key, int klen,
    const void *data, uint32_t len, uint64_t origin)
{
	return push_new(d, key, klen, data, len, origin, 0, QUEUE_PRIO_DEFAULT,
	    0, NULL);
}

/*
 * An event from origin that was delivered attempts times before (on
 * another host: a cluster's redelivery); its id, or 0 no memory.
 */
uint64_t
dispatch_push_tried(struct dispatch *d, const void *data, uint32_t len,
    uint64_t origin, uint32_t attempts)
{
	return push_new(d, NULL, -1, data, len, origin, attempts,
	    QUEUE_PRIO_DEFAULT, 0, NULL);
}

/*
 * The lead's delayed events due by now go into the log, each group's; a
 * group made after an event was enqueued skips it, as it would have had
 * the event gone into the log at once.  Out of memory, they wait for the
 * next run.
 */
static void
delays_run(struct dispatch *d)
{
	struct delays	*ds = &d->sched->delays;
	struct delayed	*ev;
	struct dispatch	*g;
	uint64_t	 due;

	while (delays_next(ds, &due) && due <= *d->wall) {
		ev = ds->v[0];
		for (g = d->next_group; g != NULL; g = g->next_group) {
			if (g->from > ev->id && dispatch_mark(g, ev->id, 0) != 0)
				return;
		}
		if (push_at(d, ev->id, 0, 0, ev->prio, delayed_key(ev),
		    ev->keyed ? ev->klen : -1, ev->data, ev->len) != 0)
			return;
		for (g = d; g != NULL; g = g->next_group) {
			if (g->from > ev->id) {
				g->queue.count--;	/* as dead_retry */
				g->queue.bytes -= ev->len;
			} else
				g->delayed--;
		}
		free(delays_due(ds, due));
	}
}

/*
 * A pending event read back from the journal, behind those restored
 * before it (callers go in id order); -1 out of memory.
 */
int
dispatch_restore(struct dispatch *d, uint64_t id, uint32_t attempts,
    uint16_t prio, const void *key, int klen, const void *data, uint32_t len)
{
	if (push_at(d, id, attempts, 0, prio, key, klen, data, len) != 0)
		return -1;
	if (id >= *d->ids)
		*d->ids = id + 1;
	return 0;
}

/* A pending event not due before due (wall ms), read back; -1 no memory. */
int
dispatch_restore_delayed(struct dispatch *d, uint64_t id, uint64_t due,
    uint16_t prio, const void *key, int klen, const void *data, uint32_t len)
{
	struct dispatch	*g;

	if (sched_get(d) == NULL || delays_add(&d->sched->delays, due, id,
	    prio, key, klen, data, len) != 0)
		return -1;
	for (g = d; g != NULL; g = g->next_group)
		g->delayed++;
	if (id >= *d->ids)
		*d->ids = id + 1;
	return 0;
}

/* d's unique ids, made if it has none; NULL out of memory. */
static struct uniq *
uniq_get(struct dispatch *d)
{
	struct sched	*s;

	if ((s = sched_get(d)) == NULL)
		return NULL;
	if (s->uniq == NULL && (s->uniq = malloc(sizeof *s->uniq)) != NULL)
		uniq_init(s->uniq);
	return s->uniq;
}

/*
 * A unique id read back: held for event id in refs groups, or with refs
 * 0 until expires (wall ms).  -1 out of memory.
 */
int
dispatch_restore_uid(struct dispatch *d, const void *uid, uint8_t len,
    uint64_t id, uint32_t refs, uint64_t expires)
{
	struct uniq	*u;

	if ((u = uniq_get(d)) == NULL)
		return -1;
	return uniq_add(u, uid, len, id, refs, expires);
}

/* A dead letter read back from the journal; -1 out of memory. */
int
dispatch_restore_dead(struct dispatch *d, uint64_t id, uint32_t attempts,
    uint8_t reason, const void *key, int klen, const void *data, uint32_t len)
{
	struct qevent	*ev;

	if ((ev = queue_copy(&d->queue, id, attempts, key, klen, data,
	    len)) == NULL)
		return -1;
	if (hash_put(d, ev) != 0) {
		queue_release(&d->queue, ev);
		return -1;
	}
	ev->reason = reason;
	TAILQ_INSERT_TAIL(&d->dead, ev, entry);
	d->ndead++;
	if (id >= *d->ids)
		*d->ids = id + 1;
	return 0;
}

/* Add n to dc's credit; -1 if that would pass its max_demand. */
int
dispatch_demand(struct dispatch *d, struct dconsumer *dc, uint32_t n)
{
	if (n > dc->max_demand || dc->demand > dc->max_demand - n)
		return -1;
	dc->demand += n;
	dc->demanded += n;
	d->demand_total += n;
	requeue_consumer(d, dc);
	return 0;
}

/*
 * The next event that may go out: in key mode, one whose key has an event
 * in flight waits behind it instead (off the buffer), and the next is
 * looked at.  NULL when none may go now.
 */
static inline struct qevent *
next(struct dispatch *d)
{
	struct qevent	*ev;

	if (d->mode != DISPATCH_KEY)
		return pop(d);
	while ((ev = pop(d)) != NULL && ev->key != NULL &&
	    keys_busy(&d->keys, ev)) {
		if (keys_wait(&d->keys, ev) != 0) {
			queue_push_front(&d->queue, &ev, 1);
			return NULL;	/* out of memory: later */
		}
	}
	return ev;
}

/* ev goes out to dc: tracked until acked, or done with at once. */
static inline void
send_one(struct dispatch *d, struct dconsumer *dc, struct qevent *ev)
{
	int	 keyed = d->mode == DISPATCH_KEY && ev->key != NULL;

	ev->attempts++;
	d->emit(d->arg, dc, ev);
	/*
	 * Without acks (or memory to follow it) it is done with now; in key
	 * mode the next of its key may go then.
	 */
	if (!dc->acks || (keyed && keys_take(&d->keys, ev) != 0) ||
	    hash_put(d, ev) != 0) {
		key_done(d, ev);
		finish(d, ev, PS_ACK, 0);
		changed(d, DISPATCH_GONE, ev);
		queue_release(&d->queue, ev);
		return;
	}
	changed(d, DISPATCH_SENT, ev);
	ev->owner = dc;
	TAILQ_INSERT_TAIL(&dc->inflight, ev, entry);
	dc->ninflight++;
	d->in_flight++;
	if (d->policy->ack_timeout != 0) {
		ev->deadline = *d->clock + d->policy->ack_timeout;
		TAILQ_INSERT_TAIL(&d->deadlines, ev, tentry);
	}
}

/* ev goes to the head of its partition's ready list, which moves on. */
static void
give(struct dispatch *d, struct dpart *p, struct qevent *ev)
{
	struct dconsumer	*dc = TAILQ_FIRST(&p->ready);

	dc->demand--;
	d->demand_total--;
	dc->delivered++;
	d->counts.delivered_total++;
	send_one(d, dc, ev);
	requeue_consumer(d, dc);	/* rule 1: behind those with more */
}

/*
 * Partition mode: what waited for its partition goes first, then the
 * buffer in order, each event to its partition, or onto its waiting list
 * while that partition has no consumer with room.
 */
static uint64_t
run_parts(struct dispatch *d, uint64_t budget)
{
	struct dpart	*p;
	struct qevent	*ev;
	uint64_t	 sent = 0;
	uint32_t	 i;

	for (i = 0; i < d->nparts && d->parts_waiting != 0; i++) {
		p = &d->parts[i];
		while (sent < budget && !TAILQ_EMPTY(&p->ready) &&
		    (ev = TAILQ_FIRST(&p->waiting)) != NULL) {
			unset_aside(d, p, ev);
			give(d, p, ev);
			sent++;
		}
	}
	while (sent < budget && d->parts_ready != 0 && (ev = pop(d)) != NULL) {
		p = part_of(d, ev);
		if (!TAILQ_EMPTY(&p->ready)) {
			give(d, p, ev);
			sent++;
		} else
			set_aside(d, p, ev);
	}
	return sent;
}

/*
 * What the clock lets d send now: nothing while paused, else what its
 * rate allows (UINT64_MAX: no limit).  Events held back whose time has
 * come go to the front of the buffer first.
 */
static uint64_t
allowance(struct dispatch *d)
{
	if (d->sched == NULL)
		return UINT64_MAX;
	due_back(d);
	if ((d->held = sched_paused(d->sched, *d->clock)) != 0)
		return 0;
	if (sched_idle(d->sched)) {
		sched_free(d->sched);	/* a NACK_LATER's, done with */
		d->sched = NULL;
		d->throttled = 0;
		return UINT64_MAX;
	}
	return sched_budget(d->sched, *d->clock);
}

void
dispatch_run(struct dispatch *d)
{
	struct dconsumer	*dc;
	struct qevent		*ev;
	uint64_t		 budget, spent = 0;
	uint32_t		 n, sent;

	if (delays_of(d) != NULL)
		delays_run(d->lead);
	if (d->paused || (budget = allowance(d)) == 0) {
		d->throttled = d->sched != NULL && !d->held &&
		    d->queue.count != 0;
		return;
	}
	if (d->nparts != 0)
		spent = run_parts(d, budget);
	while (d->nparts == 0 && d->queue.count != 0 && spent < budget &&
	    (dc = TAILQ_FIRST(&d->ready)) != NULL) {
		unready(d, dc);
		n = avail(dc);
		if (n > d->queue.count)
			n = (uint32_t)d->queue.count;
		if (n > budget - spent)
			n = (uint32_t)(budget - spent);
		for (sent = 0; sent < n && (ev = next(d)) != NULL; sent++)
			send_one(d, dc, ev);
		spent += sent;
		/* Demand is spent only on events sent. */
		dc->demand -= sent;
		d->demand_total -= sent;
		dc->delivered += sent;
		d->counts.delivered_total += sent;
		if (avail(dc) != 0)
			insert(d, dc);
		if (sent < n)
			break;		/* nothing left that may go now */
	}
	if (d->sched != NULL) {
		sched_spend(d->sched, spent);
		/* Stopped by the rate with events and room left. */
		d->throttled = spent == budget && d->queue.count != 0;
	}
}

/*
 * Events dc still holds.  With acks, exactly those not acked.  Without,
 * an estimate from its demand: a consumer asks max_demand at first and
 * then tops its window back up as it finishes, so credit asked beyond
 * max_demand marks events done.
 */
uint64_t
dispatch_in_flight(const struct dconsumer *dc)
{
	uint64_t	 renewed = 0;

	if (dc->acks)
		return dc->ninflight;
	if (dc->demanded > dc->max_demand)
		renewed = dc->demanded - dc->max_demand;
	return dc->delivered > renewed ? dc->delivered - renewed : 0;
}

/* ev if it is in flight on dc; else whether it timed out there before. */
static struct qevent *
lookup(struct dispatch *d, struct dconsumer *dc, uint64_t id, int *late)
{
	struct qevent	*ev;
	uint32_t	 i;

	*late = 0;
	if ((ev = hash_get(d, id)) != NULL && ev->owner == dc)
		return ev;
	for (i = 0; i < dc->nexpired; i++) {
		if (dc->expired[i] == id) {
			/* Once only: the next answer for it is unknown. */
			dc->expired[i] = 0;
			d->counts.late_acks_total++;
			*late = 1;
			break;
		}
	}
	return NULL;
}

/*
 * A consumer's ACK, NACK or TOUCH (what: PS_ACK, PS_NACK, PS_TOUCH) of
 * one event.  ACK forgets it; NACK gives it back for another delivery,
 * after wait ms or the queue's backoff (DELAY_BACKOFF), or to the dead
 * list; TOUCH restarts its ack deadline.
 */
static int
answer(struct dispatch *d, struct dconsumer *dc, uint64_t id, int what,
    uint32_t wait)
{
	struct qevent	*ev;
	int		 late;

	if ((ev = lookup(d, dc, id, &late)) == NULL)
		return late ? DISPATCH_LATE : DISPATCH_UNKNOWN;
	switch (what) {
	case PS_ACK:
		unfly(d, ev);
		key_done(d, ev);
		finish(d, ev, PS_ACK, 0);
		changed(d, DISPATCH_GONE, ev);
		queue_release(&d->queue, ev);
		d->counts.acked_total++;
		break;
	case PS_NACK:
		unfly(d, ev);
		d->counts.nacked_total++;
		give_back(d, &ev, 1, PS_DEAD_NACK, wait);
		break;
	default:
		if (ev->deadline != 0) {
			TAILQ_REMOVE(&d->deadlines, ev, tentry);
			ev->deadline = *d->clock + d->policy->ack_timeout;
			TAILQ_INSERT_TAIL(&d->deadlines, ev, tentry);
		}
		if (d->hand_back)
			finish(d, ev, PS_TOUCH, 0);
		return DISPATCH_DONE;
	}
	requeue_consumer(d, dc);
	return DISPATCH_DONE;
}

int
dispatch_answer(struct dispatch *d, struct dconsumer *dc, uint64_t id,
    int what)
{
	return answer(d, dc, id, what, DELAY_BACKOFF);
}

/* A NACK that says when: again after wait ms (0: at once, no backoff). */
int
dispatch_nack_later(struct dispatch *d, struct dconsumer *dc, uint64_t id,
    uint32_t wait)
{
	return answer(d, dc, id, PS_NACK, wait);
}

static void
remember_expired(struct dconsumer *dc, uint64_t id)
{
	if (dc->expired == NULL && (dc->expired = calloc(DISPATCH_EXPIRED_MAX,
	    sizeof *dc->expired)) == NULL)
		return;
	dc->expired[dc->expired_at] = id;
	dc->expired_at = (dc->expired_at + 1) % DISPATCH_EXPIRED_MAX;
	if (dc->nexpired < DISPATCH_EXPIRED_MAX)
		dc->nexpired++;
}

/* Take back every event whose deadline has passed; how many there were. */
int
dispatch_expire(struct dispatch *d)
{
	struct qevent		*ev, **evs;
	struct dconsumer	*dc;
	size_t			 n = 0, due = 0;

	TAILQ_FOREACH(ev, &d->deadlines, tentry) {
		if (ev->deadline > *d->clock)
			break;
		due++;
	}
	evs = tmp_room(d, due);
	while ((ev = TAILQ_FIRST(&d->deadlines)) != NULL &&
	    ev->deadline <= *d->clock) {
		dc = ev->owner;
		unfly(d, ev);
		remember_expired(dc, ev->id);
		requeue_consumer(d, dc);
		d->counts.timed_out_total++;
		if (evs != NULL)
			evs[n++] = ev;
		else
			give_back(d, &ev, 1, PS_DEAD_TIMEOUT, DELAY_BACKOFF);
	}
	if (n != 0)
		give_back(d, evs, n, PS_DEAD_TIMEOUT, DELAY_BACKOFF);
	return (int)due;
}

/*
 * When d next has something to do on its own, if ever: an ack deadline,
 * an event held back coming due, a pause ending, or, stopped by its rate,
 * the next event the rate allows.
 */
int
dispatch_next_deadline(const struct dispatch *d, uint64_t *when)
{
	const struct sched	*s = d->sched;
	struct qevent		*ev;
	uint64_t		 t, next = UINT64_MAX;

	if ((ev = TAILQ_FIRST(&d->deadlines)) != NULL)
		next = ev->deadline;
	if (s != NULL && sched_next_due(s, &t) && t < next)
		next = t;
	if (s != NULL && s->until != 0 && s->until < next)
		next = s->until;	/* SCHED_FOREVER: never */
	if (s != NULL && d->throttled && (t = sched_refill_at(s)) < next)
		next = t;
	/* A delayed event's wall-clock time, on this clock. */
	if (d == d->lead && delays_of(d) != NULL &&
	    delays_next(&s->delays, &t) && (t = t >
	    *d->wall ? *d->clock + (t - *d->wall) : *d->clock) < next)
		next = t;
	if (next == UINT64_MAX)
		return 0;
	*when = next;
	return 1;
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

/* keys_free's way to drop an event waiting behind its key (a purge). */
static void
drop(void *arg, struct qevent *ev)
{
	struct dispatch	*d = arg;

	finish(d, ev, PS_ACK, 0);
	changed(d, DISPATCH_GONE, ev);
	queue_release(&d->queue, ev);
	d->purged++;
}

/*
 * Purge's part in the lead's delayed events: the lead's purge drops them
 * all, for every group; another group's (it is being dropped) is done
 * with those it was to get.
 */
static void
purge_delayed(struct dispatch *d)
{
	struct delays	*ds = delays_of(d);
	struct delayed	*dv;
	struct dispatch	*g;
	struct qevent	 ev;
	size_t		 i;

	if (ds == NULL)
		return;
	memset(&ev, 0, sizeof ev);
	if (d != d->lead) {
		for (i = 0; i < ds->n; i++) {
			if ((ev.id = ds->v[i]->id) >= d->from) {
				changed(d, DISPATCH_GONE, &ev);
				d->delayed--;
			}
		}
		return;
	}
	while ((dv = delays_any(ds)) != NULL) {
		ev.id = dv->id;
		for (g = d; g != NULL; g = g->next_group) {
			if (g->from > dv->id)
				continue;
			changed(g, DISPATCH_GONE, &ev);
			g->delayed--;
		}
		d->purged++;
		free(dv);
	}
}

/*
 * Drop every buffered event (pushctl queue purge), those held back until
 * their time (with the lead, the queue's delayed events) or waiting
 * behind their key or for their partition too; how many went.  Keys in
 * flight stay so.
 */
uint64_t
dispatch_purge(struct dispatch *d)
{
	struct qevent	*ev;

	d->purged = 0;
	purge_delayed(d);
	while (d->sched != NULL && (ev = sched_take(d->sched)) != NULL) {
		d->delayed--;
		key_done(d, ev);	/* its key's next, into the buffer */
		drop(d, ev);
	}
	while ((ev = pop(d)) != NULL)
		drop(d, ev);
	keys_drain(&d->keys, drop, d);
	parts_drain(d, drop);
	return d->purged;
}

/* Every group of the queue d leads sends what it can. */
void
dispatch_run_all(struct dispatch *d)
{
	for (; d != NULL; d = d->next_group)
		dispatch_run(d);
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
		return d->restored != NULL ? pop(d) : queue_shed(&d->queue);
	if ((ev = keys_shed(&d->keys)) != NULL)
		return ev;
	return parts_shed(d);
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
		finish(d, ev, PS_ACK, 0);	/* shed by policy: done with */
		changed(d, DISPATCH_GONE, ev);
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
		if ((u = uniq_get(d)) == NULL)
			return -1;
		uniq_sweep(u, *d->wall);
		if (uniq_seen(u, a->uid, a->ulen, *d->wall))
			return duplicate(d, it, r);
		for (g = d; g != NULL; g = g->next_group)
			groups++;
		if (uniq_add(u, a->uid, a->ulen, *d->ids, groups, 0) != 0)
			return -1;
	}
	if ((id = push_new(d, it->key, it->key != NULL ? it->klen : -1, data,
	    len, 0, 0, a->priority, due_of(d, a), a)) == 0) {
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

struct qevent *
dispatch_dead_find(const struct dispatch *d, uint64_t id)
{
	struct qevent	*ev;

	if ((ev = hash_get(d, id)) != NULL && ev->owner == NULL)
		return ev;
	return NULL;
}

static void
unbury(struct dispatch *d, struct qevent *ev)
{
	TAILQ_REMOVE(&d->dead, ev, entry);
	hash_del(d, ev);
	d->ndead--;
	ev->reason = 0;
}

/*
 * To the back of the buffer with its attempts reset; -1: no memory.  The
 * buffer is a log its queue's groups share: the others skip it.
 */
int
dispatch_dead_retry(struct dispatch *d, struct qevent *ev)
{
	struct dispatch	*g;

	for (g = d->lead; g != NULL; g = g->next_group) {
		if (g != d && dispatch_mark(g, ev->id, 0) != 0)
			return -1;
	}
	if (push_at(d, ev->id, 0, 0, ev->prio, ev->key, ev->key != NULL ?
	    ev->klen : -1, ev->data, ev->len) != 0)
		return -1;
	for (g = d->lead; g != NULL; g = g->next_group) {
		if (g != d) {
			g->queue.count--;
			g->queue.bytes -= ev->len;
		}
	}
	changed(d, DISPATCH_REVIVED, ev);
	unbury(d, ev);
	queue_release(&d->queue, ev);
	return 0;
}

void
dispatch_dead_drop(struct dispatch *d, struct qevent *ev)
{
	changed(d, DISPATCH_GONE, ev);
	unbury(d, ev);
	queue_release(&d->queue, ev);
}

/* queue_walk's visitor, passed on with no due time. */
struct walk {
	dispatch_walk_fn	 fn;
	void			*arg;
};

static void
walk_one(void *arg, const struct qevent *ev)
{
	struct walk	*w = arg;

	w->fn(w->arg, ev, 0);
}

/*
 * Every event d holds, each once, for the journal's compaction: its
 * buffer, those waiting behind a key or for a partition, those held back,
 * in flight and dead (the id hash), and, d leading, the queue's delayed
 * events.  Nothing changes.
 */
void
dispatch_walk(const struct dispatch *d, dispatch_walk_fn fn, void *arg)
{
	struct walk	 w = { fn, arg };
	struct qevent	*ev, h;
	struct delayed	*dv;
	uint64_t	 i;

	queue_walk(&d->queue, walk_one, &w);
	TAILQ_FOREACH(ev, &d->keys.order, tentry)
		fn(arg, ev, 0);
	TAILQ_FOREACH(ev, &d->aside, tentry)
		fn(arg, ev, 0);
	for (i = 0; d->sched != NULL && i < d->sched->nlater; i++)
		fn(arg, d->sched->later[i].ev, 0);
	for (i = 0; d->hash != NULL && i <= d->hmask; i++) {
		for (ev = d->hash[i]; ev != NULL; ev = ev->hnext)
			fn(arg, ev, 0);
	}
	if (d != d->lead || d->sched == NULL)
		return;
	for (i = 0; i < d->sched->delays.n; i++) {
		dv = d->sched->delays.v[i];
		memset(&h, 0, sizeof h);
		h.id = dv->id;
		h.len = dv->len;
		h.prio = dv->prio;
		h.data = dv->data;
		if (dv->keyed) {
			h.key = dv->data + dv->len;
			h.klen = dv->klen;
		}
		fn(arg, &h, dv->due);
	}
}
