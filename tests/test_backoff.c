/*
 * test_backoff.c: common/backoff.c, the one doubling backoff and its
 * jitter, against the numbers of the copies it replaced (the upstream
 * link's and the map's struct, a queue's retries, NATS reconnects).
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>

#include "backoff.h"

/* The struct's doubling as it was written before: ms, then 2 ms, to max. */
static uint32_t
old_next(uint32_t *ms, uint32_t max)
{
	uint32_t	 now = *ms;

	*ms = *ms > max / 2 ? max : *ms * 2;
	return now;
}

/* sched.c's retry backoff as it was written before, its xorshift inline. */
static uint32_t
old_retry(uint32_t base, uint32_t max, uint32_t attempt, uint32_t *seed)
{
	uint64_t	 d = base;
	uint32_t	 i, spread;

	for (i = 1; i < attempt && d < max; i++)
		d *= 2;
	if (d > max)
		d = max;
	*seed ^= *seed << 13;
	*seed ^= *seed >> 17;
	*seed ^= *seed << 5;
	spread = (uint32_t)(d * 2 / 5);
	if (spread != 0)
		d = d - spread / 2 + *seed % (spread + 1);
	return (uint32_t)d;
}

/* cluster.c's NATS reconnect wait as it was written before. */
static int64_t
old_reconnect(int64_t first, int64_t max, int attempts, uint32_t *seed)
{
	int64_t		 d = first;

	while (--attempts > 0 && d < max)
		d *= 2;
	if (d > max)
		d = max;
	*seed ^= *seed << 13;
	*seed ^= *seed >> 17;
	*seed ^= *seed << 5;
	return d - d / 5 + (int64_t)(*seed % (uint32_t)(2 * d / 5 + 1));
}

START_TEST(no_jitter_gives_exact_values)
{
	static const uint32_t	 want[] = { 100, 100, 200, 400, 800, 1600,
				     3200, 5000, 5000 };
	struct backoff		 b;
	uint32_t		 i;

	for (i = 0; i < sizeof want / sizeof want[0]; i++)
		ck_assert_uint_eq(backoff_delay(100, 5000, i, NULL), want[i]);
	ck_assert_uint_eq(backoff_delay(100, 5000, UINT32_MAX, NULL), 5000);
	ck_assert_uint_eq(backoff_delay(3, 10, 3, NULL), 10);
	ck_assert_uint_eq(backoff_delay(7, 7, 1, NULL), 7);
	ck_assert_uint_eq(backoff_delay(0x80000000u, UINT32_MAX, 2, NULL),
	    UINT32_MAX);

	backoff_init(&b, 100, 5000);
	for (i = 1; i < sizeof want / sizeof want[0]; i++)
		ck_assert_uint_eq(backoff_next(&b), want[i]);
	backoff_reset(&b);
	ck_assert_uint_eq(backoff_next(&b), 100);
	ck_assert_uint_eq(backoff_next(&b), 200);
}
END_TEST

/* The struct hands out what it did before, for its callers' numbers. */
START_TEST(the_struct_doubles_as_before)
{
	static const uint32_t	 site[][2] = { { 100, 5000 }, { 10, 1000 },
				     { 1, 1 }, { 3, 10 }, { 5, 5001 },
				     { 1000, UINT32_MAX } };
	struct backoff		 b;
	uint32_t		 ms, i, j;

	for (i = 0; i < sizeof site / sizeof site[0]; i++) {
		backoff_init(&b, site[i][0], site[i][1]);
		ms = site[i][0];
		for (j = 0; j < 40; j++)
			ck_assert_uint_eq(backoff_next(&b),
			    old_next(&ms, site[i][1]));
	}
}
END_TEST

/* With a seed: the old sites' very numbers, draw for draw. */
START_TEST(jitter_draws_as_before)
{
	uint32_t	 s1 = 12345 | 1, s2 = s1, a;
	int		 n;

	for (n = 0; n < 2000; n++) {
		a = (uint32_t)n % 12;
		ck_assert_uint_eq(backoff_delay(1000, 60000, a, &s1),
		    old_retry(1000, 60000, a, &s2));
		ck_assert_uint_eq(backoff_delay(1, 7, a, &s1),
		    old_retry(1, 7, a, &s2));
		ck_assert_uint_eq(backoff_delay(250, 8000, a, &s1),
		    (uint32_t)old_reconnect(250, 8000, (int)a, &s2));
		ck_assert_uint_eq(s1, s2);
	}
}
END_TEST

/* Give or take 20 %, both ends reached, never outside. */
START_TEST(jitter_range)
{
	uint32_t	 seed = 1, d, lo = UINT32_MAX, hi = 0;
	int		 n;

	for (n = 0; n < 10000; n++) {
		d = backoff_delay(250, 8000, 3, &seed);	/* 1000 */
		ck_assert_uint_ge(d, 800);
		ck_assert_uint_le(d, 1200);
		lo = d < lo ? d : lo;
		hi = d > hi ? d : hi;
	}
	ck_assert_uint_le(lo, 805);
	ck_assert_uint_ge(hi, 1195);
	/* At the ceiling, too. */
	for (n = 0; n < 1000; n++) {
		d = backoff_delay(250, 8000, 40, &seed);
		ck_assert_uint_ge(d, 6400);
		ck_assert_uint_le(d, 9600);
	}
	/* Too short to spread: exact, the seed drawn all the same. */
	d = seed;
	ck_assert_uint_eq(backoff_delay(2, 2, 1, &seed), 2);
	ck_assert_uint_ne(seed, d);
}
END_TEST

/* Marsaglia's xorshift32 (13, 17, 5): from 1, 270369 first. */
START_TEST(xorshift32_known_values)
{
	uint32_t	 seed = 1;

	ck_assert_uint_eq(xorshift32(&seed), 270369);
	ck_assert_uint_eq(seed, 270369);
	ck_assert_uint_eq(xorshift32(&seed), 67634689);
	ck_assert_uint_eq(xorshift32(&seed), 2647435461u);
}
END_TEST

static Suite *
backoff_suite(void)
{
	Suite	*s = suite_create("backoff");
	TCase	*tc = tcase_create("backoff");
	tcase_set_timeout(tc, 60);	/* a loaded machine, the sanitizers */

	tcase_add_test(tc, no_jitter_gives_exact_values);
	tcase_add_test(tc, the_struct_doubles_as_before);
	tcase_add_test(tc, jitter_draws_as_before);
	tcase_add_test(tc, jitter_range);
	tcase_add_test(tc, xorshift32_known_values);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(backoff_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
