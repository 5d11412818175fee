/*
 * groups.c: a queue's groups of consumers, GenStage's BroadcastDispatcher
 * done the NSQ way.  A group is a dispatcher that reads the queue's log
 * from where the log was when the group was made, so it gets every event
 * enqueued from then on; inside it, its consumers share the events by the
 * demand rule, with its own acks, redeliveries and dead letters.  The
 * first group in a queue's list leads: an ENQUEUE goes through it to all
 * (dispatch.c).  Peers name a group as "QUEUE/GROUP"; "QUEUE" alone (or
 * "QUEUE/") is the shared group, which today's consumers join.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "producerd.h"

const char *
groups_path(const struct qgroup *g, struct gpath *p)
{
	snprintf(p->s, sizeof p->s, "%s%s%s", g->q->name, g->len ? "/" : "",
	    g->name);
	return p->s;
}

/*
 * The groups' dispatchers in list order: the first leads the rest.  In a
 * cluster each group pulls its own events into a log of its own: none
 * leads another.
 */
static void
chain(struct nqueue *q)
{
	struct qgroup	*g, *next;

	TAILQ_FOREACH(g, &q->groups, entry) {
		if (g->log != NULL) {
			g->d.next_group = NULL;
			g->d.lead = &g->d;
			continue;
		}
		next = TAILQ_NEXT(g, entry);
		g->d.next_group = next != NULL ? &next->d : NULL;
		g->d.lead = &TAILQ_FIRST(&q->groups)->d;
	}
}

struct qgroup *
groups_find(struct nqueue *q, const char *name, size_t len)
{
	struct qgroup	*g;

	TAILQ_FOREACH(g, &q->groups, entry) {
		if (g->len == len && memcmp(g->name, name, len) == 0)
			return g;
	}
	return NULL;
}

/*
 * A new group of q, reading from the log's end: it gets what is enqueued
 * from now on.  A queue's first, shared group is not journaled (a journal
 * without groups implies it); every other one is.  NULL out of memory.
 */
struct qgroup *
groups_add(struct nqueue *q, const char *name, size_t len)
{
	struct server	*srv = q->srv;
	struct qgroup	*g;
	struct gpath	 p;
	int		 first = q->ngroups == 0 && len == 0 && !q->made;

	if ((g = calloc(1, sizeof *g + len + 1)) == NULL)
		return NULL;
	g->q = q;
	memcpy(g->name, name, len);
	g->name[len] = '\0';
	g->len = (uint8_t)len;
	if (srv->backend->group_logs) {
		if ((g->log = malloc(sizeof *g->log)) == NULL) {
			free(g);
			return NULL;
		}
		qlog_init(g->log, &srv->store, &srv->now);
	}
	/* A reader of a log: nothing to allocate, nothing to fail. */
	(void)dispatch_init(&g->d, g->log != NULL ? g->log : &q->log,
	    conn_emit, srv);
	if (dispatch_set_mode(&g->d, q->s.mode, q->s.partitions) != 0) {
		dispatch_free(&g->d);
		if (g->log != NULL) {
			qlog_free(g->log);
			free(g->log);
		}
		free(g);
		return NULL;
	}
	g->d.ids = &srv->next_id;
	g->d.clock = &srv->now;
	g->d.wall = &srv->wall;
	g->d.name = q->name;
	g->d.group = g->name;
	g->d.policy = &q->policy;
	TAILQ_INIT(&g->waits);
	g->d.end = waits_end;
	g->d.end_arg = g;
	if (srv->up.path != NULL)
		g->d.done = upstream_done;
	srv->backend->group(srv, g);
	g->d.paused = srv->draining;
	TAILQ_INSERT_TAIL(&q->groups, g, entry);
	q->ngroups++;
	chain(q);
	(void)queues_apply(q, &q->s, 0);
	server_journal_group(srv, g, !first);
	if (len != 0 || q->ngroups > 1)
		log_info("queue %s: group %s made", q->name,
		    groups_path(g, &p));
	return g;
}

static void
group_free(struct qgroup *g)
{
	struct nqueue	*q = g->q;

	waits_group_gone(g);
	TAILQ_REMOVE(&q->groups, g, entry);
	q->ngroups--;
	chain(q);
	dispatch_free(&g->d);
	if (g->log != NULL) {
		qlog_free(g->log);
		free(g->log);
	}
	free(g);
}

/*
 * Forget g and what it holds: no consumer is left in it.  What it buffers
 * and its dead letters are done with, for the journal as for a purge.
 */
void
groups_drop(struct qgroup *g)
{
	struct qevent	*ev;
	struct gpath	 p;
	uint64_t	 n;

	n = dispatch_purge(&g->d);
	log_info("queue %s: group %s dropped with %llu buffered and %llu "
	    "dead events", g->q->name, groups_path(g, &p),
	    (unsigned long long)n,
	    (unsigned long long)g->d.ndead);
	while ((ev = TAILQ_FIRST(&g->d.dead)) != NULL)
		dispatch_dead_drop(&g->d, ev);
	server_journal_drop(g->q->srv, g);
	group_free(g);
}

/* At the end, or with its queue: nothing is journaled. */
void
groups_free(struct nqueue *q)
{
	struct qgroup	*g;

	while ((g = TAILQ_LAST(&q->groups, qgroups)) != NULL)
		group_free(g);
}

/* The group an ENQUEUE goes through; a queue left with none gets back its
 * shared group.  NULL out of memory. */
struct qgroup *
groups_lead(struct nqueue *q)
{
	struct qgroup	*g;

	if ((g = TAILQ_FIRST(&q->groups)) != NULL)
		return g;
	return groups_add(q, "", 0);	/* q->made: journaled */
}

/*
 * The group "QUEUE[/GROUP]" names.  With make (a consumer's HELLO), the
 * queue and the group are made if they may be; without, they must exist.
 * NULL with *code (PS_E_*) and err saying why otherwise.
 */
struct qgroup *
groups_resolve(struct server *srv, const char *name, size_t len, int make,
    int *code, char *err, size_t errlen)
{
	struct nqueue	*q;
	struct qgroup	*g;
	const char	*slash, *gname = "";
	size_t		 qlen = len, glen = 0;

	if ((slash = memchr(name, '/', len)) != NULL) {
		qlen = (size_t)(slash - name);
		gname = slash + 1;
		glen = len - qlen - 1;
		if (glen != 0 && !queues_name_ok("group", gname, glen, err,
		    errlen)) {
			*code = PS_E_BAD_VALUE;
			return NULL;
		}
	}
	if (make)
		q = queues_get(srv, name, qlen, code, err, errlen);
	else if (!queues_name_ok("queue", name, qlen, err, errlen)) {
		*code = PS_E_BAD_VALUE;
		return NULL;
	} else if ((q = queues_find(srv, name, qlen)) == NULL) {
		*code = PS_E_NO_QUEUE;
		snprintf(err, errlen, "no queue %.*s", (int)qlen, name);
	}
	if (q == NULL)
		return NULL;
	if ((g = groups_find(q, gname, glen)) != NULL)
		return g;
	if (!make) {
		*code = PS_E_NO_QUEUE;
		snprintf(err, errlen, "queue %s has no %s%.*s", q->name,
		    glen ? "group " : "shared group", (int)glen, gname);
		return NULL;
	}
	if (q->ngroups >= srv->max_groups) {
		*code = PS_E_QUEUE_LIMIT;
		snprintf(err, errlen, "no group %s/%.*s, and queue %s has %u "
		    "groups already (producerd --max-groups)", q->name,
		    (int)glen, gname, q->name, q->ngroups);
		return NULL;
	}
	if (srv->up.into != NULL && srv->up.into->q == q) {
		*code = PS_E_BAD_VALUE;
		snprintf(err, errlen, "queue %s takes this stage's events from "
		    "upstream (--local-queue): it has one group, whose acks go "
		    "upstream", q->name);
		return NULL;
	}
	if ((g = groups_add(q, gname, glen)) == NULL) {
		*code = PS_E_NOMEM;
		snprintf(err, errlen, "out of memory making group %s/%.*s",
		    q->name, (int)glen, gname);
	}
	return g;
}
