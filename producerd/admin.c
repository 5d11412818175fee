/*
 * admin.c: an operator's changes to queues (settings, pause, purge, dead
 * letters, dropping a group, deleting a queue), the same whether they
 * come as a frame (conn.c) or from the HTTP API (api.c).  Each checks
 * everything before it changes anything, logs what it did once, and on
 * failure leaves the PS_E_* code and the reason in the struct admin.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "producerd.h"

static void	admin_fail(struct admin *, int, const char *, ...)
		    __attribute__((format(printf, 3, 4)));

static void
admin_fail(struct admin *a, int code, const char *fmt, ...)
{
	va_list	 ap;

	a->code = code;
	va_start(ap, fmt);
	vsnprintf(a->why, sizeof a->why, fmt, ap);
	va_end(ap);
}

/* The queue NAME names, or NULL. */
struct nqueue *
admin_queue(struct admin *a, const char *name, size_t len)
{
	struct nqueue	*q;
	char		 err[256];

	if (!queues_name_ok("queue", name, len, err, sizeof err)) {
		admin_fail(a, PS_E_BAD_VALUE, "%s", err);
		return NULL;
	}
	if ((q = queues_find(a->srv, name, len)) == NULL)
		admin_fail(a, PS_E_NO_QUEUE, "no queue %.*s", (int)len, name);
	return q;
}

/*
 * Are the settings s (set: those given) good for queue name, whatever it
 * holds?  Also asked before a queue is made, so that a CREATE or SET
 * refused makes nothing.
 */
int
admin_check(struct admin *a, const char *name, const struct qsettings *s,
    unsigned int set)
{
	char	 err[256];

	if (settings_check(s, err, sizeof err) != 0) {
		admin_fail(a, PS_E_BAD_VALUE, "queue %s: %s", name, err);
		return -1;
	}
	if (a->srv->backend->unserved(s, set, err, sizeof err) != 0) {
		admin_fail(a, PS_E_BAD_VALUE, "queue %s: %s", name, err);
		return -1;
	}
	return 0;
}

/*
 * Give q the settings s, of which set are its own now: checked against
 * what q holds before any applies.
 */
int
admin_settings(struct admin *a, struct nqueue *q, const struct qsettings *s,
    unsigned int set)
{
	struct qgroup	*g;
	char		 err[256];
	int		 change, parts;

	if (admin_check(a, q->name, s, set) != 0)
		return -1;
	change = s->mode != q->s.mode || s->partitions != q->s.partitions;
	parts = s->mode == DISPATCH_PARTITION ||
	    q->s.mode == DISPATCH_PARTITION;
	if (change && (queue_sum(q, QSUM_IN_FLIGHT) != 0 ||
	    queue_sum(q, QSUM_WAITING) != 0)) {
		admin_fail(a, PS_E_QUEUE_BUSY, "queue %s: dispatch changes "
		    "only while no event of it is in flight", q->name);
		return -1;
	}
	if (change && parts && q->nconsumers != 0) {
		admin_fail(a, PS_E_QUEUE_BUSY, "queue %s: partitions change "
		    "only while no consumer is subscribed (%u are)", q->name,
		    q->nconsumers);
		return -1;
	}
	if (queues_apply(q, s, set) != 0) {
		admin_fail(a, PS_E_NOMEM, "queue %s: no memory for its "
		    "partitions or its clock", q->name);
		return -1;
	}
	a->srv->backend->settings(a->srv, q, set);
	/* A resume, a higher rate: what may go now goes. */
	TAILQ_FOREACH(g, &q->groups, entry)
		dispatch_run(&g->d);
	if (set != 0) {
		settings_format(&q->s, set, err, sizeof err);
		log_info("%s: queue %s: %s", a->who, q->name, err);
	}
	queues_touch(q);
	a->srv->queues_unsaved = 1;	/* before the reply goes */
	return 0;
}

/* Pause q until resumed (on), or resume it. */
int
admin_pause(struct admin *a, struct nqueue *q, int on)
{
	struct qsettings s = q->s;

	s.paused_until = on ? SCHED_FOREVER : 0;
	return admin_settings(a, q, &s, QS_PAUSED);
}

/* Drop every event q's groups hold back; the number dropped. */
uint64_t
admin_purge(struct admin *a, struct nqueue *q)
{
	struct qgroup	*g;
	uint64_t	 n = 0;

	TAILQ_FOREACH(g, &q->groups, entry)
		n += dispatch_purge(&g->d);
	log_info("%s: queue %s purged: %llu events dropped", a->who, q->name,
	    (unsigned long long)n);
	queues_touch(q);
	return n;
}

/* Retry or drop one dead event; -1 when out of memory to retry it. */
static int
dead_act(struct dispatch *d, int drop, struct qevent *ev)
{
	if (drop) {
		dispatch_dead_drop(d, ev);
		return 0;
	}
	return dispatch_dead_retry(d, ev);
}

/*
 * Retry (or drop) g's dead events of the ids given (as on the wire), or
 * every one when none is given.  An id not on the list is passed over.
 */
int
admin_dead(struct admin *a, struct qgroup *g, int drop,
    const struct ps_ids *ids, uint32_t *done)
{
	struct dispatch	*d = &g->d;
	struct qevent	*ev;
	struct gpath	 gp;
	uint32_t	 i;
	int		 error = 0;

	*done = 0;
	if (ids == NULL || ids->count == 0) {
		while (error == 0 && (ev = TAILQ_FIRST(&d->dead)) != NULL)
			if ((error = dead_act(d, drop, ev)) == 0)
				(*done)++;
	}
	for (i = 0; ids != NULL && error == 0 && i < ids->count; i++) {
		if ((ev = dispatch_dead_find(d, ps_ids_at(ids, i))) != NULL &&
		    (error = dead_act(d, drop, ev)) == 0)
			(*done)++;
	}
	if (*done != 0)
		log_info("%s: %s %u dead event%s of queue %s", a->who,
		    drop ? "dropped" : "retried", *done, *done == 1 ? "" : "s",
		    groups_path(g, &gp));
	dispatch_run(d);
	queues_touch(g->q);
	if (error != 0) {
		admin_fail(a, PS_E_NOMEM, "no memory to retry more than %u "
		    "dead events", *done);
		return -1;
	}
	return 0;
}

/* Close q's consumers (of group g only, unless NULL), and those waiting. */
static void
evict(struct admin *a, struct nqueue *q, struct qgroup *g)
{
	struct conn	*o, *next;
	struct gpath	 gp;
	char		 why[PS_PATH_MAX + 32];

	snprintf(why, sizeof why, "queue %s was deleted", g != NULL ?
	    groups_path(g, &gp) : q->name);
	for (o = TAILQ_FIRST(&a->srv->conns); o != NULL; o = next) {
		next = TAILQ_NEXT(o, entry);
		if (o == a->by || o->state == CONN_CLOSING)
			continue;
		if ((o->role == ROLE_CONSUMER && o->q == q && (g == NULL ||
		    o->g == g)) || (g == NULL && o->blocked && o->enq_q == q))
			conn_error(o, PS_E_NO_QUEUE, why);
	}
}

/* Drop group g: its consumers go first (only with force). */
int
admin_group_drop(struct admin *a, struct qgroup *g, int force)
{
	struct nqueue	*q;
	struct gpath	 gp;
	char		 why[256];

	if (a->srv->backend->drop_ok(a->srv, g, why, sizeof why) != 0) {
		admin_fail(a, PS_E_BAD_VALUE, "queue %s: %s", g->q->name, why);
		return -1;
	}
	if (g->nconsumers != 0 && !force) {
		admin_fail(a, PS_E_QUEUE_BUSY, "group %s has %u consumer%s; "
		    "drop it with force (pushctl queue drop-group --force) to "
		    "disconnect them", groups_path(g, &gp), g->nconsumers,
		    g->nconsumers == 1 ? "" : "s");
		return -1;
	}
	if (a->srv->up.into == g) {
		admin_fail(a, PS_E_QUEUE_BUSY, "queue %s takes this stage's "
		    "events from upstream (--local-queue): not dropped",
		    g->q->name);
		return -1;
	}
	evict(a, g->q, g);
	log_info("%s: dropping group %s", a->who, groups_path(g, &gp));
	a->srv->backend->group_drop(a->srv, g);
	q = g->q;
	groups_drop(g);
	queues_touch(q);
	return 0;
}

/* Delete q: its consumers (with force) and waiting clients go first. */
int
admin_queue_delete(struct admin *a, struct nqueue *q, int force)
{
	if (a->srv->up.into != NULL && a->srv->up.into->q == q) {
		admin_fail(a, PS_E_QUEUE_BUSY, "queue %s takes this stage's "
		    "events from upstream (--local-queue): not deleted",
		    q->name);
		return -1;
	}
	if (q->nconsumers != 0 && !force) {
		admin_fail(a, PS_E_QUEUE_BUSY, "queue %s has %u consumer%s; "
		    "delete with force (pushctl queue delete --force) to "
		    "disconnect them", q->name, q->nconsumers,
		    q->nconsumers == 1 ? "" : "s");
		return -1;
	}
	evict(a, q, NULL);
	queues_delete(q);
	return 0;
}
