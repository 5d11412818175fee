/*
 * dispatch.c: GenStage's DemandDispatcher over a FIFO buffer.  Consumers
 * with demand wait on a list ordered by outstanding demand, largest first,
 * and among equals the one that reached that level first.  The head takes
 * up to its whole demand from the buffer, then goes back in order; this
 * repeats until the buffer or the demand runs out.  Unlike GenStage, the
 * buffer is always offered to new demand, so no event is stranded.
 */
#include <stdlib.h>
#include <string.h>

#include "dispatch.h"

void
dispatch_init(struct dispatch *d, dispatch_emit_fn emit, void *arg)
{
	memset(d, 0, sizeof *d);
	queue_init(&d->queue);
	TAILQ_INIT(&d->ready);
	d->next_id = 1;
	d->emit = emit;
	d->arg = arg;
}

void
dispatch_free(struct dispatch *d)
{
	queue_free(&d->queue);
}

void
dispatch_attach(struct dispatch *d, struct dconsumer *dc, uint32_t max,
    uint32_t min, void *owner)
{
	memset(dc, 0, sizeof *dc);
	dc->max_demand = max;
	dc->min_demand = min;
	dc->owner = owner;
	d->nconsumers++;
}

void
dispatch_detach(struct dispatch *d, struct dconsumer *dc)
{
	if (dc->ready)
		TAILQ_REMOVE(&d->ready, dc, entry);
	dc->ready = 0;
	dc->demand = 0;
	d->nconsumers--;
}

/* Behind every consumer with as much demand or more: from the tail. */
static void
insert(struct dispatch *d, struct dconsumer *dc)
{
	struct dconsumer	*at;

	TAILQ_FOREACH_REVERSE(at, &d->ready, dconsumers, entry) {
		if (at->demand >= dc->demand)
			break;
	}
	if (at == NULL)
		TAILQ_INSERT_HEAD(&d->ready, dc, entry);
	else
		TAILQ_INSERT_AFTER(&d->ready, at, dc, entry);
	dc->ready = 1;
}

/* Room for n more events, so a batch is taken whole or not at all. */
int
dispatch_reserve(struct dispatch *d, uint32_t n)
{
	return queue_reserve(&d->queue, n);
}

/* Buffer one event after dispatch_reserve; its id, or 0 out of memory. */
uint64_t
dispatch_push(struct dispatch *d, const void *data, uint32_t len)
{
	struct qevent	*ev;

	if ((ev = qevent_new(d->next_id, data, len)) == NULL)
		return 0;
	queue_push(&d->queue, ev);
	d->enqueued_total++;
	return d->next_id++;
}

/* Add n to dc's credit; -1 if that would pass its max_demand. */
int
dispatch_demand(struct dispatch *d, struct dconsumer *dc, uint32_t n)
{
	if (n > dc->max_demand || dc->demand > dc->max_demand - n)
		return -1;
	if (dc->ready)
		TAILQ_REMOVE(&d->ready, dc, entry);
	dc->demand += n;
	dc->demanded += n;
	insert(d, dc);
	return 0;
}

void
dispatch_run(struct dispatch *d)
{
	struct dconsumer	*dc;
	struct qevent		*ev;
	uint32_t		 n;

	while (d->queue.count != 0 && (dc = TAILQ_FIRST(&d->ready)) != NULL) {
		TAILQ_REMOVE(&d->ready, dc, entry);
		dc->ready = 0;
		n = dc->demand;
		if (n > d->queue.count)
			n = (uint32_t)d->queue.count;
		dc->demand -= n;
		dc->delivered += n;
		d->delivered_total += n;
		while (n-- != 0) {
			ev = queue_pop(&d->queue);
			d->emit(d->arg, dc, ev);
		}
		if (dc->demand != 0)
			insert(d, dc);
	}
}

/*
 * Events delivered that later demand has not replaced.  A consumer asks
 * max_demand at first and then tops its window back up as it finishes, so
 * credit asked beyond max_demand marks events done; the rest it still holds.
 */
uint64_t
dispatch_in_flight(const struct dconsumer *dc)
{
	uint64_t	 renewed = 0;

	if (dc->demanded > dc->max_demand)
		renewed = dc->demanded - dc->max_demand;
	return dc->delivered > renewed ? dc->delivered - renewed : 0;
}
