/*
 * kept.c: done events kept with their results (kept.h).  A record is
 * added as its event is acked, at the end of the last chunk, and goes
 * when it is older than the queue's keep-done, or, oldest first, to make
 * room within its keep-done-bytes: always from the front, so a chunk
 * whose records have all gone is freed.
 */
#include <stdlib.h>
#include <string.h>

#include "chain.h"
#include "kept.h"

struct kchunk {
	TAILQ_ENTRY(kchunk)	 entry;
	size_t			 size;
	size_t			 head;	/* its first record still kept */
	size_t			 tail;	/* where the next goes */
	unsigned char		 data[];	/* 8-aligned */
};

#define KDONE_ID(e)	(&(e)->id)
#define KDONE_IDLEN(e)	sizeof (e)->id
CHAIN_GENERATE(kchain, struct kdone, hnext, chain_id_hash, KDONE_ID,
    KDONE_IDLEN)

/* A record's bytes in its chunk. */
static size_t
rec_size(uint32_t len)
{
	return (KEPT_HEAD + (size_t)len + 7) & ~(size_t)7;
}

void
kept_init(struct kept *k)
{
	memset(k, 0, sizeof *k);
	TAILQ_INIT(&k->chunks);
}

void
kept_free(struct kept *k)
{
	struct kchunk	*c;

	while ((c = TAILQ_FIRST(&k->chunks)) != NULL) {
		TAILQ_REMOVE(&k->chunks, c, entry);
		free(c);
	}
	free(k->hash);
	k->hash = NULL;
	k->n = k->bytes = 0;
}

/*
 * The oldest record goes: told, out of the table, its chunk past it.  A
 * chunk left empty is freed, but the last with keep (a record is about
 * to go into it): it starts again.
 */
static void
drop_oldest(struct kept *k, int keep)
{
	struct kchunk	*c = TAILQ_FIRST(&k->chunks);
	struct kdone	*e = (struct kdone *)(void *)(c->data + c->head);

	if (k->gone != NULL)
		k->gone(k->arg, e);
	kchain_remove(k->hash, k->mask, e);
	k->n--;
	k->bytes -= rec_size(e->len);
	c->head += rec_size(e->len);
	if (c->head == c->tail && keep && c == TAILQ_LAST(&k->chunks, kchunks))
		c->head = c->tail = 0;
	else if (c->head == c->tail) {
		TAILQ_REMOVE(&k->chunks, c, entry);
		free(c);
	}
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
	struct kchunk	*c, *fresh;
	struct kdone	*e;
	size_t		 need = rec_size(len), size;

	if ((max != 0 && need > max) || kept_find(k, id) != NULL)
		return 1;
	/* What may fail comes first: out of memory, no record goes. */
	if ((k->hash == NULL || k->n > k->mask) &&
	    kchain_grow(&k->hash, &k->mask) != 0 && k->hash == NULL)
		return -1;
	fresh = NULL;
	c = TAILQ_LAST(&k->chunks, kchunks);
	if (c == NULL || c->size - c->tail < need) {
		size = need > KEPT_CHUNK ? need : KEPT_CHUNK;
		if ((fresh = malloc(sizeof *fresh + size)) == NULL)
			return -1;
		fresh->size = size;
		fresh->head = fresh->tail = 0;
	}
	while (max != 0 && k->bytes + need > max && k->n != 0)
		drop_oldest(k, fresh == NULL);
	if (fresh != NULL)
		TAILQ_INSERT_TAIL(&k->chunks, fresh, entry);
	c = TAILQ_LAST(&k->chunks, kchunks);
	e = (struct kdone *)(void *)(c->data + c->tail);
	c->tail += need;
	e->id = id;
	e->at = at;
	e->seg = 0;
	e->attempts = attempts;
	e->len = len;
	if (len != 0)
		memcpy(e->result, result, len);
	kchain_insert(k->hash, k->mask, e);
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
 * Records done at or before before (wall ms) go; how many.  Records are
 * in the order they were added, which is the order of their times but
 * for a clock set back: the walk stops at the first not due.
 */
uint64_t
kept_expire(struct kept *k, uint64_t before)
{
	const struct kdone	*e;
	uint64_t		 n = 0;

	while ((e = kept_each(k, NULL)) != NULL && e->at <= before) {
		drop_oldest(k, 0);
		n++;
	}
	return n;
}

/* When the oldest record was done, if there is one. */
int
kept_next(const struct kept *k, uint64_t *at)
{
	const struct kdone	*e = kept_each(k, NULL);

	if (e == NULL)
		return 0;
	*at = e->at;
	return 1;
}

/* The record after prev, oldest first (prev NULL: the oldest); NULL: none. */
struct kdone *
kept_each(const struct kept *k, const struct kdone *prev)
{
	struct kchunk	*c;
	size_t		 off;

	TAILQ_FOREACH(c, &k->chunks, entry) {
		if (prev == NULL) {
			if (c->head < c->tail)
				return (struct kdone *)(void *)(c->data +
				    c->head);
			continue;
		}
		if ((const unsigned char *)prev < c->data ||
		    (const unsigned char *)prev >= c->data + c->tail)
			continue;
		off = (size_t)((const unsigned char *)prev - c->data) +
		    rec_size(prev->len);
		if (off < c->tail)
			return (struct kdone *)(void *)(c->data + off);
		prev = NULL;	/* the next chunk's first */
	}
	return NULL;
}
