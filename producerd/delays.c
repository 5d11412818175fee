/*
 * delays.c: events held until their time, soonest first, in a binary heap
 * of pointers.  An event costs its 24-byte head, malloc's own word and an
 * 8-byte slot beyond its payload: 40 bytes for a 64-byte payload
 * (docs/performance.md, W8).  Slots of due time and pointer would spare
 * the heap a load per comparison at 8 bytes more an event; at W8's rate
 * the loads cost nothing that shows.
 */
#include <stdlib.h>
#include <string.h>

#include "delays.h"
#include "heap.h"

void
delays_init(struct delays *ds)
{
	memset(ds, 0, sizeof *ds);
}

void
delays_free(struct delays *ds)
{
	size_t	 i;

	for (i = 0; i < ds->n; i++)
		free(ds->v[i]);
	free(ds->v);
	if (ds->also != NULL)
		*ds->also -= ds->bytes;
	delays_init(ds);
}

static inline int
before(const struct delayed *a, const struct delayed *b)
{
	return a->due < b->due || (a->due == b->due && a->id < b->id);
}

HEAP_GENERATE(dheap, struct delayed *, before)

/* What a delayed event holds of the daemon's memory: with its key and
 * headers (--max-memory). */
static uint64_t
held(const struct delayed *ev)
{
	return (uint64_t)ev->len + ev->klen + ev->hlen;
}

/*
 * Hold the event id (its key: klen -1 none; its headers) until due; -1
 * out of memory.
 */
int
delays_add(struct delays *ds, uint64_t due, uint64_t id, uint16_t prio,
    const void *key, int klen, const void *hdr, uint16_t hlen,
    const void *data, uint32_t len)
{
	struct delayed	*ev;
	size_t		 kn = klen < 0 ? 0 : (size_t)klen;

	if (dheap_reserve(&ds->v, ds->n, &ds->cap, 64) != 0)
		return -1;
	if ((ev = malloc(sizeof *ev + (size_t)len + kn + hlen)) == NULL)
		return -1;
	ev->due = due;
	ev->id = id;
	ev->len = len;
	ev->prio = prio;
	ev->klen = (uint8_t)kn;
	ev->keyed = klen >= 0;
	if (len != 0)
		memcpy(ev->data, data, len);
	if (kn != 0)
		memcpy(ev->data + len, key, kn);
	ev->hlen = hlen;
	if (hlen != 0)
		memcpy(ev->data + len + kn, hdr, hlen);
	dheap_push(ds->v, &ds->n, ev);
	ds->bytes += len;
	if (ds->also != NULL)
		*ds->also += held(ev);
	return 0;
}

/* The soonest event due by now, out of the heap (the caller frees it). */
struct delayed *
delays_due(struct delays *ds, uint64_t now)
{
	struct delayed	*ev;

	if (ds->n == 0 || ds->v[0]->due > now)
		return NULL;
	ev = dheap_pop(ds->v, &ds->n);
	ds->bytes -= ev->len;
	if (ds->also != NULL)
		*ds->also -= held(ev);
	return ev;
}

/* Event id, taken out (the caller frees it); NULL if it is not held. */
struct delayed *
delays_remove(struct delays *ds, uint64_t id)
{
	struct delayed	*ev;
	size_t		 i;

	for (i = 0; i < ds->n; i++) {
		if (ds->v[i]->id == id)
			break;
	}
	if (i == ds->n)
		return NULL;
	ev = dheap_remove(ds->v, &ds->n, i);
	ds->bytes -= ev->len;
	if (ds->also != NULL)
		*ds->also -= held(ev);
	return ev;
}

/* 1 and the soonest due time, or 0 when nothing is held. */
int
delays_next(const struct delays *ds, uint64_t *due)
{
	if (ds->n == 0)
		return 0;
	*due = ds->v[0]->due;
	return 1;
}

/* Any event held (the last slot), out of the heap; NULL when none. */
struct delayed *
delays_any(struct delays *ds)
{
	struct delayed	*ev;

	if (ds->n == 0)
		return NULL;
	ev = ds->v[--ds->n];
	ds->bytes -= ev->len;
	if (ds->also != NULL)
		*ds->also -= held(ev);
	return ev;
}
