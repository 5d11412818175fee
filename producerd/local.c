/*
 * local.c: the events live on this host (backend.h).  A queue's events wait
 * in its dispatcher's buffer, journaled with --data-dir (server.c writes
 * what the dispatcher changes); an ENQUEUE is taken and answered at once,
 * or waits in its queue's line for room (--overflow block, --max-memory);
 * dead letters are the groups' own.  Everything answers at once, so
 * nothing is owed to a door that goes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "hash.h"
#include "producerd.h"

static void
local_nothing(void)
{
}

static int
local_check(const struct config *cfg, char *why, size_t len)
{
	(void)cfg;
	(void)why;
	(void)len;
	return 0;
}

static int
local_open(struct server *srv)
{
	(void)srv;
	return 0;
}

static void
local_server(struct server *srv)
{
	(void)srv;
}

static int
local_unserved(const struct qsettings *s, unsigned int set, char *why,
    size_t len)
{
	(void)s;
	(void)set;
	(void)why;
	(void)len;
	return 0;
}

static void
local_settings(struct server *srv, struct nqueue *q, unsigned int set)
{
	(void)srv;
	(void)q;
	(void)set;
}

static void
local_group(struct server *srv, struct qgroup *g)
{
	(void)srv;
	(void)g;
}

static int
local_drop_ok(struct server *srv, const struct qgroup *g, char *why,
    size_t len)
{
	(void)srv;
	(void)g;
	(void)why;
	(void)len;
	return 0;
}

static void
local_group_drop(struct server *srv, const struct qgroup *g)
{
	(void)srv;
	(void)g;
}

/*
 * dispatch.c applies the overflow policy; this says when the batch waits.
 * Behind clients already waiting for room it waits its turn, so that
 * batches go in the order they came and each keeps sequential ids.  With
 * the journal's disk full, or draining once begun, what is left of it is
 * refused.
 */
static int
local_enqueue(struct server *srv, struct enq *e)
{
	struct qgroup	*lead;
	int		 full, rc;

	full = srv->data_dir != NULL && srv->journal.full;
	if (full && e->r->accepted == 0) {
		e->code = PS_E_STORAGE;
		snprintf(e->why, sizeof e->why, "journal: no space left on "
		    "device in %s; events are refused until there is room "
		    "(consumers are still served)", srv->data_dir);
		return ENQ_FAILED;
	}
	if (!e->started) {
		if (!e->turn && !TAILQ_EMPTY(&e->q->blocked))
			return ENQ_WAIT;
		e->started = 1;
	}
	if ((lead = groups_lead(e->q)) == NULL) {
		e->code = PS_E_NOMEM;
		snprintf(e->why, sizeof e->why, "out of memory for queue %s's "
		    "shared group", e->q->name);
		return ENQ_FAILED;
	}
	if (srv->draining || full)
		dispatch_refuse(&lead->d, e->it, e->r);
	else if ((rc = dispatch_enqueue(&lead->d, e->it, e->r)) ==
	    DISPATCH_WAIT)
		return ENQ_WAIT;
	else if (rc == DISPATCH_NOMEM)
		log_warnx("%s: out of memory: %u events taken, %u refused",
		    e->door->who(e->arg), e->r->accepted, e->r->refused);
	return ENQ_ANSWERED;
}

/* Up to the limits and the frame limit, g's dead letters past a->after. */
static int
dead_list(struct server *srv, const struct dead_ask *a, struct qgroup *g,
    struct ps_buf *b, char *why, size_t len)
{
	const struct qevent	*ev;
	const struct qfailure	*f;
	struct ps_dead		 e;
	struct gpath		 gp;
	uint8_t			 i;
	uint32_t		 n = 0;
	size_t			 start;

	if (a->after == 0)
		ev = TAILQ_FIRST(&g->d.dead);
	else if ((ev = dispatch_dead_find(&g->d, a->after)) != NULL)
		ev = TAILQ_NEXT(ev, entry);
	else {
		snprintf(why, len, "after=%llu: no such dead letter of %s "
		    "now (retried or dropped): list from the start",
		    (unsigned long long)a->after, groups_path(g, &gp));
		return PS_E_NO_QUEUE;
	}
	if (ps_put_dead_begin(b, &start) != 0)
		goto nomem;
	for (; ev != NULL && n < a->limit; ev = TAILQ_NEXT(ev, entry)) {
		e.id = ev->id;
		e.attempts = ev->attempts;
		e.reason = ev->reason;
		e.len = ev->len;
		e.preview_len = (uint16_t)(ev->len < a->preview ? ev->len :
		    a->preview);
		e.preview = ev->data;
		/* Its last error (a failure may have none), as much as an
		 * entry shows. */
		e.error_len = 0;
		e.error = NULL;
		for (i = ev->fail != NULL ? ev->fail->n : 0; i-- > 0;) {
			f = &ev->fail->f[i];
			if (f->elen == 0)
				continue;
			e.error_len = f->elen < PS_DEAD_ERROR_MAX ? f->elen :
			    PS_DEAD_ERROR_MAX;
			e.error = (const uint8_t *)f->bytes + f->wlen;
			break;
		}
		if (b->len - start - PS_HDR_LEN + PS_DEAD_ENTRY +
		    e.preview_len + (a->version >= 5 ? 2u + e.error_len : 0) >
		    srv->max_frame)
			break;
		if (ps_put_dead(b, a->version, &e) != 0)
			goto nomem;
		n++;
	}
	ps_put_dead_end(b, start, (uint32_t)g->d.ndead, n);
	return ev != NULL ? -1 : 0;	/* -1: more follow */
nomem:
	snprintf(why, len, "no memory for the dead-letter list");
	return PS_E_NOMEM;
}

/* A group's dead letters listed, retried or dropped, answered at once. */
static int
local_dead(struct server *srv, const struct dead_ask *a, char *why,
    size_t len)
{
	struct admin	 adm = { .srv = srv, .who = a->who };
	struct qgroup	*g;
	struct ps_buf	 b = { 0 };
	struct gpath	 gp;
	char		 err[200];
	uint32_t	 done;
	int		 n, code;

	(void)why;
	(void)len;
	n = snprintf(gp.s, sizeof gp.s, "%s%s%s", a->queue, *a->group !=
	    '\0' ? "/" : "", a->group);
	if (n < 0 || (size_t)n >= sizeof gp.s) {
		a->tell(a->arg, PS_E_BAD_VALUE, "queue and group names too "
		    "long", NULL, 0);
		return 0;
	}
	if ((g = groups_resolve(srv, gp.s, (size_t)n, 0, &code, err,
	    sizeof err)) == NULL) {
		a->tell(a->arg, code, err, NULL, 0);
		return 0;
	}
	if (a->type == PS_DEAD_LIST) {
		if ((code = dead_list(srv, a, g, &b, err, sizeof err)) > 0)
			a->tell(a->arg, code, err, NULL, 0);
		else
			a->tell(a->arg, 0, NULL, &b, code != 0);
		ps_buf_free(&b);
	} else if (admin_dead(&adm, g, a->type == PS_DEAD_DROP, a->ids,
	    &done) != 0)
		a->tell(a->arg, adm.code, adm.why, NULL, 0);
	else
		a->tell(a->arg, 0, NULL, NULL, done);
	return 0;
}

static void
local_forget(struct server *srv, void *arg)
{
	(void)srv;
	(void)arg;
}

static void
local_cancel(struct server *srv, dead_tell *tell)
{
	(void)srv;
	(void)tell;
}

/* The bytes of j's JOB_REPLY body, but its preview and errors. */
static size_t
job_fixed(const struct ps_job *j, const struct ps_failure *f)
{
	size_t	 n;
	uint8_t	 i;

	n = 30 + 1 + (size_t)j->clen + 2 + (j->klen >= 0 ? 2 +
	    (size_t)j->klen : 0) + j->hlen + 1;
	for (i = 0; i < j->nfail; i++)
		n += PS_FAILURE_HEAD + f[i].wlen;
	return n;
}

/*
 * A JOB_REPLY fits in a body of at most body bytes: its preview is cut
 * first, then each error alike (an error keeps its end: a traceback's
 * last lines say most); if that is not enough (a small --max-frame, long
 * names), the failures' consumer ids, then the oldest failures, then the
 * consumer in flight go.  Its key and headers came in an ENQUEUE of the
 * same limit, and fit.
 */
static void
fit(struct ps_job *j, struct ps_failure *f, size_t body)
{
	size_t	 fixed, errs = 0, room, each;
	uint8_t	 i;

	while ((fixed = job_fixed(j, f)) >= body) {
		for (i = 0; i < j->nfail && f[i].wlen == 0; i++)
			continue;
		if (i < j->nfail) {
			for (i = 0; i < j->nfail; i++)
				f[i].wlen = 0;
		} else if (j->nfail != 0) {
			memmove(f, f + 1, (size_t)(j->nfail - 1) * sizeof *f);
			j->nfail--;
		} else if (j->clen != 0)
			j->clen = 0;
		else
			break;		/* cannot be: an ENQUEUE carried it */
	}
	if (fixed >= body) {
		j->preview_len = 0;
		for (i = 0; i < j->nfail; i++)
			f[i].elen = 0;
		return;
	}
	if (fixed + j->preview_len > body)
		j->preview_len = (uint16_t)(body - fixed);
	room = body - fixed - j->preview_len;
	for (i = 0; i < j->nfail; i++)
		errs += f[i].elen;
	if (errs <= room || j->nfail == 0)
		return;
	each = room / j->nfail;
	for (i = 0; i < j->nfail; i++) {
		if (f[i].elen > each) {
			f[i].err += f[i].elen - each;
			f[i].elen = (uint16_t)each;
		}
	}
}

/*
 * A JOB: where g's event is and what it carries, at once.  An id that is
 * neither here nor ever given is unknown (state 0); so is an event done.
 */
static int
local_job(struct server *srv, struct qgroup *g, const struct ps_job_ask *a,
    struct ps_buf *out, int *code, char *why, size_t len)
{
	struct ps_failure	 f[QFAIL_KEEP];
	struct ps_job		 j;
	struct djob		 dj;
	struct uniq		*u;
	uint64_t		 id = a->id;
	uint8_t			 i;

	if (id == 0 && (u = dispatch_uniq_of(&g->d)) != NULL)
		id = uniq_id(u, a->uid, a->ulen);
	memset(&j, 0, sizeof j);
	j.klen = -1;
	if (id != 0 && dispatch_find(&g->d, id, &dj) != DJOB_UNKNOWN) {
		j.id = id;
		j.state = (uint8_t)dj.state;
		j.reason = dj.ev.reason;
		j.attempts = dj.ev.attempts;
		j.at = dj.at;
		j.priority = dj.ev.prio;
		j.len = dj.ev.len;
		j.preview_len = (uint16_t)(dj.ev.len < a->preview ? dj.ev.len :
		    a->preview);
		j.preview = dj.ev.data;
		if (dj.owner != NULL) {
			j.consumer = dj.owner->name;
			j.clen = dj.owner->nlen;
		}
		if (dj.ev.key != NULL) {
			j.key = dj.ev.key;
			j.klen = dj.ev.klen;
		}
		j.hdr = dj.ev.hdr;
		j.hlen = dj.ev.hlen;
		for (i = 0; dj.ev.fail != NULL && i < dj.ev.fail->n; i++) {
			f[i].at = dj.ev.fail->f[i].at;
			f[i].attempt = dj.ev.fail->f[i].attempt;
			f[i].who = dj.ev.fail->f[i].bytes;
			f[i].wlen = dj.ev.fail->f[i].wlen;
			f[i].err = (const uint8_t *)dj.ev.fail->f[i].bytes +
			    f[i].wlen;
			f[i].elen = dj.ev.fail->f[i].elen;
		}
		j.nfail = i;
		j.fails = f;
		fit(&j, f, srv->max_frame + PS_FRAME_OVER);
		if (dj.state == DJOB_DONE) {
			/* Its result, whole or its start: len says which. */
			j.len = dj.done->len;
			j.result = dj.done->result;
			j.rlen = dj.done->len;
			if (j.rlen > srv->max_frame + PS_FRAME_OVER - 38)
				j.rlen = srv->max_frame + PS_FRAME_OVER - 38;
		}
	}
	if (ps_put_job_reply(out, &j) != 0) {
		*code = PS_E_NOMEM;
		snprintf(why, len, "no memory for the JOB_REPLY");
		return -1;
	}
	return 0;
}

/*
 * Where q's event id is, at its furthest: in flight first, then waiting,
 * then dead, then done (its record kept).
 */
static int
local_where(struct nqueue *q, uint64_t id)
{
	struct qgroup	*g;
	struct djob	 dj;
	int		 st, where = DJOB_UNKNOWN;

	TAILQ_FOREACH(g, &q->groups, entry) {
		st = dispatch_find(&g->d, id, &dj);
		if (st == DJOB_IN_FLIGHT || st == DJOB_CANCELLED)
			return st;
		/* Done (a record kept): ended, like dead; waiting beats both. */
		if (st != DJOB_UNKNOWN && (where == DJOB_UNKNOWN ||
		    ((where == DJOB_DEAD || where == DJOB_DONE) &&
		    st != DJOB_DEAD && st != DJOB_DONE) ||
		    (where == DJOB_DONE && st == DJOB_DEAD)))
			where = st;
	}
	return where;
}

/*
 * A JOB_CANCEL: every id is looked for first, and one that no group
 * holds waiting or in flight refuses the whole (ERROR 19, or 5 for a
 * dead letter, which DEAD_DROP drops); then each is cancelled in every
 * group, the consumers of those in flight told.
 */
static int
local_job_cancel(struct server *srv, struct nqueue *q,
    const struct ps_cancel_ask *a, struct ps_buf *out, int *code, char *why,
    size_t len)
{
	struct qgroup		*lead = TAILQ_FIRST(&q->groups), *g;
	struct dconsumer	*dc;
	struct uniq		*u;
	uint64_t		*ids;
	uint8_t			*outcome;
	uint32_t		 i, n = a->ulen != 0 ? 1 : a->ids.count;
	int			 st, r = -1;

	(void)srv;
	*code = PS_E_NOMEM;
	snprintf(why, len, "no memory to cancel %u events", n);
	if ((ids = calloc(n, sizeof *ids)) == NULL ||
	    (outcome = calloc(n, 1)) == NULL) {
		free(ids);
		return -1;
	}
	if (a->ulen != 0) {
		ids[0] = lead != NULL && (u = dispatch_uniq_of(&lead->d)) !=
		    NULL ? uniq_id(u, a->uid, a->ulen) : 0;
	} else {
		for (i = 0; i < n; i++)
			ids[i] = ps_ids_at(&a->ids, i);
	}
	for (i = 0; i < n; i++) {
		st = lead != NULL && ids[i] != 0 ? local_where(q, ids[i]) :
		    DJOB_UNKNOWN;
		if (st == DJOB_DONE) {
			*code = PS_E_NO_EVENT;
			snprintf(why, len, "event %llu of queue %s is done "
			    "(acked): there is nothing to cancel",
			    (unsigned long long)ids[i], q->name);
			goto out;
		}
		if (st == DJOB_DEAD) {
			*code = PS_E_BAD_VALUE;
			snprintf(why, len, "event %llu of queue %s is a dead "
			    "letter, not cancelled: drop it (pushctl dead drop)",
			    (unsigned long long)ids[i], q->name);
			goto out;
		}
		if (st == DJOB_UNKNOWN) {
			*code = PS_E_NO_EVENT;
			if (a->ulen != 0)
				snprintf(why, len, "queue %s has no event of "
				    "unique id %.*s waiting or in flight",
				    q->name, (int)a->ulen, a->uid);
			else
				snprintf(why, len, "queue %s has no event %llu "
				    "waiting or in flight (never enqueued, done "
				    "with, or cancelled)", q->name,
				    (unsigned long long)ids[i]);
			goto out;
		}
	}
	for (i = 0; i < n; i++) {
		outcome[i] = PS_CANCEL_REMOVED;
		if (dispatch_cancel_delayed(&lead->d, ids[i]))
			continue;
		TAILQ_FOREACH(g, &q->groups, entry) {
			if ((st = dispatch_cancel(&g->d, ids[i], &dc)) < 0) {
				snprintf(why, len, "out of memory cancelling "
				    "event %llu: the %u named before it are "
				    "cancelled, it and those after not",
				    (unsigned long long)ids[i], i);
				goto out;
			}
			if (st == DJOB_CANCELLED &&
			    outcome[i] == PS_CANCEL_REMOVED)
				outcome[i] = PS_CANCEL_ALREADY;
			if (dc != NULL) {
				outcome[i] = PS_CANCEL_TOLD;
				conn_cancelled(dc, ids[i]);
			}
		}
	}
	if (ps_put_cancel_reply(out, ids, outcome, n) != 0)
		goto out;
	r = 0;
out:
	if (lead != NULL)
		dispatch_run_all(&lead->d);
	free(ids);
	free(outcome);
	return r;
}

/* Whose a JOBS cursor is: its group's path and its state, hashed. */
static uint64_t
cursor_tag(const struct qgroup *g, uint8_t state)
{
	struct gpath	 gp;
	const char	*path = groups_path(g, &gp);

	return fnv1a64(path, strlen(path)) ^ ((uint64_t)state << 56) ^ 1;
}

/*
 * A JOBS: the page, lowest ids first, as many as fit a frame; its cursor
 * says where the next starts, and whose it is (a cursor of another group
 * or state is refused).
 */
static int
local_jobs(struct server *srv, struct qgroup *g, const struct ps_jobs_ask *a,
    struct ps_buf *out, int *code, char *why, size_t len)
{
	struct dlist_ask	 ask;
	struct ps_jobs_entry	 e;
	struct djob		*v;
	size_t			 start, room = srv->max_frame + PS_FRAME_OVER;
	uint64_t		 tag = cursor_tag(g, a->state), last = 0;
	uint32_t		 i, n;
	int			 more;

	if ((a->after != 0 || a->tag != 0) && a->tag != tag) {
		*code = PS_E_BAD_VALUE;
		snprintf(why, len, "JOBS: the cursor is of another queue, group "
		    "or state than %s's %s events", g->q->name,
		    ps_job_state_name(a->state));
		return -1;
	}
	memset(&ask, 0, sizeof ask);
	ask.state = a->state;
	ask.after = a->after;
	ask.limit = a->limit;
	ask.klen = -1;
	if (a->filter == PS_FILTER_KEY) {
		ask.key = a->key;
		ask.klen = a->klen;
	} else if (a->filter == PS_FILTER_HEADER) {
		ask.hname = a->hname;
		ask.hnlen = a->hnlen;
		ask.hval = a->hval;
		ask.hvlen = a->hvlen;
	}
	*code = PS_E_NOMEM;
	snprintf(why, len, "no memory for a page of %u events", a->limit);
	if ((v = calloc(a->limit, sizeof *v)) == NULL)
		return -1;
	n = dispatch_list(&g->d, &ask, v, &more);
	if (ps_put_jobs_begin(out, &start) != 0)
		goto fail;
	for (i = 0; i < n; i++) {
		memset(&e, 0, sizeof e);
		e.id = v[i].ev.id;
		e.state = (uint8_t)v[i].state;
		e.reason = v[i].ev.reason;
		e.attempts = v[i].ev.attempts;
		e.at = v[i].at;
		e.len = v[i].ev.len;
		e.preview_len = (uint16_t)(e.len < a->preview ? e.len :
		    a->preview);
		e.preview = v[i].ev.data;
		e.klen = v[i].ev.key != NULL ? v[i].ev.klen : -1;
		e.key = v[i].ev.key;
		e.hdr = v[i].ev.hdr;
		e.hlen = v[i].ev.hlen;
		if (out->len - start + ps_jobs_entry_size(&e) > room) {
			more = 1;	/* the rest on the next page */
			break;
		}
		if (ps_put_jobs_entry(out, &e) != 0)
			goto fail;
		last = e.id;
	}
	if (i == 0 && n != 0) {
		*code = PS_E_BAD_VALUE;
		snprintf(why, len, "JOBS: event %llu alone does not fit a frame "
		    "of %u bytes with a preview of %u: ask a smaller preview",
		    (unsigned long long)v[0].ev.id, srv->max_frame,
		    a->preview);
		free(v);
		return -1;
	}
	ps_put_jobs_end(out, start, more ? last : 0, more ? tag : 0, i);
	free(v);
	return 0;
fail:
	free(v);
	snprintf(why, len, "no memory for the JOBS_REPLY");
	return -1;
}

static int
local_waits(char *why, size_t len)
{
	(void)why;
	(void)len;
	return 0;
}

const struct backend local_backend = {
	.name = "local",
	.prepare = local_nothing,
	.check = local_check,
	.open = local_open,
	.close = local_server,
	.settle = local_server,
	.unserved = local_unserved,
	.settings = local_settings,
	.group = local_group,
	.drop_ok = local_drop_ok,
	.group_drop = local_group_drop,
	.enqueue = local_enqueue,
	.dead = local_dead,
	.job = local_job,
	.job_cancel = local_job_cancel,
	.waits = local_waits,
	.jobs = local_jobs,
	.forget = local_forget,
	.cancel = local_cancel,
};
