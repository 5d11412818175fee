/*
 * compact.c: journal compaction (docs/journal.md).  Only the oldest
 * segment is ever deleted, once nothing is charged to it; one event held
 * long (delayed an hour, in a paused queue, a dead letter) would keep it,
 * and every newer one, on disk.  So when the oldest segment of three or
 * more is mostly dead weight, the live events charged to it are copied
 * forward from memory into the segment being written (KEEP records, with
 * their attempts and attributes as they are now; dead letters as DEAD
 * records), which takes their charge; then the oldest goes.
 *
 * Bounded work: each end of a loop iteration copies at most
 * COMPACT_BUDGET bytes of events, walking the queues from the start, and
 * asks for another iteration while there is more.  Events already copied
 * are charged to the new segment and skipped on the next walk.  Events
 * of a queue with named groups are charged once per group and are not
 * copied: a segment they pin is left alone (compact_skip) until it is
 * freed otherwise.
 */
#include <string.h>

#include "producerd.h"

#define COMPACT_BUDGET	(512u * 1024)	/* event bytes a loop iteration */

struct compaction {
	struct journal		*j;
	struct dispatch		*lead;
	const char		*queue;
	uint64_t		 budget;
	int			 more;		/* the budget ran out */
	int			 failed;
};

/* One event a queue holds: copied if the oldest segment holds its copy. */
static void
visit(void *arg, const struct qevent *ev, uint64_t due)
{
	struct compaction	*c = arg;
	struct sched		*s = c->lead->sched;
	const uint8_t		*uid = NULL;
	uint8_t			 ulen = 0;

	if (c->more || c->failed || journal_seg_of(c->j, ev->id) != 0)
		return;
	if (c->budget < (uint64_t)ev->len + ev->klen) {
		c->more = 1;
		return;
	}
	c->budget -= (uint64_t)ev->len + ev->klen;
	if (s != NULL && s->uniq != NULL)
		(void)uniq_of(s->uniq, ev->id, &uid, &ulen);
	if (journal_keep(c->j, c->queue, ev, due, uid, ulen) != 0)
		c->failed = 1;
}

/*
 * Is the oldest segment worth emptying: three segments or more, events
 * charged to it, and at most half of the copies written there live (a
 * segment mostly live is copied at no gain)?
 */
static int
worth(const struct journal *j)
{
	const struct jsegment	*old = &j->segs[0];

	return j->nsegs >= 3 && old->live != 0 && old->seq != j->compact_skip &&
	    old->live * 2 <= old->written && !j->full;
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
		if (q->ngroups != 1)
			continue;
		g = TAILQ_FIRST(&q->groups);
		c.lead = &g->d;
		c.queue = q->name;
		dispatch_walk(&g->d, visit, &c);
		if (c.more || c.failed)
			break;
	}
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
		log_info("%s: segment %llu keeps %llu events of queues with "
		    "groups (or not in memory); compaction leaves it", j->dir,
		    (unsigned long long)j->segs[0].seq,
		    (unsigned long long)j->segs[0].live);
		j->compact_skip = j->segs[0].seq;
	}
	return 0;
}
