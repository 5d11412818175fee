/*
 * dispatch.h: buffered events, consumers' demand, and which consumer gets
 * which event.  Plain C with no I/O: events leave through the emit callback.
 */
#ifndef PS_DISPATCH_H
#define PS_DISPATCH_H

#include <sys/queue.h>

#include <stdint.h>

#include "queue.h"

/* What the dispatcher knows of one consumer. */
struct dconsumer {
	TAILQ_ENTRY(dconsumer)	 entry;	/* on ready while demand > 0 */
	int			 ready;
	uint32_t		 demand;	/* outstanding credit */
	uint32_t		 max_demand;
	uint32_t		 min_demand;
	uint64_t		 demanded;	/* credit asked in all */
	uint64_t		 delivered;
	void			*owner;
};
TAILQ_HEAD(dconsumers, dconsumer);

/* Hands an event to a consumer; owns ev; must not call back into dispatch. */
typedef void (*dispatch_emit_fn)(void *, struct dconsumer *,
    struct qevent *);

struct dispatch {
	struct queue		 queue;
	struct dconsumers	 ready;	/* largest demand first, then oldest */
	uint64_t		 next_id;
	uint64_t		 enqueued_total;
	uint64_t		 delivered_total;
	uint32_t		 nconsumers;
	dispatch_emit_fn	 emit;
	void			*arg;
};

void	 dispatch_init(struct dispatch *, dispatch_emit_fn, void *);
void	 dispatch_free(struct dispatch *);
void	 dispatch_attach(struct dispatch *, struct dconsumer *, uint32_t,
	     uint32_t, void *);
void	 dispatch_detach(struct dispatch *, struct dconsumer *);
int	 dispatch_reserve(struct dispatch *, uint32_t);
uint64_t dispatch_push(struct dispatch *, const void *, uint32_t);
int	 dispatch_demand(struct dispatch *, struct dconsumer *, uint32_t);
void	 dispatch_run(struct dispatch *);
uint64_t dispatch_in_flight(const struct dconsumer *);

#endif
