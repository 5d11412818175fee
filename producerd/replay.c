/*
 * replay.c: reading the journal back at start.  Every segment is read
 * whole and its records applied in order to a table of events by id;
 * what is left pending goes back into the buffer in id order with its
 * attempts, and the dead go back on the dead list in the order they died.
 *
 * A record at the very end of the newest segment that a write did not
 * finish (torn, below) is cut off with a warning.  Any other bad record,
 * a corrupt whole one at the end included, stops the start, naming file
 * and offset, unless --repair, which keeps every intact record, drops the
 * rest and rewrites the segment.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "journal.h"
#include "log.h"
#include "replay.h"
#include "uniq.h"

static int
by_seq(const void *a, const void *b)
{
	const struct rfile	*x = a, *y = b;

	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/*
 * Only the oldest segments are ever deleted, so the files left are
 * consecutive: a missing one in the middle held acknowledged events.
 * Refuse to start, unless --repair, which goes on (replay_run says then
 * which events were lost).
 */
static int
check_gaps(struct replay *r)
{
	size_t	 i;

	for (i = 1; i < r->nfiles; i++) {
		if (r->files[i].seq == r->files[i - 1].seq + 1)
			continue;
		if (r->j->repair)
			continue;
		log_errorx("%s: segment %08" PRIu64 ".seg%s is missing (between "
		    "%08" PRIu64 ".seg and %08" PRIu64 ".seg): the events and "
		    "acks recorded there would be lost; nothing was changed "
		    "(start with --repair to go on without it)", r->j->dir,
		    r->files[i - 1].seq + 1, r->files[i].seq >
		    r->files[i - 1].seq + 2 ? " and more" : "",
		    r->files[i - 1].seq, r->files[i].seq);
		return -1;
	}
	return 0;
}

/* --repair, past a gap: what was lost with the missing segments. */
static void
report_gaps(const struct replay *r)
{
	const struct rfile	*a, *b;
	uint64_t		 from;
	size_t			 i;

	for (i = 1; i < r->nfiles; i++) {
		a = &r->files[i - 1];
		b = &r->files[i];
		if (b->seq == a->seq + 1 || a->dropped || b->dropped)
			continue;
		from = a->last_id != 0 ? a->last_id + 1 : a->first_id;
		log_warnx("%s: --repair went on without segments %08" PRIu64
		    " to %08" PRIu64 ", which are missing: events with ids %"
		    PRIu64 " to %" PRIu64 " enqueued while they were written "
		    "are lost, and events acked or buried there may be "
		    "delivered again", r->j->dir, a->seq + 1, b->seq - 1, from,
		    b->first_id - 1);
	}
}

/* The segment files in DIR, oldest first. */
static int
list_files(struct replay *r)
{
	struct journal	*j = r->j;
	struct dirent	*de;
	struct rfile	*f;
	DIR		*dp;
	char		*end;
	unsigned long long seq;
	size_t		 cap = 0;

	if ((dp = opendir(j->dir)) == NULL) {
		log_errorx("%s: %s", j->dir, strerror(errno));
		return -1;
	}
	while ((de = readdir(dp)) != NULL) {
		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		errno = 0;
		seq = strtoull(de->d_name, &end, 10);
		if (errno != 0 || strcmp(end, ".seg") != 0)
			continue;
		if (r->nfiles == cap) {
			cap = cap ? cap * 2 : 16;
			if ((f = reallocarray(r->files, cap, sizeof *f)) ==
			    NULL) {
				closedir(dp);
				log_errorx("out of memory");
				return -1;
			}
			r->files = f;
		}
		f = &r->files[r->nfiles++];
		memset(f, 0, sizeof *f);
		f->seq = seq;
		if (journal_seg_path(j, seq, f->path, sizeof f->path) != 0 ||
		    strcmp(strrchr(f->path, '/') + 1, de->d_name) != 0) {
			/* 1.seg and 00000001.seg: only ours are read. */
			log_warnx("%s/%s: not a name the journal writes; "
			    "ignored", j->dir, de->d_name);
			r->nfiles--;
		}
	}
	closedir(dp);
	if (r->nfiles > 1)
		qsort(r->files, r->nfiles, sizeof *r->files, by_seq);
	return check_gaps(r);
}

static int
read_file(struct rfile *f)
{
	struct stat	 st;
	ssize_t		 n;
	size_t		 got = 0;
	int		 fd;

	if ((fd = open(f->path, O_RDONLY | O_CLOEXEC)) == -1 ||
	    fstat(fd, &st) != 0) {
		log_errorx("%s: %s", f->path, strerror(errno));
		if (fd != -1)
			close(fd);
		return -1;
	}
	f->size = (size_t)st.st_size;
	if ((f->data = malloc(f->size ? f->size : 1)) == NULL) {
		log_errorx("%s: out of memory for %zu bytes", f->path,
		    f->size);
		close(fd);
		return -1;
	}
	while (got < f->size) {
		if ((n = read(fd, f->data + got, f->size - got)) == -1) {
			if (errno == EINTR)
				continue;
			log_errorx("%s: %s", f->path, strerror(errno));
			close(fd);
			return -1;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	f->size = got;
	close(fd);
	return 0;
}

static int
keep(struct rfile *f, size_t off, size_t len)
{
	struct rrange	*k;

	if (f->nkeep != 0 && f->keep[f->nkeep - 1].off +
	    f->keep[f->nkeep - 1].len == off) {
		f->keep[f->nkeep - 1].len += len;
		return 0;
	}
	if ((k = reallocarray(f->keep, f->nkeep + 1, sizeof *k)) == NULL)
		return -1;
	f->keep = k;
	f->keep[f->nkeep].off = off;
	f->keep[f->nkeep++].len = len;
	return 0;
}

/* Where the run of zero bytes that ends the file starts. */
static size_t
zero_from(const struct rfile *f)
{
	size_t	 z = f->size;

	while (z > 0 && f->data[z - 1] == 0)
		z--;
	return z;
}

/*
 * Is the bad record at off, in the newest segment, a write that did not
 * finish, rather than a record that was whole and then went bad?  A power
 * loss can leave a file longer than what reached the disk, the rest
 * reading as zeros: from where the last synced write ended (a record's
 * start) or from a sector boundary.  So it is torn if the file ends
 * inside its header, or inside its body by the length in a header whose
 * own checksum holds, or if the zeros that end the file start at the
 * record or at a sector boundary within the part that fails its checksum.
 * A record whole by its length, with no such zeros, that fails its
 * checksum is corrupt: a flipped byte in an acknowledged, synced record
 * is never cut silently.
 */
static int
torn(const struct rfile *f, size_t off)
{
	const uint8_t	*h = f->data + off;
	size_t		 rem = f->size - off, z = zero_from(f), bad;
	uint32_t	 len;

	if (rem < JOURNAL_REC_HEAD || z <= off)
		return 1;
	if (jrec_head_len(h, &len) != 0)
		bad = off + JOURNAL_REC_HEAD;
	else if (len > rem - JOURNAL_REC_HEAD)
		return 1;
	else
		bad = off + JOURNAL_REC_HEAD + len;
	return (z + TORN_SECTOR - 1) / TORN_SECTOR * TORN_SECTOR < bad;
}

/*
 * An event read back that was on its last attempt when the daemon stopped
 * is buried in d: journal_open writes its DEAD record in the new segment.
 */
int
replay_rebury(struct journal *j, struct dispatch *d, uint64_t id)
{
	uint64_t	 *ids;
	struct dispatch	**in;
	size_t		  cap;

	if (j->nreburied == j->capreburied) {
		cap = j->capreburied ? j->capreburied * 2 : 64;
		if ((ids = reallocarray(j->reburied, cap, sizeof *ids)) == NULL)
			return -1;
		j->reburied = ids;
		if ((in = reallocarray(j->reburied_in, cap,
		    sizeof *in)) == NULL)
			return -1;
		j->reburied_in = in;
		j->capreburied = cap;
	}
	j->reburied_in[j->nreburied] = d;
	j->reburied[j->nreburied++] = id;
	return 0;
}

struct rentry *
replay_find(struct replay *r, uint64_t id)
{
	uint64_t	 i;

	return idmap_get(&r->index, id, &i) ? &r->e[i] : NULL;
}

struct rentry *
replay_add(struct replay *r, uint64_t id)
{
	struct rentry	*e;
	size_t		 cap;

	if ((e = replay_find(r, id)) != NULL)
		return e;
	if (r->n == r->cap) {
		cap = r->cap ? r->cap * 2 : 1024;
		if ((e = reallocarray(r->e, cap, sizeof *e)) == NULL)
			return NULL;
		r->e = e;
		r->cap = cap;
	}
	if (idmap_put(&r->index, id, r->n) != 0)
		return NULL;
	e = &r->e[r->n++];
	memset(e, 0, sizeof *e);
	e->id = id;
	e->prio = PS_PRIORITY_DEFAULT;
	if (id > r->max_id)
		r->max_id = id;
	return e;
}

/* e is pending in queue with attempts, as an XENQUEUE or KEEP entry says. */
void
replay_pending(struct rentry *e, const char *queue, uint8_t qlen,
    uint32_t attempts, const struct jrec_entry *x)
{
	e->state = R_PENDING;
	e->attempts = attempts;
	e->queue = queue;
	e->qlen = qlen;
	e->klen = x->key != NULL ? x->klen : -1;
	e->key = x->key;
	e->hdr = x->hdr;
	e->hlen = x->hlen;
	e->uid = x->uid;
	e->ulen = x->ulen;
	e->prio = x->prio;
	e->due = x->due;
	e->data = x->data;
	e->len = x->len;
}

static int
add_uid(struct replay *r, const struct jrec *rec, const struct jrec_entry *x,
    size_t file)
{
	struct ruid	*u;
	size_t		 cap;

	if (r->nuids == r->capuids) {
		cap = r->capuids ? r->capuids * 2 : 64;
		if ((u = reallocarray(r->uids, cap, sizeof *u)) == NULL)
			return -1;
		r->uids = u;
		r->capuids = cap;
	}
	r->uids[r->nuids++] = (struct ruid){ rec->queue, rec->qlen, x->id,
	    x->expires, x->uid, x->ulen, file };
	r->files[file].uids += 17 + (uint64_t)x->ulen;	/* the bound's */
	return 0;
}

/*
 * An event's failures as a FAIL entry has them (fail, n), or none after a
 * retry from its dead letter (n 0), in group of queue.
 */
static int
add_fail(struct replay *r, const char *queue, uint8_t qlen, const char *group,
    uint8_t glen, uint64_t id, const uint8_t *fail, uint8_t n)
{
	struct rfail	*f;
	size_t		 cap;

	if (r->nfails == r->capfails) {
		cap = r->capfails ? r->capfails * 2 : 64;
		if ((f = reallocarray(r->fails, cap, sizeof *f)) == NULL)
			return -1;
		r->fails = f;
		r->capfails = cap;
	}
	r->fails[r->nfails] = (struct rfail){ queue, qlen, group, glen, id,
	    r->nfails, fail, n };
	r->nfails++;
	return 0;
}

/* A KEPT record's entries, kept to restore once the groups are made. */
static int
add_kept(struct replay *r, size_t file, struct jrec *rec)
{
	struct jrec_entry	 x;
	struct rkept		*k;
	size_t			 cap;

	while (jrec_next(rec, &x) == 1) {
		if (r->nkept == r->capkept) {
			cap = r->capkept ? r->capkept * 2 : 64;
			if ((k = reallocarray(r->kept, cap, sizeof *k)) == NULL)
				return -1;
			r->kept = k;
			r->capkept = cap;
		}
		r->kept[r->nkept++] = (struct rkept){ rec->queue, rec->qlen,
		    rec->group, rec->glen, x.id, x.due, r->files[file].seq,
		    x.attempts, x.len, x.data };
		r->files[file].uids += 24 + (uint64_t)x.len;	/* carried */
	}
	return 0;
}

static int
by_done(const void *a, const void *b)
{
	const struct rkept	*x = a, *y = b;

	if (x->at != y->at)
		return x->at < y->at ? -1 : 1;
	if (x->id != y->id)
		return x->id < y->id ? -1 : 1;
	return x->seg < y->seg ? 1 : x->seg > y->seg ? -1 : 0;
}

/*
 * Done events' records back into their groups, oldest first, those still
 * within their queue's keep-done (and its keep-done-bytes); an event's
 * newest copy, where it was carried last.  A group no longer there, or a
 * queue that keeps none now, takes none.  -1 out of memory.
 */
static int
restore_kept(struct replay *r, journal_queue_fn queue_of, void *arg,
    uint64_t wall)
{
	static const char * const shared[] = { "" };
	static const uint64_t	  zero[] = { 0 };
	const struct rkept	*k;
	struct rqueue		*q;
	struct dispatch		*d;
	struct kdone		*kd;
	size_t			 i;
	int			 rc;

	if (r->nkept > 1)
		qsort(r->kept, r->nkept, sizeof *r->kept, by_done);
	for (i = 0; i < r->nkept; i++) {
		k = &r->kept[i];
		if ((q = rgroups_queue(r, k->queue, k->qlen)) != NULL)
			d = rgroups_group(q, k->group, k->glen, queue_of, arg);
		else if (k->glen != 0 || queue_of(arg, k->queue, k->qlen, 1,
		    shared, zero, &d) != 0)
			d = NULL;
		if (d == NULL || d->policy->keep_done == 0 ||
		    k->at + d->policy->keep_done <= wall)
			continue;
		kd = NULL;
		if ((rc = kept_add(&d->kept, k->id, k->at, k->attempts,
		    k->result, k->len, d->policy->keep_done_bytes, &kd)) < 0)
			return -1;
		if (rc == 0)
			kd->seg = k->seg;
	}
	return 0;
}

/* A (G)RETRY's events start again with no failures. */
static int
retried(struct replay *r, const struct jrec *rec)
{
	struct jrec		 walk = *rec;
	struct jrec_entry	 x;

	while (jrec_next(&walk, &x) == 1) {
		if (add_fail(r, rec->queue, rec->qlen, rec->group, rec->glen,
		    x.id, NULL, 0) != 0)
			return -1;
	}
	return 0;
}

/*
 * By group, id, then order read.  Not by queue: an id is one event's in
 * the whole daemon, and a RETRY record names no queue (jrec_body gives
 * it default's).
 */
static int
by_fail(const void *a, const void *b)
{
	const struct rfail	*x = a, *y = b;
	int			 c;

	if (x->glen != y->glen)
		return x->glen < y->glen ? -1 : 1;
	/* The shared group: no name (a RETRY's is NULL). */
	if (x->glen != 0 && (c = memcmp(x->group, y->group, x->glen)) != 0)
		return c;
	if (x->id != y->id)
		return x->id < y->id ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/*
 * The failures read back for event id in group (glen 0: the shared one)
 * of queue, onto its dead letter or kept for it in d.  -1 out of memory.
 */
int
replay_fails(struct replay *r, struct dispatch *d, const char *queue,
    uint8_t qlen, const char *group, uint8_t glen, uint64_t id)
{
	struct rfail		 key = { queue, qlen, group, glen, id,
				    UINT64_MAX, NULL, 0 };
	struct dfailure		 f[JREC_FAILS_MAX];
	struct ps_failure	 jf;
	const uint8_t		*p;
	size_t			 lo = 0, hi = r->nfails, mid;
	uint8_t			 i;

	/* The last entry at or before key: the newest of the event's. */
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (by_fail(&r->fails[mid], &key) <= 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0)
		return 0;
	key.seq = r->fails[lo - 1].seq;
	if (by_fail(&r->fails[lo - 1], &key) != 0 || r->fails[lo - 1].n == 0)
		return 0;
	for (i = 0, p = r->fails[lo - 1].fail; i < r->fails[lo - 1].n; i++) {
		p = ps_failure_get(p, &jf);
		f[i] = (struct dfailure){ jf.at, jf.attempt, jf.who, jf.wlen,
		    jf.err, jf.elen };
	}
	return dispatch_restore_failures(d, id, f, r->fails[lo - 1].n);
}

/* One record (checked by jrec_decode) applied, entry by entry. */
static int
apply(struct replay *r, size_t file, struct jrec *rec)
{
	struct jrec_entry	 x;
	struct rentry		*e;

	if (rec->type == JREC_GKEEP)
		return rgroups_gkeep(r, file, rec);
	if (rec->type == JREC_KEPT)
		return add_kept(r, file, rec);
	if (rec->type == JREC_FAIL) {
		while (jrec_next(rec, &x) == 1) {
			if (add_fail(r, rec->queue, rec->qlen, rec->group,
			    rec->glen, x.id, x.fail, x.nfails) != 0)
				return -1;
		}
		return 0;
	}
	if (rec->type == JREC_GRETRY && retried(r, rec) != 0)
		return -1;
	if (rec->type >= JREC_GROUP && rec->type <= JREC_GDEAD)
		return rgroups_apply(r, rec);
	if (rec->type == JREC_RETRY && retried(r, rec) != 0)
		return -1;
	while (jrec_next(rec, &x) == 1) {
		switch (rec->type) {
		case JREC_ENQUEUE:
		case JREC_QENQUEUE:
		case JREC_KENQUEUE:
			if ((e = replay_add(r, x.id)) == NULL)
				return -1;
			e->state = R_PENDING;
			e->attempts = 0;
			e->queue = rec->queue;
			e->qlen = rec->qlen;
			e->klen = x.key != NULL ? x.klen : -1;
			e->key = x.key;
			e->data = x.data;
			e->len = x.len;
			e->prio = PS_PRIORITY_DEFAULT;
			e->file = e->efile = file;
			r->files[file].last_id = x.id;
			r->files[file].copies++;
			break;
		case JREC_XENQUEUE:
			if ((e = replay_add(r, x.id)) == NULL)
				return -1;
			replay_pending(e, rec->queue, rec->qlen, 0, &x);
			e->efile = file;
			e->file = e->ufile = file;
			r->files[file].last_id = x.id;
			r->files[file].copies++;
			break;
		case JREC_KEEP:
			/* A copy as the event was: it is pending, charged here. */
			if ((e = replay_add(r, x.id)) == NULL)
				return -1;
			if (e->data == NULL)
				e->efile = file;	/* its ENQUEUE went */
			replay_pending(e, rec->queue, rec->qlen, x.attempts, &x);
			e->file = e->ufile = file;
			r->files[file].copies++;
			break;
		case JREC_UIDS:
			/* Resolved at the end, against what the events came to. */
			if (add_uid(r, rec, &x, file) != 0)
				return -1;
			break;
		case JREC_DEAD:
		case JREC_QDEAD:
		case JREC_KDEAD:
		case JREC_XDEAD:
			if ((e = replay_add(r, x.id)) == NULL)
				return -1;
			if (e->data == NULL)
				e->efile = file;	/* its ENQUEUE went */
			e->state = R_DEAD;
			e->queue = rec->queue;
			e->qlen = rec->qlen;
			e->attempts = x.attempts;
			e->reason = x.reason;
			e->klen = x.key != NULL ? x.klen : -1;
			e->key = x.key;
			e->hdr = x.hdr;
			e->hlen = x.hlen;
			e->data = x.data;
			e->len = x.len;
			e->file = file;
			e->died = r->deaths++;
			r->files[file].copies++;
			break;
		default:
			if ((e = replay_find(r, x.id)) == NULL)
				break;		/* its segment went before */
			if (rec->type == JREC_DELIVER && e->state == R_PENDING)
				e->attempts++;
			else if (rec->type == JREC_RETRY && e->state == R_DEAD) {
				e->state = R_PENDING;
				e->attempts = 0;
			} else if (rec->type == JREC_DONE)
				e->state = R_GONE;	/* in the shared group */
			break;
		}
	}
	return 0;
}

/* --repair: the next offset after off where a whole record starts. */
static size_t
resync(const struct rfile *f, size_t off)
{
	struct jrec	 rec;

	for (off++; off + JOURNAL_REC_HEAD <= f->size; off++) {
		if (jrec_decode(&rec, f->data + off, f->size - off) == NULL)
			return off;
	}
	return f->size;
}

static int
cut_torn(struct rfile *f, size_t off, const char *why)
{
	int	 fd;

	log_warnx("%s: cut %zu bytes at offset %zu (%s): the daemon stopped "
	    "during a write", f->path, f->size - off, off, why);
	if ((fd = open(f->path, O_WRONLY | O_CLOEXEC)) == -1 ||
	    ftruncate(fd, (off_t)off) != 0 || fsync(fd) != 0) {
		log_errorx("%s: %s", f->path, strerror(errno));
		if (fd != -1)
			close(fd);
		return -1;
	}
	close(fd);
	f->size = off;
	return 0;
}

static int
bad(struct replay *r, struct rfile *f, size_t off, const char *why)
{
	if (!r->j->repair) {
		log_errorx("%s: bad record at offset %zu: %s; nothing was "
		    "changed (start with --repair to keep every intact "
		    "record and drop the bad ones)", f->path, off, why);
		return -1;
	}
	f->damaged = 1;
	return 0;
}

/* Read one segment file and apply its records. */
static int
walk(struct replay *r, size_t i)
{
	struct rfile	*f = &r->files[i];
	struct jrec	 rec;
	const char	*why;
	uint64_t	 seq, first_id;
	size_t		 off, next;
	int		 newest = i + 1 == r->nfiles;

	if (read_file(f) != 0)
		return -1;
	if (f->size < JOURNAL_SEG_HEAD && newest) {
		/* Made, then the daemon stopped before the header was in. */
		log_warnx("%s: removed, a segment without a whole header "
		    "(%zu bytes)", f->path, f->size);
		f->dropped = 1;
		return 0;
	}
	why = jrec_seg_get(f->data, f->size, &seq, &first_id);
	if (why == NULL && seq != f->seq)
		why = "segment number differs from the file name";
	if (why != NULL) {
		if (bad(r, f, 0, why) != 0)
			return -1;
		log_warnx("%s: --repair dropped the whole segment (%s, %zu "
		    "bytes)", f->path, why, f->size);
		r->dropped_bytes += f->size;
		r->dropped_places++;
		f->dropped = 1;
		return 0;
	}
	f->first_id = first_id;
	if (f->first_id > r->max_id + 1)
		r->max_id = f->first_id - 1;
	if (keep(f, 0, JOURNAL_SEG_HEAD) != 0)
		goto nomem;
	for (off = JOURNAL_SEG_HEAD; off < f->size; off = next) {
		if ((why = jrec_decode(&rec, f->data + off, f->size -
		    off)) == NULL) {
			next = off + JOURNAL_REC_HEAD + rec.len;
			if (apply(r, i, &rec) != 0 ||
			    keep(f, off, next - off) != 0)
				goto nomem;
			continue;
		}
		if (newest && !f->damaged && torn(f, off))
			return cut_torn(f, off, why);
		if (bad(r, f, off, why) != 0)
			return -1;
		next = resync(f, off);
		log_warnx("%s: --repair dropped %zu bytes at offset %zu (%s)",
		    f->path, next - off, off, why);
		r->dropped_bytes += next - off;
		r->dropped_places++;
	}
	return 0;
nomem:
	log_errorx("%s: out of memory replaying the journal", f->path);
	return -1;
}

/* --repair: the segment again, its intact records only. */
static int
rewrite(struct replay *r, struct rfile *f)
{
	char	 tmp[4200];
	size_t	 i, size = 0;
	ssize_t	 w;
	int	 fd;

	(void)snprintf(tmp, sizeof tmp, "%s.tmp", f->path);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0600)) == -1)
		goto fail;
	for (i = 0; i < f->nkeep; i++) {
		w = pwrite(fd, f->data + f->keep[i].off, f->keep[i].len,
		    (off_t)size);
		if (w != (ssize_t)f->keep[i].len) {
			if (w >= 0)
				errno = EIO;
			goto fail;
		}
		size += f->keep[i].len;
	}
	if (fsync(fd) != 0 || close(fd) != 0) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (rename(tmp, f->path) != 0 || fsync(r->j->dirfd) != 0)
		goto fail;
	log_warnx("%s: rewritten by --repair with its intact records (%zu "
	    "of %zu bytes)", f->path, size, f->size);
	f->size = size;
	return 0;
fail:
	log_errorx("%s: %s", tmp, strerror(errno));
	if (fd != -1)
		close(fd);
	return -1;
}

static int
by_id(const void *a, const void *b)
{
	const struct rentry	*x = *(struct rentry * const *)a;
	const struct rentry	*y = *(struct rentry * const *)b;

	return x->id < y->id ? -1 : x->id > y->id;
}

static int
by_death(const void *a, const void *b)
{
	const struct rentry	*x = *(struct rentry * const *)a;
	const struct rentry	*y = *(struct rentry * const *)b;

	return x->died < y->died ? -1 : x->died > y->died;
}

/*
 * The shared group of a queue whose groups no record names: the only one
 * it has, from the first id.  The last one asked for is kept, since
 * events of one queue come in runs.
 */
static struct dispatch *
shared_group(journal_queue_fn queue_of, void *arg, const struct rentry *e,
    struct dispatch **last, const struct rentry **last_e)
{
	static const char * const shared[] = { "" };
	static const uint64_t	  zero[] = { 0 };

	if (*last != NULL && (*last_e)->qlen == e->qlen &&
	    memcmp((*last_e)->queue, e->queue, e->qlen) == 0)
		return *last;
	if (queue_of(arg, e->queue, e->qlen, 1, shared, zero, last) != 0)
		return NULL;
	*last_e = e;
	return *last;
}

/*
 * A pending event back into d: held until its time if that is still to
 * come (wall ms now), else into the buffer by its priority.
 */
int
replay_event(struct dispatch *d, const struct rentry *e, uint32_t attempts,
    uint64_t wall)
{
	if (e->due > wall && attempts == 0)
		return dispatch_restore_delayed(d, e->id, e->due, e->prio,
		    e->key, e->klen, e->hdr, e->hlen, e->data, e->len);
	return dispatch_restore(d, e->id, attempts, e->prio, e->key, e->klen,
	    e->hdr, e->hlen, e->data, e->len);
}

/* One charge of e restored: its bytes count towards the live data. */
void
replay_charged(struct journal *j, const struct rentry *e)
{
	j->live_bytes += journal_live_size(e->len, (e->klen > 0 ?
	    (uint32_t)e->klen : 0) + e->hlen);
}

/*
 * e's unique id held in d (its queue's lead) for refs groups, or until
 * expires; its record is where replay read it, so the journal carries it
 * on when that segment goes.  -1 out of memory.
 */
int
replay_uid(struct replay *r, struct dispatch *d, const struct rentry *e,
    uint32_t refs, uint64_t expires)
{
	if (dispatch_restore_uid(d, e->uid, e->ulen, e->id, refs,
	    expires) != 0)
		return -1;
	uniq_place(d->sched->uniq, e->uid, e->ulen, e->id,
	    r->files[e->ufile].seq);
	return 0;
}

/*
 * UIDS entries whose event is still in the tables give it its unique id
 * (its own record went with an older segment: a dead letter's, say); the
 * others are windows, kept for uids_windows.
 */
static void
uids_attach(struct replay *r)
{
	struct ruid	*u;
	struct rentry	*e;
	size_t		 i;

	for (i = 0; i < r->nuids; i++) {
		u = &r->uids[i];
		if ((e = replay_find(r, u->id)) == NULL)
			continue;
		if (e->uid == NULL) {
			e->uid = u->uid;
			e->ulen = u->ulen;
			e->ufile = u->file;
		}
		u->id = 0;		/* its event says the rest */
	}
}

/*
 * Unique ids carried forward whose events' records are all gone: held
 * until the end of their window as written, or, for an event live when
 * it was carried and done since (when is not recorded), for a whole
 * window from now.
 */
static int
uids_windows(struct replay *r, journal_queue_fn queue_of, void *arg,
    uint64_t wall)
{
	const struct rentry	*last_e;
	struct rentry		 tmp;
	struct dispatch		*d, *last;
	struct rqueue		*q;
	struct ruid		*u;
	uint64_t		 until;
	size_t			 i;

	for (i = 0; i < r->nuids; i++) {
		u = &r->uids[i];
		if (u->id == 0 || (u->expires != 0 && u->expires <= wall))
			continue;
		memset(&tmp, 0, sizeof tmp);
		tmp.id = u->id;
		tmp.queue = u->queue;
		tmp.qlen = u->qlen;
		tmp.uid = u->uid;
		tmp.ulen = u->ulen;
		tmp.ufile = u->file;
		last = NULL;
		last_e = NULL;
		if ((q = rgroups_queue(r, u->queue, u->qlen)) != NULL)
			d = rgroups_lead(r, q, queue_of, arg);
		else
			d = shared_group(queue_of, arg, &tmp, &last, &last_e);
		if (d == NULL)
			return -1;
		until = u->expires != 0 ? u->expires :
		    wall + d->policy->dedup_window;
		if (replay_uid(r, d, &tmp, 0, until) != 0)
			return -1;
	}
	return 0;
}

/*
 * The unique ids of events done before the stop, while their records are
 * still in the journal: held for a window from now (the time they were
 * done is not recorded, so the window is counted from the restart).
 */
static int
restore_windows(struct replay *r, journal_queue_fn queue_of, void *arg,
    uint64_t wall)
{
	const struct rentry	*e, *last_e = NULL;
	struct dispatch		*d, *last = NULL;
	size_t			 i;

	for (i = 0; i < r->n; i++) {
		e = &r->e[i];
		if (e->state != R_GONE || e->uid == NULL ||
		    rgroups_queue(r, e->queue, e->qlen) != NULL)
			continue;
		if ((d = shared_group(queue_of, arg, e, &last, &last_e)) ==
		    NULL || replay_uid(r, d, e, 0,
		    wall + d->policy->dedup_window) != 0)
			return -1;
	}
	return 0;
}

/* What replay found, into the queues and the journal's accounts. */
static int
restore(struct replay *r, journal_queue_fn queue_of, void *arg)
{
	struct journal	 *j = r->j;
	struct rentry	**live, *e;
	const struct rentry *last_e = NULL;
	struct dispatch	 *d, *last = NULL;
	size_t		  i, nlive = 0, ndead = 0, s;
	uint64_t	  npending = 0, ngrouped = 0, wall = clock_wall_ms();

	if ((live = calloc(r->n ? r->n : 1, sizeof *live)) == NULL)
		return -1;
	uids_attach(r);
	/* Queues with recorded groups are rgroups.c's; these the rest. */
	for (i = 0; i < r->n; i++) {
		if (r->e[i].state == R_DEAD && rgroups_queue(r, r->e[i].queue,
		    r->e[i].qlen) == NULL)
			live[nlive++] = &r->e[i];
	}
	ndead = nlive;
	qsort(live, ndead, sizeof *live, by_death);
	for (i = 0; i < r->n; i++) {
		if (r->e[i].state == R_PENDING && rgroups_queue(r,
		    r->e[i].queue, r->e[i].qlen) == NULL)
			live[nlive++] = &r->e[i];
	}
	qsort(live + ndead, nlive - ndead, sizeof *live, by_id);
	for (i = 0; i < nlive; i++) {
		e = live[i];
		if ((d = shared_group(queue_of, arg, e, &last, &last_e)) ==
		    NULL)
			goto nomem;
		if (e->state == R_DEAD ||
		    e->attempts >= d->policy->max_attempts) {
			if (dispatch_restore_dead(d, e->id, e->attempts,
			    e->state == R_DEAD ? e->reason : PS_DEAD_DISCONNECT,
			    e->key, e->klen, e->hdr, e->hlen, e->data,
			    e->len) != 0)
				goto nomem;
			if (e->state == R_PENDING &&
			    replay_rebury(j, d, e->id) != 0)
				goto nomem;
		} else {
			if (replay_event(d, e, e->attempts, wall) != 0)
				goto nomem;
			npending++;
		}
		if (replay_fails(r, d, e->queue, e->qlen, "", 0, e->id) != 0)
			goto nomem;
		if (e->uid != NULL && replay_uid(r, d, e, 1, 0) != 0)
			goto nomem;
		/* Charged to the file with its copy; moved if not its own. */
		s = r->files[e->file].seg;
		j->segs[s].live++;
		replay_charged(j, e);
		if (journal_seg_of(j, e->id) != s &&
		    idmap_put(&j->moved, e->id, j->segs[s].seq) != 0)
			goto nomem;
	}
	if (restore_windows(r, queue_of, arg, wall) != 0 ||
	    rgroups_restore(r, queue_of, arg, &ngrouped) != 0 ||
	    uids_windows(r, queue_of, arg, wall) != 0 ||
	    restore_kept(r, queue_of, arg, wall) != 0)
		goto nomem;
	if (r->max_id + 1 > *j->next_id)
		*j->next_id = r->max_id + 1;
	j->replayed = nlive + ngrouped;
	if (ngrouped != 0)
		log_info("%s: %" PRIu64 " pending and %zu dead events read "
		    "back from %zu segments, and %" PRIu64 " pending or dead "
		    "in the groups of queues with more than one", j->dir,
		    npending, nlive - (size_t)npending, r->nfiles, ngrouped);
	else if (nlive != 0 || r->nfiles != 0)
		log_info("%s: %" PRIu64 " pending and %zu dead events read "
		    "back from %zu segments", j->dir, npending,
		    nlive - (size_t)npending, r->nfiles);
	free(live);
	return 0;
nomem:
	free(live);
	log_errorx("%s: out of memory restoring the journal", j->dir);
	return -1;
}

int
replay_run(struct journal *j, journal_queue_fn queue_of, void *arg)
{
	struct replay	 r;
	struct rfile	*f;
	size_t		 i;
	int		 rc = -1;

	memset(&r, 0, sizeof r);
	r.j = j;
	idmap_init(&r.index);
	if (list_files(&r) != 0)
		goto out;
	for (i = 0; i < r.nfiles; i++) {
		if (walk(&r, i) != 0)
			goto out;
	}
	report_gaps(&r);
	if (r.nfails > 1)
		qsort(r.fails, r.nfails, sizeof *r.fails, by_fail);
	for (i = 0; i < r.nfiles; i++) {
		f = &r.files[i];
		if (f->dropped) {
			if (unlink(f->path) != 0) {
				log_errorx("%s: %s", f->path, strerror(errno));
				goto out;
			}
			continue;
		}
		if (f->damaged && rewrite(&r, f) != 0)
			goto out;
		f->seg = j->nsegs;
		if (journal_seg_add(j, f->seq, f->first_id, f->size) != 0) {
			log_errorx("out of memory");
			goto out;
		}
		j->segs[j->nsegs - 1].written = f->copies;
		j->segs[j->nsegs - 1].uids = f->uids;
		j->uids_bytes += f->uids;
	}
	if (r.dropped_places != 0)
		log_warnx("%s: --repair dropped %" PRIu64 " bytes in %" PRIu64
		    " places; events enqueued in them are lost and events "
		    "acked in them may be delivered again", j->dir,
		    r.dropped_bytes, r.dropped_places);
	rc = restore(&r, queue_of, arg);
out:
	for (i = 0; i < r.nfiles; i++) {
		free(r.files[i].data);
		free(r.files[i].keep);
	}
	free(r.files);
	free(r.e);
	free(r.uids);
	free(r.fails);
	free(r.kept);
	idmap_free(&r.index);
	rgroups_free(&r);
	return rc;
}
