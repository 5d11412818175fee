/* queue.h: the daemon's FIFO of buffered events. */
#ifndef PS_QUEUE_H
#define PS_QUEUE_H

#include <stddef.h>
#include <stdint.h>

/* One event: its id and its payload, stored once, in one allocation. */
struct qevent {
	uint64_t	 id;
	uint32_t	 len;
	unsigned char	 data[];
};

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
struct qevent	*queue_pop(struct queue *);

#endif
