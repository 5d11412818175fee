/*
 * browse.c: a group's events in one state, a page at a time (JOBS,
 * docs/jobs.md): those of ids over a cursor, the lowest first, that match
 * a filter (a key, or a header's value).  Plain C with no I/O, part of
 * the dispatch core.  A page keeps the limit lowest ids in a heap by id
 * as it looks, so that a buffer of millions is read only past the chunks
 * whose ids cannot be on the page.
 */
#include <stdlib.h>
#include <string.h>

#include "dcore.h"
#include "idmap.h"

struct page {
	const struct dispatch	*d;
	const struct dlist_ask	*a;
	struct djob		*out;	/* a heap, highest id first */
	uint32_t		 n;
	uint64_t		 bound;	/* ids at or over it cannot be on
					   the page: its highest, once full */
};

static int
higher(const struct djob *x, const struct djob *y)
{
	return x->ev.id > y->ev.id;
}

/* Does ev match the ask's filter (its key, or a header's value)? */
static int
matches(const struct dlist_ask *a, const struct qevent *ev)
{
	struct ps_header	 h;
	uint16_t		 off = 0;

	if (a->klen >= 0)
		return ev->key != NULL && ev->klen == a->klen &&
		    memcmp(ev->key, a->key, (size_t)a->klen) == 0;
	if (a->hname == NULL)
		return 1;
	while (ps_header_next(ev->hdr, ev->hlen, &off, &h)) {
		if (h.nlen == a->hnlen && memcmp(h.name, a->hname,
		    a->hnlen) == 0 && h.vlen == a->hvlen &&
		    memcmp(h.value, a->hval, a->hvlen) == 0)
			return 1;
	}
	return 0;
}

/* One event in state st (at: wall ms) for the page, if it is low enough. */
static void
offer(struct page *pg, const struct qevent *ev, enum djob_state st,
    uint64_t at)
{
	struct djob	 j, *v = pg->out;
	uint32_t	 i, c;

	if (ev->id <= pg->a->after || ev->id >= pg->bound ||
	    !matches(pg->a, ev))
		return;
	memset(&j, 0, sizeof j);
	j.state = st;
	j.ev = *ev;
	j.at = at;
	j.owner = ev->owner;
	if (pg->n < pg->a->limit) {
		/* Up the heap. */
		for (i = pg->n++; i > 0 && higher(&j, &v[(i - 1) / 2]);
		    i = (i - 1) / 2)
			v[i] = v[(i - 1) / 2];
		v[i] = j;
	} else {
		/* In place of the highest, down the heap. */
		for (i = 0; (c = 2 * i + 1) < pg->n; i = c) {
			if (c + 1 < pg->n && higher(&v[c + 1], &v[c]))
				c++;
			if (!higher(&v[c], &j))
				break;
			v[i] = v[c];
		}
		v[i] = j;
	}
	if (pg->n == pg->a->limit)
		pg->bound = v[0].ev.id;
}

static void
buffered(void *arg, const struct qevent *ev)
{
	struct page	*pg = arg;
	uint64_t	 v;

	/* Not this group's (cancelled, or a dead letter retried elsewhere). */
	if (pg->d->restored != NULL && idmap_get(pg->d->restored, ev->id,
	    &v) && v == 0)
		return;
	offer(pg, ev, DJOB_QUEUED, dispatch_wall_of(pg->d, ev->born));
}

static int
by_id(const void *x, const void *y)
{
	uint64_t	 a = ((const struct djob *)x)->ev.id;
	uint64_t	 b = ((const struct djob *)y)->ev.id;

	return a < b ? -1 : a > b;
}

/*
 * The page a asks of d into out (room for a->limit), lowest id first:
 * how many; *more is 1 when the page is full (the next may be empty).
 * The buffer's events are read in place: valid until d changes.
 */
uint32_t
dispatch_list(const struct dispatch *d, const struct dlist_ask *a,
    struct djob *out, int *more)
{
	struct page		 pg = { d, a, out, 0, UINT64_MAX };
	const struct delays	*ds;
	const struct delayed	*dv;
	const struct qevent	*ev;
	const struct kdone	*k;
	struct qevent		 h;
	uint64_t		 i;

	switch (a->state) {
	case DJOB_QUEUED:
		queue_list(&d->queue, a->after, &pg.bound, buffered, &pg);
		TAILQ_FOREACH(ev, &d->keys.order, tentry)
			offer(&pg, ev, DJOB_KEY_WAIT, 0);
		TAILQ_FOREACH(ev, &d->aside, tentry)
			offer(&pg, ev, DJOB_PART_WAIT,
			    dispatch_wall_of(d, ev->born));
		break;
	case DJOB_DELAYED:
		ds = delays_of(d);
		for (i = 0; ds != NULL && i < ds->n; i++) {
			dv = ds->v[i];
			if (dv->id < d->from)
				continue;
			delayed_handle(dv, &h);
			offer(&pg, &h, DJOB_DELAYED, dv->due);
		}
		break;
	case DJOB_IN_FLIGHT:
		for (i = 0; d->hash != NULL && i <= d->hmask; i++) {
			for (ev = d->hash[i]; ev != NULL; ev = ev->hnext)
				if (ev->owner != NULL)
					offer(&pg, ev, ev->cancelled ?
					    DJOB_CANCELLED : DJOB_IN_FLIGHT,
					    dispatch_wall_of(d, ev->sent));
		}
		break;
	case DJOB_RETRY_WAIT:
		for (i = 0; d->sched != NULL && i < d->sched->nlater; i++)
			offer(&pg, d->sched->later[i].ev, DJOB_RETRY_WAIT,
			    dispatch_wall_of(d, d->sched->later[i].due));
		break;
	case DJOB_DEAD:
		TAILQ_FOREACH(ev, &d->dead, entry)
			offer(&pg, ev, DJOB_DEAD, 0);
		break;
	case DJOB_DONE:
		for (k = kept_each(&d->kept, NULL); k != NULL;
		    k = kept_each(&d->kept, k)) {
			memset(&h, 0, sizeof h);
			h.id = k->id;
			h.attempts = k->attempts;
			h.len = k->len;
			h.data = k->result;
			h.prio = QUEUE_PRIO_DEFAULT;
			offer(&pg, &h, DJOB_DONE, k->at);
		}
		break;
	default:
		break;
	}
	if (pg.n > 1)
		qsort(out, pg.n, sizeof *out, by_id);
	*more = pg.n == a->limit;
	return pg.n;
}
