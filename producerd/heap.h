/*
 * heap.h: the one binary heap, as a generator (<sys/tree.h>'s shape) so
 * that each heap keeps its comparison inline on its hot path:
 * HEAP_GENERATE(name, type, before) makes name_reserve, name_push,
 * name_remove and name_pop for an array of type kept smallest first by
 * before(a, b), a strict order of two values.  The caller owns the array,
 * its count and its capacity; nothing here allocates but name_reserve.
 * Delays (delays.c), retries held back (sched.c) and a reader's
 * priorities (queue.c) use it; tests/test_heap.c tests it alone.
 */
#ifndef PS_HEAP_H
#define PS_HEAP_H

#include <stddef.h>
#include <stdlib.h>

/* What a generator makes: not every user takes every function. */
#define HEAP_FN	static inline __attribute__((__unused__))

#define HEAP_GENERATE(name, type, before)				\
/* x into the hole at i, moving it up past what it goes before. */	\
HEAP_FN void								\
name##_up(type *v, size_t i, type x)					\
{									\
	size_t	 up;							\
									\
	for (; i > 0; i = up) {						\
		up = (i - 1) / 2;					\
		if (!before(x, v[up]))					\
			break;						\
		v[i] = v[up];						\
	}								\
	v[i] = x;							\
}									\
									\
/* x into the hole at i of n, moving it down past what goes before it. */\
HEAP_FN void								\
name##_down(type *v, size_t n, size_t i, type x)			\
{									\
	size_t	 c;							\
									\
	while ((c = 2 * i + 1) < n) {					\
		if (c + 1 < n && before(v[c + 1], v[c]))		\
			c++;						\
		if (!before(v[c], x))					\
			break;						\
		v[i] = v[c];						\
		i = c;							\
	}								\
	v[i] = x;							\
}									\
									\
/* Room for one more (first slots, then twice as many); -1 if none. */	\
HEAP_FN int								\
name##_reserve(type **v, size_t n, size_t *cap, size_t first)		\
{									\
	type	*nv;							\
	size_t	 want = *cap != 0 ? *cap * 2 : first;			\
									\
	if (n < *cap)							\
		return 0;						\
	if ((nv = reallocarray(*v, want, sizeof *nv)) == NULL)		\
		return -1;						\
	*v = nv;							\
	*cap = want;							\
	return 0;							\
}									\
									\
/* x into v of *n (room reserved). */					\
HEAP_FN void								\
name##_push(type *v, size_t *n, type x)					\
{									\
	name##_up(v, (*n)++, x);					\
}									\
									\
/* The i-th of v of *n out (0: the smallest). */			\
HEAP_FN type								\
name##_remove(type *v, size_t *n, size_t i)				\
{									\
	type	 x = v[i];						\
	type	 last = v[--*n];					\
									\
	if (i != *n) {							\
		if (i > 0 && before(last, v[(i - 1) / 2]))		\
			name##_up(v, i, last);				\
		else							\
			name##_down(v, *n, i, last);			\
	}								\
	return x;							\
}									\
									\
/* The smallest of v of *n (not empty) out. */				\
HEAP_FN type								\
name##_pop(type *v, size_t *n)						\
{									\
	return name##_remove(v, n, 0);					\
}

#endif
