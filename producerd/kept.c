/*
 * kept.c: done events kept with their results (kept.h).  A record is
 * added as its event is acked, and goes when it is older than the
 * queue's keep-done, or, oldest first, to make room within its
 * keep-done-bytes.
 */
#include <stdlib.h>
#include <string.h>

#include "chain.h"
#include "kept.h"


#define KDONE_ID(e)	(&(e)->id)
#define KDONE_IDLEN(e)	sizeof (e)->id
CHAIN_GENERATE(kchain, struct kdone, hnext, chain_id_hash, KDONE_ID,
    KDONE_IDLEN)

void
kept_init(struct kept *k)
{
	memset(k, 0, sizeof *k);
	TAILQ_INIT(&k->list);
}

static void
drop(struct kept *k, struct kdone *e)
{
	if (k->gone != NULL)
		k->gone(k->arg, e);
	TAILQ_REMOVE(&k->list, e, entry);
	kchain_remove(k->hash, k->mask, e);
	k->n--;
	k->bytes -= KEPT_HEAD + e->len;
	free(e);
}

void
kept_free(struct kept *k)
{
	struct kdone	*e;

	k->gone = NULL;		/* let go, not dropped */
	while ((e = TAILQ_FIRST(&k->list)) != NULL)
		drop(k, e);
	free(k->hash);
	k->hash = NULL;
}

/*
 * Keep event id, done at at (wall ms) after attempts deliveries, with
 * its result (len bytes), within max bytes in all (0: no limit): the
 * oldest go to make room.  0 kept (*out: its record); 1 not kept (alone
 * over max, or kept already); -1 out of memory.
 */
int
kept_add(struct kept *k, uint64_t id, uint64_t at, uint32_t attempts,
    const void *result, uint32_t len, uint64_t max, struct kdone **out)
{
	struct kdone	*e;
	uint64_t	 need = KEPT_HEAD + (uint64_t)len;

	if ((max != 0 && need > max) || kept_find(k, id) != NULL)
		return 1;
	while (max != 0 && k->bytes + need > max &&
	    (e = TAILQ_FIRST(&k->list)) != NULL)
		drop(k, e);
	if ((k->hash == NULL || k->n > k->mask) &&
	    kchain_grow(&k->hash, &k->mask) != 0 && k->hash == NULL)
		return -1;
	if ((e = malloc(need)) == NULL)
		return -1;
	e->id = id;
	e->at = at;
	e->seg = 0;
	e->attempts = attempts;
	e->len = len;
	if (len != 0)
		memcpy(e->result, result, len);
	kchain_insert(k->hash, k->mask, e);
	TAILQ_INSERT_TAIL(&k->list, e, entry);
	k->n++;
	k->bytes += need;
	if (out != NULL)
		*out = e;
	return 0;
}

const struct kdone *
kept_find(const struct kept *k, uint64_t id)
{
	if (k->hash == NULL)
		return NULL;
	return *kchain_find(k->hash, k->mask, &id, sizeof id);
}

/*
 * Records done at or before before (wall ms) go; how many.  Records are in the
 * order they were added, which is the order of their times but for a
 * clock set back: the walk stops at the first not due.
 */
uint64_t
kept_expire(struct kept *k, uint64_t before)
{
	struct kdone	*e;
	uint64_t	 n = 0;

	while ((e = TAILQ_FIRST(&k->list)) != NULL && e->at <= before) {
		drop(k, e);
		n++;
	}
	return n;
}

/* When the oldest record was done, if there is one. */
int
kept_next(const struct kept *k, uint64_t *at)
{
	const struct kdone	*e = TAILQ_FIRST(&k->list);

	if (e == NULL)
		return 0;
	*at = e->at;
	return 1;
}
