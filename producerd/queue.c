/* queue.c: a growable ring of events, oldest first. */
#include <stdlib.h>
#include <string.h>

#include "queue.h"

struct qevent *
qevent_new(uint64_t id, const void *data, uint32_t len)
{
	struct qevent	*ev;

	if ((ev = malloc(sizeof *ev + len)) == NULL)
		return NULL;
	memset(ev, 0, sizeof *ev);
	ev->id = id;
	ev->len = len;
	if (len != 0)
		memcpy(ev->data, data, len);
	return ev;
}

void
queue_init(struct queue *q)
{
	memset(q, 0, sizeof *q);
}

void
queue_free(struct queue *q)
{
	struct qevent	*ev;

	while ((ev = queue_pop(q)) != NULL)
		free(ev);
	free(q->ring);
	memset(q, 0, sizeof *q);
}

/* Make room for n more events, so the pushes after it cannot fail. */
int
queue_reserve(struct queue *q, size_t n)
{
	struct qevent	**ring;
	size_t		  cap, first;

	if (n <= q->cap - q->count)
		return 0;
	cap = q->cap ? q->cap : 64;
	while (cap - q->count < n) {
		if (cap > SIZE_MAX / 2 / sizeof *ring)
			return -1;
		cap *= 2;
	}
	if ((ring = malloc(cap * sizeof *ring)) == NULL)
		return -1;
	/* Unwrap into the new ring, oldest at 0. */
	first = q->cap - q->head;
	if (first > q->count)
		first = q->count;
	if (q->count != 0) {
		memcpy(ring, q->ring + q->head, first * sizeof *ring);
		memcpy(ring + first, q->ring, (q->count - first) *
		    sizeof *ring);
	}
	free(q->ring);
	q->ring = ring;
	q->cap = cap;
	q->head = 0;
	return 0;
}

/* Only after queue_reserve made room. */
void
queue_push(struct queue *q, struct qevent *ev)
{
	q->ring[(q->head + q->count) & (q->cap - 1)] = ev;
	q->count++;
	q->bytes += ev->len;
}

/* Ahead of everything buffered; only after queue_reserve made room. */
void
queue_push_front(struct queue *q, struct qevent *ev)
{
	q->head = (q->head - 1) & (q->cap - 1);
	q->ring[q->head] = ev;
	q->count++;
	q->bytes += ev->len;
}

struct qevent *
queue_pop(struct queue *q)
{
	struct qevent	*ev;

	if (q->count == 0)
		return NULL;
	ev = q->ring[q->head];
	q->head = (q->head + 1) & (q->cap - 1);
	q->count--;
	q->bytes -= ev->len;
	return ev;
}
