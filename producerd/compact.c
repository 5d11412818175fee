/*
 * compact.c: journal compaction (docs/journal.md).  Only the oldest
 * segment is ever deleted, once nothing is charged to it; one event held
 * long (delayed an hour, in a paused queue, a dead letter) would keep it,
 * and every newer one, on disk.  So when the oldest segment of three or
 * more is mostly dead weight, or the journal has grown past 1.5 x the
 * live data + 2 segments (a backlog or a mass of delayed events keeps
 * the oldest mostly live, and the acked segments behind it; the bound
 * is 2 x live + 2 segments), the
 * live events charged to it are copied forward from memory into the
 * segment being written (KEEP records, with their attempts and
 * attributes as they are now; dead letters as DEAD records), which takes
 * their charge; then the oldest goes.
 *
 * An event of a queue with named groups is charged once per group that
 * holds it; its copy (GKEEP) says how each group holds it (pending with
 * its attempts, or dead), so the groups' own records in the old segment
 * are no longer needed, and every charge there moves.
 *
 * Bounded work: each end of a loop iteration copies at most
 * COMPACT_BUDGET bytes of events, walking the queues from the start, and
 * asks for another iteration while there is more.  Events already copied
 * are charged to the new segment and skipped on the next walk.  What a
 * whole walk leaves charged to the oldest segment is not in memory (it
 * should not happen): that segment is then left alone (compact_skip).
 */
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "producerd.h"

/*
 * Event bytes a loop iteration: each step walks every event of every
 * queue, so a step must copy enough to pay for its walk (at 512 KiB, a
 * soak with 200,000 delayed events and a backlog ran 4 times slower than
 * without compaction); and what one iteration writes must still fit in
 * the reserve (journal.h, 4 MiB at least) with the events it accepted.
 */
#define COMPACT_BUDGET	(2u * 1024 * 1024)

struct compaction {
	struct journal		*j;
	struct dispatch		*lead;
	const char		*queue;
	uint64_t		 budget;
	int			 more;		/* the budget ran out */
	int			 failed;
	/* A queue with groups: every hold of every event, then sorted. */
	struct ghold		*h;
	size_t			 nh;
	size_t			 caph;
	struct nqueue		*q;
	uint32_t		 k;		/* the group walked */
};

/* One group's hold on one event (a queue with named groups). */
struct ghold {
	struct qevent		 ev;		/* a copy: payload in place */
	uint64_t		 due;
	uint32_t		 k;		/* the group's place in q */
};

/* One event a queue holds: copied if the oldest segment holds its copy. */
static void
visit(void *arg, const struct qevent *ev, uint64_t due)
{
	struct compaction	*c = arg;
	struct sched		*s = c->lead->sched;
	const uint8_t		*uid = NULL;
	uint8_t			 ulen = 0;

	/*
	 * Cheap tests first: the walk sees every event, and most are not
	 * the oldest's.  A copy (KEEP, DEAD) is never older than its
	 * ENQUEUE, so an event enqueued after the oldest began is not there.
	 */
	if (c->more || c->failed || c->j->segs[0].live == 0 ||
	    ev->id >= c->j->segs[1].first_id ||
	    journal_seg_of(c->j, ev->id) != 0)
		return;
	if (c->budget < (uint64_t)ev->len + ev->klen + ev->hlen) {
		c->more = 1;
		return;
	}
	c->budget -= (uint64_t)ev->len + ev->klen + ev->hlen;
	if (s != NULL && s->uniq != NULL)
		(void)uniq_of(s->uniq, ev->id, &uid, &ulen);
	/* A KEEP carries its unique id, so its record is there now; a DEAD
	 * has none, and the id's record stays where it was. */
	if (journal_keep(c->j, c->queue, ev, due, uid, ulen) != 0)
		c->failed = 1;
	else if (uid != NULL && ev->reason == 0)
		uniq_moved(s->uniq, ev->id, c->j->segs[c->j->nsegs - 1].seq);
}

/* Every hold, for a queue with groups; delayed events are every group's. */
static void
gvisit(void *arg, const struct qevent *ev, uint64_t due)
{
	struct compaction	*c = arg;
	struct qgroup		*g;
	struct ghold		*h;
	uint32_t		 k = 0;

	TAILQ_FOREACH(g, &c->q->groups, entry) {
		if (due == 0 ? k != c->k : g->d.from > ev->id) {
			k++;
			continue;
		}
		if (c->nh == c->caph) {
			if ((h = reallocarray(c->h, c->caph ? c->caph * 2 : 256,
			    sizeof *h)) == NULL) {
				c->failed = 1;
				return;
			}
			c->h = h;
			c->caph = c->caph ? c->caph * 2 : 256;
		}
		h = &c->h[c->nh++];
		h->ev = *ev;
		h->due = due;
		h->k = k++;
	}
}

static int
by_id_group(const void *a, const void *b)
{
	const struct ghold	*x = a, *y = b;

	if (x->ev.id != y->ev.id)
		return x->ev.id < y->ev.id ? -1 : 1;
	return x->k < y->k ? -1 : x->k > y->k;
}

/* The name of group k of q. */
static const char *
group_name(struct nqueue *q, uint32_t k)
{
	struct qgroup	*g;

	TAILQ_FOREACH(g, &q->groups, entry) {
		if (k-- == 0)
			return g->name;
	}
	return "";
}

/*
 * A queue with named groups: its events with a charge in the oldest
 * segment, each copied once with every group's hold.
 */
static void
compact_groups(struct compaction *c, struct nqueue *q)
{
	struct journal	*j = c->j;
	struct qgroup	*g;
	struct jhold	 hold[256];
	struct sched	*s;
	const uint8_t	*uid;
	size_t		 i, at, n;
	uint32_t	 named, bytes;
	uint8_t		 ulen;
	int		 shared;

	c->q = q;
	c->nh = 0;
	c->k = 0;
	TAILQ_FOREACH(g, &q->groups, entry) {
		dispatch_walk(&g->d, gvisit, c);
		c->k++;
	}
	if (c->failed)
		return;
	if (c->nh > 1)		/* none: no array at all, for qsort */
		qsort(c->h, c->nh, sizeof *c->h, by_id_group);
	s = TAILQ_FIRST(&q->groups)->d.sched;
	for (at = 0; at < c->nh; at = i) {
		shared = 0;
		named = 0;
		for (i = at, n = 0; i < c->nh && c->h[i].ev.id == c->h[at].ev.id;
		    i++, n++) {
			if (*group_name(q, c->h[i].k) == '\0')
				shared = 1;
			else
				named++;
		}
		shared = shared && journal_seg_of(j, c->h[at].ev.id) == 0;
		if (named != 0 && journal_gseg_of(j, c->h[at].ev.id) != 0)
			named = 0;
		if (!shared && named == 0)
			continue;
		if (n > sizeof hold / sizeof hold[0]) {
			c->failed = 1;		/* more groups than a record */
			return;
		}
		bytes = c->h[at].ev.len + c->h[at].ev.klen +
		    c->h[at].ev.hlen;
		if (c->budget < bytes) {
			c->more = 1;
			return;
		}
		c->budget -= bytes;
		for (n = 0; at + n < i; n++) {
			hold[n].group = group_name(q, c->h[at + n].k);
			hold[n].attempts = c->h[at + n].ev.attempts;
			hold[n].dead = c->h[at + n].ev.reason != 0;
			hold[n].reason = c->h[at + n].ev.reason;
		}
		uid = NULL;
		ulen = 0;
		if (s != NULL && s->uniq != NULL)
			(void)uniq_of(s->uniq, c->h[at].ev.id, &uid, &ulen);
		if (journal_gkeep(j, q->name, &c->h[at].ev, c->h[at].due, uid,
		    ulen, hold, (uint8_t)n, shared, named) != 0) {
			c->failed = 1;
			return;
		}
		/* Each group's failures of it follow its copy. */
		for (n = 0; at + n < i; n++) {
			if (c->h[at + n].ev.fail != NULL)
				journal_change(j, q->name, hold[n].group, 0, 0,
				    DISPATCH_FAILED, &c->h[at + n].ev);
		}
		if (j->failed) {
			c->failed = 1;
			return;
		}
		if (uid != NULL)
			uniq_moved(s->uniq, c->h[at].ev.id,
			    j->segs[j->nsegs - 1].seq);
	}
}

/* Is the oldest segment worth emptying (journal.c says)? */
static int
worth(const struct journal *j)
{
	return journal_compact_wanted(j);
}

/*
 * Before the segments up to seq go: every queue's unique ids, and every
 * group's done events' records (keep-done), whose records are in them
 * are written again (journal.c), so that they outlive their segment
 * across a restart, for their whole time.
 */
int
server_carry(void *arg, struct journal *j, uint64_t seq)
{
	struct server	*srv = arg;
	struct nqueue	*q;
	struct qgroup	*g;
	uint64_t	 now = clock_wall_ms();

	TAILQ_FOREACH(q, &srv->queues, entry) {
		if ((g = TAILQ_FIRST(&q->groups)) != NULL &&
		    g->d.sched != NULL && journal_carry_uniq(j, q->name,
		    g->d.sched->uniq, seq, now) != 0)
			return -1;
		TAILQ_FOREACH(g, &q->groups, entry) {
			if (g->d.kept.n != 0 && journal_carry_kept(j, q->name,
			    g->name, &g->d.kept, seq) != 0)
				return -1;
		}
	}
	return 0;
}

/* Is there compaction to do (after a segment filled, say)? */
int
server_compact_wanted(struct server *srv)
{
	return srv->journaling && worth(&srv->journal);
}

/*
 * One step, at the end of a loop iteration before the journal is
 * written: 1 when there is more to copy (the caller wakes the loop
 * again), else 0.
 */
int
server_compact(struct server *srv)
{
	struct journal		*j = &srv->journal;
	struct compaction	 c;
	struct nqueue		*q;
	struct qgroup		*g;

	if (!srv->journaling || !worth(j))
		return 0;
	memset(&c, 0, sizeof c);
	c.j = j;
	c.budget = COMPACT_BUDGET;
	TAILQ_FOREACH(q, &srv->queues, entry) {
		if (q->ngroups > 1) {
			compact_groups(&c, q);
			if (c.more || c.failed)
				break;
			continue;
		}
		if (q->ngroups != 1)
			continue;
		g = TAILQ_FIRST(&q->groups);
		c.lead = &g->d;
		c.queue = q->name;
		dispatch_walk(&g->d, visit, &c);
		if (c.more || c.failed)
			break;
	}
	free(c.h);
	if (c.failed) {
		log_warnx("%s: out of memory compacting the journal; its "
		    "oldest segment stays", srv->data_dir);
		j->compact_skip = j->segs[0].seq;
		return 0;
	}
	if (c.more)
		return 1;
	/* A whole walk: what still pins it is not ours to move. */
	if (j->segs[0].live != 0) {
		log_info("%s: segment %llu keeps %llu events that are not in "
		    "memory; compaction leaves it", j->dir,
		    (unsigned long long)j->segs[0].seq,
		    (unsigned long long)j->segs[0].live);
		j->compact_skip = j->segs[0].seq;
	}
	return 0;
}
