/*
 * test_periodic.c: the schedules' tick rule (producerd/periodic.c) with
 * an injected clock: which ticks of an interval or a cron rule are due,
 * which fire under each catch-up policy (running, and at a start after
 * the daemon was down), pausing, replacing, removing, and the checks of
 * a definition.  Nothing here reads a clock or sleeps.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bytes.h"
#include "frame.h"
#include "periodic.h"
#include "tzfile.h"

#define SEC	1000ull
#define MIN	(60 * SEC)
#define HOUR	(60 * MIN)
#define DAY	(24 * HOUR)

/* The ticks fired, in order, and whether the queue takes them. */
static uint64_t	 fired[4096];
static char	 who[4096];		/* each one's schedule's initial */
static size_t	 nfired;
static size_t	 nhandled;
static int	 refuse;

static int
fire(void *arg, struct schedule *s, uint64_t tick)
{
	(void)arg;
	if (refuse)
		return 0;
	ck_assert_uint_lt(nfired, sizeof fired / sizeof fired[0]);
	who[nfired] = SCHED_NAME(s)[0];
	fired[nfired++] = tick;
	s->last_id = nfired;
	return 1;
}

static void
handled(void *arg, struct schedule *s)
{
	(void)arg;
	(void)s;
	nhandled++;
}

static const struct periodic_hooks hooks = { fire, handled, NULL };

/* "2026-03-29T01:00Z" as ms since 1970. */
static uint64_t
iso(const char *s)
{
	int	 y, mo, d, h, mi;

	if (sscanf(s, "%d-%d-%dT%d:%dZ", &y, &mo, &d, &h, &mi) != 5)
		ck_abort_msg("bad time in a test: %s", s);
	return (uint64_t)(tz_days(y, mo, d) * 86400 + h * 3600 + mi * 60) *
	    1000;
}

/* An event of no attributes and payload "p". */
static const uint8_t	 plain[] = { 0, 0, 0, 1, 0, 0, 'p' };

/* A definition from "KEY=VALUE" texts; fails the test if refused. */
static void
def(struct sched_def *d, const char *name, const char * const *kv,
    const struct tzfile *tz)
{
	char	 why[256];

	memset(d, 0, sizeof *d);
	d->catchup = d->unique = d->paused = -1;
	d->name = name;
	d->nlen = strlen(name);
	d->queue = "q";
	d->qlen = 1;
	d->event = plain;
	d->elen = sizeof plain;
	for (; *kv != NULL; kv++) {
		if (periodic_setting(d, *kv, strlen(*kv), why, sizeof why) != 0)
			ck_abort_msg("%s: %s", *kv, why);
	}
	d->tz = tz;
	ck_assert_int_eq(periodic_check(d, why, sizeof why), 0);
}

/* The i-th tick fired by the schedule of initial c. */
static uint64_t
nth(char c, size_t i)
{
	size_t	 k;

	for (k = 0; k < nfired; k++) {
		if (who[k] == c && i-- == 0)
			return fired[k];
	}
	ck_abort_msg("schedule %c fired fewer ticks", c);
	return 0;
}

static void
reset(void)
{
	nfired = nhandled = 0;
	refuse = 0;
}

START_TEST(every_fires_each_tick_on_its_multiples)
{
	static const char	*kv[] = { "every=1s", NULL };
	struct periodic		 p;
	struct sched_def	 d;
	struct schedule		*s;
	uint64_t		 at, up[PERIODIC_NEXT];

	reset();
	periodic_init(&p);
	def(&d, "a", kv, NULL);
	/* Added at 10.4 s: nothing for that moment; 11 s is the first. */
	ck_assert_ptr_nonnull(s = periodic_add(&p, &d, NULL, 10400));
	ck_assert_uint_eq(s->next, 11000);
	ck_assert_int_eq(periodic_wake(&p, &at), 1);
	ck_assert_uint_eq(at, 11000);
	ck_assert_uint_eq(periodic_upcoming(s, up, PERIODIC_NEXT), 5);
	ck_assert_uint_eq(up[4], 15000);
	periodic_run(&p, 10999, 0, &hooks, 0);
	ck_assert_uint_eq(nfired, 0);
	periodic_run(&p, 11000, 0, &hooks, 0);
	periodic_run(&p, 12003, 0, &hooks, 0);
	ck_assert_uint_eq(nfired, 2);
	ck_assert_uint_eq(fired[0], 11000);
	ck_assert_uint_eq(fired[1], 12000);
	ck_assert_uint_eq(s->last, 12000);
	ck_assert_uint_eq(s->fired, 2);
	ck_assert_uint_eq(s->skipped, 0);
	/* The loop late by 3 s, catch-up last: the latest fires alone. */
	periodic_run(&p, 15500, 0, &hooks, 0);
	ck_assert_uint_eq(nfired, 3);
	ck_assert_uint_eq(fired[2], 15000);
	ck_assert_uint_eq(s->skipped, 2);
	ck_assert_uint_eq(p.fired, 3);
	ck_assert_uint_eq(p.skipped, 2);
	/* A queue that does not take it: skipped, and the tick is done. */
	refuse = 1;
	periodic_run(&p, 16000, 0, &hooks, 0);
	ck_assert_uint_eq(s->skipped, 3);
	ck_assert_uint_eq(s->last, 16000);
	ck_assert_uint_eq(nhandled, 4);
	periodic_free(&p);
}
END_TEST

START_TEST(catch_up_policies_at_a_start)
{
	static const char	*none[] = { "every=1m", "catch-up=none", NULL };
	static const char	*last[] = { "every=1m", NULL };
	static const char	*all[] = { "every=1m", "catch-up=all", NULL };
	static const char	*many[] = { "every=1s", "catch-up=all", NULL };
	struct periodic		 p;
	struct sched_def	 d;
	struct schedule		*sn, *sl, *sa, *sm;

	reset();
	periodic_init(&p);
	def(&d, "none", none, NULL);
	sn = periodic_add(&p, &d, NULL, 0);
	def(&d, "last", last, NULL);
	sl = periodic_add(&p, &d, NULL, 0);
	def(&d, "all", all, NULL);
	sa = periodic_add(&p, &d, NULL, 0);
	def(&d, "many", many, NULL);
	sm = periodic_add(&p, &d, NULL, 0);
	/* Down from 0 to 5 min 30 s: five ticks of a minute missed. */
	periodic_run(&p, 5 * MIN + 30 * SEC, 1, &hooks, 0);
	ck_assert_uint_eq(sn->fired, 0);
	ck_assert_uint_eq(sn->skipped, 5);
	ck_assert_uint_eq(sn->last, 5 * MIN);
	ck_assert_uint_eq(sl->fired, 1);
	ck_assert_uint_eq(sl->skipped, 4);
	ck_assert_uint_eq(nth('l', 0), 5 * MIN);
	ck_assert_uint_eq(sa->fired, 5);
	ck_assert_uint_eq(nth('a', 0), 1 * MIN);
	ck_assert_uint_eq(nth('a', 4), 5 * MIN);
	/* 330 ticks of a second: all of them, in order. */
	ck_assert_uint_eq(sm->fired, 330);
	ck_assert_uint_eq(nth('m', 0), 1 * SEC);
	ck_assert_uint_eq(nth('m', 329), 330 * SEC);
	/* Running on, none fires its ticks as they come. */
	periodic_run(&p, 6 * MIN, 0, &hooks, 0);
	ck_assert_uint_eq(sn->fired, 1);
	periodic_free(&p);

	/* Down 2 hours with every=1s and all: the latest 1000 fire. */
	reset();
	periodic_init(&p);
	def(&d, "many", many, NULL);
	sm = periodic_add(&p, &d, NULL, 0);
	periodic_run(&p, 2 * HOUR, 1, &hooks, 0);
	ck_assert_uint_eq(sm->fired, PERIODIC_CATCHUP_MAX);
	ck_assert_uint_eq(sm->skipped, 7200 - PERIODIC_CATCHUP_MAX);
	ck_assert_uint_eq(fired[0], 2 * HOUR - 999 * SEC);
	ck_assert_uint_eq(fired[999], 2 * HOUR);
	periodic_free(&p);
}
END_TEST

START_TEST(cron_ticks_after_a_long_stop)
{
	static const char	*daily[] = { "cron=0 6 * * *", "catch-up=all",
				    NULL };
	static const char	*minute[] = { "cron=* * * * *",
				    "catch-up=all", NULL };
	struct periodic		 p;
	struct sched_def	 d;
	struct schedule		*sd, *sm;
	uint64_t		 t0 = iso("2026-12-01T00:00Z");

	reset();
	periodic_init(&p);
	def(&d, "daily", daily, NULL);
	sd = periodic_add(&p, &d, NULL, t0);
	def(&d, "minute", minute, NULL);
	sm = periodic_add(&p, &d, NULL, t0);
	/* Back 30 days later at 07:00: 31 mornings, each once. */
	periodic_run(&p, iso("2026-12-31T07:00Z"), 1, &hooks, 0);
	ck_assert_uint_eq(sd->fired, 31);
	ck_assert_uint_eq(nth('d', 0), iso("2026-12-01T06:00Z"));
	ck_assert_uint_eq(nth('d', 30), iso("2026-12-31T06:00Z"));
	/*
	 * Every minute for 30 days: 10,000 walked one by one, then the
	 * latest found apart and fired alone; the rest counted skipped.
	 */
	ck_assert_uint_eq(sm->fired, 1);
	ck_assert_uint_eq(sm->last, iso("2026-12-31T07:00Z"));
	ck_assert_uint_eq(nth('m', 0), iso("2026-12-31T07:00Z"));
	ck_assert_uint_eq(sm->skipped, PERIODIC_WALK_MAX + 1);
	periodic_free(&p);

	/*
	 * Every minute of January, down from 1 December to 15 February,
	 * catch-up last: one tick, the last of January, in one run.
	 */
	reset();
	periodic_init(&p);
	{
		static const char *jan[] = { "cron=* * * 1 *", NULL };

		def(&d, "jan", jan, NULL);
	}
	sm = periodic_add(&p, &d, NULL, iso("2026-12-01T00:00Z"));
	periodic_run(&p, iso("2027-02-15T00:00Z"), 1, &hooks, 0);
	ck_assert_uint_eq(nfired, 1);
	ck_assert_uint_eq(nth('j', 0), iso("2027-01-31T23:59Z"));
	ck_assert_uint_eq(sm->last, iso("2027-01-31T23:59Z"));
	ck_assert_uint_eq(sm->next, iso("2028-01-01T00:00Z"));
	periodic_free(&p);
}
END_TEST

/* zone's tick of "30 2 * * *" each day of a summer-time change. */
static void
dst_case(const char *zone, const char *day_before, const char *const *want,
    size_t nwant)
{
	static const char	*kv[] = { "cron=30 2 * * *", NULL };
	struct periodic		 p;
	struct sched_def	 d;
	struct tzfile		*z;
	struct stat		 st;
	char			 err[256];
	size_t			 i;

	if (stat("/usr/share/zoneinfo", &st) != 0) {
		fprintf(stderr, "test_periodic: no /usr/share/zoneinfo; "
		    "%s skipped\n", zone);
		return;
	}
	ck_assert_ptr_nonnull(z = tzfile_load("/usr/share/zoneinfo", zone,
	    err, sizeof err));
	reset();
	periodic_init(&p);
	def(&d, "dst", kv, z);
	ck_assert_ptr_nonnull(periodic_add(&p, &d, NULL, iso(day_before)));
	/* Woken each minute for three days: a tick fires once, on time. */
	for (uint64_t t = iso(day_before); t < iso(day_before) + 3 * DAY;
	    t += MIN)
		periodic_run(&p, t, 0, &hooks, 0);
	ck_assert_uint_eq(nfired, nwant);
	for (i = 0; i < nwant; i++)
		ck_assert_uint_eq(fired[i], iso(want[i]));
	periodic_free(&p);
	tzfile_free(z);
}

START_TEST(dst_in_two_zones)
{
	/* Berlin skips 02:00-02:59 on 29 March: 02:30 fires at 03:00. */
	static const char	*spring[] = { "2026-03-28T01:30Z",
				    "2026-03-29T01:00Z", "2026-03-30T00:30Z" };
	/* ... and has 02:00-02:59 twice on 25 October: once, the first. */
	static const char	*autumn[] = { "2026-10-24T00:30Z",
				    "2026-10-25T00:30Z", "2026-10-26T01:30Z" };
	/* New York: 8 March (gap at 02:00), 1 November (fold at 01:00). */
	static const char	*ny_spring[] = { "2026-03-07T07:30Z",
				    "2026-03-08T07:00Z", "2026-03-09T06:30Z" };
	static const char	*ny_autumn[] = { "2026-10-31T06:30Z",
				    "2026-11-01T07:30Z", "2026-11-02T07:30Z" };

	dst_case("Europe/Berlin", "2026-03-28T00:00Z", spring, 3);
	dst_case("Europe/Berlin", "2026-10-24T00:00Z", autumn, 3);
	dst_case("America/New_York", "2026-03-07T00:00Z", ny_spring, 3);
	dst_case("America/New_York", "2026-10-31T00:00Z", ny_autumn, 3);
}
END_TEST

START_TEST(pause_replace_remove)
{
	static const char	*kv[] = { "every=10s", NULL };
	static const char	*kv2[] = { "every=1m", NULL };
	struct periodic		 p;
	struct sched_def	 d;
	struct schedule		*s, *s2;

	reset();
	periodic_init(&p);
	def(&d, "a", kv, NULL);
	s = periodic_add(&p, &d, NULL, 0);
	ck_assert_ptr_eq(periodic_find(&p, "a", 1), s);
	ck_assert_int_eq(periodic_same(s, &d), 1);
	periodic_run(&p, 20 * SEC, 0, &hooks, 0);
	ck_assert_uint_eq(s->fired, 1);
	/* Paused, its ticks are skipped, not fired. */
	ck_assert_int_eq(periodic_pause(&p, s, 1), 1);
	ck_assert_int_eq(periodic_pause(&p, s, 1), 0);
	periodic_run(&p, 30 * SEC, 0, &hooks, 0);
	periodic_run(&p, 40 * SEC, 0, &hooks, 0);
	ck_assert_uint_eq(s->fired, 1);
	ck_assert_uint_eq(s->skipped, 3);
	periodic_pause(&p, s, 0);
	/* Replaced at 45 s: its progress stays; nothing fires twice. */
	def(&d, "a", kv2, NULL);
	ck_assert_int_eq(periodic_same(s, &d), 0);
	ck_assert_ptr_nonnull(s2 = periodic_add(&p, &d, s, 45 * SEC));
	ck_assert_ptr_eq(periodic_find(&p, "a", 1), s2);
	ck_assert_uint_eq(p.count, 1);
	ck_assert_uint_eq(s2->fired, 1);
	ck_assert_uint_eq(s2->skipped, 3);
	ck_assert_uint_eq(s2->next, 60 * SEC);
	periodic_run(&p, 60 * SEC, 0, &hooks, 0);
	ck_assert_uint_eq(s2->fired, 2);
	ck_assert_uint_eq(nfired, 2);
	/* Removed with its slot in the heap: freed when the slot comes up. */
	periodic_remove(&p, s2);
	ck_assert_ptr_null(periodic_find(&p, "a", 1));
	ck_assert_uint_eq(p.count, 0);
	periodic_run(&p, 200 * SEC, 0, &hooks, 0);
	ck_assert_uint_eq(nfired, 2);
	ck_assert_uint_eq(p.nheap, 0);
	ck_assert_uint_eq(p.bytes, 0);
	periodic_free(&p);
}
END_TEST

START_TEST(a_run_takes_max_slots)
{
	static const char	*kv[] = { "every=1m", NULL };
	struct periodic		 p;
	struct sched_def	 d;
	uint64_t		 at;
	char			 name[8];
	int			 i;

	reset();
	periodic_init(&p);
	for (i = 0; i < 5; i++) {
		snprintf(name, sizeof name, "s%d", i);
		def(&d, name, kv, NULL);
		ck_assert_ptr_nonnull(periodic_add(&p, &d, NULL, 0));
	}
	/* Two a turn: the rest wait for the next, already due. */
	ck_assert_uint_eq(periodic_run(&p, MIN, 0, &hooks, 2), 2);
	ck_assert_uint_eq(nfired, 2);
	ck_assert_int_eq(periodic_wake(&p, &at), 1);
	ck_assert_uint_eq(at, MIN);
	ck_assert_uint_eq(periodic_run(&p, MIN, 0, &hooks, 2), 2);
	ck_assert_uint_eq(periodic_run(&p, MIN, 0, &hooks, 2), 1);
	ck_assert_uint_eq(nfired, 5);
	ck_assert_int_eq(periodic_wake(&p, &at), 1);
	ck_assert_uint_eq(at, 2 * MIN);
	periodic_free(&p);
}
END_TEST

START_TEST(removed_schedules_go_at_once)
{
	static const char	*kv[] = { "cron=@yearly", NULL };
	struct periodic		 p;
	struct sched_def	 d;
	struct schedule		*s;
	char			 name[16];
	int			 i;

	reset();
	periodic_init(&p);
	def(&d, "keep", kv, NULL);
	ck_assert_ptr_nonnull(periodic_add(&p, &d, NULL, 0));
	/* 5,000 added and removed, each with a slot a year away. */
	for (i = 0; i < 5000; i++) {
		snprintf(name, sizeof name, "s%d", i);
		def(&d, name, kv, NULL);
		ck_assert_ptr_nonnull(s = periodic_add(&p, &d, NULL, 0));
		periodic_remove(&p, s);
	}
	ck_assert_uint_eq(p.count, 1);
	ck_assert_uint_le(p.nheap, 1 + 1024);
	ck_assert_uint_le(p.bytes, 1025 * 400);
	/* Replaced 5,000 times: the same. */
	for (i = 0; i < 5000; i++) {
		def(&d, "keep", kv, NULL);
		d.paused = i & 1;
		ck_assert_ptr_nonnull(periodic_add(&p, &d,
		    periodic_find(&p, "keep", 4), 0));
	}
	ck_assert_uint_le(p.nheap, 1 + 1024);
	ck_assert_uint_eq(p.count, 1);
	periodic_free(&p);
}
END_TEST

static void
refused(const char * const *kv, const uint8_t *event, size_t elen,
    const char *want)
{
	struct sched_def	 d;
	char			 why[256] = "";
	int			 r = 0;

	memset(&d, 0, sizeof d);
	d.catchup = d.unique = d.paused = -1;
	d.event = event != NULL ? event : plain;
	d.elen = event != NULL ? (uint32_t)elen : sizeof plain;
	for (; *kv != NULL && r == 0; kv++)
		r = periodic_setting(&d, *kv, strlen(*kv), why, sizeof why);
	if (r == 0)
		r = periodic_check(&d, why, sizeof why);
	ck_assert_int_eq(r, -1);
	if (strstr(why, want) == NULL)
		ck_abort_msg("\"%s\" does not say \"%s\"", why, want);
}

START_TEST(bad_definitions_name_the_field)
{
	static const char *c1[] = { "cron=61 * * * *", NULL };
	static const char *c2[] = { "every=0s", NULL };
	static const char *c3[] = { "every=1m", "tz=Europe/Berlin", NULL };
	static const char *c4[] = { "cron=@daily", "every=1m", NULL };
	static const char *c5[] = { "cron=@daily", "cron=@daily", NULL };
	static const char *c6[] = { "color=red", NULL };
	static const char *c7[] = { "every=1m", "catch-up=some", NULL };
	static const char *c8[] = { "every=1m", "unique=maybe", NULL };
	static const char *c9[] = { "paused=yes", NULL };
	static const char *c10[] = { "cron", NULL };
	static const char *ok[] = { "every=1m", NULL };
	/* A UNIQUE_ID of "u"; a header named pushstage-x. */
	static const uint8_t uid[] = { 0, 0, 0, 0, 0, 3, PS_ATTR_UNIQUE_ID, 1,
	    'u' };
	static const uint8_t hdr[] = { 0, 0, 0, 0, 0, 15, PS_ATTR_HEADER, 0,
	    12, 11, 'p', 'u', 's', 'h', 's', 't', 'a', 'g', 'e', '-', 'x', };
	static const uint8_t cut[] = { 0, 0, 0, 9, 0, 0, 'p' };
	uint8_t		 many[6 + 15 * 5];
	int		 i;

	refused(c1, NULL, 0, "cron: cron field 1 (minute)");
	refused(c2, NULL, 0, "every \"0s\": a duration of 0");
	refused(c3, NULL, 0, "tz: a zone is for a cron rule");
	refused(c4, NULL, 0, "cron and every");
	refused(c5, NULL, 0, "cron given twice");
	refused(c6, NULL, 0, "unknown setting \"color\"");
	refused(c7, NULL, 0, "catch-up: \"some\"");
	refused(c8, NULL, 0, "unique: \"maybe\"");
	refused(c9, NULL, 0, "needs a rule");
	refused(c10, NULL, 0, "KEY=VALUE");
	refused(ok, uid, sizeof uid, "UNIQUE_ID are the daemon's");
	refused(ok, hdr, sizeof hdr, "header \"pushstage-x\"");
	refused(ok, cut, sizeof cut, "do not add up");
	/* Fifteen headers: one more than a tick leaves room for. */
	memset(many, 0, sizeof many);
	many[5] = 15 * 5;
	for (i = 0; i < 15; i++) {
		uint8_t	*h = many + 6 + 5 * i;

		h[0] = PS_ATTR_HEADER;
		h[2] = 2;
		h[3] = 1;
		h[4] = (uint8_t)('a' + i);
	}
	refused(ok, many, sizeof many, "15 headers");
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("periodic");
	TCase	*tc = tcase_create("ticks");
	SRunner	*sr;
	int	 failed;

	tcase_add_test(tc, every_fires_each_tick_on_its_multiples);
	tcase_add_test(tc, catch_up_policies_at_a_start);
	tcase_add_test(tc, cron_ticks_after_a_long_stop);
	tcase_add_test(tc, dst_in_two_zones);
	tcase_add_test(tc, pause_replace_remove);
	tcase_add_test(tc, a_run_takes_max_slots);
	tcase_add_test(tc, removed_schedules_go_at_once);
	tcase_add_test(tc, bad_definitions_name_the_field);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
