/*
 * test_heap.c: producerd/heap.h, the one binary heap, alone: order, growth,
 * removal from anywhere, and the very layouts of the copies it replaced
 * (a reader's walk of its priorities and delays_any see the array).
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>

#include "heap.h"

static inline int
less(uint32_t a, uint32_t b)
{
	return a < b;
}

HEAP_GENERATE(iheap, uint32_t, less)

/* Two fields by value, as sched.c's: by due, then by id. */
struct pair {
	uint64_t	 due;
	uint64_t	 id;
};

static inline int
pair_before(struct pair a, struct pair b)
{
	return a.due < b.due || (a.due == b.due && a.id < b.id);
}

HEAP_GENERATE(pheap, struct pair, pair_before)

static uint32_t
rnd(uint32_t *s)
{
	*s = *s * 1103515245u + 12345u;
	return *s >> 8;
}

/* Does no parent come after its child? */
static int
is_heap(const uint32_t *v, size_t n)
{
	size_t	 i;

	for (i = 1; i < n; i++) {
		if (v[(i - 1) / 2] > v[i])
			return 0;
	}
	return 1;
}

START_TEST(pops_in_order_and_grows)
{
	uint32_t	*v = NULL, s = 7, last, x;
	size_t		 n = 0, cap = 0, i;

	for (i = 0; i < 1000; i++) {
		ck_assert_int_eq(iheap_reserve(&v, n, &cap, 4), 0);
		ck_assert_uint_gt(cap, n);
		iheap_push(v, &n, rnd(&s) % 100);
		ck_assert(is_heap(v, n));
	}
	ck_assert_uint_eq(cap, 1024);		/* 4, doubled */
	for (last = 0, i = 0; n != 0; i++) {
		x = iheap_pop(v, &n);
		ck_assert_uint_ge(x, last);
		last = x;
		ck_assert(is_heap(v, n));
	}
	ck_assert_uint_eq(i, 1000);
	free(v);
}
END_TEST

START_TEST(remove_from_anywhere)
{
	uint32_t	*v = NULL, s = 11, count[64] = { 0 }, x;
	size_t		 n = 0, cap = 0, i, j;

	for (i = 0; i < 500; i++) {
		ck_assert_int_eq(iheap_reserve(&v, n, &cap, 16), 0);
		x = rnd(&s) % 64;
		count[x]++;
		iheap_push(v, &n, x);
	}
	while (n != 0) {
		j = rnd(&s) % n;
		x = v[j];
		ck_assert_uint_eq(iheap_remove(v, &n, j), x);
		ck_assert_uint_ne(count[x], 0);
		count[x]--;
		ck_assert(is_heap(v, n));
	}
	for (i = 0; i < 64; i++)
		ck_assert_uint_eq(count[i], 0);
	free(v);
}
END_TEST

/* sched.c's heap as it was written before: swaps, by pointer. */
static void
old_hold(struct pair *h, size_t *n, struct pair p)
{
	struct pair	 t;
	size_t		 i = (*n)++, up;

	h[i] = p;
	for (; i > 0; i = up) {
		up = (i - 1) / 2;
		if (!pair_before(h[i], h[up]))
			break;
		t = h[i];
		h[i] = h[up];
		h[up] = t;
	}
}

static struct pair
old_take(struct pair *h, size_t *n)
{
	struct pair	 p = h[0], t;
	size_t		 i = 0, c;

	h[0] = h[--*n];
	for (;;) {
		c = 2 * i + 1;
		if (c >= *n)
			break;
		if (c + 1 < *n && pair_before(h[c + 1], h[c]))
			c++;
		if (!pair_before(h[c], h[i]))
			break;
		t = h[i];
		h[i] = h[c];
		h[c] = t;
		i = c;
	}
	return p;
}

START_TEST(layouts_as_before)
{
	struct pair	 a[600], *b = NULL, p, q;
	uint32_t	 s = 3;
	size_t		 na = 0, nb = 0, cap = 0, i, k, same;
	uint64_t	 id = 0;

	for (k = 0; k < 3000; k++) {
		if (na < 600 && (na == 0 || rnd(&s) % 3 != 0)) {
			p.due = rnd(&s) % 50;
			p.id = id++;
			old_hold(a, &na, p);
			ck_assert_int_eq(pheap_reserve(&b, nb, &cap, 16), 0);
			pheap_push(b, &nb, p);
		} else {
			p = old_take(a, &na);
			q = pheap_pop(b, &nb);
			ck_assert_uint_eq(p.id, q.id);
		}
		ck_assert_uint_eq(na, nb);
		for (same = 1, i = 0; i < na; i++)
			same &= a[i].id == b[i].id;
		ck_assert_uint_eq(same, 1);
	}
	free(b);
}
END_TEST

static Suite *
heap_suite(void)
{
	Suite	*s = suite_create("heap");
	TCase	*tc = tcase_create("heap");
	tcase_set_timeout(tc, 60);	/* a loaded machine, the sanitizers */

	tcase_add_test(tc, pops_in_order_and_grows);
	tcase_add_test(tc, remove_from_anywhere);
	tcase_add_test(tc, layouts_as_before);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(heap_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
