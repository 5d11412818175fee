/*
 * test_chain.c: producerd/chain.h, the one keyed table, alone: finding,
 * missing, unlinking through the link found or by the entry, growing,
 * and the very chains of the copies it replaced (uniq_walk hands the
 * journal that order).
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chain.h"
#include "hash.h"

struct ent {
	struct ent	*next;
	uint8_t		 len;
	char		 key[16];
};

#define ENT_KEY(e)	((e)->key)
#define ENT_LEN(e)	((e)->len)
CHAIN_GENERATE(echain, struct ent, next, fnv1a32, ENT_KEY, ENT_LEN)

static void
name(struct ent *e, unsigned i)
{
	e->len = (uint8_t)snprintf(e->key, sizeof e->key, "k%u", i);
	e->next = NULL;
}

/* uniq.c's grow as it was written before. */
static struct ent **
old_grow(struct ent **old, uint64_t *mask)
{
	struct ent	**h, *e, *next;
	uint64_t	  cap = old != NULL ? (*mask + 1) * 2 : 64, i;

	h = calloc(cap, sizeof *h);
	ck_assert_ptr_nonnull(h);
	for (i = 0; old != NULL && i <= *mask; i++) {
		for (e = old[i]; e != NULL; e = next) {
			next = e->next;
			e->next = h[fnv1a32(e->key, e->len) & (cap - 1)];
			h[fnv1a32(e->key, e->len) & (cap - 1)] = e;
		}
	}
	free(old);
	*mask = cap - 1;
	return h;
}

START_TEST(find_insert_unlink_grow)
{
	static struct ent	 e[1000];
	struct ent		**h = NULL, **pp;
	uint64_t		 mask = 0, n = 0;
	unsigned		 i;

	for (i = 0; i < 1000; i++) {
		if (h == NULL || n >= mask + 1)
			ck_assert_int_eq(echain_grow(&h, &mask), 0);
		name(&e[i], i);
		ck_assert_ptr_null(*echain_find(h, mask, e[i].key, e[i].len));
		echain_insert(h, mask, &e[i]);
		n++;
	}
	ck_assert_uint_eq(mask, 1023);		/* 64, doubled */
	for (i = 0; i < 1000; i++)
		ck_assert_ptr_eq(*echain_find(h, mask, e[i].key, e[i].len),
		    &e[i]);
	ck_assert_ptr_null(*echain_find(h, mask, "k1000", 5));
	ck_assert_ptr_null(*echain_find(h, mask, "k1", 1));	/* a prefix */
	/* Unlinking through the link found: the others stay. */
	for (i = 0; i < 1000; i += 2) {
		pp = echain_find(h, mask, e[i].key, e[i].len);
		*pp = e[i].next;
	}
	for (i = 0; i < 1000; i++) {
		pp = echain_find(h, mask, e[i].key, e[i].len);
		if (i % 2 == 0)
			ck_assert_ptr_null(*pp);
		else
			ck_assert_ptr_eq(*pp, &e[i]);
	}
	/* Removing by the entry itself: once, and only what is in. */
	for (i = 0; i < 1000; i++)
		ck_assert_int_eq(echain_remove(h, mask, &e[i]), i % 2);
	for (i = 0; i < 1000; i++) {
		ck_assert_int_eq(echain_remove(h, mask, &e[i]), 0);
		ck_assert_ptr_null(*echain_find(h, mask, e[i].key, e[i].len));
	}
	free(h);
}
END_TEST

START_TEST(chains_as_before)
{
	static struct ent	 a[700], b[700];
	struct ent		**ha = NULL, **hb = NULL, *x, *y;
	uint64_t		 ma = 0, mb = 0, i, n;
	unsigned		 k;

	for (k = 0; k < 700; k++) {
		if (ha == NULL || k >= ma + 1) {
			ha = old_grow(ha, &ma);
			ck_assert_int_eq(echain_grow(&hb, &mb), 0);
		}
		name(&a[k], k);
		name(&b[k], k);
		a[k].next = ha[fnv1a32(a[k].key, a[k].len) & ma];
		ha[fnv1a32(a[k].key, a[k].len) & ma] = &a[k];
		echain_insert(hb, mb, &b[k]);
	}
	ck_assert_uint_eq(ma, mb);
	for (n = 0, i = 0; i <= ma; i++) {
		for (x = ha[i], y = hb[i]; x != NULL; x = x->next, y = y->next)
			n += y != NULL && x - a == y - b;
		ck_assert_ptr_null(y);
	}
	ck_assert_uint_eq(n, 700);
	free(ha);
	free(hb);
}
END_TEST

static Suite *
chain_suite(void)
{
	Suite	*s = suite_create("chain");
	TCase	*tc = tcase_create("chain");
	tcase_set_timeout(tc, 60);	/* a loaded machine, the sanitizers */

	tcase_add_test(tc, find_insert_unlink_grow);
	tcase_add_test(tc, chains_as_before);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(chain_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
