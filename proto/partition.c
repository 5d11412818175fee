/*
 * partition.c: which of a queue's partitions an event belongs to
 * (docs/dispatch.md), the same in the daemon and in every client: 32-bit
 * FNV-1a of the key, modulo the number of partitions.  An event without a
 * key is partition 0.
 */
#include <stddef.h>
#include <stdint.h>

#include "frame.h"
#include "hash.h"

/* The partition of key (klen bytes, or -1: no key) among n (n >= 1). */
uint32_t
ps_partition(const void *key, int klen, uint32_t n)
{
	if (klen < 0 || n == 0)
		return 0;
	return fnv1a32(key, (size_t)klen) % n;
}
