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
 *
 * What comes in, and whether it fits (an ENQUEUE's batch against the
 * queue's limits and overflow policy), is admit.c's; this file takes
 * events from the buffer on, and owns the id table, the dead list, the
 * clock's work, purges and the journal's restores.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chain.h"
#include "dcore.h"
#include "frame.h"
#include "idmap.h"

static void	parts_drain(struct dispatch *,
		    void (*)(void *, struct qevent *));

const struct dpolicy dpolicy_default = {
	.overflow = OVERFLOW_REJECT,
	.max_attempts = DPOLICY_MAX_ATTEMPTS,
	.dedup_window = DPOLICY_DEDUP_WINDOW,
	.keep_done_bytes = DPOLICY_KEEP_DONE_BYTES,
	.max_result = PS_RESULT_DEFAULT,
	.max_task_stats = TASKS_DEFAULT,
};

/* A done event's record goes: the journal lets go of it. */
static void
unkept(void *arg, struct kdone *k)
{
	struct dispatch		*d = arg;
	struct dispatch_kept	 dk;

	if (d->change == NULL)
		return;
	memset(&dk, 0, sizeof dk);
	dk.ev.id = k->id;
	dk.k = k;
	d->change(d->change_arg, DISPATCH_UNKEPT, &dk.ev);
}

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
	if (log == NULL)
		d->queue.log->clock = &d->now;	/* its own: its clock */
	TAILQ_INIT(&d->ready);
	TAILQ_INIT(&d->deadlines);
	TAILQ_INIT(&d->dead);
	TAILQ_INIT(&d->aside);
	keys_init(&d->keys);
	kept_init(&d->kept);
	d->kept.gone = unkept;
	d->kept.arg = d;
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

static void	 refail_free(struct dispatch *);

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
	kept_free(&d->kept);
	tasks_free(&d->tasks);
	refail_free(d);		/* into the store queue_free may free */
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
 * Key mode: ev, taken off the buffer, goes another way (cancelled, shed,
 * not this group's).  Given back ahead of the events that wait behind its
 * key, it held their place: the first of them goes first in the buffer
 * now, or a later event of the key would pass them.
 */
void
dispatch_key_handover(struct dispatch *d, const struct qevent *ev)
{
	struct qevent	*next;

	if (d->mode == DISPATCH_KEY && ev->key != NULL &&
	    (next = keys_idle_next(&d->keys, ev)) != NULL)
		queue_push_front(&d->queue, &next, 1);
}

/*
 * pop after a restart: the events pending in a queue with groups are in
 * its log once, in id order, and each group's map says which are its own
 * and with what attempts; so for a dead letter retried in one group.
 */
struct qevent *
dispatch_pop_restored(struct dispatch *d)
{
	struct qevent	*ev;
	uint64_t	 v;

	while ((ev = queue_pop(&d->queue)) != NULL && d->restored != NULL &&
	    idmap_get(d->restored, ev->id, &v)) {
		idmap_del(d->restored, ev->id);
		if (v != 0) {
			ev->attempts = (uint32_t)(v - 1);
			break;
		}
		/* Not this group's: counted out at restore already. */
		d->queue.count++;
		d->queue.bytes += ev->len;
		dispatch_key_handover(d, ev);
		queue_release(&d->queue, ev);
	}
	if (d->restored != NULL && d->restored->count == 0) {
		idmap_free(d->restored);	/* all read: the plain way on */
		free(d->restored);
		d->restored = NULL;
	}
	/* Its failures, read back before it was. */
	if (ev != NULL && ev->fail == NULL && d->refail != NULL &&
	    idmap_get(d->refail, ev->id, &v)) {
		idmap_del(d->refail, ev->id);
		ev->fail = (struct qfail *)(uintptr_t)v;
		if (d->refail->count == 0)
			refail_free(d);
	}
	return ev;
}

/* The next event of d's buffer. */
static inline struct qevent *
pop(struct dispatch *d)
{
	if (d->restored != NULL || d->refail != NULL)
		return dispatch_pop_restored(d);
	return queue_pop(&d->queue);
}

/*
 * The id table: id -> its event, in flight or dead, in chain.h's shape,
 * keyed by the id's bytes.  Ids are sequential, so their low bits spread
 * them evenly: the id is its own hash.
 */

#define QEVENT_ID(ev)		(&(ev)->id)
#define QEVENT_IDLEN(ev)	sizeof (ev)->id
CHAIN_GENERATE(idchain, struct qevent, hnext, chain_id_hash, QEVENT_ID,
    QEVENT_IDLEN)

/* ev in; past one event a bucket it grows, out of memory chains grow. */
static int
hash_put(struct dispatch *d, struct qevent *ev)
{
	if ((d->hash == NULL || d->hcount > d->hmask) &&
	    idchain_grow(&d->hash, &d->hmask) != 0 && d->hash == NULL)
		return -1;
	idchain_insert(d->hash, d->hmask, ev);
	d->hcount++;
	return 0;
}

static struct qevent *
hash_get(const struct dispatch *d, uint64_t id)
{
	if (d->hash == NULL)
		return NULL;
	return *idchain_find(d->hash, d->hmask, &id, sizeof id);
}

/* ev out, if it is in (out of memory, hash_put may have left it out). */
static void
hash_del(struct dispatch *d, struct qevent *ev)
{
	if (d->hash != NULL && idchain_remove(d->hash, d->hmask, ev))
		d->hcount--;
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

/*
 * ev's task's counts (tasks.h), or NULL: it names no task.  An event
 * without headers costs this one test.
 */
static inline struct task_row *
task_of(struct dispatch *d, const struct qevent *ev)
{
	if (ev->hlen == 0)
		return NULL;
	return tasks_row(&d->tasks, ev->hdr, ev->hlen,
	    d->policy->max_task_stats);
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
	struct task_row	*tr;

	/* A stage's dead letters are its origin's: it gets them back. */
	if (ev->origin != 0 && d->done != NULL && !d->hand_back) {
		dispatch_finish(d, ev, PS_NACK, 0);
		dispatch_changed(d, DISPATCH_GONE, ev);
		queue_release(&d->queue, ev);
		return;
	}
	/* A cluster's are kept there, where every host lists them. */
	if (ev->origin != 0 && d->hand_back) {
		ev->reason = reason;
		dispatch_finish(d, ev, PS_NACK, 0);
		if ((tr = task_of(d, ev)) != NULL)
			tr->dead++;
		dispatch_changed(d, DISPATCH_GONE, ev);
		queue_release(&d->queue, ev);
		d->counts.dead_total++;
		return;
	}
	/* Out of memory, it keeps its chunk: still listed, just heavier. */
	(void)queue_own(&d->queue, ev);
	ev->reason = reason;
	dispatch_changed(d, DISPATCH_BURIED, ev);
	/* Without a hash entry it cannot be retried by id, but is listed. */
	(void)hash_put(d, ev);
	TAILQ_INSERT_TAIL(&d->dead, ev, entry);
	d->ndead++;
	d->counts.dead_total++;
	if ((tr = task_of(d, ev)) != NULL)
		tr->dead++;
}

/*
 * ev, cancelled in flight, is answered (or timed out, or its consumer
 * went): it is done with.  Its end was journaled, and its origin told,
 * when it was cancelled (dispatch_cancel); it is not sent again.
 */
static void
cancel_end(struct dispatch *d, struct qevent *ev)
{
	key_done(d, ev);
	queue_release(&d->queue, ev);
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
 * or with DISPATCH_BACKOFF the queue's retry backoff (none: at once).
 */
static uint32_t
retry_wait(struct dispatch *d, const struct qevent *ev, uint32_t wait)
{
	if (wait != DISPATCH_BACKOFF)
		return wait;
	if (d->sched == NULL || d->sched->backoff_base == 0)
		return 0;
	return sched_backoff(d->sched, ev->attempts);
}

/* d's clock state, made if it has none; NULL out of memory. */
struct sched *
dispatch_sched_get(struct dispatch *d)
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

/* ev is held back until its time; -1 no memory (it goes at once). */
static int
hold_back(struct dispatch *d, struct qevent *ev, uint32_t wait)
{
	if (dispatch_sched_get(d) == NULL)
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
		if (evs[i]->cancelled) {
			cancel_end(d, evs[i]);
			continue;
		}
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
			dispatch_finish(d, evs[i], PS_NACK_LATER, ms);
			dispatch_changed(d, DISPATCH_GONE, evs[i]);
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
		ev->born = *d->clock;	/* ready again: latency from now */
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
struct qevent *
dispatch_parts_shed(struct dispatch *d)
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

	while ((ev = dispatch_parts_shed(d)) != NULL)
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
	while ((ev = dispatch_parts_shed(d)) != NULL)
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
	if ((s = dispatch_sched_get(d)) == NULL)
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
		    ev->keyed ? ev->klen : -1, delayed_hdr(ev), ev->hlen,
		    ev->data, ev->len) != 0)
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
    uint16_t prio, const void *key, int klen, const void *hdr, uint16_t hlen,
    const void *data, uint32_t len)
{
	if (push_at(d, id, attempts, 0, prio, key, klen, hdr, hlen, data,
	    len) != 0)
		return -1;
	if (id >= *d->ids)
		*d->ids = id + 1;
	return 0;
}

/* A pending event not due before due (wall ms), read back; -1 no memory. */
int
dispatch_restore_delayed(struct dispatch *d, uint64_t id, uint64_t due,
    uint16_t prio, const void *key, int klen, const void *hdr, uint16_t hlen,
    const void *data, uint32_t len)
{
	struct dispatch	*g;

	if (dispatch_sched_get(d) == NULL || delays_add(&d->sched->delays, due,
	    id, prio, key, klen, hdr, hlen, data, len) != 0)
		return -1;
	for (g = d; g != NULL; g = g->next_group)
		g->delayed++;
	if (id >= *d->ids)
		*d->ids = id + 1;
	return 0;
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

	if ((u = dispatch_uniq_get(d)) == NULL)
		return -1;
	return uniq_add(u, uid, len, id, refs, expires);
}

/*
 * The failures of id read back from the journal (n of them, oldest
 * first): onto its dead letter, or kept until its event is read from the
 * buffer.  -1 out of memory.
 */
int
dispatch_restore_failures(struct dispatch *d, uint64_t id,
    const struct dfailure *f, uint8_t n)
{
	struct qevent	*ev, h;
	uint8_t		 i;

	if (n == 0)
		return 0;
	if ((ev = hash_get(d, id)) == NULL) {
		memset(&h, 0, sizeof h);
		ev = &h;
	}
	for (i = 0; i < n; i++) {
		if (queue_fail(&d->queue, ev, f[i].at, f[i].attempt, f[i].who,
		    f[i].wlen, f[i].err, f[i].elen) != 0)
			goto fail;
	}
	if (ev != &h)
		return 0;
	if (d->refail == NULL) {
		if ((d->refail = malloc(sizeof *d->refail)) == NULL)
			goto fail;
		idmap_init(d->refail);
	}
	if (idmap_put(d->refail, id, (uint64_t)(uintptr_t)h.fail) != 0)
		goto fail;
	return 0;
fail:
	if (ev == &h)
		queue_fail_free(&d->queue, h.fail);
	return -1;
}

/* The failures read back for id, not yet on its handle; NULL: none. */
static struct qfail *
refail_of(const struct dispatch *d, uint64_t id)
{
	uint64_t	 v;

	return idmap_get(d->refail, id, &v) ? (struct qfail *)(uintptr_t)v :
	    NULL;
}

/* The failures read back for events never read from the buffer go. */
static void
refail_free(struct dispatch *d)
{
	uint64_t	 i;

	if (d->refail == NULL)
		return;
	for (i = 0; d->refail->slots != NULL && i <= d->refail->mask; i++) {
		if (d->refail->slots[i].id != 0)
			queue_fail_free(&d->queue, (struct qfail *)(uintptr_t)
			    d->refail->slots[i].value);
	}
	idmap_free(d->refail);
	free(d->refail);
	d->refail = NULL;
}

/* A dead letter read back from the journal; -1 out of memory. */
int
dispatch_restore_dead(struct dispatch *d, uint64_t id, uint32_t attempts,
    uint8_t reason, const void *key, int klen, const void *hdr, uint16_t hlen,
    const void *data, uint32_t len)
{
	struct qevent	*ev;

	if ((ev = queue_copy(&d->queue, id, attempts, key, klen, hdr, hlen,
	    data, len)) == NULL)
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
	struct task_row	*tr;
	int		 keyed = d->mode == DISPATCH_KEY && ev->key != NULL;

	ev->attempts++;
	ev->sent = *d->clock;
	if (ev->attempts == 1 && ev->born != 0 && ev->born <= ev->sent)
		hist_add(&d->waited, ev->sent - ev->born);
	else if (ev->attempts > 1 && (tr = task_of(d, ev)) != NULL)
		tr->retried++;
	d->emit(d->arg, dc, ev);
	/*
	 * Without acks (or memory to follow it) it is done with now; in key
	 * mode the next of its key may go then.
	 */
	if (!dc->acks || (keyed && keys_take(&d->keys, ev) != 0) ||
	    hash_put(d, ev) != 0) {
		key_done(d, ev);
		dispatch_finish(d, ev, PS_ACK, 0);
		dispatch_changed(d, DISPATCH_GONE, ev);
		queue_release(&d->queue, ev);
		return;
	}
	dispatch_changed(d, DISPATCH_SENT, ev);
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

/*
 * The age in ms of the oldest event ready to go: buffered, or set aside
 * for a consumer of its partition (an event waiting behind its key is
 * not ready).  0: none.
 */
uint64_t
dispatch_latency(const struct dispatch *d)
{
	const struct qevent	*ev;
	uint64_t		 t, now = *d->clock;

	if (!queue_oldest(&d->queue, &t))
		t = UINT64_MAX;
	if ((ev = TAILQ_FIRST(&d->aside)) != NULL && ev->born < t)
		t = ev->born;
	return t != UINT64_MAX && t != 0 && t < now ? now - t : 0;
}

#define wall_of	dispatch_wall_of

/*
 * Where event id is in d, with what it carries: in flight or dead (the
 * id table), held to retry, delayed (the lead's), behind its key, set
 * aside for its partition, or buffered.  0 (DJOB_UNKNOWN) if d has it
 * nowhere.  The id table answers at once; the rest are looked through.
 */
int
dispatch_find(const struct dispatch *d, uint64_t id, struct djob *j)
{
	const struct delays	*ds;
	const struct delayed	*dv;
	const struct qevent	*ev;
	uint64_t		 v;
	size_t			 i;

	memset(j, 0, sizeof *j);
	if ((ev = hash_get((struct dispatch *)d, id)) != NULL) {
		j->ev = *ev;
		if (ev->owner != NULL) {
			j->state = ev->cancelled ? DJOB_CANCELLED :
			    DJOB_IN_FLIGHT;
			j->owner = ev->owner;
			j->at = wall_of(d, ev->sent);
		} else
			j->state = DJOB_DEAD;
		return j->state;
	}
	for (i = 0; d->sched != NULL && i < d->sched->nlater; i++) {
		if (d->sched->later[i].ev->id == id) {
			j->ev = *d->sched->later[i].ev;
			j->state = DJOB_RETRY_WAIT;
			j->at = wall_of(d, d->sched->later[i].due);
			return j->state;
		}
	}
	ds = delays_of((struct dispatch *)d);
	for (i = 0; ds != NULL && i < ds->n; i++) {
		dv = ds->v[i];
		if (dv->id != id || d->from > id)
			continue;
		delayed_handle(dv, &j->ev);
		j->state = DJOB_DELAYED;
		j->at = dv->due;
		return j->state;
	}
	TAILQ_FOREACH(ev, &d->keys.order, tentry) {
		if (ev->id == id) {
			j->ev = *ev;
			j->state = DJOB_KEY_WAIT;
			return j->state;
		}
	}
	TAILQ_FOREACH(ev, &d->aside, tentry) {
		if (ev->id == id) {
			j->ev = *ev;
			j->state = DJOB_PART_WAIT;
			j->at = wall_of(d, ev->born);
			return j->state;
		}
	}
	if (queue_find(&d->queue, id, &j->ev)) {
		/* Read back at a start: the log's, but this group's? */
		if (d->restored != NULL && idmap_get(d->restored, id, &v)) {
			if (v == 0)
				return j->state;	/* done with here */
			j->ev.attempts = (uint32_t)(v - 1);
		}
		j->state = DJOB_QUEUED;
		j->at = wall_of(d, j->ev.born);
		/* Its failures, read back at a start, wait for it. */
		if (j->ev.fail == NULL && d->refail != NULL)
			j->ev.fail = refail_of(d, id);
	} else if ((j->done = kept_find(&d->kept, id)) != NULL) {
		j->state = DJOB_DONE;
		j->ev.id = id;
		j->ev.prio = QUEUE_PRIO_DEFAULT;
		j->ev.attempts = j->done->attempts;
		j->at = j->done->at;
	}
	return j->state;
}

/*
 * ev, waiting in d, is cancelled: the journal hears it is done with, its
 * origin (a stage's upstream) that it is finished, and its unique id is
 * free at once, not after the queue's window.
 */
static void
cancel_gone(struct dispatch *d, struct qevent *ev)
{
	struct dispatch_end	 e;

	dispatch_finish(d, ev, PS_ACK, 0);
	if (d->change != NULL)
		d->change(d->change_arg, DISPATCH_GONE, ev);
	if (d->lead->sched != NULL && d->lead->sched->uniq != NULL)
		uniq_gone(d->lead->sched->uniq, ev->id, *d->wall, 0);
	d->counts.cancelled_total++;
	if (d->nwaits != 0) {
		memset(&e, 0, sizeof e);
		e.id = ev->id;
		e.state = ev->cancelled ? DJOB_CANCELLED : DJOB_ENDED;
		e.attempts = ev->attempts;
		e.at = *d->wall;
		d->end(d->end_arg, d, &e);
	}
}

/*
 * Cancel event id in d (JOB_CANCEL, docs/jobs.md).  Waiting (buffered,
 * behind its key, for its partition, or to retry), it is gone.  In
 * flight, it is marked and journaled as done with, *told is its consumer
 * (the caller tells it), and its answer, a timeout or its consumer
 * going ends it, never sent again.  The state it was in (enum
 * djob_state); DJOB_DEAD, DJOB_CANCELLED, DJOB_UNKNOWN and DJOB_DELAYED
 * change nothing here (the queue's delayed events are
 * dispatch_cancel_delayed's).  -1 out of memory, nothing changed.
 */
int
dispatch_cancel(struct dispatch *d, uint64_t id, struct dconsumer **told)
{
	struct qevent	*ev, h;
	struct djob	 j;
	uint64_t	 v;

	*told = NULL;
	if ((ev = hash_get(d, id)) != NULL) {
		if (ev->owner == NULL)
			return DJOB_DEAD;
		if (ev->cancelled)
			return DJOB_CANCELLED;
		ev->cancelled = 1;
		*told = ev->owner;
		cancel_gone(d, ev);
		return DJOB_IN_FLIGHT;
	}
	if (d->sched != NULL && (ev = sched_remove(d->sched, id)) != NULL) {
		d->delayed--;
		key_done(d, ev);	/* it kept its key busy */
		cancel_gone(d, ev);
		queue_release(&d->queue, ev);
		return DJOB_RETRY_WAIT;
	}
	TAILQ_FOREACH(ev, &d->keys.order, tentry) {
		if (ev->id == id) {
			keys_remove(&d->keys, ev);
			cancel_gone(d, ev);
			queue_release(&d->queue, ev);
			return DJOB_KEY_WAIT;
		}
	}
	TAILQ_FOREACH(ev, &d->aside, tentry) {
		if (ev->id == id) {
			unset_aside(d, part_of(d, ev), ev);
			cancel_gone(d, ev);
			queue_release(&d->queue, ev);
			return DJOB_PART_WAIT;
		}
	}
	if (!queue_find(&d->queue, id, &h) || (d->restored != NULL &&
	    idmap_get(d->restored, id, &v) && v == 0)) {
		/* Delayed, or nowhere. */
		return dispatch_find(d, id, &j) == DJOB_DELAYED ? DJOB_DELAYED :
		    DJOB_UNKNOWN;
	}
	/* Buffered: skipped when it is read, as another group's is. */
	if (dispatch_mark(d, id, 0) != 0)
		return -1;
	d->queue.count--;
	d->queue.bytes -= h.len;
	cancel_gone(d, &h);
	return DJOB_QUEUED;
}

/*
 * Cancel the queue's delayed event id, which d (the lead) holds for every
 * group: gone from each that was to get it.  1 if it was delayed, else 0.
 */
int
dispatch_cancel_delayed(struct dispatch *d, uint64_t id)
{
	struct delays	*ds = delays_of(d);
	struct delayed	*dv;
	struct dispatch	*g;
	struct qevent	 ev;

	if (ds == NULL || (dv = delays_remove(ds, id)) == NULL)
		return 0;
	delayed_handle(dv, &ev);
	for (g = d; g != NULL; g = g->next_group) {
		if (g->from > dv->id)
			continue;
		g->delayed--;
		cancel_gone(g, &ev);
	}
	free(dv);
	return 1;
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
 * ev failed on dc, saying err (elen bytes): kept with it, and the journal
 * told.  Out of memory it is not kept; the event goes on as ever.
 */
static void
failed(struct dispatch *d, struct dconsumer *dc, struct qevent *ev,
    const void *err, size_t elen)
{
	if (queue_fail(&d->queue, ev, *d->wall, ev->attempts, dc->name,
	    dc->nlen, err, elen) == 0)
		dispatch_changed(d, DISPATCH_FAILED, ev);
}

/*
 * keep-done: acked ev's record is kept with its result (len bytes), and
 * journaled.  Out of memory, or larger than keep-done-bytes, it is not.
 */
static void
keep(struct dispatch *d, const struct qevent *ev, const void *result,
    uint32_t len)
{
	struct dispatch_kept	 dk;

	memset(&dk, 0, sizeof dk);
	if (kept_add(&d->kept, ev->id, *d->wall, ev->attempts, result, len,
	    d->policy->keep_done_bytes, &dk.k) != 0)
		return;
	dk.ev.id = ev->id;
	if (d->change != NULL)
		d->change(d->change_arg, DISPATCH_KEPT, &dk.ev);
}

/*
 * Those waiting for ev (WAIT) hear of its end: BURIED, dead with its last
 * error; GONE, done with its result while an ACK is told, else gone.
 */
void
dispatch_ended(struct dispatch *d, enum dispatch_change what,
    const struct qevent *ev)
{
	struct dispatch_end	 e;
	const struct qfailure	*f;
	int			 i;

	memset(&e, 0, sizeof e);
	e.id = ev->id;
	e.attempts = ev->attempts;
	e.at = *d->wall;
	if (what == DISPATCH_BURIED) {
		e.state = DJOB_DEAD;
		e.reason = ev->reason;
		for (i = ev->fail != NULL ? ev->fail->n - 1 : -1; i >= 0; i--) {
			f = &ev->fail->f[i];
			if (f->elen != 0) {
				e.data = f->bytes + f->wlen;
				e.len = f->elen;
				break;
			}
		}
	} else if (d->acking) {
		e.state = DJOB_DONE;
		e.data = d->result;
		e.len = d->rlen;
	}
	d->end(d->end_arg, d, &e);
}

/*
 * A consumer's ACK, NACK or TOUCH (what: PS_ACK, PS_NACK, PS_TOUCH; a
 * NACK_ERROR is PS_NACK_ERROR) of one event.  ACK forgets it; NACK gives
 * it back for another delivery, after wait ms or the queue's backoff
 * (DISPATCH_BACKOFF), or to the dead list, its failure kept with its
 * error (err, elen bytes; may be none); TOUCH restarts its ack deadline.
 * A NACK_ERROR whose wait is DISPATCH_REJECT gives up at once: the event
 * is dead (PS_DEAD_REJECTED) whatever its attempts, its failure kept; a
 * NACK_LATER's wait is only ever a time.
 */
static int
answer(struct dispatch *d, struct dconsumer *dc, uint64_t id, int what,
    uint32_t wait, const void *err, size_t elen)
{
	struct qevent	*ev;
	struct task_row	*tr;
	int		 late;

	if ((ev = lookup(d, dc, id, &late)) == NULL)
		return late ? DISPATCH_LATE : DISPATCH_UNKNOWN;
	switch (what) {
	case PS_ACK:
		if (ev->sent <= *d->clock)
			hist_add(&d->handled, *d->clock - ev->sent);
		if ((tr = task_of(d, ev)) != NULL) {
			tr->done++;
			if (ev->sent <= *d->clock)
				tasks_handled(tr, *d->clock - ev->sent);
		}
		unfly(d, ev);
		d->counts.acked_total++;
		if (ev->cancelled) {
			cancel_end(d, ev);
			break;
		}
		key_done(d, ev);
		dispatch_finish(d, ev, PS_ACK, 0);
		d->acking = 1;
		d->result = err;
		d->rlen = (uint32_t)elen;
		dispatch_changed(d, DISPATCH_GONE, ev);
		d->acking = 0;
		if (d->policy->keep_done != 0)
			keep(d, ev, err, (uint32_t)elen);
		queue_release(&d->queue, ev);
		break;
	case PS_NACK:
	case PS_NACK_ERROR:
		unfly(d, ev);
		d->counts.nacked_total++;
		if ((tr = task_of(d, ev)) != NULL)
			tr->failed++;
		if (!ev->cancelled)
			failed(d, dc, ev, err, elen);
		if (what == PS_NACK_ERROR && wait == DISPATCH_REJECT &&
		    !ev->cancelled) {
			/* As give_back buries one past max_attempts. */
			key_done(d, ev);
			bury(d, ev, PS_DEAD_REJECTED);
			break;
		}
		give_back(d, &ev, 1, PS_DEAD_NACK, wait);
		break;
	default:
		if (ev->deadline != 0) {
			TAILQ_REMOVE(&d->deadlines, ev, tentry);
			ev->deadline = *d->clock + d->policy->ack_timeout;
			TAILQ_INSERT_TAIL(&d->deadlines, ev, tentry);
		}
		if (d->hand_back)
			dispatch_finish(d, ev, PS_TOUCH, 0);
		return DISPATCH_DONE;
	}
	requeue_consumer(d, dc);
	return DISPATCH_DONE;
}

int
dispatch_answer(struct dispatch *d, struct dconsumer *dc, uint64_t id,
    int what)
{
	return answer(d, dc, id, what, DISPATCH_BACKOFF, NULL, 0);
}

/* An ACK with the event's result (len bytes: the caller checked them). */
int
dispatch_ack_result(struct dispatch *d, struct dconsumer *dc, uint64_t id,
    const void *result, uint32_t len)
{
	return answer(d, dc, id, PS_ACK, 0, result, len);
}

/* A NACK that says when: again after wait ms (0: at once, no backoff). */
int
dispatch_nack_later(struct dispatch *d, struct dconsumer *dc, uint64_t id,
    uint32_t wait)
{
	return answer(d, dc, id, PS_NACK, wait, NULL, 0);
}

/*
 * A NACK with the error the consumer saw (elen bytes), again after wait
 * ms, or the queue's backoff with DISPATCH_BACKOFF, or never: dead at
 * once with DISPATCH_REJECT.
 */
int
dispatch_nack_error(struct dispatch *d, struct dconsumer *dc, uint64_t id,
    uint32_t wait, const void *err, size_t elen)
{
	return answer(d, dc, id, PS_NACK_ERROR, wait, err, elen);
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
	struct task_row		*tr;
	size_t			 n = 0, due = 0, n_timeout;
	char			 timeout[64];

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
		if ((tr = task_of(d, ev)) != NULL)
			tr->failed++;
		n_timeout = (size_t)snprintf(timeout, sizeof timeout, "no ACK "
		    "within the ack timeout (%u ms)", d->policy->ack_timeout);
		if (!ev->cancelled)
			failed(d, dc, ev, timeout, n_timeout);
		if (evs != NULL)
			evs[n++] = ev;
		else
			give_back(d, &ev, 1, PS_DEAD_TIMEOUT, DISPATCH_BACKOFF);
	}
	if (n != 0)
		give_back(d, evs, n, PS_DEAD_TIMEOUT, DISPATCH_BACKOFF);
	/* Done events' records past keep-done (all, set to 0) go. */
	if (d->kept.n != 0)
		(void)kept_expire(&d->kept, d->policy->keep_done == 0 ?
		    UINT64_MAX : *d->wall > d->policy->keep_done ?
		    *d->wall - d->policy->keep_done : 0);
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
	/* The oldest done event's record to let go (wall-clock time). */
	if (kept_next(&d->kept, &t)) {
		t += d->policy->keep_done;
		t = t > *d->wall ? *d->clock + (t - *d->wall) : *d->clock;
		if (t < next)
			next = t;
	}
	if (next == UINT64_MAX)
		return 0;
	*when = next;
	return 1;
}

/* keys_free's way to drop an event waiting behind its key (a purge). */
static void
drop(void *arg, struct qevent *ev)
{
	struct dispatch	*d = arg;

	dispatch_finish(d, ev, PS_ACK, 0);
	dispatch_changed(d, DISPATCH_GONE, ev);
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
				dispatch_changed(d, DISPATCH_GONE, &ev);
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
			dispatch_changed(g, DISPATCH_GONE, &ev);
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
	    ev->klen : -1, ev->hdr, ev->hlen, ev->data, ev->len) != 0)
		return -1;
	for (g = d->lead; g != NULL; g = g->next_group) {
		if (g != d) {
			g->queue.count--;
			g->queue.bytes -= ev->len;
		}
	}
	dispatch_changed(d, DISPATCH_REVIVED, ev);
	unbury(d, ev);
	queue_release(&d->queue, ev);
	return 0;
}

void
dispatch_dead_drop(struct dispatch *d, struct qevent *ev)
{
	dispatch_changed(d, DISPATCH_GONE, ev);
	unbury(d, ev);
	queue_release(&d->queue, ev);
}

/* queue_walk's visitor, passed on with no due time. */
struct walk {
	dispatch_walk_fn	 fn;
	void			*arg;
	const struct dispatch	*d;
};

/* One buffered event, with its failures read back if they wait. */
static void
walk_one(void *arg, const struct qevent *ev)
{
	struct walk	*w = arg;
	struct qevent	 h;
	uint64_t	 v;

	/* Not this group's (a dead letter retried in another, cancelled). */
	if (w->d->restored != NULL && idmap_get(w->d->restored, ev->id, &v) &&
	    v == 0)
		return;
	if (ev->fail == NULL && w->d->refail != NULL &&
	    (h.fail = refail_of(w->d, ev->id)) != NULL) {
		struct qfail	*f = h.fail;

		h = *ev;
		h.fail = f;
		ev = &h;
	}
	w->fn(w->arg, ev, 0);
}

/*
 * Every event d holds, each once, for the journal's compaction: its
 * buffer, those waiting behind a key or for a partition, those held back,
 * in flight and dead (the id hash), and, d leading, the queue's delayed
 * events.  Not one cancelled in flight: the journal has its end already
 * (dispatch_cancel), and a copy written after it would bring it back on
 * replay.  Nothing changes.
 */
void
dispatch_walk(const struct dispatch *d, dispatch_walk_fn fn, void *arg)
{
	struct walk	 w = { fn, arg, d };
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
		for (ev = d->hash[i]; ev != NULL; ev = ev->hnext) {
			if (!ev->cancelled)
				fn(arg, ev, 0);
		}
	}
	if (d != d->lead || d->sched == NULL)
		return;
	for (i = 0; i < d->sched->delays.n; i++) {
		dv = d->sched->delays.v[i];
		delayed_handle(dv, &h);
		fn(arg, &h, dv->due);
	}
}
