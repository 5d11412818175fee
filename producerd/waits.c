/*
 * waits.c: clients waiting for an event's end (WAIT, docs/jobs.md).  A
 * WAIT whose event has not ended goes on its group's list and the client
 * is not read meanwhile (HOLD_WAIT), so that its answers keep their
 * order.  The group's dispatcher says when one of its events ends (done,
 * dead, cancelled, or gone), and the wait is answered then; else its
 * timer answers it with where the event is.  Either way the client is
 * read again from the event loop, never from inside the dispatcher.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "clock.h"
#include "producerd.h"

struct wait {
	TAILQ_ENTRY(wait)	 entry;		/* its group's, until answered */
	struct conn		*c;
	struct qgroup		*g;		/* NULL once answered */
	uint64_t		 id;
	struct event		*timer;		/* its timeout, or the answer's
						   wake-up */
};

/* The answer to c: a WAIT_REPLY of r, its data cut to fit a frame. */
static void
reply(struct conn *c, struct ps_wait_reply *r)
{
	size_t	 room = c->srv->max_frame + PS_FRAME_OVER - 28;

	if (r->len > room)
		r->len = (uint32_t)room;
	conn_waited(c, r);
}

/* Where w's event is now, as a WAIT_REPLY: an end, or (timed out) not. */
static void
reply_now(struct wait *w, int timed_out)
{
	struct ps_wait_reply	 r;
	struct djob		 j;
	const struct qfailure	*f;
	int			 i;

	memset(&r, 0, sizeof r);
	if (dispatch_find(&w->g->d, w->id, &j) != DJOB_UNKNOWN) {
		r.id = w->id;
		r.state = (uint8_t)j.state;
		r.attempts = j.ev.attempts;
		r.at = j.at;
		r.timed_out = (uint8_t)timed_out;
	}
	if (j.state == DJOB_DONE) {
		r.data = j.done->result;
		r.len = j.done->len;
	} else if (j.state == DJOB_DEAD) {
		r.reason = j.ev.reason;
		for (i = j.ev.fail != NULL ? j.ev.fail->n - 1 : -1; i >= 0;
		    i--) {
			f = &j.ev.fail->f[i];
			if (f->elen != 0) {
				r.data = (const uint8_t *)f->bytes + f->wlen;
				r.len = f->elen;
				break;
			}
		}
	}
	reply(w->c, &r);
}

static void
unlist(struct wait *w)
{
	if (w->g == NULL)
		return;
	TAILQ_REMOVE(&w->g->waits, w, entry);
	w->g->d.nwaits--;
	w->g = NULL;
}

static void
wait_free(struct wait *w)
{
	unlist(w);
	if (w->timer != NULL)
		event_free(w->timer);
	w->c->wait = NULL;
	free(w);
}

/* The timeout, or the wake-up after an answer: the client is read again. */
static void
wait_cb(evutil_socket_t fd, short what, void *arg)
{
	struct wait	*w = arg;
	struct conn	*c = w->c;

	(void)fd;
	(void)what;
	if (w->g != NULL)
		reply_now(w, 1);
	wait_free(w);
	conn_release(c, HOLD_WAIT);
}

/* Is an event in state st at an end a WAIT answers at once? */
static int
ended(int st)
{
	return st == DJOB_UNKNOWN || st == DJOB_DEAD || st == DJOB_DONE ||
	    st == DJOB_CANCELLED;
}

/*
 * A WAIT of c for event id of group g, timeout_ms at most (0: answer
 * now; UINT32_MAX: none): answered at once if the event has ended (or is
 * unknown), else c waits.  -1 out of memory (c is answered as if timed
 * out).
 */
int
waits_add(struct server *srv, struct conn *c, struct qgroup *g, uint64_t id,
    uint32_t timeout_ms)
{
	struct wait	 now = { .c = c, .g = g, .id = id };
	struct wait	*w;
	struct djob	 j;
	struct timeval	 tv;

	int		 st = dispatch_find(&g->d, id, &j);

	if (timeout_ms == 0 || ended(st)) {
		reply_now(&now, !ended(st));
		return 0;
	}
	if ((w = calloc(1, sizeof *w)) == NULL ||
	    (w->timer = evtimer_new(srv->base, wait_cb, w)) == NULL) {
		free(w);
		reply_now(&now, 1);
		return -1;
	}
	w->c = c;
	w->g = g;
	w->id = id;
	if (timeout_ms != UINT32_MAX)
		evtimer_add(w->timer, ms_timeval(timeout_ms, &tv));
	TAILQ_INSERT_TAIL(&g->waits, w, entry);
	g->d.nwaits++;
	c->wait = w;
	conn_hold(c, HOLD_WAIT);
	return 0;
}

/*
 * The dispatcher's end callback (arg: the group): those waiting for the
 * event are answered with its end, and read again from the loop.
 */
void
waits_end(void *arg, struct dispatch *d, const struct dispatch_end *e)
{
	struct qgroup		*g = arg;
	struct wait		*w, *next;
	struct ps_wait_reply	 r;

	(void)d;
	for (w = TAILQ_FIRST(&g->waits); w != NULL; w = next) {
		next = TAILQ_NEXT(w, entry);
		if (w->id != e->id)
			continue;
		memset(&r, 0, sizeof r);
		if (e->state != 0) {
			r.id = e->id;
			r.state = e->state;
			r.reason = e->reason;
			r.at = e->at;
			r.attempts = e->attempts;
			r.data = e->data;
			r.len = e->len;
		}
		reply(w->c, &r);
		unlist(w);
		event_active(w->timer, EV_TIMEOUT, 0);
	}
}

/* Group g goes (dropped, its queue deleted): its waits end, unknown. */
void
waits_group_gone(struct qgroup *g)
{
	struct dispatch_end	 e;
	struct wait		*w;

	while ((w = TAILQ_FIRST(&g->waits)) != NULL) {
		memset(&e, 0, sizeof e);
		e.id = w->id;
		waits_end(g, &g->d, &e);
	}
}

/* c goes: its wait, if any, with it. */
void
waits_forget(struct conn *c)
{
	if (c->wait != NULL)
		wait_free(c->wait);
}
