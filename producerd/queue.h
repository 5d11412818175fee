/* queue.h: the daemon's FIFO of buffered events, and the event itself. */
#ifndef PS_QUEUE_H
#define PS_QUEUE_H

#include <sys/queue.h>

#include <stddef.h>
#include <stdint.h>

struct dconsumer;

/*
 * One event: its payload, stored once, in one allocation with what the
 * dispatcher keeps of it.  An event is in exactly one place: the queue,
 * a consumer's in-flight list (and the deadline list), or the dead list.
 */
struct qevent {
	TAILQ_ENTRY(qevent)	 entry;		/* owner's in flight, or dead */
	TAILQ_ENTRY(qevent)	 tentry;	/* by deadline, in flight */
	struct qevent		*hnext;		/* id hash: in flight or dead */
	struct dconsumer	*owner;		/* in flight on it, else NULL */
	uint64_t		 id;
	uint64_t		 deadline;	/* ms; 0: none */
	uint32_t		 attempts;	/* deliveries so far */
	uint32_t		 len;
	uint8_t			 reason;	/* dead: enum ps_dead_reason */
	unsigned char		 data[];
};
TAILQ_HEAD(qevents, qevent);

/* A ring of event pointers; cap is a power of two. */
struct queue {
	struct qevent	**ring;
	size_t		  cap;
	size_t		  head;
	size_t		  count;
	uint64_t	  bytes;	/* payload bytes buffered */
};

struct qevent	*qevent_new(uint64_t, const void *, uint32_t);
void		 queue_init(struct queue *);
void		 queue_free(struct queue *);
int		 queue_reserve(struct queue *, size_t);
void		 queue_push(struct queue *, struct qevent *);
void		 queue_push_front(struct queue *, struct qevent *);
struct qevent	*queue_pop(struct queue *);

#endif
