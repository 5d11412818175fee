/*
 * queue.c: the buffer.  New events are copied once into an arena of
 * chunks, records end to end (16 bytes of header, the payload, padding to
 * 8), so a buffered event costs its payload and about 20 bytes, not a
 * malloc and a pointer each.  (pushbench W4: 105 bytes over the payload
 * before, 16 after; docs/performance.md.)
 *
 * An event leaves the arena through a handle (struct qevent) from a pool;
 * the handle keeps the chunk alive (refs) until the dispatcher releases
 * it, so an event in flight or given back is never copied.  A chunk goes
 * once every record in it has left and no handle points into it.
 */
#include <stdlib.h>
#include <string.h>

#include "queue.h"

#define CHUNK_SIZE	(256u * 1024)
#define REC_HEAD	16			/* id, len, attempts */
#define REC_ORIGIN	0x80000000u		/* attempts: an origin follows */
#define POOL_SLAB	256			/* handles per allocation */
#define ALIGN8(n)	(((n) + 7) & ~(size_t)7)

struct chunk {
	TAILQ_ENTRY(chunk)	 entry;
	size_t			 size;		/* bytes of data */
	size_t			 head;		/* the next record out */
	size_t			 tail;		/* where the next one goes */
	uint32_t		 refs;		/* handles into data */
	unsigned char		 data[];
};

/*
 * A record's header, in place at the start of each record.  Events a
 * stage took from upstream carry their origin in 8 more bytes after it.
 */
struct rec {
	uint64_t	 id;
	uint32_t	 len;
	uint32_t	 attempts;	/* | REC_ORIGIN */
};

/* Header bytes of a record, origin included. */
static size_t
rec_head(const struct rec *r)
{
	return REC_HEAD + ((r->attempts & REC_ORIGIN) ? 8 : 0);
}

void
queue_init(struct queue *q)
{
	memset(q, 0, sizeof *q);
	TAILQ_INIT(&q->front);
	TAILQ_INIT(&q->chunks);
	TAILQ_INIT(&q->pool);
}

void
queue_free(struct queue *q)
{
	struct qevent	*ev;
	struct chunk	*ch;
	size_t		 i;

	while ((ev = TAILQ_FIRST(&q->front)) != NULL) {
		TAILQ_REMOVE(&q->front, ev, entry);
		if (ev->chunk == NULL)
			free((void *)ev->data);
	}
	while ((ch = TAILQ_FIRST(&q->chunks)) != NULL) {
		TAILQ_REMOVE(&q->chunks, ch, entry);
		free(ch);
	}
	for (i = 0; i < q->nslabs; i++)
		free(q->slabs[i]);
	free(q->slabs);
	queue_init(q);
}

static struct qevent *
handle(struct queue *q)
{
	struct qevent	*slab, *ev;
	void		**slabs;
	size_t		 i;

	if ((ev = TAILQ_FIRST(&q->pool)) == NULL) {
		if ((slabs = reallocarray(q->slabs, q->nslabs + 1,
		    sizeof *slabs)) == NULL)
			return NULL;
		q->slabs = slabs;
		if ((slab = calloc(POOL_SLAB, sizeof *slab)) == NULL)
			return NULL;
		q->slabs[q->nslabs++] = slab;
		for (i = 0; i < POOL_SLAB; i++)
			TAILQ_INSERT_TAIL(&q->pool, &slab[i], entry);
		ev = TAILQ_FIRST(&q->pool);
	}
	TAILQ_REMOVE(&q->pool, ev, entry);
	memset(ev, 0, sizeof *ev);
	return ev;
}

/* Free ch if nothing is left in it and nothing points into it. */
static void
chunk_done(struct queue *q, struct chunk *ch)
{
	if (ch->refs != 0 || ch->head != ch->tail)
		return;
	if (ch == TAILQ_LAST(&q->chunks, chunks)) {
		ch->head = ch->tail = 0;	/* reuse the one being filled */
		return;
	}
	if (q->next == ch)
		q->next = NULL;
	TAILQ_REMOVE(&q->chunks, ch, entry);
	free(ch);
}

/* Copy one event into the arena, behind the others; -1 out of memory. */
int
queue_push(struct queue *q, uint64_t id, uint32_t attempts, uint64_t origin,
    const void *data, uint32_t len)
{
	struct chunk	*ch = TAILQ_LAST(&q->chunks, chunks);
	struct rec	 r = { id, len, attempts | (origin ? REC_ORIGIN : 0) };
	size_t		 head = rec_head(&r), size;
	size_t		 need = ALIGN8(head + (size_t)len);

	if (ch == NULL || ch->size - ch->tail < need) {
		size = need > CHUNK_SIZE / 4 ? need : CHUNK_SIZE;
		if ((ch = malloc(sizeof *ch + size)) == NULL)
			return -1;
		ch->size = size;
		ch->head = ch->tail = 0;
		ch->refs = 0;
		TAILQ_INSERT_TAIL(&q->chunks, ch, entry);
	}
	memcpy(ch->data + ch->tail, &r, sizeof r);
	if (origin != 0)
		memcpy(ch->data + ch->tail + REC_HEAD, &origin, 8);
	if (len != 0)
		memcpy(ch->data + ch->tail + head, data, len);
	ch->tail += need;
	q->count++;
	q->bytes += len;
	return 0;
}

/* Events given back (in id order) go ahead of everything buffered. */
void
queue_push_front(struct queue *q, struct qevent **evs, size_t n)
{
	while (n-- != 0) {
		TAILQ_INSERT_HEAD(&q->front, evs[n], entry);
		q->count++;
		q->bytes += evs[n]->len;
	}
}

/*
 * The first arena chunk with a record left in it, or NULL.  Chunks before
 * it are empty but kept by handles in flight; q->next skips them.
 */
static struct chunk *
arena_head(struct queue *q)
{
	struct chunk	*ch = q->next != NULL ? q->next :
			    TAILQ_FIRST(&q->chunks);

	for (; ch != NULL; ch = TAILQ_NEXT(ch, entry)) {
		if (ch->head != ch->tail)
			break;
	}
	q->next = ch;
	return ch;
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

/* Take the record at ch's head out of the arena; r is its header. */
static void
arena_take(struct queue *q, struct chunk *ch, struct rec *r)
{
	memcpy(r, ch->data + ch->head, sizeof *r);
	ch->head += ALIGN8(rec_head(r) + (size_t)r->len);
	q->count--;
	q->bytes -= r->len;
}

/* The next event out, as a handle; NULL if none (or out of memory). */
struct qevent *
queue_pop(struct queue *q)
{
	struct qevent	*ev;
	struct chunk	*ch;
	struct rec	 r;
	unsigned char	*at;

	if ((ev = front_take(q)) != NULL)
		return ev;
	if ((ch = arena_head(q)) == NULL || (ev = handle(q)) == NULL)
		return NULL;
	at = ch->data + ch->head;
	arena_take(q, ch, &r);
	ev->id = r.id;
	ev->len = r.len;
	ev->attempts = r.attempts & ~REC_ORIGIN;
	if (r.attempts & REC_ORIGIN)
		memcpy(&ev->origin, at + REC_HEAD, 8);
	ev->data = at + rec_head(&r);
	ev->chunk = ch;
	ch->refs++;
	return ev;
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
	if ((p = malloc(ev->len ? ev->len : 1)) == NULL)
		return -1;
	memcpy(p, ev->data, ev->len);
	ev->chunk = NULL;
	ev->data = p;
	ch->refs--;
	chunk_done(q, ch);
	return 0;
}

/*
 * A handle to a copy of data of its own, in no buffer: a dead letter read
 * back from the journal.  NULL out of memory.
 */
struct qevent *
queue_copy(struct queue *q, uint64_t id, uint32_t attempts, const void *data,
    uint32_t len)
{
	struct qevent	*ev;
	unsigned char	*p;

	if ((p = malloc(len ? len : 1)) == NULL)
		return NULL;
	if ((ev = handle(q)) == NULL) {
		free(p);
		return NULL;
	}
	if (len != 0)
		memcpy(p, data, len);
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
		chunk_done(q, ch);
	} else
		free((void *)ev->data);
	TAILQ_INSERT_HEAD(&q->pool, ev, entry);
}
