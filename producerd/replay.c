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

#include "bytes.h"
#include "clock.h"
#include "crc32c.h"
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

/* Is the record at off whole: its header, its length, its body's CRC? */
static const char *
check_record(const struct rfile *f, size_t off, uint32_t *len)
{
	const uint8_t	*h = f->data + off;
	size_t		 rem = f->size - off;

	if (rem < JOURNAL_REC_HEAD)
		return "a record header cut short";
	if (crc32c(0, h, 12) != get32(h + 12))
		return "bad header checksum";
	if (h[4] < JREC_ENQUEUE || h[4] > JREC_MAX || h[5] != 0 ||
	    get16(h + 6) != 0)
		return "unknown record type";
	*len = get32(h);
	if (*len > rem - JOURNAL_REC_HEAD)
		return "a record cut short";
	if (crc32c(0, h + JOURNAL_REC_HEAD, *len) != get32(h + 8))
		return "bad checksum";
	return NULL;
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
	if (crc32c(0, h, 12) != get32(h + 12))
		bad = off + JOURNAL_REC_HEAD;
	else if ((len = get32(h)) > rem - JOURNAL_REC_HEAD)
		return 1;
	else
		bad = off + JOURNAL_REC_HEAD + len;
	return (z + TORN_SECTOR - 1) / TORN_SECTOR * TORN_SECTOR < bad;
}

/*
 * The queue a QENQUEUE or QDEAD record names: its length, and the body
 * after it in *p and *len; 0 when the name is bad.  Other records: the
 * default queue, and 0 bytes taken.
 */
static size_t
rec_queue(int type, const uint8_t **p, uint32_t *len, const char **queue,
    uint8_t *qlen)
{
	size_t	 n;

	if (type != JREC_QENQUEUE && type != JREC_QDEAD &&
	    type != JREC_KENQUEUE && type != JREC_KDEAD &&
	    type != JREC_XENQUEUE && type != JREC_KEEP && type != JREC_UIDS) {
		*queue = PS_QUEUE_DEFAULT;
		*qlen = sizeof PS_QUEUE_DEFAULT - 1;
		return 0;
	}
	if (*len < 1 || (n = (*p)[0]) > *len - 1 ||
	    !ps_queue_name_ok((const char *)*p + 1, n))
		return SIZE_MAX;
	*queue = (const char *)*p + 1;
	*qlen = (uint8_t)n;
	*p += 1 + n;
	*len -= 1 + (uint32_t)n;
	return 1 + n;
}

/* A body whose lengths add up; NULL, or what is wrong. */
static const char *
check_body(int type, const uint8_t *p, uint32_t len)
{
	const char	*queue, *why;
	struct ps_attrs	 a;
	uint32_t	 off, l, k;
	uint8_t		 qlen;

	if ((type >= JREC_GROUP && type <= JREC_GDEAD) || type == JREC_GKEEP)
		return rgroups_check(type, p, len);
	if (rec_queue(type, &p, &len, &queue, &qlen) == SIZE_MAX)
		return "record's queue name is bad";
	switch (type) {
	case JREC_QENQUEUE:
		type = JREC_ENQUEUE;
		break;
	case JREC_QDEAD:
		type = JREC_DEAD;
		break;
	case JREC_KENQUEUE:
		if (len < 8 || get64(p) == 0)
			return "KENQUEUE record without its first id";
		for (off = 8; off < len; off += 5 + k + l) {
			if (len - off < 5 || (k = p[off + 4] ? p[off + 4] - 1u :
			    0) > len - off - 5 || (l = get32(p + off)) >
			    len - off - 5 - k)
				return "KENQUEUE record's lengths do not add up";
		}
		return NULL;
	case JREC_XENQUEUE:
		if (len < 8 || get64(p) == 0)
			return "XENQUEUE record without its first id";
		for (off = 8; off < len; off += 6 + k + l) {
			if (len - off < 6 || (k = get16(p + off + 4)) >
			    len - off - 6 || (l = get32(p + off)) >
			    len - off - 6 - k)
				return "XENQUEUE record's lengths do not add up";
			if (ps_get_attrs(p + off + 6, (uint16_t)k, &a,
			    &why) != 0)
				return "XENQUEUE record's attributes are bad";
		}
		return NULL;
	case JREC_KEEP:
		for (off = 0; off < len; off += 18 + k + l) {
			if (len - off < 18 || (k = get16(p + off + 16)) >
			    len - off - 18 || (l = get32(p + off + 12)) >
			    len - off - 18 - k)
				return "KEEP record's lengths do not add up";
			if (get64(p + off) == 0)
				return "event id 0";
			if (ps_get_attrs(p + off + 18, (uint16_t)k, &a,
			    &why) != 0)
				return "KEEP record's attributes are bad";
		}
		return NULL;
	case JREC_UIDS:
		for (off = 0; off < len; off += 17 + l) {
			if (len - off < 17 || (l = p[off + 16]) == 0 ||
			    l > PS_UNIQUE_ID_MAX || l > len - off - 17)
				return "UIDS record's lengths do not add up";
			if (get64(p + off) == 0)
				return "event id 0";
		}
		return NULL;
	case JREC_KDEAD:
		for (off = 0; off < len; off += 18 + k + l) {
			if (len - off < 18 || (k = p[off + 17] ?
			    p[off + 17] - 1u : 0) > len - off - 18 ||
			    (l = get32(p + off + 12)) > len - off - 18 - k)
				return "KDEAD record's lengths do not add up";
			if (get64(p + off) == 0)
				return "event id 0";
		}
		return NULL;
	}
	switch (type) {
	case JREC_ENQUEUE:
		if (len < 8)
			return "ENQUEUE record without its first id";
		for (off = 8; off < len; off += 4 + l) {
			if (len - off < 4 || (l = get32(p + off)) > len -
			    off - 4)
				return "ENQUEUE record's lengths do not add up";
		}
		if (get64(p) == 0)
			return "event id 0";
		return NULL;
	case JREC_DEAD:
		for (off = 0; off < len; off += 17 + l) {
			if (len - off < 17 || (l = get32(p + off + 12)) >
			    len - off - 17)
				return "DEAD record's lengths do not add up";
			if (get64(p + off) == 0)
				return "event id 0";
		}
		return NULL;
	default:
		return len % 8 == 0 ? NULL : "id list not a multiple of 8";
	}
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

/*
 * e is pending in queue with attempts, as an XENQUEUE or KEEP entry says:
 * its attribute block (checked) of k bytes, then its payload of l.
 */
void
replay_pending(struct rentry *e, const char *queue, uint8_t qlen,
    uint32_t attempts, const uint8_t *attrs, uint16_t k, uint32_t l)
{
	struct ps_attrs	 a;
	const char	*why;

	(void)ps_get_attrs(attrs, k, &a, &why);
	e->state = R_PENDING;
	e->attempts = attempts;
	e->queue = queue;
	e->qlen = qlen;
	e->klen = a.key != NULL ? a.klen : -1;
	e->key = a.key;
	e->uid = a.uid;
	e->ulen = a.ulen;
	e->prio = a.priority;
	e->due = a.when == PS_WHEN_AT ? a.not_before : 0;
	e->data = attrs + k;
	e->len = l;
}

static int
apply(struct replay *r, size_t file, int type, const uint8_t *p,
    uint32_t len)
{
	struct rentry	*e;
	const char	*queue = PS_QUEUE_DEFAULT;
	uint64_t	 id;
	uint32_t	 off, l, k, kb;
	uint8_t		 qlen = 0;

	if (type == JREC_GKEEP)
		return rgroups_gkeep(r, file, p, len);
	if (type >= JREC_GROUP && type <= JREC_GDEAD)
		return rgroups_apply(r, type, p, len);
	(void)rec_queue(type, &p, &len, &queue, &qlen);	/* checked */
	/* A keyed record has a key byte (0 none, else length + 1) and key. */
	kb = type == JREC_KENQUEUE || type == JREC_KDEAD;
	switch (type) {
	case JREC_ENQUEUE:
	case JREC_QENQUEUE:
	case JREC_KENQUEUE:
		id = get64(p);
		for (off = 8; off < len; off += 4 + kb + k + l, id++) {
			l = get32(p + off);
			k = kb && p[off + 4] ? p[off + 4] - 1u : 0;
			if ((e = replay_add(r, id)) == NULL)
				return -1;
			e->state = R_PENDING;
			e->attempts = 0;
			e->queue = queue;
			e->qlen = qlen;
			e->klen = kb && p[off + 4] ? (int)k : -1;
			e->key = e->klen >= 0 ? p + off + 5 : NULL;
			e->data = p + off + 4 + kb + k;
			e->len = l;
			e->prio = PS_PRIORITY_DEFAULT;
			e->file = e->efile = file;
			r->files[file].last_id = id;
			r->files[file].copies++;
		}
		break;
	case JREC_XENQUEUE:
		id = get64(p);
		for (off = 8; off < len; off += 6 + k + l, id++) {
			l = get32(p + off);
			k = get16(p + off + 4);
			if ((e = replay_add(r, id)) == NULL)
				return -1;
			replay_pending(e, queue, qlen, 0, p + off + 6, (uint16_t)k, l);
			e->efile = file;
			e->file = e->ufile = file;
			r->files[file].last_id = id;
			r->files[file].copies++;
		}
		break;
	case JREC_KEEP:
		/* A copy as the event was: it is pending, charged here. */
		for (off = 0; off < len; off += 18 + k + l) {
			l = get32(p + off + 12);
			k = get16(p + off + 16);
			if ((e = replay_add(r, get64(p + off))) == NULL)
				return -1;
			if (e->data == NULL)
				e->efile = file;	/* its ENQUEUE went */
			replay_pending(e, queue, qlen, get32(p + off + 8), p + off + 18,
			    (uint16_t)k, l);
			e->file = e->ufile = file;
			r->files[file].copies++;
		}
		break;
	case JREC_UIDS:
		/* Resolved at the end, against what the events came to. */
		for (off = 0; off < len; off += 17 + p[off + 16]) {
			if (r->nuids == r->capuids) {
				struct ruid	*u;
				size_t		 cap = r->capuids ? r->capuids * 2 :
				    64;

				if ((u = reallocarray(r->uids, cap,
				    sizeof *u)) == NULL)
					return -1;
				r->uids = u;
				r->capuids = cap;
			}
			r->uids[r->nuids++] = (struct ruid){ queue, qlen,
			    get64(p + off), get64(p + off + 8), p + off + 17,
			    p[off + 16], file };
			r->files[file].uids += 17 + (uint64_t)p[off + 16];
		}
		break;
	case JREC_DEAD:
	case JREC_QDEAD:
	case JREC_KDEAD:
		for (off = 0; off < len; off += 17 + kb + k + l) {
			l = get32(p + off + 12);
			k = kb && p[off + 17] ? p[off + 17] - 1u : 0;
			if ((e = replay_add(r, get64(p + off))) == NULL)
				return -1;
			if (e->data == NULL)
				e->efile = file;	/* its ENQUEUE went */
			e->state = R_DEAD;
			e->queue = queue;
			e->qlen = qlen;
			e->attempts = get32(p + off + 8);
			e->reason = p[off + 16];
			e->klen = kb && p[off + 17] ? (int)k : -1;
			e->key = e->klen >= 0 ? p + off + 18 : NULL;
			e->data = p + off + 17 + kb + k;
			e->len = l;
			e->file = file;
			e->died = r->deaths++;
			r->files[file].copies++;
		}
		break;
	default:
		for (off = 0; off < len; off += 8) {
			id = get64(p + off);
			if ((e = replay_find(r, id)) == NULL)
				continue;	/* its segment went before */
			if (type == JREC_DELIVER && e->state == R_PENDING)
				e->attempts++;
			else if (type == JREC_RETRY && e->state == R_DEAD) {
				e->state = R_PENDING;
				e->attempts = 0;
			} else if (type == JREC_DONE)
				e->state = R_GONE;	/* in the shared group */
		}
		break;
	}
	return 0;
}

/* --repair: the next offset after off where a whole record starts. */
static size_t
resync(const struct rfile *f, size_t off)
{
	uint32_t	 len;

	for (off++; off + JOURNAL_REC_HEAD <= f->size; off++) {
		if (check_record(f, off, &len) == NULL &&
		    check_body(f->data[off + 4], f->data + off +
		    JOURNAL_REC_HEAD, len) == NULL)
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
	const uint8_t	*h;
	const char	*why;
	uint32_t	 len;
	size_t		 off, next;
	int		 newest = i + 1 == r->nfiles;

	if (read_file(f) != 0)
		return -1;
	h = f->data;
	if (f->size < JOURNAL_SEG_HEAD && newest) {
		/* Made, then the daemon stopped before the header was in. */
		log_warnx("%s: removed, a segment without a whole header "
		    "(%zu bytes)", f->path, f->size);
		f->dropped = 1;
		return 0;
	}
	why = NULL;
	if (f->size < JOURNAL_SEG_HEAD)
		why = "segment header cut short";
	else if (memcmp(h, JOURNAL_MAGIC, 8) != 0)
		why = "not a pushstage journal segment";
	else if (crc32c(0, h, 32) != get32(h + 32))
		why = "bad segment header checksum";
	else if (get32(h + 8) != JOURNAL_VERSION)
		why = "a journal format this producerd does not know";
	else if (get64(h + 16) != f->seq)
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
	f->first_id = get64(h + 24);
	if (f->first_id > r->max_id + 1)
		r->max_id = f->first_id - 1;
	if (keep(f, 0, JOURNAL_SEG_HEAD) != 0)
		goto nomem;
	for (off = JOURNAL_SEG_HEAD; off < f->size; off = next) {
		if ((why = check_record(f, off, &len)) == NULL &&
		    (why = check_body(f->data[off + 4], f->data + off +
		    JOURNAL_REC_HEAD, len)) == NULL) {
			next = off + JOURNAL_REC_HEAD + len;
			if (apply(r, i, f->data[off + 4], f->data + off +
			    JOURNAL_REC_HEAD, len) != 0 ||
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
		    e->key, e->klen, e->data, e->len);
	return dispatch_restore(d, e->id, attempts, e->prio, e->key, e->klen,
	    e->data, e->len);
}

/* One charge of e restored: its bytes count towards the live data. */
void
replay_charged(struct journal *j, const struct rentry *e)
{
	j->live_bytes += journal_live_size(e->len, e->klen > 0 ?
	    (uint8_t)e->klen : 0);
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
		until = u->expires != 0 ? u->expires : wall + d->dedup_window;
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
		    NULL || replay_uid(r, d, e, 0, wall + d->dedup_window) != 0)
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
		if (e->state == R_DEAD || e->attempts >= d->max_attempts) {
			if (dispatch_restore_dead(d, e->id, e->attempts,
			    e->state == R_DEAD ? e->reason : PS_DEAD_DISCONNECT,
			    e->key, e->klen, e->data, e->len) != 0)
				goto nomem;
			if (e->state == R_PENDING &&
			    replay_rebury(j, d, e->id) != 0)
				goto nomem;
		} else {
			if (replay_event(d, e, e->attempts, wall) != 0)
				goto nomem;
			npending++;
		}
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
	    uids_windows(r, queue_of, arg, wall) != 0)
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
	idmap_free(&r.index);
	rgroups_free(&r);
	return rc;
}
