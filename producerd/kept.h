/*
 * kept.h: a group's done events kept a while with their results (a
 * queue's keep-done, docs/jobs.md), by id and oldest first, within the
 * queue's keep-done time and keep-done-bytes.  Plain C, no I/O: times
 * are the caller's wall clock, in ms.
 */
#ifndef PS_KEPT_H
#define PS_KEPT_H

#include <sys/queue.h>

#include <stdint.h>

/* One done event's record: 56 bytes, then its result. */
struct kdone {
	TAILQ_ENTRY(kdone)	 entry;		/* oldest first */
	struct kdone		*hnext;		/* by id */
	uint64_t		 id;
	uint64_t		 at;		/* done: wall ms */
	uint64_t		 seg;		/* the journal's: where its
						   record is */
	uint32_t		 attempts;
	uint32_t		 len;
	unsigned char		 result[];
};
TAILQ_HEAD(kdones, kdone);

#define KEPT_HEAD	sizeof (struct kdone)	/* a record's cost but its result */

struct kept {
	struct kdone	**hash;
	uint64_t	  mask;
	uint64_t	  n;
	uint64_t	  bytes;	/* records' memory: results + KEPT_HEAD */
	struct kdones	  list;
	/* Hears of each record as it goes (made to fit, or too old). */
	void		(*gone)(void *, struct kdone *);
	void		 *arg;
};

void		 kept_init(struct kept *);
void		 kept_free(struct kept *);
int		 kept_add(struct kept *, uint64_t, uint64_t, uint32_t,
		     const void *, uint32_t, uint64_t, struct kdone **);
const struct kdone *kept_find(const struct kept *, uint64_t);
uint64_t	 kept_expire(struct kept *, uint64_t);
int		 kept_next(const struct kept *, uint64_t *);

#endif
