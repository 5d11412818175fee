/*
 * uniq.h: a queue's unique ids (the UNIQUE_ID attribute; docs/
 * scheduling.md).  An id is held from its event's ENQUEUE until every
 * group of the queue is done with the event, then for the queue's dedup
 * window; while held, an ENQUEUE of it is a duplicate.  Plain C, no I/O:
 * times are the caller's wall clock, in ms.
 */
#ifndef PS_UNIQ_H
#define PS_UNIQ_H

#include <stddef.h>
#include <stdint.h>

#include "idmap.h"

struct uentry {
	struct uentry	*hnext;		/* the hash's chain */
	struct uentry	*wnext;		/* windows, oldest first */
	uint64_t	 id;		/* its event's */
	uint64_t	 expires;	/* ms; 0: its event is live */
	uint32_t	 refs;		/* groups not done with the event */
	uint64_t	 seq;		/* the journal segment holding its
					   record; 0: its event's ENQUEUE's */
	uint8_t		 len;
	uint8_t		 listed;	/* on the windows' list */
	unsigned char	 uid[];
};

struct uniq {
	struct uentry	**hash;
	uint64_t	  mask;
	size_t		  count;	/* entries */
	struct idmap	  byid;		/* live event id -> its entry */
	struct uentry	 *whead;	/* windows running, by start */
	struct uentry	**wtail;
	uint64_t	  duplicates_total;
};

void	 uniq_init(struct uniq *);
void	 uniq_free(struct uniq *);
int	 uniq_seen(struct uniq *, const void *, uint8_t, uint64_t);
uint64_t uniq_id(struct uniq *, const void *, uint8_t);
int	 uniq_add(struct uniq *, const void *, uint8_t, uint64_t, uint32_t,
	     uint64_t);
void	 uniq_gone(struct uniq *, uint64_t, uint64_t, uint64_t);
void	 uniq_sweep(struct uniq *, uint64_t);
void	 uniq_forget(struct uniq *, uint64_t);
int	 uniq_of(const struct uniq *, uint64_t, const uint8_t **,
	     uint8_t *);
void	 uniq_moved(struct uniq *, uint64_t, uint64_t);
void	 uniq_place(struct uniq *, const void *, uint8_t, uint64_t,
	     uint64_t);
typedef void (*uniq_walk_fn)(void *, struct uentry *);
void	 uniq_walk(struct uniq *, uniq_walk_fn, void *);

#endif
