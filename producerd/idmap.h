/*
 * idmap.h: a map from event id to a 64-bit value, open addressing.  Ids
 * are never 0, so 0 marks an empty slot.  The journal keeps where each
 * moved event's copy lives in one; replay indexes what it has read.
 */
#ifndef PS_IDMAP_H
#define PS_IDMAP_H

#include <stddef.h>
#include <stdint.h>

struct idmap_slot {
	uint64_t	 id;
	uint64_t	 value;
};

struct idmap {
	struct idmap_slot	*slots;
	uint64_t		 mask;
	size_t			 count;
};

void	 idmap_init(struct idmap *);
void	 idmap_free(struct idmap *);
int	 idmap_put(struct idmap *, uint64_t, uint64_t);
int	 idmap_get(const struct idmap *, uint64_t, uint64_t *);
int	 idmap_del(struct idmap *, uint64_t);

#endif
