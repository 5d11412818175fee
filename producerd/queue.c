/*
 * queue.c: the buffer.  New events are copied once into a log of chunks,
 * records end to end with no padding.  An event that was never delivered
 * and came in order needs no id (ids are consecutive: a reader counts
 * them from the chunk's first), no attempt count (0) and no pointer of
 * its own, so its record is its length as a varint, then its payload: 1
 * byte over a payload under 64 bytes, 2 under 8 KiB (pushbench W4; docs/
 * performance.md).  An event with a key (key order, docs/dispatch.md) adds
 * the key's length and the key; one with headers (protocol version 5)
 * their length, its key's if any, the key and the headers as HEADER
 * attributes.  Any other event (restored with attempts, given back to the
 * end, from upstream) carries its id, attempts, origin, key and headers
 * in a full record.
 *
 * A log whose clock is set stamps its events coarsely: before the first
 * event pushed in a new ms of the clock goes a time record, the ms as a
 * varint (11 bytes at most, a few per ms however many events it has).
 * A reader keeps the last it read, and the events it takes out have it
 * as the time they became ready (born): what a queue's latency and its
 * histogram of time waiting are measured from (docs/protocol.md).
 *
 * A log has one reader per group of consumers (struct queue), each at its
 * own place: an event is stored once however many groups read it.  An
 * event leaves the log through a handle (struct qevent) from a pool; the
 * handle keeps its chunk alive (refs) until the dispatcher releases it, so
 * an event in flight or given back is never copied.  A chunk goes once
 * every reader has passed it (pending) and no handle points into it: to
 * the store's spares if it is of the largest size (a mapping of its
 * own), else back to malloc.
 * A reader that has read everything lets go of the last chunk too, so an
 * empty queue holds nothing but its struct.  A log's chunks start small
 * and double as it fills them, up to QUEUE_CHUNK.
 */
#include <sys/mman.h>

#include <stdlib.h>
#include <string.h>

#include "heap.h"
#include "queue.h"

#define VARINT_MAX	5			/* a u32 << 3 in 7-bit groups */
#define FULL_HEAD	24			/* id, attempts, origin, key
						   length + 1, headers' */
#define HEADED_HEAD	3			/* headers' length, key
						   length + 1 */
/* A record's kind, in the low 3 bits of its first varint. */
#define R_SHIFT		3
#define R_MASK		7
#define R_COMPACT	0
#define R_FULL		1
#define R_KEYED		2			/* compact, with a key */
#define R_TIME		3			/* a time, not an event */
#define R_HEADED	4			/* compact, with headers */
#define TIME_MAX	10			/* its varint: a ms of 61 bits */
#define POOL_SLAB	256			/* handles per allocation */
#define SPARE_MAX	4			/* chunks a store keeps */

struct chunk {
	TAILQ_ENTRY(chunk)	 entry;
	size_t			 size;		/* bytes of data */
	size_t			 tail;		/* where the next record goes */
	uint64_t		 fresh_in;	/* id the next compact record
						   pushed must have; 0: none */
	uint64_t		 fresh_first;	/* its first compact record's */
	uint64_t		 id_lo;		/* the ids of its records lie */
	uint64_t		 id_hi;		/* ... in [id_lo, id_hi] */
	uint64_t		 t0;		/* the time record in force at
						   its start */
	/*
	 * Of different widths, so that the compiler does not test both
	 * with one load just after a store to one: a stalled store
	 * forward on every release.
	 */
	size_t			 refs;		/* handles into it */
	uint32_t		 pending;	/* readers not past it */
	int			 solo;		/* one event's, in no log */
	int			 mapped;	/* QUEUE_CHUNK bytes, chunk_map's */
	unsigned char		 data[];
};

/* A record's first bytes: (len << 3 | kind) in 7-bit groups, low first. */
static size_t
put_varint(unsigned char *p, uint64_t v)
{
	size_t	 n = 0;

	while (v >= 0x80) {
		p[n++] = (unsigned char)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (unsigned char)v;
	return n;
}

static size_t
get_varint(const unsigned char *p, uint64_t *v)
{
	size_t	 n = 0;
	int	 shift = 0;

	*v = 0;
	do {
		*v |= (uint64_t)(p[n] & 0x7f) << shift;
		shift += 7;
	} while (p[n++] & 0x80);
	return n;
}

/*
 * A chunk of the largest size is a mapping of its own, QUEUE_CHUNK bytes
 * with its head (whole pages: nothing lost to rounding), its pages
 * populated at once (MAP_POPULATE).  A producer that runs ahead of its
 * consumers fills fresh chunks, and taking their pages one fault at a
 * time cost the daemon more than the events did: 13,000 faults a million
 * W1 events 32 batches deep, against 500 (docs/performance.md).  Under
 * AddressSanitizer they come from malloc, so that it still guards them.
 */
#if defined(__SANITIZE_ADDRESS__)
#define CHUNK_MALLOC	1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CHUNK_MALLOC	1
#endif
#endif

static struct chunk *
chunk_map(void)
{
	void	*p;

#ifdef CHUNK_MALLOC
	p = malloc(QUEUE_CHUNK);
#else
	p = mmap(NULL, QUEUE_CHUNK, PROT_READ |
	    PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (p == MAP_FAILED)
		p = NULL;
#endif
	return p;
}

static void
chunk_unmap(struct chunk *ch)
{
#ifdef CHUNK_MALLOC
	free(ch);
#else
	/* Only EINVAL, for a mapping that is not: nothing to do then. */
	(void)munmap(ch, QUEUE_CHUNK);
#endif
}

void
qstore_init(struct qstore *st)
{
	memset(st, 0, sizeof *st);
	TAILQ_INIT(&st->pool);
	TAILQ_INIT(&st->spare);
}

/* Every queue using st is freed first. */
void
qstore_free(struct qstore *st)
{
	struct chunk	*ch;
	size_t		 i;

	while ((ch = TAILQ_FIRST(&st->spare)) != NULL) {
		TAILQ_REMOVE(&st->spare, ch, entry);
		chunk_unmap(ch);
	}
	for (i = 0; i < st->nslabs; i++)
		free(st->slabs[i]);
	free(st->slabs);
	qstore_init(st);
}

void
qlog_init(struct qlog *log, struct qstore *st, const uint64_t *clock)
{
	memset(log, 0, sizeof *log);
	log->clock = clock;
	TAILQ_INIT(&log->chunks);
	TAILQ_INIT(&log->readers);
	log->store = st;
	log->grow = QUEUE_CHUNK_MIN;
}

/* ch's bytes, held (n 1) or let go (-1), in its store's count. */
static void
held(struct qstore *st, const struct chunk *ch, int n)
{
	if (n > 0)
		st->bytes += ch->size;
	else {
		st->bytes -= ch->size;
		st->freed = 1;
	}
}

static void
chunk_free(struct qlog *log, struct chunk *ch)
{
	struct qstore	*st = log->store;

	held(st, ch, -1);
	TAILQ_REMOVE(&log->chunks, ch, entry);
	if (ch->mapped && st->nspare < SPARE_MAX) {
		TAILQ_INSERT_HEAD(&st->spare, ch, entry);
		st->nspare++;
	} else if (ch->mapped)
		chunk_unmap(ch);
	else
		free(ch);
}

/* Free ch if every reader has passed it and nothing points into it. */
static void
chunk_done(struct qlog *log, struct chunk *ch)
{
	if (ch->refs != 0 || ch->pending != 0)
		return;
	if (ch->solo) {
		held(log->store, ch, -1);
		free(ch);
	} else
		chunk_free(log, ch);
}

/* A reader is past ch: it may go. */
static void
passed(struct qlog *log, struct chunk *ch)
{
	ch->pending--;
	chunk_done(log, ch);
}

/* Every reader gone first.  What is left in the log goes. */
void
qlog_free(struct qlog *log)
{
	struct chunk	*ch;

	while ((ch = TAILQ_FIRST(&log->chunks)) != NULL) {
		ch->refs = ch->pending = 0;
		chunk_free(log, ch);
	}
}

/*
 * A reader of log, from its end on (it reads what is pushed from now);
 * with log NULL, a queue alone, with a log and a store of its own.  -1:
 * no memory for them.
 */
int
queue_init(struct queue *q, struct qlog *log)
{
	memset(q, 0, sizeof *q);
	TAILQ_INIT(&q->front);
	if (log == NULL) {
		if ((q->own = malloc(sizeof *q->own)) == NULL)
			return -1;
		qstore_init(&q->own->store);
		qlog_init(&q->own->log, &q->own->store, NULL);
		log = &q->own->log;
	}
	q->log = log;
	TAILQ_INSERT_TAIL(&log->readers, q, rentry);
	log->nreaders++;
	return 0;
}

/* What one failure holds of the store's memory. */
static size_t
failure_size(const struct qfailure *f)
{
	return sizeof *f + f->wlen + f->elen;
}

static void
fail_free(struct qstore *st, struct qfail *fl)
{
	uint8_t	 i;

	for (i = 0; i < fl->n; i++) {
		st->bytes -= failure_size(&fl->f[i]);
		free(fl->f[i].bytes);
	}
	st->bytes -= sizeof *fl;
	st->freed = 1;
	free(fl);
}

/* Failures kept for an event not yet read from q (dispatch's refail). */
void
queue_fail_free(struct queue *q, struct qfail *fl)
{
	if (fl != NULL)
		fail_free(q->log->store, fl);
}

static void
handle_free(struct queue *q, struct qevent *ev)
{
	if (ev->fail != NULL) {
		fail_free(q->log->store, ev->fail);
		ev->fail = NULL;
	}
	TAILQ_INSERT_HEAD(&q->log->store->pool, ev, entry);
}

/*
 * ev failed at attempt, at (wall ms), by who (its wlen bytes: at most
 * 255) saying err (elen bytes, at most QFAIL_ERROR_MAX): kept as its
 * newest failure, the oldest of QFAIL_KEEP going.  -1 out of memory (its
 * failures are as they were).
 */
int
queue_fail(struct queue *q, struct qevent *ev, uint64_t at, uint32_t attempt,
    const char *who, size_t wlen, const void *err, size_t elen)
{
	struct qstore	*st = q->log->store;
	struct qfailure	*f;
	char		*bytes;

	if (wlen > 255)
		wlen = 255;
	if (elen > QFAIL_ERROR_MAX)
		elen = QFAIL_ERROR_MAX;
	if ((bytes = malloc(wlen + elen + 1)) == NULL)
		return -1;
	if (ev->fail == NULL) {
		if ((ev->fail = calloc(1, sizeof *ev->fail)) == NULL) {
			free(bytes);
			return -1;
		}
		st->bytes += sizeof *ev->fail;
	}
	if (ev->fail->n == QFAIL_KEEP) {
		st->bytes -= failure_size(&ev->fail->f[0]);
		st->freed = 1;
		free(ev->fail->f[0].bytes);
		memmove(&ev->fail->f[0], &ev->fail->f[1],
		    (QFAIL_KEEP - 1) * sizeof ev->fail->f[0]);
		ev->fail->n--;
	}
	f = &ev->fail->f[ev->fail->n++];
	if (wlen != 0)
		memcpy(bytes, who, wlen);
	if (elen != 0)
		memcpy(bytes + wlen, err, elen);
	bytes[wlen + elen] = '\0';	/* for a reader's ease; elen says */
	f->bytes = bytes;
	f->at = at;
	f->attempt = attempt;
	f->wlen = (uint8_t)wlen;
	f->elen = (uint16_t)elen;
	ev->fail->total++;
	st->bytes += failure_size(f);
	return 0;
}

/*
 * The reader leaves its log: what it had given back goes, and it passes
 * every chunk it had not.  Handles still out (in flight, dead) are the
 * caller's to release first.  A queue alone frees its log and store.
 */
void
queue_free(struct queue *q)
{
	struct qlog	*log = q->log;
	struct qevent	*ev;
	struct chunk	*ch, *next;

	while ((ev = TAILQ_FIRST(&q->front)) != NULL) {
		TAILQ_REMOVE(&q->front, ev, entry);
		if (ev->chunk == NULL)
			free((void *)ev->data);
		else {
			ev->chunk->refs--;
			chunk_done(log, ev->chunk);
		}
		handle_free(q, ev);
	}
	while (q->prio != NULL && q->prio->n != 0) {
		ev = q->prio->v[--q->prio->n];
		ev->chunk->refs--;
		chunk_done(log, ev->chunk);
		handle_free(q, ev);
	}
	if (q->prio != NULL) {
		free(q->prio->v);
		free(q->prio);
		q->prio = NULL;
	}
	for (ch = q->at; ch != NULL; ch = next) {
		next = TAILQ_NEXT(ch, entry);
		passed(log, ch);
	}
	TAILQ_REMOVE(&log->readers, q, rentry);
	log->nreaders--;
	if (q->own != NULL) {
		qlog_free(log);
		qstore_free(&q->own->store);
		free(q->own);
		q->own = NULL;
	}
	q->at = NULL;
	q->count = 0;
	q->bytes = 0;
}

static struct qevent *
handle(struct queue *q)
{
	struct qstore	*st = q->log->store;
	struct qevent	*slab, *ev;
	void		**slabs;
	size_t		 i;

	if ((ev = TAILQ_FIRST(&st->pool)) == NULL) {
		if ((slabs = reallocarray(st->slabs, st->nslabs + 1,
		    sizeof *slabs)) == NULL)
			return NULL;
		st->slabs = slabs;
		if ((slab = calloc(POOL_SLAB, sizeof *slab)) == NULL)
			return NULL;
		st->slabs[st->nslabs++] = slab;
		for (i = 0; i < POOL_SLAB; i++)
			TAILQ_INSERT_TAIL(&st->pool, &slab[i], entry);
		ev = TAILQ_FIRST(&st->pool);
	}
	TAILQ_REMOVE(&st->pool, ev, entry);
	/*
	 * Field by field, not memset: a handle is made per event sent, and
	 * a memset of its 150 bytes was a rep stos, dearer than the stores
	 * (the links are set by whoever lists it).
	 */
	ev->hnext = NULL;
	ev->owner = NULL;
	ev->id = 0;
	ev->deadline = 0;
	ev->born = 0;
	ev->sent = 0;
	ev->attempts = 0;
	ev->len = 0;
	ev->reason = 0;
	ev->klen = 0;
	ev->prio = QUEUE_PRIO_DEFAULT;
	ev->hlen = 0;
	ev->cancelled = 0;
	ev->origin = 0;
	ev->chunk = NULL;
	ev->data = NULL;
	ev->key = NULL;
	ev->hdr = NULL;
	ev->fail = NULL;
	return ev;
}

/* A chunk with room for need bytes, behind the others; NULL: no memory. */
static struct chunk *
chunk_new(struct qlog *log, size_t need)
{
	struct qstore	*st = log->store;
	struct chunk	*ch;
	size_t		 size;
	int		 mapped;

	/* A log that fills chunks gets larger ones, up to QUEUE_CHUNK. */
	if (!TAILQ_EMPTY(&log->chunks) && log->grow < QUEUE_CHUNK)
		log->grow *= 2;
	size = need > QUEUE_CHUNK / 4 ? need : log->grow;
	if (size < need)
		size = need;
	mapped = size == QUEUE_CHUNK && need <= QUEUE_CHUNK - sizeof *ch;
	if (mapped && (ch = TAILQ_FIRST(&st->spare)) != NULL) {
		TAILQ_REMOVE(&st->spare, ch, entry);
		st->nspare--;
	} else if ((ch = mapped ? chunk_map() : malloc(sizeof *ch + size)) ==
	    NULL)
		return NULL;
	ch->size = mapped ? QUEUE_CHUNK - sizeof *ch : size;
	ch->mapped = mapped;
	ch->tail = 0;
	ch->fresh_in = ch->fresh_first = 0;
	ch->id_lo = UINT64_MAX;
	ch->id_hi = 0;
	ch->t0 = log->mark;
	ch->refs = 0;
	ch->pending = log->nreaders;	/* every reader is before it */
	ch->solo = 0;
	held(st, ch, 1);
	TAILQ_INSERT_TAIL(&log->chunks, ch, entry);
	return ch;
}

/*
 * Copy one event into q's log, behind the others: every reader of the log
 * has it to read.  -1 out of memory.
 */
int
queue_push(struct queue *q, uint64_t id, uint32_t attempts, uint64_t origin,
    const void *key, int klen, const void *hdr, uint16_t hlen,
    const void *data, uint32_t len)
{
	struct qlog	*log = q->log;
	struct chunk	*ch = TAILQ_LAST(&log->chunks, chunks);
	struct queue	*r;
	unsigned char	*at;
	size_t		 need, off, kn = klen < 0 ? 0 : (size_t)klen;
	uint64_t	 t = log->clock != NULL ? *log->clock : 0;
	uint16_t	 kf = klen < 0 ? 0 : (uint16_t)(klen + 1);
	int		 full, fresh = 0, mark = t != log->mark, kind;

	/*
	 * Compact only what follows the chunk's last compact record in id
	 * (and a key of 255 bytes with headers: HEADED keeps its length + 1
	 * in a byte).
	 */
	full = attempts != 0 || origin != 0 || (hlen != 0 && kf > 0xff) ||
	    (ch != NULL && ch->fresh_in != 0 && id != ch->fresh_in);
	need = VARINT_MAX + (full ? FULL_HEAD : HEADED_HEAD) + kn + hlen +
	    (size_t)len + (mark ? TIME_MAX : 0);
	if (ch == NULL || ch->size - ch->tail < need) {
		if ((ch = chunk_new(log, need)) == NULL)
			return -1;
		fresh = 1;
		full = attempts != 0 || origin != 0 || (hlen != 0 &&
		    kf > 0xff);
	}
	off = ch->tail;
	if (id < ch->id_lo)
		ch->id_lo = id;
	if (id > ch->id_hi)
		ch->id_hi = id;
	/* Readers at the end start here; a new chunk counted them already. */
	TAILQ_FOREACH(r, &log->readers, rentry) {
		if (r->at == NULL) {
			r->at = ch;
			r->off = off;
			r->fresh = ch->fresh_in;
			r->t = t;
			if (!fresh)
				ch->pending++;
		}
		r->count++;
		r->bytes += len;
	}
	at = ch->data + off;
	if (mark) {
		at += put_varint(at, t << R_SHIFT | R_TIME);
		log->mark = t;
	}
	kind = full ? R_FULL : hlen != 0 ? R_HEADED : klen >= 0 ? R_KEYED :
	    R_COMPACT;
	at += put_varint(at, (uint64_t)len << R_SHIFT | (uint64_t)kind);
	switch (kind) {
	case R_FULL:
		memcpy(at, &id, 8);
		memcpy(at + 8, &attempts, 4);
		memcpy(at + 12, &origin, 8);
		memcpy(at + 20, &kf, 2);
		memcpy(at + 22, &hlen, 2);
		at += FULL_HEAD;
		break;
	case R_HEADED:
		memcpy(at, &hlen, 2);
		at[2] = (unsigned char)kf;
		at += HEADED_HEAD;
		break;
	case R_KEYED:
		*at++ = (unsigned char)klen;
		break;
	}
	if (!full) {
		if (ch->fresh_in == 0)
			ch->fresh_first = id;
		ch->fresh_in = id + 1;
	}
	if (kn != 0) {
		memcpy(at, key, kn);
		at += kn;
	}
	if (hlen != 0) {
		memcpy(at, hdr, hlen);
		at += hlen;
	}
	if (len != 0)
		memcpy(at, data, len);
	ch->tail = (size_t)(at - ch->data) + len;
	return 0;
}

/* Does a go before b in a reader's heap? */
static inline int
heap_before(const struct qevent *a, const struct qevent *b)
{
	if (a->prio != b->prio)
		return a->prio < b->prio;
	if ((a->attempts != 0) != (b->attempts != 0))
		return a->attempts != 0;	/* delivered before: first */
	return a->id < b->id;
}

HEAP_GENERATE(pheap, struct qevent *, heap_before)

/* ev into q's heap; -1 out of memory. */
static int
heap_add(struct queue *q, struct qevent *ev)
{
	struct qheap	*h = q->prio;

	if (h == NULL) {
		if ((h = calloc(1, sizeof *h)) == NULL)
			return -1;
		q->prio = h;
	}
	if (pheap_reserve(&h->v, h->n, &h->cap, 16) != 0)
		return -1;
	pheap_push(h->v, &h->n, ev);
	q->count++;
	q->bytes += ev->len;
	return 0;
}

/* The i-th of q's heap out. */
static struct qevent *
heap_remove(struct queue *q, size_t i)
{
	struct qevent	*ev = pheap_remove(q->prio->v, &q->prio->n, i);

	q->count--;
	q->bytes -= ev->len;
	return ev;
}

static inline struct qevent *
heap_take(struct queue *q)
{
	return heap_remove(q, 0);
}

/* The handle into solo chunk ch out of q's heap, and back to the pool. */
static void
heap_drop(struct queue *q, struct chunk *ch)
{
	size_t	 i;

	for (i = 0; q->prio != NULL && i < q->prio->n; i++) {
		if (q->prio->v[i]->chunk == ch) {
			handle_free(q, heap_remove(q, i));
			return;
		}
	}
}

/*
 * An event of priority prio (not the default) for every reader of q's
 * log: its payload and key once, in a chunk of its own, and a handle in
 * each reader's heap.  -1 out of memory (no reader has it then).
 */
int
queue_push_prio(struct queue *q, uint64_t id, uint32_t attempts,
    uint16_t prio, const void *key, int klen, const void *hdr, uint16_t hlen,
    const void *data, uint32_t len)
{
	struct qlog	*log = q->log;
	struct queue	*r, *undo;
	struct chunk	*ch;
	struct qevent	*ev;
	size_t		 kn = klen < 0 ? 0 : (size_t)klen;

	if ((ch = malloc(sizeof *ch + kn + hlen + len + 1)) == NULL)
		return -1;
	memset(ch, 0, sizeof *ch);
	ch->solo = 1;
	ch->size = ch->tail = kn + hlen + len;
	held(log->store, ch, 1);
	if (kn != 0)
		memcpy(ch->data, key, kn);
	if (hlen != 0)
		memcpy(ch->data + kn, hdr, hlen);
	if (len != 0)
		memcpy(ch->data + kn + hlen, data, len);
	TAILQ_FOREACH(r, &log->readers, rentry) {
		if ((ev = handle(r)) == NULL)
			goto fail;
		ev->id = id;
		ev->attempts = attempts;
		ev->prio = prio;
		ev->len = len;
		ev->data = ch->data + kn + hlen;
		if (hlen != 0) {
			ev->hdr = ch->data + kn;
			ev->hlen = hlen;
		}
		ev->born = log->clock != NULL ? *log->clock : 0;
		if (klen >= 0) {
			ev->key = ch->data;
			ev->klen = (uint8_t)kn;
		}
		ev->chunk = ch;
		if (heap_add(r, ev) != 0) {
			handle_free(r, ev);
			goto fail;
		}
		ch->refs++;
	}
	return 0;
fail:
	/* Take it back out of the readers before r. */
	TAILQ_FOREACH(undo, &log->readers, rentry) {
		if (undo == r)
			break;
		heap_drop(undo, ch);
	}
	held(log->store, ch, -1);
	free(ch);
	return -1;
}

/*
 * Events given back (in id order) go ahead of everything buffered of the
 * default priority; others to their place in the heap.  Out of memory
 * for the heap, one goes in front.
 */
void
queue_push_front(struct queue *q, struct qevent **evs, size_t n)
{
	while (n-- != 0) {
		if (evs[n]->prio != QUEUE_PRIO_DEFAULT &&
		    heap_add(q, evs[n]) == 0)
			continue;
		TAILQ_INSERT_HEAD(&q->front, evs[n], entry);
		q->count++;
		q->bytes += evs[n]->len;
	}
}

static struct qevent *
front_take(struct queue *q)
{
	struct qevent	*ev;

	if ((ev = TAILQ_FIRST(&q->front)) != NULL) {
		TAILQ_REMOVE(&q->front, ev, entry);
		q->count--;
		q->bytes -= ev->len;
	}
	return ev;
}

/*
 * Where q reads, a record not yet read, or NULL when it has read the
 * whole log: a reader at the end of its last chunk lets go of it.
 */
static struct chunk *
reader_chunk(struct queue *q)
{
	struct chunk	*ch, *next;

	while ((ch = q->at) != NULL && q->off == ch->tail) {
		next = TAILQ_NEXT(ch, entry);
		q->at = next;
		q->off = 0;
		q->fresh = 0;
		passed(q->log, ch);
	}
	return ch;
}

/*
 * The event whose record is at at, in chunk ch, into ev (zeroed): *fresh
 * is the next compact record's id (0: the chunk's first) and moves on;
 * *t the last time record's, and a time record before the event is read
 * into it.  Returns where the record ends.
 */
static inline const unsigned char *
record(const unsigned char *at, const struct chunk *ch, uint64_t *fresh,
    uint64_t *t, struct qevent *ev)
{
	uint64_t	 v;
	uint16_t	 kf = 0;
	int		 kind;

	at += get_varint(at, &v);
	if ((v & R_MASK) == R_TIME) {
		/* An event follows it in its chunk. */
		*t = v >> R_SHIFT;
		at += get_varint(at, &v);
	}
	ev->born = *t;
	ev->len = (uint32_t)(v >> R_SHIFT);
	kind = (int)(v & R_MASK);
	if (kind == R_FULL) {
		memcpy(&ev->id, at, 8);
		memcpy(&ev->attempts, at + 8, 4);
		memcpy(&ev->origin, at + 12, 8);
		memcpy(&kf, at + 20, 2);
		memcpy(&ev->hlen, at + 22, 2);
		at += FULL_HEAD;
	} else {
		ev->id = *fresh != 0 ? *fresh : ch->fresh_first;
		*fresh = ev->id + 1;
		if (kind == R_KEYED)
			kf = (uint16_t)(*at++ + 1);
		else if (kind == R_HEADED) {
			memcpy(&ev->hlen, at, 2);
			kf = at[2];
			at += HEADED_HEAD;
		}
	}
	if (kf != 0) {
		ev->klen = (uint8_t)(kf - 1);
		ev->key = at;
		at += ev->klen;
	}
	if (ev->hlen != 0) {
		ev->hdr = at;
		at += ev->hlen;
	}
	ev->data = at;
	return at + ev->len;
}

/* The next event of the default priority; NULL if none (or no memory). */
static struct qevent *
plain_pop(struct queue *q)
{
	struct qevent		*ev;
	struct chunk		*ch;
	const unsigned char	*at;

	if ((ev = front_take(q)) != NULL)
		return ev;
	if ((ch = reader_chunk(q)) == NULL || (ev = handle(q)) == NULL)
		return NULL;
	at = record(ch->data + q->off, ch, &q->fresh, &q->t, ev);
	ev->chunk = ch;
	ch->refs++;
	q->off = (size_t)(at - ch->data);
	q->count--;
	q->bytes -= ev->len;
	if (q->off == ch->tail)
		(void)reader_chunk(q);	/* lets go of a chunk read whole */
	return ev;
}

/* The next event out, as a handle; NULL if none (or out of memory). */
struct qevent *
queue_pop(struct queue *q)
{
	if (q->prio != NULL && q->prio->n != 0 &&
	    (q->prio->v[0]->prio < QUEUE_PRIO_DEFAULT || q->count == q->prio->n))
		return heap_take(q);
	return plain_pop(q);
}

/*
 * Every event q buffers, unread: fn sees each as a handle made up for
 * the call (given back and of other priorities first, then the log from
 * where q reads).  Nothing changes.
 */
void
queue_walk(const struct queue *q, void (*fn)(void *, const struct qevent *),
    void *arg)
{
	const struct chunk	*ch;
	struct qevent		*ev, h;
	uint64_t		 fresh = q->fresh, t = q->t;
	size_t			 off = q->off, i;

	TAILQ_FOREACH(ev, &q->front, entry)
		fn(arg, ev);
	for (i = 0; q->prio != NULL && i < q->prio->n; i++)
		fn(arg, q->prio->v[i]);
	for (ch = q->at; ch != NULL; ch = TAILQ_NEXT(ch, entry), off = 0,
	    fresh = 0) {
		while (off < ch->tail) {
			memset(&h, 0, sizeof h);
			h.prio = QUEUE_PRIO_DEFAULT;
			off = (size_t)(record(ch->data + off, ch, &fresh, &t,
			    &h) - ch->data);
			fn(arg, &h);
		}
	}
}

/*
 * Event id if q buffers it: 1 and a handle made up for the call (or its
 * own, given back or of another priority) in *ev, its payload, key and
 * headers where they are; 0 if not.  The log is read from where q reads,
 * past chunks that hold no such id: a cost of the events given back and
 * of other priorities, and of one chunk of the log.
 */
int
queue_find(const struct queue *q, uint64_t id, struct qevent *ev)
{
	const struct chunk	*ch;
	const struct qevent	*h;
	uint64_t		 fresh = q->fresh, t = q->t;
	size_t			 off = q->off, i;

	TAILQ_FOREACH(h, &q->front, entry) {
		if (h->id == id) {
			*ev = *h;
			return 1;
		}
	}
	for (i = 0; q->prio != NULL && i < q->prio->n; i++) {
		if (q->prio->v[i]->id == id) {
			*ev = *q->prio->v[i];
			return 1;
		}
	}
	for (ch = q->at; ch != NULL; ch = TAILQ_NEXT(ch, entry), off = 0,
	    fresh = 0) {
		if (id < ch->id_lo || id > ch->id_hi)
			continue;
		if (ch != q->at)
			t = ch->t0;
		while (off < ch->tail) {
			memset(ev, 0, sizeof *ev);
			ev->prio = QUEUE_PRIO_DEFAULT;
			off = (size_t)(record(ch->data + off, ch, &fresh, &t,
			    ev) - ch->data);
			if (ev->id == id)
				return 1;
		}
	}
	return 0;
}

/*
 * The events q buffers with ids over after, for a listing (JOBS): fn sees
 * each as queue_walk does, those given back and of other priorities, then
 * the log's, past each chunk whose ids are all at or under after, or (as
 * *bound falls while fn keeps the lowest) all at or over *bound.  A cost
 * of the chunks and of the events given back and of other priorities, not
 * of the events of the log skipped.
 */
void
queue_list(const struct queue *q, uint64_t after, const uint64_t *bound,
    void (*fn)(void *, const struct qevent *), void *arg)
{
	const struct chunk	*ch;
	const struct qevent	*ev;
	struct qevent		 h;
	uint64_t		 fresh = q->fresh, t = q->t;
	size_t			 off = q->off, i;

	TAILQ_FOREACH(ev, &q->front, entry)
		if (ev->id > after)
			fn(arg, ev);
	for (i = 0; q->prio != NULL && i < q->prio->n; i++)
		if (q->prio->v[i]->id > after)
			fn(arg, q->prio->v[i]);
	for (ch = q->at; ch != NULL; ch = TAILQ_NEXT(ch, entry), off = 0,
	    fresh = 0) {
		if (ch->id_hi <= after || ch->id_lo >= *bound)
			continue;
		if (ch != q->at)
			t = ch->t0;
		while (off < ch->tail) {
			memset(&h, 0, sizeof h);
			h.prio = QUEUE_PRIO_DEFAULT;
			off = (size_t)(record(ch->data + off, ch, &fresh, &t,
			    &h) - ch->data);
			if (h.id > after && h.id < *bound)
				fn(arg, &h);
		}
	}
}

/*
 * When the oldest event q buffers became ready (its born: given back, of
 * another priority, or the next of the log), into *t; 0 if q buffers
 * none.  Costs a look at each event given back or of another priority.
 */
int
queue_oldest(const struct queue *q, uint64_t *t)
{
	const struct chunk	*ch = q->at;
	const struct qevent	*ev;
	uint64_t		 v, min = UINT64_MAX;
	size_t			 off = q->off, i;

	if (q->count == 0)
		return 0;
	TAILQ_FOREACH(ev, &q->front, entry)
		if (ev->born < min)
			min = ev->born;
	for (i = 0; q->prio != NULL && i < q->prio->n; i++)
		if (q->prio->v[i]->born < min)
			min = q->prio->v[i]->born;
	while (ch != NULL && off == ch->tail) {
		ch = TAILQ_NEXT(ch, entry);
		off = 0;
	}
	if (ch != NULL) {
		(void)get_varint(ch->data + off, &v);
		v = (v & R_MASK) == R_TIME ? v >> R_SHIFT : q->t;
		if (v < min)
			min = v;
	}
	*t = min;
	return 1;
}

/*
 * drop-oldest's next to shed: the oldest of the default priority, then
 * the others, in their order.
 */
struct qevent *
queue_shed(struct queue *q)
{
	if (q->prio == NULL || q->count > q->prio->n)
		return plain_pop(q);
	return q->prio->n != 0 ? heap_take(q) : NULL;
}

/*
 * Give ev a copy of its payload of its own and let go of its chunk, so
 * that a dead letter kept for days does not keep a chunk of live events'
 * memory.  -1 out of memory (it keeps the chunk then).
 */
int
queue_own(struct queue *q, struct qevent *ev)
{
	struct chunk	*ch = ev->chunk;
	unsigned char	*p;

	if (ch == NULL)
		return 0;
	if ((p = malloc((size_t)ev->len + ev->klen + ev->hlen + 1)) == NULL)
		return -1;
	memcpy(p, ev->data, ev->len);
	if (ev->key != NULL) {
		memcpy(p + ev->len, ev->key, ev->klen);
		ev->key = p + ev->len;
	}
	if (ev->hlen != 0) {
		memcpy(p + ev->len + ev->klen, ev->hdr, ev->hlen);
		ev->hdr = p + ev->len + ev->klen;
	}
	ev->chunk = NULL;
	ev->data = p;
	ch->refs--;
	chunk_done(q->log, ch);
	return 0;
}

/*
 * A handle to a copy of data of its own, in no buffer: a dead letter read
 * back from the journal.  NULL out of memory.
 */
struct qevent *
queue_copy(struct queue *q, uint64_t id, uint32_t attempts, const void *key,
    int klen, const void *hdr, uint16_t hlen, const void *data, uint32_t len)
{
	struct qevent	*ev;
	unsigned char	*p;
	size_t		 kn = klen < 0 ? 0 : (size_t)klen;

	if ((p = malloc((size_t)len + kn + hlen + 1)) == NULL)
		return NULL;
	if ((ev = handle(q)) == NULL) {
		free(p);
		return NULL;
	}
	if (len != 0)
		memcpy(p, data, len);
	if (klen >= 0) {
		if (kn != 0)
			memcpy(p + len, key, kn);
		ev->key = p + len;
		ev->klen = (uint8_t)kn;
	}
	if (hlen != 0) {
		memcpy(p + len + kn, hdr, hlen);
		ev->hdr = p + len + kn;
		ev->hlen = hlen;
	}
	ev->id = id;
	ev->attempts = attempts;
	ev->len = len;
	ev->data = p;
	return ev;
}

/* The dispatcher is done with ev: its payload's memory may go. */
void
queue_release(struct queue *q, struct qevent *ev)
{
	struct chunk	*ch = ev->chunk;

	if (ch != NULL) {
		ch->refs--;
		chunk_done(q->log, ch);
	} else
		free((void *)ev->data);
	handle_free(q, ev);
}
