/*
 * partition.c: which of a queue's partitions an event belongs to
 * (docs/dispatch.md), the same in the daemon and in every client: 32-bit
 * FNV-1a of the key, modulo the number of partitions.  An event without a
 * key is partition 0.
 */
#include <stddef.h>
#include <stdint.h>

#include "frame.h"

/* The partition of key (klen bytes, or -1: no key) among n (n >= 1). */
uint32_t
ps_partition(const void *key, int klen, uint32_t n)
{
	const uint8_t	*p = key;
	uint32_t	 h = 2166136261u;
	int		 i;

	if (klen < 0 || n == 0)
		return 0;
	for (i = 0; i < klen; i++) {
		h ^= p[i];
		h *= 16777619u;
	}
	return h % n;
}
