/*
 * rgroups.c: reading back the groups of queues.  Records 8 to 14 say
 * which groups a queue has (made, dropped, or all of them at a segment's
 * start) and what each named group did with its events; the shared
 * group's own records are those of a queue without groups (replay.c).  A
 * queue that no such record names has its shared group alone, from the
 * first id.  At the end each queue with groups gets its groups back, and
 * its pending events go into its log once, in id order, each group's map
 * (dispatch.h) saying which are its own and with what attempts.
 */
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "replay.h"

struct rqueue *
rgroups_queue(const struct replay *r, const char *name, size_t len)
{
	struct rqueue	*q;

	for (q = r->queues; q != NULL; q = q->next) {
		if (strlen(q->name) == len && memcmp(q->name, name, len) == 0)
			return q;
	}
	return NULL;
}

static struct rgroup *
group_find(struct rqueue *q, const char *name, size_t len)
{
	size_t	 i;

	for (i = 0; i < q->ng; i++) {
		if (strlen(q->g[i].name) == len &&
		    memcmp(q->g[i].name, name, len) == 0)
			return &q->g[i];
	}
	return NULL;
}

static struct rgroup *
group_add(struct rqueue *q, const char *name, size_t len, uint64_t from)
{
	struct rgroup	*g;

	if ((g = reallocarray(q->g, q->ng + 1, sizeof *g)) == NULL)
		return NULL;
	q->g = g;
	g = &q->g[q->ng++];
	memset(g, 0, sizeof *g);
	memcpy(g->name, name, len);
	g->from = from;
	idmap_init(&g->index);
	return g;
}

static void
group_free(struct rgroup *g)
{
	idmap_free(&g->index);
	free(g->st);
}

static void
group_del(struct rqueue *q, struct rgroup *g)
{
	group_free(g);
	memmove(g, g + 1, (size_t)(&q->g[q->ng] - (g + 1)) * sizeof *g);
	q->ng--;
}

/* The queue the records name; new, it has its shared group from 0. */
static struct rqueue *
queue_get(struct replay *r, const uint8_t *name, size_t len)
{
	struct rqueue	*q;

	if ((q = rgroups_queue(r, (const char *)name, len)) != NULL)
		return q;
	if ((q = calloc(1, sizeof *q)) == NULL)
		return NULL;
	memcpy(q->name, name, len);
	if (group_add(q, "", 0, 0) == NULL) {
		free(q);
		return NULL;
	}
	q->next = r->queues;
	r->queues = q;
	return q;
}

/* A named group's state of id, made "pending, attempts 0" if new. */
static struct rgstate *
state(struct rgroup *g, uint64_t id)
{
	struct rgstate	*st;
	uint64_t	 i;
	size_t		 cap;

	if (idmap_get(&g->index, id, &i))
		return &g->st[i];
	if (g->n == g->cap) {
		cap = g->cap ? g->cap * 2 : 64;
		if ((st = reallocarray(g->st, cap, sizeof *st)) == NULL)
			return NULL;
		g->st = st;
		g->cap = cap;
	}
	if (idmap_put(&g->index, id, g->n) != 0)
		return NULL;
	st = &g->st[g->n++];
	memset(st, 0, sizeof *st);
	st->id = id;
	st->state = R_PENDING;
	return st;
}

/* Is entry x of a GROUPS record, or hold h of a GKEEP, group g? */
static int
same(const struct rgroup *g, const char *name, uint8_t len)
{
	return strlen(g->name) == len && memcmp(g->name, name, len) == 0;
}

/* The GROUPS record: the queue's groups are exactly these now. */
static int
apply_groups(struct rqueue *q, const struct jrec *rec)
{
	struct jrec		 w;
	struct jrec_entry	 x;
	size_t			 k;
	int			 named;

	/* Those not listed go; the others keep what they know. */
	for (k = 0; k < q->ng; ) {
		named = 0;
		for (w = *rec; jrec_next(&w, &x) == 1; )
			named |= same(&q->g[k], x.group, x.glen);
		if (named)
			k++;
		else
			group_del(q, &q->g[k]);
	}
	for (w = *rec; jrec_next(&w, &x) == 1; ) {
		if (group_find(q, x.group, x.glen) == NULL &&
		    group_add(q, x.group, x.glen, x.from) == NULL)
			return -1;
	}
	return 0;
}

/* Apply one of records 8 to 14 (checked by jrec_decode). */
int
rgroups_apply(struct replay *r, struct jrec *rec)
{
	struct jrec_entry	 x;
	struct rqueue		*q;
	struct rgroup		*g;
	struct rgstate		*st;
	struct rentry		*e;

	if ((q = queue_get(r, (const uint8_t *)rec->queue, rec->qlen)) == NULL)
		return -1;
	if (rec->type == JREC_GROUPS)
		return apply_groups(q, rec);
	g = group_find(q, rec->group, rec->glen);
	switch (rec->type) {
	case JREC_GROUP:
		if (g == NULL && group_add(q, rec->group, rec->glen,
		    rec->from) == NULL)
			return -1;
		return 0;
	case JREC_GROUP_DROP:
		if (g != NULL)
			group_del(q, g);
		return 0;
	}
	if (g == NULL)
		return 0;		/* dropped since */
	while (jrec_next(rec, &x) == 1) {
		if ((e = replay_find(r, x.id)) == NULL || x.id < g->from)
			continue;	/* its segment went before */
		if ((st = state(g, x.id)) == NULL)
			return -1;
		switch (rec->type) {
		case JREC_GDELIVER:
			if (st->state == R_PENDING)
				st->attempts++;
			break;
		case JREC_GDONE:
			st->state = R_GONE;
			break;
		case JREC_GRETRY:
			if (st->state == R_DEAD) {
				st->state = R_PENDING;
				st->attempts = 0;
			}
			break;
		default:
			st->state = R_DEAD;
			st->attempts = x.attempts;
			st->reason = x.reason;
			st->died = g->deaths++;
			break;
		}
	}
	return 0;
}

/*
 * GKEEP, compaction's copy of events of a queue with groups: each event
 * as it was when copied, in every group (those not named are done with
 * it), charged to this file.
 */
int
rgroups_gkeep(struct replay *r, size_t file, struct jrec *rec)
{
	struct jrec_entry	 x;
	struct jrec_hold	 h;
	struct rqueue		*q;
	struct rgroup		*g;
	struct rgstate		*st;
	struct rentry		*e;
	const uint8_t		*hp;
	uint32_t		 attempts;
	uint8_t			 i, dead, reason;
	size_t			 k;
	int			 named;

	if ((q = queue_get(r, (const uint8_t *)rec->queue, rec->qlen)) == NULL)
		return -1;
	while (jrec_next(rec, &x) == 1) {
		if ((e = replay_add(r, x.id)) == NULL)
			return -1;
		replay_pending(e, q->name, rec->qlen, 0, &x);
		e->queue = rec->queue;	/* in place, as others */
		e->file = e->efile = e->ufile = file;
		r->files[file].copies++;
		for (k = 0; k < q->ng; k++) {
			g = &q->g[k];
			named = 0;
			for (hp = x.hold, i = 0; i < x.nholds; i++) {
				hp = jrec_hold(hp, &h);
				if (same(g, h.group, h.glen)) {
					named = 1;
					break;
				}
			}
			attempts = named ? h.attempts : 0;
			dead = named && h.dead;
			reason = named ? h.reason : 0;
			if (g->name[0] == '\0') {
				e->state = !named ? R_GONE : dead ? R_DEAD :
				    R_PENDING;
				e->attempts = attempts;
				e->reason = reason;
				if (dead)
					e->died = r->deaths++;
				continue;
			}
			if (e->id < g->from || (st = state(g, e->id)) == NULL) {
				if (e->id < g->from)
					continue;
				return -1;
			}
			st->state = !named ? R_GONE : dead ? R_DEAD : R_PENDING;
			st->attempts = attempts;
			st->reason = reason;
			if (dead)
				st->died = g->deaths++;
		}
	}
	return 0;
}

/* What one group does with e: R_* and its attempts; R_GONE if none. */
static int
fate(const struct rgroup *g, const struct rentry *e, uint32_t *attempts,
    uint8_t *reason, uint64_t *died)
{
	uint64_t	 i;

	if (e->id < g->from)
		return R_GONE;
	if (g->name[0] == '\0') {
		*attempts = e->attempts;
		*reason = e->reason;
		*died = e->died;
		return e->state;
	}
	if (!idmap_get(&g->index, e->id, &i)) {
		*attempts = 0;
		return R_PENDING;
	}
	*attempts = g->st[i].attempts;
	*reason = g->st[i].reason;
	*died = g->st[i].died;
	return g->st[i].state;
}

struct dead {
	const struct rentry	*e;
	size_t			 k;		/* its group */
	uint64_t		 died;
	uint32_t		 attempts;
	uint8_t			 reason;
};

static int
by_qid(const void *a, const void *b)
{
	const struct rentry	*x = *(struct rentry * const *)a;
	const struct rentry	*y = *(struct rentry * const *)b;
	int			 c;

	if ((c = x->qlen - y->qlen) == 0 &&
	    (c = memcmp(x->queue, y->queue, x->qlen)) == 0)
		return x->id < y->id ? -1 : x->id > y->id;
	return c;
}

static int
by_died(const void *a, const void *b)
{
	const struct dead	*x = a, *y = b;

	if (x->k != y->k)
		return x->k < y->k ? -1 : 1;
	return x->died < y->died ? -1 : x->died > y->died;
}

/* One live copy of e in the group i of q: charged to its segment. */
static int
charge(struct replay *r, const struct rgroup *g, const struct rentry *e)
{
	struct journal	*j = r->j;
	size_t		 s;

	replay_charged(j, e);
	if (g->name[0] != '\0') {
		s = r->files[e->efile].seg;
		j->segs[s].live++;
		/* Compaction moved the named groups' copy (GKEEP). */
		if (journal_seg_first(j, e->id) != s &&
		    journal_gmoved_add(j, e->id, j->segs[s].seq) != 0)
			return -1;
		return 0;
	}
	s = r->files[e->file].seg;
	j->segs[s].live++;
	if (journal_seg_of(j, e->id) != s &&
	    idmap_put(&j->moved, e->id, j->segs[s].seq) != 0)
		return -1;
	return 0;
}

/* The events of queue q (ev[0..n), in id order) into its groups. */
static int
restore_queue(struct replay *r, struct rqueue *q, const struct rentry **ev,
    size_t n, journal_queue_fn queue_of, void *arg, uint64_t *count)
{
	const char	**names;
	uint64_t	 *from, died = 0;
	struct dispatch	**d;
	struct dead	 *dead = NULL;
	size_t		  i, k, ndead = 0, cap = 0;
	uint32_t	  attempts = 0, held;
	uint64_t	  wall = clock_wall_ms();
	uint8_t		  reason = 0;
	int		  rc = -1, any, f;

	names = calloc(q->ng ? q->ng : 1, sizeof *names);
	from = calloc(q->ng ? q->ng : 1, sizeof *from);
	d = calloc(q->ng ? q->ng : 1, sizeof *d);
	if (names == NULL || from == NULL || d == NULL)
		goto out;
	for (k = 0; k < q->ng; k++) {
		names[k] = q->g[k].name;
		from[k] = q->g[k].from;
	}
	if (queue_of(arg, q->name, strlen(q->name), q->ng, names, from,
	    d) != 0)
		goto out;
	for (i = 0; i < n; i++) {
		/* Pending in any group: into the log once. */
		for (any = 0, k = 0; k < q->ng && !any; k++) {
			f = fate(&q->g[k], ev[i], &attempts, &reason, &died);
			any = f == R_PENDING &&
			    attempts < d[k]->policy->max_attempts;
		}
		if (any && replay_event(d[0], ev[i], 0, wall) != 0)
			goto out;
		for (k = 0, held = 0; k < q->ng; k++) {
			f = fate(&q->g[k], ev[i], &attempts, &reason, &died);
			held += f != R_GONE;
			if (f == R_PENDING &&
			    attempts >= d[k]->policy->max_attempts) {
				/* On its last attempt: dead, as on a drop. */
				f = R_DEAD;
				reason = PS_DEAD_DISCONNECT;
				died = UINT64_MAX;
				if (replay_rebury(r->j, d[k], ev[i]->id) != 0)
					goto out;
			}
			if (f == R_GONE) {
				/* Delayed: it skips groups made after it then. */
				if (any && ev[i]->due > wall)
					continue;
				if (any && (dispatch_mark(d[k], ev[i]->id, 0) != 0))
					goto out;
				if (any) {
					d[k]->queue.count--;
					d[k]->queue.bytes -= ev[i]->len;
				}
				continue;
			}
			if (charge(r, &q->g[k], ev[i]) != 0)
				goto out;
			(*count)++;
			if (f == R_PENDING) {
				if (attempts != 0 && dispatch_mark(d[k], ev[i]->id,
				    (uint64_t)attempts + 1) != 0)
					goto out;
				if (replay_fails(r, d[k], q->name,
				    (uint8_t)strlen(q->name), q->g[k].name,
				    (uint8_t)strlen(q->g[k].name), ev[i]->id) != 0)
					goto out;
				continue;
			}
			/* Dead here: kept to be listed in death order. */
			if (any && (dispatch_mark(d[k], ev[i]->id, 0) != 0))
				goto out;
			if (any) {
				d[k]->queue.count--;
				d[k]->queue.bytes -= ev[i]->len;
			}
			if (ndead == cap) {
				struct dead	*nd;

				cap = cap ? cap * 2 : 64;
				if ((nd = reallocarray(dead, cap,
				    sizeof *nd)) == NULL)
					goto out;
				dead = nd;
			}
			dead[ndead++] = (struct dead){ ev[i], k, died,
			    attempts, reason };
		}
		/* Its unique id: held by the groups not done with it. */
		if (ev[i]->uid != NULL && replay_uid(r, d[0], ev[i], held,
		    held != 0 ? 0 : wall + d[0]->policy->dedup_window) != 0)
			goto out;
	}
	/* The dead, each group's in the order they died. */
	if (ndead != 0)
		qsort(dead, ndead, sizeof *dead, by_died);
	for (i = 0; i < ndead; i++) {
		k = dead[i].k;
		if (dispatch_restore_dead(d[k], dead[i].e->id, dead[i].attempts,
		    dead[i].reason, dead[i].e->key, dead[i].e->klen,
		    dead[i].e->hdr, dead[i].e->hlen, dead[i].e->data,
		    dead[i].e->len) != 0 ||
		    replay_fails(r, d[k], q->name, (uint8_t)strlen(q->name),
		    q->g[k].name, (uint8_t)strlen(q->g[k].name),
		    dead[i].e->id) != 0)
			goto out;
	}
	rc = 0;
out:
	free(dead);
	free(names);
	free(from);
	free(d);
	return rc;
}

/*
 * Queue q's group k (its first leads), its groups as the records left
 * them (made again as they are: the call changes nothing the second
 * time).  NULL out of memory.
 */
static struct dispatch *
group_at(struct rqueue *q, size_t k, journal_queue_fn queue_of, void *arg)
{
	const char	**names;
	uint64_t	 *from;
	struct dispatch	**d, *g = NULL;
	size_t		  i;

	names = calloc(q->ng ? q->ng : 1, sizeof *names);
	from = calloc(q->ng ? q->ng : 1, sizeof *from);
	d = calloc(q->ng ? q->ng : 1, sizeof *d);
	if (names != NULL && from != NULL && d != NULL && k < q->ng) {
		for (i = 0; i < q->ng; i++) {
			names[i] = q->g[i].name;
			from[i] = q->g[i].from;
		}
		if (queue_of(arg, q->name, strlen(q->name), q->ng, names, from,
		    d) == 0)
			g = d[k];
	}
	free(names);
	free(from);
	free(d);
	return g;
}

/* Queue q's lead group (group_at's first); NULL out of memory. */
struct dispatch *
rgroups_lead(struct replay *r, struct rqueue *q, journal_queue_fn queue_of,
    void *arg)
{
	(void)r;
	return group_at(q, 0, queue_of, arg);
}

/* Queue q's group of that name; NULL if it has none (or no memory). */
struct dispatch *
rgroups_group(struct rqueue *q, const char *name, size_t len,
    journal_queue_fn queue_of, void *arg)
{
	size_t	 k;

	for (k = 0; k < q->ng; k++) {
		if (strlen(q->g[k].name) == len &&
		    memcmp(q->g[k].name, name, len) == 0)
			return group_at(q, k, queue_of, arg);
	}
	return NULL;
}

/*
 * The queues with recorded groups: their groups, and their events into
 * them.  *count: the live copies restored.  -1 out of memory.
 */
int
rgroups_restore(struct replay *r, journal_queue_fn queue_of, void *arg,
    uint64_t *count)
{
	const struct rentry	**ev;
	struct rqueue		 *q;
	size_t			  i, n = 0, start;
	int			  rc = -1;

	if ((ev = calloc(r->n ? r->n : 1, sizeof *ev)) == NULL)
		return -1;
	for (i = 0; i < r->n; i++) {
		if (r->e[i].data != NULL && rgroups_queue(r, r->e[i].queue,
		    r->e[i].qlen) != NULL)
			ev[n++] = &r->e[i];
	}
	qsort(ev, n, sizeof *ev, by_qid);
	for (q = r->queues; q != NULL; q = q->next) {
		/* This queue's run of events, if it has any. */
		for (start = 0; start < n && (strlen(q->name) !=
		    ev[start]->qlen || memcmp(q->name, ev[start]->queue,
		    ev[start]->qlen) != 0); start++)
			;
		for (i = start; i < n && strlen(q->name) == ev[i]->qlen &&
		    memcmp(q->name, ev[i]->queue, ev[i]->qlen) == 0; i++)
			;
		if (restore_queue(r, q, ev + start, i - start, queue_of, arg,
		    count) != 0)
			goto out;
	}
	rc = 0;
out:
	free(ev);
	return rc;
}

void
rgroups_free(struct replay *r)
{
	struct rqueue	*q;
	size_t		 i;

	while ((q = r->queues) != NULL) {
		r->queues = q->next;
		for (i = 0; i < q->ng; i++)
			group_free(&q->g[i]);
		free(q->g);
		free(q);
	}
}
