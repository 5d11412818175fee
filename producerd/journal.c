/*
 * journal.c: writing the journal.  Changes become records in a buffer as
 * they happen; journal_commit writes the buffer with one write and, as
 * --fsync says, one fdatasync, before anything the daemon says about them
 * leaves it (io.c).  Segments roll at --segment-size; the oldest goes
 * once no live event's copy is in it.
 *
 * Each live event is charged to the one segment holding its latest full
 * copy: its ENQUEUE's (found from the ids each segment starts at) or, once
 * moved, the segment of its DEAD record (the moved map).  Only the oldest
 * segments are deleted, so a DONE or DEAD record never outlives the older
 * record it cancels and no event comes back from the dead on replay.
 */
#include <sys/file.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "fdio.h"
#include "jrec.h"
#include "journal.h"
#include "log.h"
#include "uniq.h"

int
journal_seg_path(const struct journal *j, uint64_t seq, char *p, size_t n)
{
	int	 r;

	r = snprintf(p, n, "%s/%08" PRIu64 ".seg", j->dir, seq);
	return r < 0 || (size_t)r >= n ? -1 : 0;
}

int
journal_seg_add(struct journal *j, uint64_t seq, uint64_t first_id,
    uint64_t bytes)
{
	struct jsegment	*s;
	size_t		 cap;

	if (j->nsegs == j->capsegs) {
		cap = j->capsegs ? j->capsegs * 2 : 16;
		if ((s = reallocarray(j->segs, cap, sizeof *s)) == NULL)
			return -1;
		j->segs = s;
		j->capsegs = cap;
	}
	s = &j->segs[j->nsegs++];
	s->seq = seq;
	s->first_id = first_id;
	s->bytes = bytes;
	s->live = 0;
	s->written = 0;
	s->uids = 0;
	j->bytes += bytes;
	return 0;
}

/* The segment index of seq (it exists, or the last before it). */
static size_t
seg_index(const struct journal *j, uint64_t seq)
{
	size_t	 lo = 0, hi = j->nsegs, mid;

	while (lo + 1 < hi) {
		mid = (lo + hi) / 2;
		if (j->segs[mid].seq <= seq)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

/* The segment charged with id: where its copy is. */
size_t
journal_seg_of(const struct journal *j, uint64_t id)
{
	uint64_t	 seq;

	if (!idmap_get(&j->moved, id, &seq))
		return journal_seg_first(j, id);
	return seg_index(j, seq);
}

/* The segment id was enqueued in: the last whose ids start at or before. */
size_t
journal_seg_first(const struct journal *j, uint64_t id)
{
	size_t		 lo = 0, hi = j->nsegs, mid;

	while (lo + 1 < hi) {
		mid = (lo + hi) / 2;
		if (j->segs[mid].first_id <= id)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

/*
 * What one charge of ev counts towards the live data, the bound's
 * measure (docs/journal.md): its payload, key and headers (extra), and a
 * record's bytes around them.
 */
uint64_t
journal_live_size(uint32_t len, uint32_t extra)
{
	return (uint64_t)len + extra + JOURNAL_LIVE_OVERHEAD;
}

static uint64_t
live_size(const struct qevent *ev)
{
	return journal_live_size(ev->len, (ev->key != NULL ? ev->klen : 0) +
	    (uint32_t)ev->hlen);
}

static void
live_sub(struct journal *j, uint64_t n)
{
	j->live_bytes -= j->live_bytes < n ? j->live_bytes : n;
}

static void
uncharge(struct journal *j, const struct qevent *ev)
{
	struct jsegment	*s = &j->segs[journal_seg_of(j, ev->id)];

	if (s->live != 0)
		s->live--;
	live_sub(j, live_size(ev));
	idmap_del(&j->moved, ev->id);
}

#define GMOVED_SEQ(v)	((v) & ((UINT64_C(1) << 48) - 1))
#define GMOVED_REFS(v)	((v) >> 48)

/*
 * Where a named group's copy of an event is: the one in its ENQUEUE's
 * segment (its dead letters carry no payload), or where compaction moved
 * the named groups' charges (GKEEP).
 */
size_t
journal_gseg_of(const struct journal *j, uint64_t id)
{
	uint64_t	 v;

	if (idmap_get(&j->gmoved, id, &v))
		return seg_index(j, GMOVED_SEQ(v));
	return journal_seg_first(j, id);
}

/* One more named group charged for id in segment seq (replay). */
int
journal_gmoved_add(struct journal *j, uint64_t id, uint64_t seq)
{
	uint64_t	 v = 0;

	(void)idmap_get(&j->gmoved, id, &v);
	return idmap_put(&j->gmoved, id, seq | (GMOVED_REFS(v) + 1) << 48);
}

/* A named group is done with id: uncharge its copy's segment. */
static void
uncharge_enqueued(struct journal *j, const struct qevent *ev)
{
	uint64_t	 id = ev->id, v;
	struct jsegment	*s = &j->segs[journal_gseg_of(j, id)];

	if (s->live != 0)
		s->live--;
	live_sub(j, live_size(ev));
	if (!idmap_get(&j->gmoved, id, &v))
		return;
	if (GMOVED_REFS(v) <= 1)
		idmap_del(&j->gmoved, id);
	else
		(void)idmap_put(&j->gmoved, id, v - (UINT64_C(1) << 48));
}

/* Close the open record: its length and checksums. */
static void
rec_close(struct journal *j)
{
	if (j->rec_type == 0)
		return;
	jrec_end(&j->buf, j->rec, j->rec_type);
	j->rec_type = 0;
}

/*
 * Room for n more body bytes in an open record of type; 1 if a new record
 * was opened, 0 if the open one goes on, -1 out of memory.
 */
static int
rec_room(struct journal *j, int type, size_t n, int fresh)
{
	if (j->rec_type == type && !fresh && j->buf.len - j->rec -
	    JOURNAL_REC_HEAD + n <= JOURNAL_REC_SOFT)
		return ps_buf_reserve(&j->buf, n) == 0 ? 0 : -1;
	rec_close(j);
	if (ps_buf_reserve(&j->buf, JOURNAL_REC_HEAD + n) != 0 ||
	    jrec_begin(&j->buf, &j->rec) != 0)
		return -1;
	j->rec_type = type;
	return 1;
}

/*
 * What a new record of type says before its entries: its queue, its
 * group, its first id (jrec.c knows which of them its type has).
 */
static int
rec_start(struct journal *j, int type, const char *queue, const char *group,
    uint64_t first_id)
{
	struct jrec	 r;

	memset(&r, 0, sizeof r);
	r.type = type;
	r.queue = queue;
	r.qlen = (uint8_t)strlen(queue);
	if (group != NULL) {
		r.group = group;
		r.glen = (uint8_t)strlen(group);
	}
	r.first_id = first_id;
	return jrec_start(&j->buf, &r);
}

/* ev as a record's entry: its payload and key in place, not copied. */
static void
entry_of(struct jrec_entry *e, const struct qevent *ev)
{
	memset(e, 0, sizeof *e);
	e->id = ev->id;
	e->attempts = ev->attempts;
	e->reason = ev->reason;
	e->data = ev->data;
	e->len = ev->len;
	e->key = ev->key;
	e->klen = ev->klen;
	e->hdr = ev->hdr;
	e->hlen = ev->hlen;
	e->prio = ev->prio;
}

static int
rec_ids(struct journal *j, int type, uint64_t id)
{
	struct jrec_entry	 e;

	if (rec_room(j, type, 8, 0) < 0)
		return -1;
	memset(&e, 0, sizeof e);
	e.id = id;
	return jrec_put(&j->buf, type, &e);
}

/*
 * A named group's record of type, about id: it names the queue and the
 * group first, and holds one group's entries only.  A GDEAD entry has
 * the attempts and the reason after the id.
 */
static int
rec_group_ids(struct journal *j, int type, const char *queue,
    const char *group, const struct qevent *ev)
{
	struct jrec_entry	 e;
	int			 r;

	r = rec_room(j, type, 2 + 2 * PS_QUEUE_MAX + 13, j->rec_type ==
	    type && (strcmp(j->rec_queue, queue) != 0 ||
	    strcmp(j->rec_group, group) != 0));
	if (r < 0)
		return -1;
	if (r == 1) {
		if (rec_start(j, type, queue, group, 0) != 0)
			return -1;
		snprintf(j->rec_queue, sizeof j->rec_queue, "%s", queue);
		snprintf(j->rec_group, sizeof j->rec_group, "%s", group);
	}
	entry_of(&e, ev);
	return jrec_put(&j->buf, type, &e);
}

_Static_assert(QFAIL_KEEP <= JREC_FAILS_MAX, "a FAIL entry holds them all");
_Static_assert(QFAIL_ERROR_MAX == PS_ERROR_TEXT_MAX, "an error's limit");

/*
 * ev's failures as they are now, all of them, in group of queue ("": the
 * shared one): a FAIL record's entry.  The newest FAIL of an event says
 * what it has, so a copy of the event (KEEP, GKEEP, DEAD) is followed by
 * one, and its older ones may go with their segments.
 */
static int
rec_fail(struct journal *j, const char *queue, const char *group,
    const struct qevent *ev)
{
	struct ps_failure	 f[JREC_FAILS_MAX];
	struct jrec_entry	 e;
	const struct qfailure	*q;
	size_t			 need = 2 + 2 * PS_QUEUE_MAX + 9;
	uint8_t			 n;
	int			 r;

	/* Oldest first, as they are kept (all: QFAIL_KEEP fits). */
	for (n = 0; ev->fail != NULL && n < ev->fail->n; n++) {
		q = &ev->fail->f[n];
		f[n] = (struct ps_failure){ q->at, q->attempt, q->bytes,
		    q->wlen, (const uint8_t *)q->bytes + q->wlen, q->elen };
		need += PS_FAILURE_HEAD + (size_t)q->wlen + q->elen;
	}
	r = rec_room(j, JREC_FAIL, need, j->rec_type == JREC_FAIL &&
	    (strcmp(j->rec_queue, queue) != 0 ||
	    strcmp(j->rec_group, group) != 0));
	if (r < 0)
		return -1;
	if (r == 1) {
		if (rec_start(j, JREC_FAIL, queue, group, 0) != 0)
			return -1;
		snprintf(j->rec_queue, sizeof j->rec_queue, "%s", queue);
		snprintf(j->rec_group, sizeof j->rec_group, "%s", group);
	}
	memset(&e, 0, sizeof e);
	e.id = ev->id;
	e.fails = f;
	e.nfails = n;
	return jrec_put(&j->buf, JREC_FAIL, &e);
}

/*
 * A done event's record kept (keep-done), with its result: written
 * where the journal is now, which the record remembers so that it is
 * carried forward before its segment goes (journal_carry_kept).  Counted
 * as carried data (a segment's uids), not as a live event: it pins no
 * segment.
 */
static int
rec_kept(struct journal *j, const char *queue, const char *group,
    struct kdone *k)
{
	struct jsegment	*cur = &j->segs[j->nsegs - 1];
	struct jrec_entry e;
	int		 r;

	r = rec_room(j, JREC_KEPT, 2 + 2 * PS_QUEUE_MAX + 24 + (size_t)k->len,
	    j->rec_type == JREC_KEPT && (strcmp(j->rec_queue, queue) != 0 ||
	    strcmp(j->rec_group, group) != 0));
	if (r < 0)
		return -1;
	if (r == 1) {
		if (rec_start(j, JREC_KEPT, queue, group, 0) != 0)
			return -1;
		snprintf(j->rec_queue, sizeof j->rec_queue, "%s", queue);
		snprintf(j->rec_group, sizeof j->rec_group, "%s", group);
	}
	memset(&e, 0, sizeof e);
	e.id = k->id;
	e.due = k->at;
	e.attempts = k->attempts;
	e.data = k->result;
	e.len = k->len;
	if (jrec_put(&j->buf, JREC_KEPT, &e) != 0)
		return -1;
	k->seg = cur->seq;
	cur->uids += 24 + (uint64_t)k->len;
	j->uids_bytes += 24 + (uint64_t)k->len;
	return 0;
}

/*
 * Before the segments up to seq are deleted: a group's done events'
 * records written in them are written again where the journal is now.
 * -1 out of memory.
 */
int
journal_carry_kept(struct journal *j, const char *queue, const char *group,
    struct kept *kp, uint64_t seq)
{
	struct kdone	*k;

	for (k = kept_each(kp, NULL); k != NULL; k = kept_each(kp, k)) {
		if (k->seg <= seq && rec_kept(j, queue, group, k) != 0)
			return -1;
	}
	return 0;
}

/* A group made (drop 0: from id on) or dropped: a record of its own. */
int
journal_group(struct journal *j, int drop, const char *queue,
    const char *group, uint64_t from)
{
	struct jrec	 r;
	int		 type = drop ? JREC_GROUP_DROP : JREC_GROUP;

	memset(&r, 0, sizeof r);
	r.type = type;
	r.queue = queue;
	r.qlen = (uint8_t)strlen(queue);
	r.group = group;
	r.glen = (uint8_t)strlen(group);
	r.from = from;
	if (rec_room(j, type, 2 + 2 * PS_QUEUE_MAX + 8, 1) < 0 ||
	    jrec_start(&j->buf, &r) != 0) {
		j->failed = 1;
		return -1;
	}
	rec_close(j);
	return 0;
}

/* A queue's n groups, with where each started: at a segment's start. */
int
journal_groups(struct journal *j, const char *queue, uint8_t n,
    const char * const *names, const uint64_t *from)
{
	struct jrec		 r;
	struct jrec_entry	 e;
	uint8_t			 i;

	memset(&r, 0, sizeof r);
	r.type = JREC_GROUPS;
	r.queue = queue;
	r.qlen = (uint8_t)strlen(queue);
	r.n = n;
	if (rec_room(j, JREC_GROUPS, 2 + PS_QUEUE_MAX + (size_t)n *
	    (1 + PS_QUEUE_MAX + 8), 1) < 0 || jrec_start(&j->buf, &r) != 0)
		goto fail;
	for (i = 0; i < n; i++) {
		memset(&e, 0, sizeof e);
		e.group = names[i];
		e.glen = (uint8_t)strlen(names[i]);
		e.from = from[i];
		if (jrec_put(&j->buf, JREC_GROUPS, &e) != 0)
			goto fail;
	}
	rec_close(j);
	return 0;
fail:
	j->failed = 1;
	return -1;
}

/*
 * The default queue's events go in the records of version 1's journal;
 * another queue's in records that name it first.  A record holds events
 * of one queue only.
 */
static int
named(const char *queue)
{
	return strcmp(queue, PS_QUEUE_DEFAULT) != 0;
}

static int
rec_enqueue(struct journal *j, const char *queue, const struct qevent *ev)
{
	struct jrec_entry	 e;
	int			 type, r;

	type = ev->key != NULL ? JREC_KENQUEUE : named(queue) ?
	    JREC_QENQUEUE : JREC_ENQUEUE;
	r = rec_room(j, type, 13 + PS_KEY_MAX + (size_t)ev->len + 1 +
	    PS_QUEUE_MAX, j->rec_type == type && (ev->id != j->rec_next_id ||
	    strcmp(j->rec_queue, queue) != 0));
	if (r < 0)
		return -1;
	if (r == 1) {
		if (rec_start(j, type, queue, NULL, ev->id) != 0)
			return -1;
		snprintf(j->rec_queue, sizeof j->rec_queue, "%s", queue);
	}
	entry_of(&e, ev);
	if (jrec_put(&j->buf, type, &e) != 0)
		return -1;
	j->rec_next_id = ev->id + 1;
	j->enqueued = 1;
	return 0;
}

/*
 * Room for n more bytes in an open record of type for queue's events: a
 * new one (its queue's name first, then first_id if its type has one)
 * when the queue changes or fresh says so.  1 a new record, 0 the open
 * one goes on, -1 out of memory.
 */
static int
queue_room(struct journal *j, int type, const char *queue, size_t n,
    int fresh, uint64_t first_id)
{
	int	 r;

	r = rec_room(j, type, 1 + PS_QUEUE_MAX + n, fresh ||
	    (j->rec_type == type && strcmp(j->rec_queue, queue) != 0));
	if (r == 1) {
		if (rec_start(j, type, queue, NULL, first_id) != 0)
			return -1;
		snprintf(j->rec_queue, sizeof j->rec_queue, "%s", queue);
	}
	return r;
}

/*
 * ev as an entry with its attributes as records keep them (its due time,
 * wall ms, as NOT_BEFORE), and what it takes of a record, about.
 */
static size_t
entry_attrs(struct jrec_entry *e, const struct qevent *ev, uint64_t due,
    const uint8_t *uid, uint8_t ulen)
{
	entry_of(e, ev);
	e->due = due;
	e->uid = uid;
	e->ulen = ulen;
	return jrec_attrs_size(e) + (size_t)ev->len;
}

/* An event with a due time, a priority, a unique id or a key of 255
 * bytes (KENQUEUE keeps length + 1 in a byte): XENQUEUE. */
static int
rec_xenqueue(struct journal *j, const char *queue,
    const struct dispatch_new *n)
{
	const struct qevent	*ev = &n->ev;
	struct jrec_entry	 e;
	size_t			 size;

	size = entry_attrs(&e, ev, n->due, n->uid, n->ulen);
	if (queue_room(j, JREC_XENQUEUE, queue, 14 + size, ev->id !=
	    j->rec_next_id, ev->id) < 0)
		return -1;
	if (jrec_put(&j->buf, JREC_XENQUEUE, &e) != 0)
		return -1;
	j->rec_next_id = ev->id + 1;
	j->enqueued = 1;
	return 0;
}

/*
 * Compaction: a fresh copy of pending event ev of queue (due: its time,
 * wall ms, or 0; its unique id, or NULL) in the segment being written,
 * charged there; its old copy's segment may go.  A dead letter is copied
 * as it died (a DEAD record).  -1 out of memory.
 */
int
journal_keep(struct journal *j, const char *queue, const struct qevent *ev,
    uint64_t due, const uint8_t *uid, uint8_t ulen)
{
	struct jsegment		*cur = &j->segs[j->nsegs - 1];
	struct jrec_entry	 e;
	size_t			 size;

	if (ev->reason != 0) {
		journal_change(j, queue, "", 1, 0, DISPATCH_BURIED, ev);
		j->compacted_total++;
		return j->failed ? -1 : 0;
	}
	size = entry_attrs(&e, ev, due, uid, ulen);
	if (queue_room(j, JREC_KEEP, queue, 18 + size, 0, 0) < 0 ||
	    jrec_put(&j->buf, JREC_KEEP, &e) != 0 ||
	    (ev->fail != NULL && rec_fail(j, queue, "", ev) != 0))
		return -1;
	uncharge(j, ev);
	if (idmap_put(&j->moved, ev->id, cur->seq) != 0)
		return -1;
	cur->live++;
	cur->written++;
	j->live_bytes += live_size(ev);
	j->compacted_total++;
	return 0;
}

/*
 * The same for an event of a queue with named groups, ev's payload and
 * attributes once, then the n groups that hold it (h).  shared: the
 * shared group's charge is in the oldest segment, and moves here; named:
 * that many named groups' charges are there, and move here.  -1 out of
 * memory.
 */
int
journal_gkeep(struct journal *j, const char *queue, const struct qevent *ev,
    uint64_t due, const uint8_t *uid, uint8_t ulen, const struct jhold *h,
    uint8_t n, int shared, uint32_t named)
{
	struct jsegment		*cur = &j->segs[j->nsegs - 1];
	struct jrec_entry	 e;
	size_t			 need = 0;
	uint8_t			 i;

	for (i = 0; i < n; i++)
		need += 7 + strlen(h[i].group);
	need += entry_attrs(&e, ev, due, uid, ulen);
	e.holds = h;
	e.nholds = n;
	if (queue_room(j, JREC_GKEEP, queue, 15 + need, 0, 0) < 0 ||
	    jrec_put(&j->buf, JREC_GKEEP, &e) != 0)
		return -1;
	if (shared) {
		uncharge(j, ev);
		if (idmap_put(&j->moved, ev->id, cur->seq) != 0)
			return -1;
		cur->live++;
		j->live_bytes += live_size(ev);
	}
	if (named != 0) {
		struct jsegment	*old = &j->segs[journal_gseg_of(j, ev->id)];

		old->live -= old->live < named ? old->live : named;
		if (idmap_put(&j->gmoved, ev->id, cur->seq |
		    (uint64_t)named << 48) != 0)
			return -1;
		cur->live += named;
	}
	cur->written++;
	j->compacted_total++;
	return 0;
}

/*
 * Unique id uid, of event id of queue, held until expires (wall ms; 0:
 * while its event is live): a UIDS entry, so that it outlives the
 * segment its event's records were in.  -1 out of memory.
 */
int
journal_uids(struct journal *j, const char *queue, uint64_t id,
    uint64_t expires, const uint8_t *uid, uint8_t ulen)
{
	struct jrec_entry	 e;

	if (queue_room(j, JREC_UIDS, queue, 17 + (size_t)ulen, 0, 0) < 0)
		return -1;
	j->segs[j->nsegs - 1].uids += 17 + (uint64_t)ulen;
	j->uids_bytes += 17 + (uint64_t)ulen;
	memset(&e, 0, sizeof e);
	e.id = id;
	e.expires = expires;
	e.uid = uid;
	e.ulen = ulen;
	return jrec_put(&j->buf, JREC_UIDS, &e);
}

struct carry {
	struct journal	*j;
	const char	*queue;
	uint64_t	 seq;		/* segments up to this one go */
	uint64_t	 now;
	int		 failed;
};

static void
carry_one(void *arg, struct uentry *e)
{
	struct carry	*c = arg;
	struct journal	*j = c->j;
	uint64_t	 at, cur = j->segs[j->nsegs - 1].seq;

	if (c->failed || (e->expires != 0 && e->expires <= c->now))
		return;			/* its window is over */
	at = e->seq != 0 ? e->seq : j->segs[journal_seg_first(j, e->id)].seq;
	if (at > c->seq)
		return;
	if (journal_uids(j, c->queue, e->id, e->expires, e->uid, e->len) != 0) {
		c->failed = 1;
		return;
	}
	e->seq = cur;
}

/*
 * Before the segments up to seq are deleted: queue's unique ids whose
 * record (an XENQUEUE, a KEEP, a UIDS) is in them, live or in their
 * window at now (wall ms), go into the segment being written.  An id
 * forgotten with its segment would let a client's retry in again after a
 * restart.  -1 out of memory.
 */
int
journal_carry_uniq(struct journal *j, const char *queue, struct uniq *u,
    uint64_t seq, uint64_t now)
{
	struct carry	 c = { j, queue, seq, now, 0 };

	if (u == NULL || u->count == 0)
		return 0;
	uniq_walk(u, carry_one, &c);
	return c.failed ? -1 : 0;
}

/*
 * Is there compaction to do: three segments or more, events charged to
 * the oldest, and either at most half of the copies written there live
 * (cheap to empty), or the journal past 1.5 x the live data + 2
 * segments, whatever the oldest's share: only the oldest segments go, so
 * a mostly live one keeps every newer one, however dead, on disk.  The
 * trigger sits under the bound, 2 x live + 2 segments, so that the
 * journal keeps within it while a drained backlog makes the live data
 * fall faster than segments can be emptied (at the bound itself the
 * soak passed it by 1.18 times; docs/journal.md).
 */
int
journal_compact_wanted(const struct journal *j)
{
	const struct jsegment	*old = &j->segs[0];

	if (j->nsegs < 3 || old->live == 0 || old->seq == j->compact_skip ||
	    j->full)
		return 0;
	return old->live * 2 <= old->written ||
	    j->bytes > j->live_bytes + j->live_bytes / 2 + 2 * j->segment_size;
}

static int
rec_dead(struct journal *j, const char *queue, const struct qevent *ev)
{
	struct jrec_entry	 e;
	int			 type, r;

	/*
	 * KDEAD keeps a key's length + 1 in a byte: one of 255 bytes, like
	 * headers, needs XDEAD's attributes.
	 */
	type = ev->hlen != 0 || (ev->key != NULL && ev->klen == PS_KEY_MAX) ?
	    JREC_XDEAD : ev->key != NULL ? JREC_KDEAD : named(queue) ?
	    JREC_QDEAD : JREC_DEAD;
	r = rec_room(j, type, 25 + PS_KEY_MAX + (size_t)ev->hlen +
	    (size_t)ev->len + 1 + PS_QUEUE_MAX, j->rec_type == type &&
	    strcmp(j->rec_queue, queue) != 0);
	if (r < 0)
		return -1;
	if (r == 1) {
		if (rec_start(j, type, queue, NULL, 0) != 0)
			return -1;
		snprintf(j->rec_queue, sizeof j->rec_queue, "%s", queue);
	}
	entry_of(&e, ev);
	return jrec_put(&j->buf, type, &e);
}

/*
 * A change in a group of a queue: the record, and who is charged for the
 * event.  An event enqueued is charged once for each of the queue's
 * groups, and each group's end of it (done, or its dead letter dropped)
 * takes one off; the shared group ("") uses the records of a journal
 * without groups, so a queue without named groups writes what it always
 * did.
 */
void
journal_change(struct journal *j, const char *queue, const char *group,
    uint32_t groups, uint32_t named, enum dispatch_change what,
    const struct qevent *ev)
{
	struct jsegment	*cur = &j->segs[j->nsegs - 1];
	const struct dispatch_new *n;
	uint32_t	 i;
	int		 r = 0;

	if (*group != '\0' && what != DISPATCH_PUSHED) {
		switch (what) {
		case DISPATCH_SENT:
			r = rec_group_ids(j, JREC_GDELIVER, queue, group, ev);
			break;
		case DISPATCH_GONE:
			uncharge_enqueued(j, ev);
			r = rec_group_ids(j, JREC_GDONE, queue, group, ev);
			break;
		case DISPATCH_BURIED:
			r = rec_group_ids(j, JREC_GDEAD, queue, group, ev);
			break;
		case DISPATCH_FAILED:
			r = rec_fail(j, queue, group, ev);
			break;
		case DISPATCH_KEPT:
			r = rec_kept(j, queue, group,
			    ((const struct dispatch_kept *)ev)->k);
			break;
		case DISPATCH_UNKEPT:
			break;		/* carried no more; nothing pinned */
		default:
			r = rec_group_ids(j, JREC_GRETRY, queue, group, ev);
			break;
		}
		if (r != 0)
			j->failed = 1;
		return;
	}
	switch (what) {
	case DISPATCH_PUSHED:
		cur->live += groups;
		cur->written++;
		j->live_bytes += groups * live_size(ev);
		/*
		 * An id set aside while its batch waited (dispatch.c) can be
		 * older than this segment's first: its copy, and each group's
		 * charge, are here all the same, not where its id would say.
		 */
		if (journal_seg_first(j, ev->id) != j->nsegs - 1) {
			if (groups > named &&
			    idmap_put(&j->moved, ev->id, cur->seq) != 0)
				r = -1;
			for (i = 0; i < named; i++) {
				if (journal_gmoved_add(j, ev->id, cur->seq) !=
				    0)
					r = -1;
			}
		}
		j->must_sync = 1;	/* its ENQUEUED waits for the disk */
		n = (const struct dispatch_new *)ev;
		if (n->due != 0 || n->uid != NULL || ev->hlen != 0 ||
		    ev->prio != QUEUE_PRIO_DEFAULT ||
		    (ev->key != NULL && ev->klen == PS_KEY_MAX))
			r = rec_xenqueue(j, queue, n);
		else
			r = rec_enqueue(j, queue, ev);
		break;
	case DISPATCH_SENT:
		r = rec_ids(j, JREC_DELIVER, ev->id);
		break;
	case DISPATCH_GONE:
		uncharge(j, ev);
		r = rec_ids(j, JREC_DONE, ev->id);
		break;
	case DISPATCH_BURIED:
		/* Its copy moves here, so its old segment may go. */
		uncharge(j, ev);
		if (idmap_put(&j->moved, ev->id, cur->seq) != 0)
			r = -1;
		cur->live++;
		j->live_bytes += live_size(ev);
		cur->written++;
		if (rec_dead(j, queue, ev) != 0 || (ev->fail != NULL &&
		    rec_fail(j, queue, "", ev) != 0))
			r = -1;
		break;
	case DISPATCH_REVIVED:
		r = rec_ids(j, JREC_RETRY, ev->id);
		break;
	case DISPATCH_FAILED:
		r = rec_fail(j, queue, "", ev);
		break;
	case DISPATCH_KEPT:
		r = rec_kept(j, queue, "", ((const struct dispatch_kept *)ev)->k);
		break;
	case DISPATCH_UNKEPT:
		break;
	}
	if (r != 0)
		j->failed = 1;
}

/* Records wait to be written. */
int
journal_dirty(const struct journal *j)
{
	return j->buf.len != 0 || j->failed;
}

static int
datasync(struct journal *j, int fd)
{
	uint64_t	 t0 = clock_ns();

	if (fdatasync(fd) != 0)
		return -1;
	j->fsyncs_total++;
	j->last_fsync_us = (clock_ns() - t0) / 1000;
	return 0;
}

/* fsync what was written: the interval timer's job, and rolling's. */
int
journal_sync(struct journal *j)
{
	if (!j->unsynced)
		return 0;
	if (datasync(j, j->fd) != 0) {
		log_warn("%s: fdatasync", j->dir);
		return -1;
	}
	j->unsynced = 0;
	return 0;
}

/* A new segment to append to, its header on disk, its name in DIR. */
static int
seg_create(struct journal *j, uint64_t seq, uint64_t first_id)
{
	uint8_t	 h[JOURNAL_SEG_HEAD];
	char	 path[4096];
	int	 fd;

	if (journal_seg_path(j, seq, path, sizeof path) != 0) {
		errno = ENAMETOOLONG;
		log_warn("%s", j->dir);
		return -1;
	}
	jrec_seg_put(h, seq, first_id);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND |
	    O_CLOEXEC, 0600)) == -1) {
		log_warn("%s", path);
		return -1;
	}
	if (write_all(fd, h, sizeof h) != 0 || (j->fsync != JOURNAL_NEVER &&
	    (datasync(j, fd) != 0 || fsync(j->dirfd) != 0))) {
		log_warn("%s", path);
		close(fd);
		return -1;
	}
	if (journal_seg_add(j, seq, first_id, sizeof h) != 0) {
		log_warnx("%s: out of memory", path);
		close(fd);
		return -1;
	}
	if (j->fd != -1)
		close(j->fd);
	j->fd = fd;
	return 0;
}

static int	append(struct journal *);
static int	no_room(int);

/*
 * The records buffered (a new segment's groups, unique ids carried) onto
 * the current segment before segments go: 0, or an errno (they wait in
 * the buffer for the next commit).
 */
static int
write_out(struct journal *j)
{
	struct jsegment	*cur = &j->segs[j->nsegs - 1];
	int		 error;

	if (j->buf.len == 0)
		return 0;
	rec_close(j);
	if ((error = append(j)) != 0) {
		if (!no_room(error)) {
			errno = error;
			log_warn("%s: write segment %" PRIu64, j->dir, cur->seq);
		}
		return error;
	}
	cur->bytes += j->buf.len;
	j->bytes += j->buf.len;
	j->buf.len = 0;
	j->unsynced = 1;
	return 0;
}

/*
 * Delete the oldest segments while nothing live is left in them; the
 * unique ids whose records are there are carried into the current one
 * first, and on disk before the old ones go.
 */
static void
seg_trim(struct journal *j)
{
	char	 path[4096];
	size_t	 n = 0, k;
	int	 error, past;

	/*
	 * A segment mostly of carried unique ids goes only when the journal
	 * is past its bound, counting the ids as live: else each one deleted
	 * would write its ids again, filling a segment that goes in its turn
	 * (with more held ids than a segment, a roll at every commit).
	 */
	past = j->bytes > 2 * (j->live_bytes + j->uids_bytes) +
	    2 * j->segment_size;
	while (n + 1 < j->nsegs && j->segs[n].live == 0 &&
	    (past || j->segs[n].uids * 2 <= j->segs[n].bytes))
		n++;
	if (n == 0)
		return;
	if (j->carry != NULL) {
		if (j->carry(j->carry_arg, j, j->segs[n - 1].seq) != 0) {
			log_warnx("%s: out of memory carrying unique ids; old "
			    "segments stay", j->dir);
			return;
		}
		/*
		 * A full disk: the segments go all the same, since deleting
		 * them is what makes room; the ids are written once there is
		 * (a crash before then forgets them, no event).
		 */
		if ((error = write_out(j)) != 0 && !no_room(error))
			return;
	}
	for (k = n, n = 0; n < k; ) {
		/* The DEAD and UIDS records that moved things out are on disk. */
		if (n == 0 && j->fsync != JOURNAL_NEVER && journal_sync(j) != 0)
			break;
		if (journal_seg_path(j, j->segs[n].seq, path,
		    sizeof path) != 0 || unlink(path) != 0) {
			log_warn("%s: cannot delete segment %" PRIu64, j->dir,
			    j->segs[n].seq);
			break;
		}
		log_debug("%s: deleted, all its events done", path);
		j->bytes -= j->segs[n].bytes;
		j->uids_bytes -= j->segs[n].uids;
		n++;
	}
	if (n == 0)
		return;
	memmove(j->segs, j->segs + n, (j->nsegs - n) * sizeof *j->segs);
	j->nsegs -= n;
}

/* A write that failed for want of room, rather than a broken disk. */
static int
no_room(int error)
{
	return error == ENOSPC || error == EDQUOT;
}

/* DIR/reserve into p. */
static void
reserve_path(const struct journal *j, char *p, size_t n)
{
	snprintf(p, n, "%s/reserve", j->dir);
}

/*
 * Take the reserve: a file of j->reserve bytes of disk, given back when
 * the disk fills so that the records of what was already accepted, and
 * then acks, can still be written.  0, or an errno.
 */
static int
reserve_take(struct journal *j)
{
	char	 p[4200];
	int	 fd, error;

	if (j->reserve == 0)
		return 0;
	reserve_path(j, p, sizeof p);
	if ((fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0600)) == -1)
		return errno;
	error = posix_fallocate(fd, 0, (off_t)j->reserve);
	close(fd);
	if (error != 0)
		(void)unlink(p);
	return error;
}

/* No room: refuse events from now on, and say so once. */
static void
go_full(struct journal *j, const char *how)
{
	j->full = 1;
	j->full_total++;
	log_warnx("%s: journal: no space left on device%s; ENQUEUEs are "
	    "refused until there is room again (consumers are still served)",
	    j->dir, how);
}

/* The disk is full: give the reserve back for acks and what is accepted. */
static void
reserve_give(struct journal *j)
{
	char	 p[4200];

	reserve_path(j, p, sizeof p);
	if (unlink(p) != 0 && errno != ENOENT)
		log_warn("%s", p);
	go_full(j, ", the reserve given back for acks");
}

/*
 * The buffered records onto the end of the current segment, whole or
 * not at all (a part written is cut off again).  0, or an errno.
 */
static int
append(struct journal *j)
{
	struct jsegment	*cur = &j->segs[j->nsegs - 1];
	int		 error;

	if (write_all(j->fd, j->buf.data, j->buf.len) == 0)
		return 0;
	error = errno;
	if (ftruncate(j->fd, (off_t)cur->bytes) != 0)
		log_warn("%s: cutting a part-written record", j->dir);
	return error;
}

/*
 * A new segment starts with the groups of every queue that has other than
 * the shared group alone: the segments that said how they came about may
 * go before it.
 */
static int
checkpoint(struct journal *j)
{
	if (j->groups == NULL)
		return 0;
	if (j->groups(j->groups_arg, j) != 0) {
		log_warnx("%s: out of memory writing the queues' groups", j->dir);
		return -1;
	}
	return 0;
}

/*
 * Write the records buffered so far, and fsync them unless --fsync says
 * to wait; then roll and trim.  When the disk is full the reserve is
 * given back and the write tried again; records that still find no room
 * wait in memory for journal_room, unless they hold accepted events.
 * -1 (logged) if they could not be written and must be: the caller must
 * say nothing about them.
 */
int
journal_commit(struct journal *j)
{
	struct jsegment	*cur = &j->segs[j->nsegs - 1];
	int		 error;

	if (j->failed) {
		errno = ENOMEM;
		log_warnx("%s: out of memory for a record", j->dir);
		return -1;
	}
	if (j->buf.len == 0) {
		seg_trim(j);
		return 0;
	}
	rec_close(j);
	if ((error = append(j)) != 0 && no_room(error) && !j->full) {
		reserve_give(j);
		error = append(j);
	}
	if (error != 0) {
		errno = error;
		if (!no_room(error) || j->enqueued) {
			log_warn("%s: write segment %" PRIu64, j->dir, cur->seq);
			return -1;
		}
		/* Only deliveries, acks, deaths: kept until there is room. */
		return 0;
	}
	cur->bytes += j->buf.len;
	j->bytes += j->buf.len;
	j->buf.len = 0;
	j->enqueued = 0;
	j->unsynced = 1;
	/*
	 * batch syncs what an ENQUEUED reply waits for; acks and deliveries
	 * alone are written (a crash of the daemon keeps them) and synced
	 * with the next enqueue: a power loss may deliver them again.
	 */
	if (j->fsync == JOURNAL_ALWAYS ||
	    (j->fsync == JOURNAL_BATCH && j->must_sync)) {
		if (journal_sync(j) != 0)
			return -1;
	}
	j->must_sync = 0;
	/* Full, the segment grows on: a new file would need room too. */
	if (cur->bytes >= j->segment_size && !j->full) {
		/* The full segment is on disk before its successor exists. */
		if (j->fsync != JOURNAL_NEVER && journal_sync(j) != 0)
			return -1;
		j->unsynced = 0;
		if (seg_create(j, cur->seq + 1, *j->next_id) != 0 ||
		    checkpoint(j) != 0)
			return -1;
	}
	seg_trim(j);
	return 0;
}

/*
 * While full: write what waits, then take the reserve again.  1 when
 * there is room again (events are taken), 0 while there is not, -1 if the
 * records cannot be written at all.
 */
int
journal_room(struct journal *j)
{
	if (!j->full)
		return 1;
	if (journal_commit(j) != 0)
		return -1;
	if (j->buf.len != 0 || reserve_take(j) != 0)
		return 0;
	j->full = 0;
	log_info("%s: journal: room again (reserve of %llu bytes taken); "
	    "ENQUEUEs are taken", j->dir, (unsigned long long)j->reserve);
	return 1;
}

/*
 * Take DIR for this daemon alone: flock the directory itself, which
 * nobody can delete from under us as they could a lock file (two daemons
 * on one journal hand out the same ids).  DIR/lock holds our pid, to name
 * the holder to a second daemon; it carries no lock.
 */
static int
lock_dir(struct journal *j)
{
	char	 path[4096], pid[32];
	ssize_t	 n;
	int	 fd;

	if (snprintf(path, sizeof path, "%s/lock", j->dir) >= (int)sizeof path) {
		log_errorx("%s: path too long", j->dir);
		return -1;
	}
	if (flock(j->dirfd, LOCK_EX | LOCK_NB) != 0) {
		if (errno != EWOULDBLOCK) {
			log_errorx("%s: flock: %s", j->dir, strerror(errno));
			return -1;
		}
		n = -1;
		if ((fd = open(path, O_RDONLY | O_CLOEXEC)) != -1) {
			n = read(fd, pid, sizeof pid - 1);
			close(fd);
		}
		pid[n > 0 ? n : 0] = '\0';
		pid[strcspn(pid, "\n")] = '\0';
		log_errorx("%s: in use by another producerd (pid %s); one "
		    "daemon per data directory", j->dir, *pid ? pid : "?");
		return -1;
	}
	n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0600)) == -1 || write_all(fd, pid, (size_t)n) != 0) {
		log_errorx("%s: %s", path, strerror(errno));
		if (fd != -1)
			close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

/*
 * Take DIR (made if missing), replay its journal into the queues that
 * queue_of gives, and start a new segment.  -1 after saying why.
 */
int
journal_open(struct journal *j, const char *dir, journal_queue_fn queue_of,
    void *arg)
{
	struct qevent	*ev;
	struct dispatch	*d;
	size_t		 i;
	int		 error;

	j->fd = j->dirfd = -1;
	idmap_init(&j->moved);
	idmap_init(&j->gmoved);
	if ((j->dir = strdup(dir)) == NULL) {
		log_errorx("out of memory");
		return -1;
	}
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		log_errorx("--data-dir %s: %s", dir, strerror(errno));
		return -1;
	}
	if ((j->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		log_errorx("--data-dir %s: %s", dir, strerror(errno));
		return -1;
	}
	if (lock_dir(j) != 0 || replay_run(j, queue_of, arg) != 0)
		return -1;
	if ((error = reserve_take(j)) != 0) {
		if (!no_room(error)) {
			log_errorx("%s/reserve: %s", dir, strerror(error));
			return -1;
		}
		/* Started on a full disk: serve what is kept, take nothing. */
		go_full(j, " for the reserve at start");
	}
	if (seg_create(j, j->nsegs ? j->segs[j->nsegs - 1].seq + 1 : 1,
	    *j->next_id) != 0 || checkpoint(j) != 0)
		return -1;
	/*
	 * Events that were on their last attempt when the daemon stopped
	 * were buried by replay: their DEAD records go in the new segment.
	 */
	for (i = 0; i < j->nreburied; i++) {
		d = j->reburied_in[i];
		if ((ev = dispatch_dead_find(d, j->reburied[i])) != NULL)
			journal_change(j, d->name, d->group, 1, 0,
			    DISPATCH_BURIED, ev);
	}
	free(j->reburied);
	free(j->reburied_in);
	j->reburied = NULL;
	j->reburied_in = NULL;
	j->nreburied = j->capreburied = 0;
	return journal_commit(j);
}

void
journal_close(struct journal *j)
{
	if (j->buf.len != 0 && journal_commit(j) != 0)
		log_warnx("%s: records of the last moments not written", j->dir);
	else if (j->unsynced)
		(void)journal_sync(j);
	if (j->fd != -1)
		close(j->fd);
	if (j->dirfd != -1)
		close(j->dirfd);
	ps_buf_free(&j->buf);
	idmap_free(&j->moved);
	idmap_free(&j->gmoved);
	free(j->segs);
	free(j->dir);
	memset(j, 0, sizeof *j);
	j->fd = j->dirfd = -1;
}
