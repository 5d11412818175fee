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

#include "bytes.h"
#include "clock.h"
#include "log.h"
#include "replay.h"

/* A queue's or a group's name in a record: 0 when bad (empty: a group). */
static size_t
name_at(const uint8_t *p, uint32_t len, uint32_t off, int group)
{
	size_t	 n;

	if (off >= len || (n = p[off]) > len - off - 1)
		return 0;
	if (n == 0)
		return group ? 1 : 0;
	if (!ps_queue_name_ok((const char *)p + off + 1, n))
		return 0;
	return 1 + n;
}

/*
 * A GKEEP's entries after its queue (qn bytes): each an event (id, length,
 * attributes, payload) and its groups (name, attempts, dead, reason).
 */
static const char *
check_gkeep(const uint8_t *p, uint32_t len, uint32_t off)
{
	struct ps_attrs	 a;
	const char	*why;
	uint32_t	 l, k, gn;
	uint8_t		 i, n;

	while (off < len) {
		if (len - off < 14 || get64(p + off) == 0)
			return "GKEEP record's entry is bad";
		l = get32(p + off + 8);
		k = get16(p + off + 12);
		off += 14;
		if (k > len - off || ps_get_attrs(p + off, (uint16_t)k, &a,
		    &why) != 0)
			return "GKEEP record's attributes are bad";
		off += k;
		if (l >= len - off)
			return "GKEEP record's lengths do not add up";
		off += l;
		n = p[off++];
		for (i = 0; i < n; i++) {
			if ((gn = (uint32_t)name_at(p, len, off, 1)) == 0 ||
			    len - off - gn < 6)
				return "GKEEP record's groups do not add up";
			off += gn + 6;
		}
	}
	return NULL;
}

/* A body of records 8 to 14 whose lengths add up; NULL, or what is wrong. */
const char *
rgroups_check(int type, const uint8_t *p, uint32_t len)
{
	uint32_t	 off, qn, gn;
	uint8_t		 i, n;

	if ((qn = (uint32_t)name_at(p, len, 0, 0)) == 0)
		return "group record's queue name is bad";
	if (type == JREC_GKEEP)
		return check_gkeep(p, len, qn);
	if (type == JREC_GROUPS) {
		if (qn >= len)
			return "GROUPS record without its count";
		n = p[qn];
		for (off = qn + 1, i = 0; i < n; i++) {
			if ((gn = (uint32_t)name_at(p, len, off, 1)) == 0 ||
			    len - off - gn < 8)
				return "GROUPS record's lengths do not add up";
			off += gn + 8;
		}
		return off == len ? NULL : "GROUPS record's lengths do not "
		    "add up";
	}
	if ((gn = (uint32_t)name_at(p, len, qn, 1)) == 0)
		return "group record's group name is bad";
	off = qn + gn;
	switch (type) {
	case JREC_GROUP:
		return len - off == 8 ? NULL : "GROUP record of a bad length";
	case JREC_GROUP_DROP:
		return len == off ? NULL : "GROUP_DROP record of a bad length";
	case JREC_GDEAD:
		return (len - off) % 13 == 0 ? NULL : "GDEAD record's "
		    "entries do not add up";
	default:
		return (len - off) % 8 == 0 ? NULL : "id list not a multiple "
		    "of 8";
	}
}

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

/* The GROUPS record: the queue's groups are exactly these now. */
static int
apply_groups(struct rqueue *q, const uint8_t *p, uint32_t len, uint32_t off)
{
	uint32_t	 at, gn;
	uint8_t		 i, n = p[off];
	size_t		 k;
	int		 named;

	/* Those not listed go; the others keep what they know. */
	for (k = 0; k < q->ng; ) {
		named = 0;
		for (at = off + 1, i = 0; i < n; i++) {
			gn = p[at];
			if (strlen(q->g[k].name) == gn &&
			    memcmp(q->g[k].name, p + at + 1, gn) == 0)
				named = 1;
			at += 1 + gn + 8;
		}
		if (named)
			k++;
		else
			group_del(q, &q->g[k]);
	}
	for (at = off + 1, i = 0; i < n; i++) {
		gn = p[at];
		if (group_find(q, (const char *)p + at + 1, gn) == NULL &&
		    group_add(q, (const char *)p + at + 1, gn,
		    get64(p + at + 1 + gn)) == NULL)
			return -1;
		at += 1 + gn + 8;
	}
	(void)len;
	return 0;
}

/* Apply one of records 8 to 14 (checked by rgroups_check). */
int
rgroups_apply(struct replay *r, int type, const uint8_t *p, uint32_t len)
{
	struct rqueue	*q;
	struct rgroup	*g;
	struct rgstate	*st;
	struct rentry	*e;
	uint32_t	 qn = 1 + p[0], gn, off;
	uint64_t	 id;

	if ((q = queue_get(r, p + 1, p[0])) == NULL)
		return -1;
	if (type == JREC_GROUPS)
		return apply_groups(q, p, len, qn);
	gn = p[qn];
	g = group_find(q, (const char *)p + qn + 1, gn);
	off = qn + 1 + gn;
	switch (type) {
	case JREC_GROUP:
		if (g == NULL && group_add(q, (const char *)p + qn + 1, gn,
		    get64(p + off)) == NULL)
			return -1;
		return 0;
	case JREC_GROUP_DROP:
		if (g != NULL)
			group_del(q, g);
		return 0;
	}
	if (g == NULL)
		return 0;		/* dropped since */
	for (; off < len; off += type == JREC_GDEAD ? 13 : 8) {
		id = get64(p + off);
		if ((e = replay_find(r, id)) == NULL || id < g->from)
			continue;	/* its segment went before */
		if ((st = state(g, id)) == NULL)
			return -1;
		switch (type) {
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
			st->attempts = get32(p + off + 8);
			st->reason = p[off + 12];
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
rgroups_gkeep(struct replay *r, size_t file, const uint8_t *p, uint32_t len)
{
	struct rqueue	*q;
	struct rgroup	*g;
	struct rgstate	*st;
	struct rentry	*e;
	const uint8_t	*gp;
	uint32_t	 off = 1 + p[0], l, k, gn, attempts;
	uint8_t		 i, n, dead, reason;
	size_t		 x;
	int		 named;

	if ((q = queue_get(r, p + 1, p[0])) == NULL)
		return -1;
	while (off < len) {
		if ((e = replay_add(r, get64(p + off))) == NULL)
			return -1;
		l = get32(p + off + 8);
		k = get16(p + off + 12);
		replay_pending(e, q->name, p[0], 0, p + off + 14, (uint16_t)k, l);
		e->queue = (const char *)p + 1;	/* in place, as others */
		e->file = e->efile = e->ufile = file;
		r->files[file].copies++;
		off += 14 + k + l;
		n = p[off++];
		gp = p + off;
		for (x = 0; x < q->ng; x++) {
			g = &q->g[x];
			named = 0;
			for (off = (uint32_t)(gp - p), i = 0; i < n; i++) {
				gn = p[off];
				if (strlen(g->name) == gn &&
				    memcmp(g->name, p + off + 1, gn) == 0) {
					named = 1;
					break;
				}
				off += 1 + gn + 6;
			}
			attempts = named ? get32(p + off + 1 + gn) : 0;
			dead = named && p[off + 1 + gn + 4];
			reason = named ? p[off + 1 + gn + 5] : 0;
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
		for (off = (uint32_t)(gp - p), i = 0; i < n; i++)
			off += 1 + p[off] + 6;
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
			any = f == R_PENDING && attempts < d[k]->max_attempts;
		}
		if (any && replay_event(d[0], ev[i], 0, wall) != 0)
			goto out;
		for (k = 0, held = 0; k < q->ng; k++) {
			f = fate(&q->g[k], ev[i], &attempts, &reason, &died);
			held += f != R_GONE;
			if (f == R_PENDING && attempts >= d[k]->max_attempts) {
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
		    held != 0 ? 0 : wall + d[0]->dedup_window) != 0)
			goto out;
	}
	/* The dead, each group's in the order they died. */
	if (ndead != 0)
		qsort(dead, ndead, sizeof *dead, by_died);
	for (i = 0; i < ndead; i++) {
		k = dead[i].k;
		if (dispatch_restore_dead(d[k], dead[i].e->id, dead[i].attempts,
		    dead[i].reason, dead[i].e->key, dead[i].e->klen,
		    dead[i].e->data, dead[i].e->len) != 0)
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
 * Queue q's lead group, its groups as the records left them (made again
 * as they are: the call changes nothing the second time).  NULL out of
 * memory.
 */
struct dispatch *
rgroups_lead(struct replay *r, struct rqueue *q, journal_queue_fn queue_of,
    void *arg)
{
	const char	**names;
	uint64_t	 *from;
	struct dispatch	**d, *lead = NULL;
	size_t		  k;

	(void)r;
	names = calloc(q->ng ? q->ng : 1, sizeof *names);
	from = calloc(q->ng ? q->ng : 1, sizeof *from);
	d = calloc(q->ng ? q->ng : 1, sizeof *d);
	if (names != NULL && from != NULL && d != NULL) {
		for (k = 0; k < q->ng; k++) {
			names[k] = q->g[k].name;
			from[k] = q->g[k].from;
		}
		if (queue_of(arg, q->name, strlen(q->name), q->ng, names, from,
		    d) == 0)
			lead = d[0];
	}
	free(names);
	free(from);
	free(d);
	return lead;
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
