/*
 * chain.h: the one table shape for keyed sets: a chained hash of
 * power-of-two buckets (64, then doubled), entries linked through their
 * own next field, keyed by bytes.  A generator, as heap.h is:
 * CHAIN_GENERATE(name, type, next, hash, key, len) makes name_find,
 * name_insert, name_remove and name_grow, where hash(p, n) hashes n bytes
 * (hash.h) and key(e), len(e) are an entry's key and its length.  The
 * caller owns the buckets, the mask and the count, and says when to grow.
 * The unique ids (uniq.c), the keys in flight (keys.c), the queues by
 * name (queues.c) and a group's events by id (dispatch.c: the id's bytes
 * are its key and its hash) use it; tests/test_chain.c tests it alone.
 */
#ifndef PS_CHAIN_H
#define PS_CHAIN_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* What a generator makes: not every user takes every function. */
#define CHAIN_FN	static inline __attribute__((__unused__))

/*
 * The hash of a key that is an event's id: the id itself, for ids are
 * sequential and their low bits spread them evenly (dispatch.c's events
 * in flight and dead, kept.c's done records).
 */
CHAIN_FN uint64_t
chain_id_hash(const void *k, size_t n)
{
	uint64_t	 id;

	(void)n;
	memcpy(&id, k, sizeof id);
	return id;
}

#define CHAIN_GENERATE(name, type, next, hash, key, len)		\
/* The link to k's entry (n bytes), or the NULL ending its chain. */	\
CHAIN_FN type **							\
name##_find(type **h, uint64_t mask, const void *k, size_t n)		\
{									\
	type	**pp;							\
									\
	for (pp = &h[hash(k, n) & mask]; *pp != NULL;			\
	    pp = &(*pp)->next) {					\
		if ((size_t)len(*pp) == n &&				\
		    memcmp(key(*pp), k, n) == 0)			\
			break;						\
	}								\
	return pp;							\
}									\
									\
/* e in, at the head of its chain (its key not there yet). */		\
CHAIN_FN void								\
name##_insert(type **h, uint64_t mask, type *e)				\
{									\
	type	**pp = &h[hash(key(e), len(e)) & mask];			\
									\
	e->next = *pp;							\
	*pp = e;							\
}									\
									\
/* e out of its chain, found by itself, not its key; 1 if it was in. */	\
CHAIN_FN int								\
name##_remove(type **h, uint64_t mask, type *e)				\
{									\
	type	**pp;							\
									\
	for (pp = &h[hash(key(e), len(e)) & mask]; *pp != NULL;		\
	    pp = &(*pp)->next) {					\
		if (*pp == e) {						\
			*pp = e->next;					\
			return 1;					\
		}							\
	}								\
	return 0;							\
}									\
									\
/* Twice the buckets (64 at first), every entry moved; -1 no memory. */	\
CHAIN_FN int								\
name##_grow(type ***hp, uint64_t *mask)					\
{									\
	type		**h, *e, *nx;					\
	uint64_t	  cap = *hp != NULL ? (*mask + 1) * 2 : 64, i;	\
									\
	if ((h = calloc(cap, sizeof *h)) == NULL)			\
		return -1;						\
	for (i = 0; *hp != NULL && i <= *mask; i++) {			\
		for (e = (*hp)[i]; e != NULL; e = nx) {			\
			nx = e->next;					\
			name##_insert(h, cap - 1, e);			\
		}							\
	}								\
	free(*hp);							\
	*hp = h;							\
	*mask = cap - 1;						\
	return 0;							\
}

#endif
