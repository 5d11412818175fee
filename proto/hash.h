/*
 * hash.h: FNV-1a, the one hash function: 32 bits for the wire's partition
 * hash (partition.c, docs/dispatch.md) and the unique ids' table, 64 for
 * the tables by key and by queue name.  Here rather than in common/
 * because the wire depends on it and the dispatch core links only proto/.
 */
#ifndef PS_HASH_H
#define PS_HASH_H

#include <stddef.h>
#include <stdint.h>

static inline uint32_t
fnv1a32(const void *p, size_t n)
{
	const uint8_t	*s = p;
	uint32_t	 h = 2166136261u;

	while (n-- != 0)
		h = (h ^ *s++) * 16777619u;
	return h;
}

static inline uint64_t
fnv1a64(const void *p, size_t n)
{
	const uint8_t	*s = p;
	uint64_t	 h = 14695981039346656037ull;

	while (n-- != 0)
		h = (h ^ *s++) * 1099511628211ull;
	return h;
}

#endif
