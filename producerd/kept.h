/*
 * kept.h: a group's done events kept a while with their results (a
 * queue's keep-done, docs/jobs.md), by id and oldest first, within the
 * queue's keep-done time and keep-done-bytes.  Plain C, no I/O: times
 * are the caller's wall clock, in ms.
 *
 * Records come in the order their events are acked and go oldest first
 * (too old, or to make room), so they are laid end to end in chunks, a
 * log, not allocated one by one: a record costs its 40 bytes and its
 * result, rounded to 8, and its place in the id table.
 */
#ifndef PS_KEPT_H
#define PS_KEPT_H

#include <sys/queue.h>

#include <stddef.h>
#include <stdint.h>

/* One done event's record, in a chunk: 40 bytes, then its result. */
struct kdone {
	struct kdone		*hnext;		/* by id */
	uint64_t		 id;
	uint64_t		 at;		/* done: wall ms */
	uint64_t		 seg;		/* the journal's: where its
						   record is */
	uint32_t		 attempts;
	uint32_t		 len;
	unsigned char		 result[];
};

#define KEPT_HEAD	offsetof(struct kdone, result)	/* a record but its
							   result */
#define KEPT_CHUNK	(64u * 1024)	/* records a chunk holds, in bytes */

struct kchunk;
TAILQ_HEAD(kchunks, kchunk);

struct kept {
	struct kdone	**hash;
	uint64_t	  mask;
	uint64_t	  n;
	uint64_t	  bytes;	/* records' bytes: results + KEPT_HEAD,
					   rounded to 8 */
	struct kchunks	  chunks;	/* oldest first */
	/* Hears of each record as it goes (made room for, or too old). */
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
struct kdone	*kept_each(const struct kept *, const struct kdone *);

#endif
