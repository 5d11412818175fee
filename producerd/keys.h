/*
 * keys.h: key order's bookkeeping for one group (keys.c): which keys have
 * an event in flight, and the events waiting behind them.
 */
#ifndef PS_KEYS_H
#define PS_KEYS_H

#include <stdint.h>

#include "queue.h"

struct kslot;

struct keys {
	struct kslot	**hash;
	uint64_t	  mask;
	uint64_t	  n;		/* keys in flight or waited on */
	uint64_t	  nwaiting;	/* events waiting behind their key */
	uint64_t	  waiting_bytes;
	struct qevents	  order;	/* all, oldest first (tentry) */
};

void		 keys_init(struct keys *);
int		 keys_busy(struct keys *, const struct qevent *);
int		 keys_wait(struct keys *, struct qevent *);
int		 keys_take(struct keys *, const struct qevent *);
struct qevent	*keys_done(struct keys *, const struct qevent *);
struct qevent	*keys_shed(struct keys *);
void		 keys_remove(struct keys *, struct qevent *);
struct qevent	*keys_idle_next(struct keys *, const struct qevent *);
void		 keys_back(struct keys *, const struct qevent *);
void		 keys_drain(struct keys *, void (*)(void *, struct qevent *),
		     void *);
void		 keys_free(struct keys *, void (*)(void *, struct qevent *),
		     void *);

#endif
