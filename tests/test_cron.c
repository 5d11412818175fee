/*
 * test_cron.c: cron expressions and their next firing (common/cron.c)
 * in UTC and in zones read from the system's tz database by
 * common/tzfile.c, across 2026's and 2027's summer-time changes.  The
 * expected instants were worked out by hand and checked against
 * Python's zoneinfo once; nothing here reads a clock.  Each zone case
 * runs twice: on the zone's file (skipped, said so, without
 * /usr/share/zoneinfo) and on its POSIX rule alone.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cron.h"
#include "tzfile.h"

/* "2026-03-29T01:00Z" or "...T01:00:30Z" as an instant. */
static int64_t
iso(const char *s)
{
	int	 y, mo, d, h, mi, sec = 0;

	if (sscanf(s, "%d-%d-%dT%d:%d:%dZ", &y, &mo, &d, &h, &mi, &sec) < 5)
		ck_abort_msg("bad time in a test: %s", s);
	return tz_days(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec;
}

static void
show(int64_t t, char *buf, size_t len)
{
	int64_t	 y;
	int	 m, d;
	int64_t	 day = t >= 0 ? t / 86400 : (t - 86399) / 86400;
	int64_t	 s = t - day * 86400;

	tz_civil(day, &y, &m, &d);
	snprintf(buf, len, "%04lld-%02d-%02dT%02lld:%02lld:%02lldZ",
	    (long long)y, m, d, (long long)(s / 3600),
	    (long long)(s / 60 % 60), (long long)(s % 60));
}

/* main says once what is skipped without it. */
static int
have_zoneinfo(void)
{
	struct stat	 st;

	return stat(TZFILE_DIR "/Europe/Berlin", &st) == 0;
}

static struct tzfile *
zone(const char *name)
{
	struct tzfile	*z;
	char		 err[256];

	z = tzfile_load(NULL, name, err, sizeof err);
	ck_assert_msg(z != NULL, "%s", err);
	return z;
}

static const struct {
	const char	*name;
	const char	*posix;
} zones[] = {
	{ "Europe/Berlin", "CET-1CEST,M3.5.0,M10.5.0/3" },
	{ "America/New_York", "EST5EDT,M3.2.0,M11.1.0" },
	{ "Australia/Sydney", "AEST-10AEDT,M10.1.0,M4.1.0/3" },
	{ "Asia/Tokyo", "JST-9" },
};

static const char *
posix_of(const char *name)
{
	size_t	 i;

	for (i = 0; i < sizeof zones / sizeof zones[0]; i++)
		if (strcmp(zones[i].name, name) == 0)
			return zones[i].posix;
	ck_abort_msg("no rule for %s", name);
	return NULL;
}

/* want NULL: never (within CRON_SEARCH_DAYS). */
static const struct next_case {
	const char	*expr;
	const char	*zone;
	const char	*t;
	const char	*want;
} next_cases[] = {
	/* UTC */
	{ "0 0 30 2 *", "UTC", "2026-01-01T00:00Z", NULL },
	{ "0 0 31 4,6,9,11 *", "UTC", "2026-01-01T00:00Z", NULL },
	{ "0 0 29 2 *", "UTC", "2026-01-01T00:00Z", "2028-02-29T00:00Z" },
	{ "0 0 29 2 *", "UTC", "2096-03-01T00:00Z", "2104-02-29T00:00Z" },
	{ "0 0 13 * 5", "UTC", "2026-02-01T00:00Z", "2026-02-06T00:00Z" },
	{ "0 0 13 * 5", "UTC", "2026-02-06T00:00Z", "2026-02-13T00:00Z" },
	{ "0 0 */2 * 5", "UTC", "2026-02-01T00:00Z", "2026-02-13T00:00Z" },
	{ "0 0 13 * *", "UTC", "2026-02-01T00:00Z", "2026-02-13T00:00Z" },
	{ "0 0 * * 5", "UTC", "2026-02-07T00:00Z", "2026-02-13T00:00Z" },
	{ "0 12 * * 7", "UTC", "2026-02-02T00:00Z", "2026-02-08T12:00Z" },
	{ "0 12 * * 0", "UTC", "2026-02-02T00:00Z", "2026-02-08T12:00Z" },
	{ "0 9 * jan-MAR Mon-fri", "UTC", "2026-03-31T09:00Z",
	    "2027-01-01T09:00Z" },
	{ "0 9 * * sat,SUN", "UTC", "2026-02-02T00:00Z", "2026-02-07T09:00Z" },
	{ "@yearly", "UTC", "2026-06-01T00:00Z", "2027-01-01T00:00Z" },
	{ "@annually", "UTC", "2026-06-01T00:00Z", "2027-01-01T00:00Z" },
	{ "@monthly", "UTC", "2026-01-31T00:00Z", "2026-02-01T00:00Z" },
	{ "@weekly", "UTC", "2026-02-02T00:00Z", "2026-02-08T00:00Z" },
	{ "@daily", "UTC", "2026-02-02T00:00Z", "2026-02-03T00:00Z" },
	{ "@midnight", "UTC", "2026-02-02T23:59:59Z", "2026-02-03T00:00Z" },
	{ "@hourly", "UTC", "2026-02-02T00:59Z", "2026-02-02T01:00Z" },
	{ "* * * * *", "UTC", "2026-02-02T00:00:30Z", "2026-02-02T00:01Z" },
	{ "* * * * *", "UTC", "2026-02-02T00:00Z", "2026-02-02T00:01Z" },
	{ "5/15 * * * *", "UTC", "2026-02-02T00:00Z", "2026-02-02T00:05Z" },
	{ "5/15 * * * *", "UTC", "2026-02-02T00:50Z", "2026-02-02T01:05Z" },
	{ "10-20/5 3 * * *", "UTC", "2026-02-02T03:15Z", "2026-02-02T03:20Z" },
	{ "10-20/5 3 * * *", "UTC", "2026-02-02T03:20Z", "2026-02-03T03:10Z" },
	{ "0 0 1 */4 *", "UTC", "2026-02-02T00:00Z", "2026-05-01T00:00Z" },
	{ "59 23 31 12 *", "UTC", "2026-12-31T23:59Z", "2027-12-31T23:59Z" },
	{ "0 0 1 1 *", "UTC", "1969-06-01T00:00Z", "1970-01-01T00:00Z" },
	{ "0 0 * * 1-5", "UTC", "2026-02-06T00:00Z", "2026-02-09T00:00Z" },
	{ "0 0 * * 5-7", "UTC", "2026-02-02T00:00Z", "2026-02-06T00:00Z" },
	{ "0 0 * * 6-7", "UTC", "2026-02-07T00:00Z", "2026-02-08T00:00Z" },
	{ "0 0 1,15 * 3", "UTC", "2026-02-02T00:00Z", "2026-02-04T00:00Z" },

	/* Berlin: 2026-03-29 02:00-02:59 skipped, 10-25 02:00-02:59 twice */
	{ "30 2 * * *", "Europe/Berlin", "2026-03-28T12:00Z",
	    "2026-03-29T01:00Z" },
	{ "30 2 * * *", "Europe/Berlin", "2026-03-29T01:00Z",
	    "2026-03-30T00:30Z" },
	{ "0 3 * * *", "Europe/Berlin", "2026-03-28T12:00Z",
	    "2026-03-29T01:00Z" },
	{ "0,30 2,3 * * *", "Europe/Berlin", "2026-03-29T00:00Z",
	    "2026-03-29T01:00Z" },
	{ "0,30 2,3 * * *", "Europe/Berlin", "2026-03-29T01:00Z",
	    "2026-03-29T01:30Z" },
	{ "*/30 * * * *", "Europe/Berlin", "2026-03-29T00:45Z",
	    "2026-03-29T01:00Z" },
	{ "*/30 2 * * *", "Europe/Berlin", "2026-03-28T23:00Z",
	    "2026-03-30T00:00Z" },
	{ "30 2 * * *", "Europe/Berlin", "2026-10-24T12:00Z",
	    "2026-10-25T00:30Z" },
	{ "30 2 * * *", "Europe/Berlin", "2026-10-25T00:30Z",
	    "2026-10-26T01:30Z" },
	{ "0 * * * *", "Europe/Berlin", "2026-10-25T00:00Z",
	    "2026-10-25T02:00Z" },
	{ "0 12 * * *", "Europe/Berlin", "2026-07-01T00:00Z",
	    "2026-07-01T10:00Z" },
	{ "0 12 * * *", "Europe/Berlin", "2026-12-01T00:00Z",
	    "2026-12-01T11:00Z" },
	{ "30 2 * * *", "Europe/Berlin", "2027-03-27T12:00Z",
	    "2027-03-28T01:00Z" },
	{ "30 2 * * *", "Europe/Berlin", "2027-10-30T12:00Z",
	    "2027-10-31T00:30Z" },
	{ "30 2 * * *", "Europe/Berlin", "2027-10-31T00:30Z",
	    "2027-11-01T01:30Z" },
	/* After the file's last transition: its footer's rule. */
	{ "30 2 * * *", "Europe/Berlin", "2040-03-24T12:00Z",
	    "2040-03-25T01:00Z" },
	{ "30 2 * * *", "Europe/Berlin", "2040-10-27T12:00Z",
	    "2040-10-28T00:30Z" },

	/* New York: 2026-03-08 02:00-02:59 skipped, 11-01 01:00-01:59 twice */
	{ "30 2 * * *", "America/New_York", "2026-03-07T12:00Z",
	    "2026-03-08T07:00Z" },
	{ "30 2 * * *", "America/New_York", "2026-03-08T07:00Z",
	    "2026-03-09T06:30Z" },
	{ "30 1 * * *", "America/New_York", "2026-10-31T12:00Z",
	    "2026-11-01T05:30Z" },
	{ "30 1 * * *", "America/New_York", "2026-11-01T05:30Z",
	    "2026-11-02T06:30Z" },
	{ "*/20 * * * *", "America/New_York", "2026-11-01T05:50Z",
	    "2026-11-01T07:00Z" },
	{ "30 2 * * *", "America/New_York", "2027-03-13T12:00Z",
	    "2027-03-14T07:00Z" },
	{ "30 1 * * *", "America/New_York", "2027-11-06T12:00Z",
	    "2027-11-07T05:30Z" },
	{ "30 1 * * *", "America/New_York", "2040-11-03T12:00Z",
	    "2040-11-04T05:30Z" },

	/* Sydney: April 02:00-02:59 twice, October 02:00-02:59 skipped */
	{ "30 2 * * *", "Australia/Sydney", "2026-04-04T12:00Z",
	    "2026-04-04T15:30Z" },
	{ "30 2 * * *", "Australia/Sydney", "2026-04-04T15:30Z",
	    "2026-04-05T16:30Z" },
	{ "30 2 * * *", "Australia/Sydney", "2026-10-03T00:00Z",
	    "2026-10-03T16:00Z" },
	{ "0 0 1 1 *", "Australia/Sydney", "2026-06-01T00:00Z",
	    "2026-12-31T13:00Z" },
	{ "30 2 * * *", "Australia/Sydney", "2027-04-03T12:00Z",
	    "2027-04-03T15:30Z" },
	{ "30 2 * * *", "Australia/Sydney", "2027-10-02T00:00Z",
	    "2027-10-02T16:00Z" },

	/* Tokyo: no summer time */
	{ "0 9 * * *", "Asia/Tokyo", "2026-03-29T00:00Z", "2026-03-30T00:00Z" },
	{ "0 9 * * *", "Asia/Tokyo", "2026-10-24T12:00Z", "2026-10-25T00:00Z" },
	{ "@hourly", "Asia/Tokyo", "2026-03-29T00:10Z", "2026-03-29T01:00Z" },
};

static void
next_one(const struct next_case *c, const struct tzfile *z, const char *how)
{
	struct cron	 cr;
	char		 err[256], got[40];
	int64_t		 next = 0;
	int		 r;

	ck_assert_msg(cron_parse(&cr, c->expr, strlen(c->expr), err,
	    sizeof err) == 0, "%s: %s", c->expr, err);
	r = cron_next(&cr, z, iso(c->t), &next);
	show(next, got, sizeof got);
	if (c->want == NULL)
		ck_assert_msg(r == 0, "\"%s\" %s after %s: never wanted, got %s",
		    c->expr, how, c->t, got);
	else
		ck_assert_msg(r == 1 && next == iso(c->want),
		    "\"%s\" %s after %s: want %s, got %s%s", c->expr, how, c->t,
		    c->want, got, r ? "" : " (never)");
}

START_TEST(next_fire)
{
	const struct next_case	*c = &next_cases[_i];
	struct tzfile		*z;
	const char		*p;
	char			 err[256], how[80];

	if (strcmp(c->zone, "UTC") == 0) {
		next_one(c, NULL, "in UTC (NULL)");
		z = tzfile_load("/nonexistent", "UTC", err, sizeof err);
		ck_assert_msg(z != NULL, "%s", err);
		next_one(c, z, "in built-in UTC");
		tzfile_free(z);
		return;
	}
	p = posix_of(c->zone);
	z = tzfile_from_posix(p, strlen(p), err, sizeof err);
	ck_assert_msg(z != NULL, "%s", err);
	snprintf(how, sizeof how, "in \"%s\"", p);
	next_one(c, z, how);
	tzfile_free(z);
	if (!have_zoneinfo())
		return;
	z = zone(c->zone);
	snprintf(how, sizeof how, "in %s", c->zone);
	next_one(c, z, how);
	tzfile_free(z);
}
END_TEST

/* Firing again and again walks the whole of 2026 and 2027 in order. */
START_TEST(next_fire_chain)
{
	struct cron	 cr;
	struct tzfile	*z;
	char		 err[256];
	int64_t		 t, prev;
	int		 n;

	ck_assert_int_eq(cron_parse(&cr, "30 2 * * *", 10, err, sizeof err),
	    0);
	z = tzfile_from_posix(zones[0].posix, strlen(zones[0].posix), err,
	    sizeof err);
	ck_assert_ptr_nonnull(z);
	t = iso("2025-12-31T23:00Z");
	for (n = 0;; n++) {
		prev = t;
		ck_assert_int_eq(cron_next(&cr, z, t, &t), 1);
		ck_assert(t > prev);
		if (t >= iso("2027-12-31T23:00Z"))
			break;
	}
	/* Once a day, the gaps included, the folds once. */
	ck_assert_int_eq(n, 365 + 365);
	tzfile_free(z);
}
END_TEST

START_TEST(next_bounds)
{
	struct cron	 cr;
	char		 err[256];
	int64_t		 next;

	ck_assert_int_eq(cron_parse(&cr, "* * * * *", 9, err, sizeof err), 0);
	ck_assert_int_eq(cron_next(&cr, NULL, CRON_T_MAX + 1, &next), 0);
	ck_assert_int_eq(cron_next(&cr, NULL, CRON_T_MIN - 1, &next), 0);
	ck_assert_int_eq(cron_next(&cr, NULL, INT64_MAX, &next), 0);
	ck_assert_int_eq(cron_next(&cr, NULL, INT64_MIN, &next), 0);
	ck_assert_int_eq(cron_next(&cr, NULL, iso("9999-12-31T23:58Z"),
	    &next), 1);
	ck_assert(next == iso("9999-12-31T23:59Z"));
}
END_TEST

START_TEST(parse_fields)
{
	struct cron	 c;
	char		 err[256];

#define P(s) ck_assert_msg(cron_parse(&c, s, strlen(s), err, sizeof err) \
	    == 0, "%s: %s", s, err)
	P("*/15 0-6/2 1,15 JAN-jun/2 mon-fri");
	ck_assert(c.minute == (1ULL | 1ULL << 15 | 1ULL << 30 | 1ULL << 45));
	ck_assert_uint_eq(c.hour, 1 | 1 << 2 | 1 << 4 | 1 << 6);
	ck_assert_uint_eq(c.dom, 1 << 1 | 1 << 15);
	ck_assert_uint_eq(c.month, 1 << 1 | 1 << 3 | 1 << 5);
	ck_assert_uint_eq(c.dow, 0x3e);
	ck_assert_int_eq(c.flags, CRON_MIN_STAR);
	P("  \t0 0 * * 7 \t");
	ck_assert_uint_eq(c.dow, 1);
	ck_assert_int_eq(c.flags, CRON_DOM_STAR);
	P("0 0 * * 0-7");
	ck_assert_uint_eq(c.dow, 0x7f);
	P("0 0 * * 5-7");
	ck_assert_uint_eq(c.dow, 1 | 1 << 5 | 1 << 6);
	P("50/5 23/1 31/1 12/1 6/1");
	ck_assert(c.minute == (1ULL << 50 | 1ULL << 55));
	ck_assert_uint_eq(c.hour, 1u << 23);
	ck_assert_uint_eq(c.dom, 1u << 31);
	ck_assert_uint_eq(c.month, 1 << 12);
	ck_assert_uint_eq(c.dow, 1 | 1 << 6);	/* 6 and 7 */
	P("59 23 31 DEC Sat");
	P("0 0 1 1 *");
	P("*/59 */23 */31 */12 */7");
	P("@HOURLY");
	ck_assert(c.minute == 1 && c.hour == 0xffffff);
	ck_assert_int_eq(c.flags, CRON_HOUR_STAR | CRON_DOM_STAR |
	    CRON_DOW_STAR);
	P("@weekly");
	ck_assert_uint_eq(c.dow, 1);
	ck_assert_int_eq(c.flags, CRON_DOM_STAR);
	P("1,2,3-4,5-9/2 * * * *");
	ck_assert(c.minute == 0x2be);
#undef P
}
END_TEST

static const struct {
	const char	*expr;
	const char	*why;
} bad_cases[] = {
	{ "", "cron: empty expression" },
	{ " \t ", "cron: empty expression" },
	{ "* * * *", "cron: 4 fields, not 5" },
	{ "*", "cron: 1 field, not 5" },
	{ "* * * * * *", "more than 5 fields" },
	{ "60 * * * *", "cron field 1 (minute): 60 is out of range 0-59" },
	{ "0 24 * * *", "cron field 2 (hour): 24 is out of range 0-23" },
	{ "0 0 0 * *", "cron field 3 (day-of-month): 0 is out of range 1-31" },
	{ "0 0 32 * *", "cron field 3 (day-of-month): 32 is out of range" },
	{ "0 0 * 13 *", "cron field 4 (month): 13 is out of range 1-12" },
	{ "0 0 * 0 *", "cron field 4 (month): 0 is out of range" },
	{ "0 0 * * 8", "cron field 5 (day-of-week): 8 is out of range 0-7" },
	{ "99999999999999999999 * * * *", "cron field 1 (minute): 99999" },
	{ "0 0 * foo *", "cron field 4 (month): unknown name \"foo\"" },
	{ "0 0 * * sunday", "cron field 5 (day-of-week): unknown name" },
	{ "0 0 * jan-foo *", "unknown name \"foo\"" },
	{ "0 mon * * *", "cron field 2 (hour): unknown name \"mon\"" },
	{ "0 0 * * jan", "cron field 5 (day-of-week): unknown name \"jan\"" },
	{ "1,,2 * * * *", "cron field 1 (minute): empty field" },
	{ "1, * * * *", "cron field 1 (minute): empty field" },
	{ ",1 * * * *", "cron field 1 (minute): empty field" },
	{ "*/0 * * * *", "cron field 1 (minute): step 0" },
	{ "0 1-5/0 * * *", "cron field 2 (hour): step 0" },
	{ "*/ * * * *", "cron field 1 (minute): a step is a number" },
	{ "*/x * * * *", "a step is a number" },
	{ "*/60 * * * *", "cron field 1 (minute): step 60 is out of range" },
	{ "0 0 * * */8", "cron field 5 (day-of-week): step 8" },
	{ "5-1 * * * *", "cron field 1 (minute): range 5-1 is backwards" },
	{ "0 0 * dec-jan *", "cron field 4 (month): range 12-1 is backwards" },
	{ "1-2-3 * * * *", "cron field 1 (minute): unexpected \"-\"" },
	{ "1x * * * *", "cron field 1 (minute): unexpected \"x\"" },
	{ "** * * * *", "cron field 1 (minute): unexpected \"*\"" },
	{ "1- * * * *", "cron field 1 (minute): a number is missing" },
	{ "-1 * * * *", "cron field 1 (minute): unexpected \"-\"" },
	{ "0 0 * * 1/2/3", "cron field 5 (day-of-week): unexpected \"/\"" },
	{ "@reboot", "cron: unknown macro \"@reboot\"" },
	{ "@daily x", "cron: unknown macro" },
	{ "@", "cron: unknown macro" },
};

START_TEST(parse_bad)
{
	struct cron	 c;
	char		 err[256];
	const char	*e = bad_cases[_i].expr;

	err[0] = '\0';
	ck_assert_msg(cron_parse(&c, e, strlen(e), err, sizeof err) == -1,
	    "\"%s\" was taken", e);
	ck_assert_msg(strstr(err, bad_cases[_i].why) != NULL,
	    "\"%s\": want \"%s\" in \"%s\"", e, bad_cases[_i].why, err);
}
END_TEST

START_TEST(parse_limits)
{
	struct cron	 c;
	char		 err[256], *big;
	const char	 nul[] = "0 0\0 * * *";

	big = malloc(CRON_LINE_MAX + 2);
	ck_assert_ptr_nonnull(big);
	memset(big, ' ', CRON_LINE_MAX + 1);
	memcpy(big, "0 0 * * *", 9);
	ck_assert_int_eq(cron_parse(&c, big, CRON_LINE_MAX, err, sizeof err),
	    0);
	ck_assert_int_eq(cron_parse(&c, big, CRON_LINE_MAX + 1, err,
	    sizeof err), -1);
	ck_assert_ptr_nonnull(strstr(err, "over the limit"));
	free(big);
	/* Bytes, not a string: a NUL inside is refused, not an end. */
	ck_assert_int_eq(cron_parse(&c, nul, sizeof nul - 1, err, sizeof err),
	    -1);
	/* A small err is cut, never overrun. */
	ck_assert_int_eq(cron_parse(&c, "0 24 * * *", 10, err, 8), -1);
	ck_assert_int_eq(strlen(err), 7);
}
END_TEST

START_TEST(every)
{
	static const struct {
		const char	*s;
		int64_t		 want;		/* 0: refused */
		const char	*why;
	} cases[] = {
		{ "30s", 30, NULL },
		{ "5m", 300, NULL },
		{ "2h", 7200, NULL },
		{ "1d", 86400, NULL },
		{ "1h30m", 5400, NULL },
		{ "1d2h3m4s", 93784, NULL },
		{ "90m", 5400, NULL },
		{ "0h1s", 1, NULL },
		{ "3650d", 3650LL * 86400, NULL },
		{ "", 0, "empty duration" },
		{ "0s", 0, "a duration of 0" },
		{ "0h0m", 0, "a duration of 0" },
		{ "30", 0, "a number needs a unit" },
		{ "h", 0, "a number must come before each unit" },
		{ "1h30", 0, "a number needs a unit" },
		{ "5x", 0, "unknown unit \"x\"" },
		{ "-5m", 0, "a number must come before" },
		{ " 5m", 0, "a number must come before" },
		{ "3651d", 0, "longer than 3650d" },
		{ "3650d1s", 0, "longer than 3650d" },
		{ "99999999999999999999999s", 0, "longer than 3650d" },
		{ "9223372036854775807s", 0, "longer than" },
	};
	char	 err[256];
	int64_t	 v;
	size_t	 i;
	int	 r;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		err[0] = '\0';
		r = cron_every(cases[i].s, strlen(cases[i].s), &v, err,
		    sizeof err);
		if (cases[i].want != 0)
			ck_assert_msg(r == 0 && v == cases[i].want,
			    "%s: %lld (%s)", cases[i].s, (long long)v, err);
		else
			ck_assert_msg(r == -1 && strstr(err, cases[i].why),
			    "%s: want \"%s\", got \"%s\"", cases[i].s,
			    cases[i].why, err);
	}
}
END_TEST

/* ---- tzfile ---- */

START_TEST(posix_rules)
{
	static const struct {
		const char	*s;
		const char	*t;
		int32_t		 off;
	} cases[] = {
		{ "CET-1CEST,M3.5.0,M10.5.0/3", "2026-03-29T00:59:59Z", 3600 },
		{ "CET-1CEST,M3.5.0,M10.5.0/3", "2026-03-29T01:00Z", 7200 },
		{ "CET-1CEST,M3.5.0,M10.5.0/3", "2026-10-25T00:59:59Z", 7200 },
		{ "CET-1CEST,M3.5.0,M10.5.0/3", "2026-10-25T01:00Z", 3600 },
		{ "EST5EDT,M3.2.0,M11.1.0", "2027-03-14T07:00Z", -4 * 3600 },
		{ "EST5EDT,M3.2.0,M11.1.0", "2027-11-07T06:00Z", -5 * 3600 },
		{ "EST5EDT", "2027-03-14T07:00Z", -4 * 3600 },	/* US default */
		{ "EST5EDT", "2027-03-14T06:59Z", -5 * 3600 },
		/* Southern: summer time spans the new year. */
		{ "AEST-10AEDT,M10.1.0,M4.1.0/3", "2026-01-15T00:00Z", 11 * 3600 },
		{ "AEST-10AEDT,M10.1.0,M4.1.0/3", "2026-04-04T15:59Z", 11 * 3600 },
		{ "AEST-10AEDT,M10.1.0,M4.1.0/3", "2026-04-04T16:00Z", 10 * 3600 },
		{ "AEST-10AEDT,M10.1.0,M4.1.0/3", "2026-10-03T16:00Z", 11 * 3600 },
		{ "AEST-10AEDT,M10.1.0,M4.1.0/3", "2027-07-01T00:00Z", 10 * 3600 },
		/* Nuuk: -02:00 and -01:00 local, the Saturday before. */
		{ "<-03>3<-02>,M3.5.0/-2,M10.5.0/-1", "2026-03-29T00:59Z",
		    -3 * 3600 },
		{ "<-03>3<-02>,M3.5.0/-2,M10.5.0/-1", "2026-03-29T01:00Z",
		    -2 * 3600 },
		{ "<-03>3<-02>,M3.5.0/-2,M10.5.0/-1", "2026-10-25T00:59Z",
		    -2 * 3600 },
		{ "<-03>3<-02>,M3.5.0/-2,M10.5.0/-1", "2026-10-25T01:00Z",
		    -3 * 3600 },
		/* Summer time all year (RFC 8536 3.3.1's example). */
		{ "EST5EDT,0/0,J365/25", "2026-01-01T00:00Z", -4 * 3600 },
		{ "EST5EDT,0/0,J365/25", "2026-07-01T00:00Z", -4 * 3600 },
		{ "EST5EDT,0/0,J365/25", "2027-12-31T23:59Z", -4 * 3600 },
		/* 26:00: 02:00 the day after the named day (Jn, n). */
		{ "XST3XDT,J60/26,300", "2026-03-02T04:59Z", -3 * 3600 },
		{ "XST3XDT,J60/26,300", "2026-03-02T05:00Z", -2 * 3600 },
		{ "XST3XDT,J60/26,300", "2028-03-02T05:00Z", -2 * 3600 },
		{ "XST3XDT,59,300", "2028-02-29T05:00Z", -2 * 3600 },
		{ "XST3XDT,59,300", "2028-02-29T04:59Z", -3 * 3600 },
		{ "JST-9", "2026-07-01T00:00Z", 9 * 3600 },
		{ "<+0545>-5:45", "2026-07-01T00:00Z", 5 * 3600 + 45 * 60 },
		{ "<+1245>-12:45<+1345>,M9.5.0/2:45,M4.1.0/3:45",
		    "2026-01-01T00:00Z", 13 * 3600 + 45 * 60 },
		{ "ABC+1:02:03", "2026-01-01T00:00Z", -3723 },
	};
	static const char *const bad[] = {
		"", "C-1", "CET", "CET-", "CET-25", "CET-1CEST,", "CET-1CEST,M3",
		"CET-1CEST,M3.5.0", "CET-1CEST,M13.5.0,M10.5.0",
		"CET-1CEST,M3.6.0,M10.5.0", "CET-1CEST,M3.5.7,M10.5.0",
		"CET-1CEST,M3.5.0/168,M10.5.0", "CET-1CEST,J0,J100",
		"CET-1CEST,366,J100", "CET-1CEST,M3.5.0,M10.5.0/3x",
		"<CE>-1", "<CET-1", "CET-1:60", "CET-1CE", "CET-1CEST,M3.5.0/1:2:60,M10.5.0",
		"CET-0001",
	};
	struct tz_posix	 r;
	char		 err[256];
	size_t		 i;
	int32_t		 off;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		ck_assert_msg(tz_posix_parse(&r, cases[i].s,
		    strlen(cases[i].s), err, sizeof err) == 0, "%s", err);
		off = tz_posix_offset(&r, iso(cases[i].t), NULL);
		ck_assert_msg(off == cases[i].off, "%s at %s: %d, not %d",
		    cases[i].s, cases[i].t, off, cases[i].off);
	}
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		err[0] = '\0';
		ck_assert_msg(tz_posix_parse(&r, bad[i], strlen(bad[i]), err,
		    sizeof err) == -1, "\"%s\" was taken", bad[i]);
		ck_assert_msg(strncmp(err, "TZ string \"", 11) == 0 &&
		    strstr(err, "bad ") != NULL, "%s: %s", bad[i], err);
	}
}
END_TEST

START_TEST(local_times)
{
	struct tzfile	*z;
	const char	*p = zones[0].posix;
	char		 err[256];
	int64_t		 u[2], gap;
	int		 k;

	for (k = 0; k < 2; k++) {
		if (k == 0)
			z = tzfile_from_posix(p, strlen(p), err, sizeof err);
		else if (!have_zoneinfo())
			break;
		else
			z = zone("Europe/Berlin");
		ck_assert_ptr_nonnull(z);
		ck_assert_int_eq(tzfile_local_ymdhm(z, 2026, 3, 29, 1, 59, u,
		    &gap), 1);
		ck_assert(u[0] == iso("2026-03-29T00:59Z"));
		gap = 0;
		ck_assert_int_eq(tzfile_local_ymdhm(z, 2026, 3, 29, 2, 0, u,
		    &gap), 0);
		ck_assert(gap == iso("2026-03-29T01:00Z"));
		ck_assert_int_eq(tzfile_local_ymdhm(z, 2026, 3, 29, 2, 59, u,
		    &gap), 0);
		ck_assert_int_eq(tzfile_local_ymdhm(z, 2026, 3, 29, 3, 0, u,
		    NULL), 1);
		ck_assert(u[0] == iso("2026-03-29T01:00Z"));
		ck_assert_int_eq(tzfile_local_ymdhm(z, 2026, 10, 25, 2, 30, u,
		    NULL), 2);
		ck_assert(u[0] == iso("2026-10-25T00:30Z"));
		ck_assert(u[1] == iso("2026-10-25T01:30Z"));
		ck_assert_int_eq(tzfile_local_ymdhm(z, 2026, 10, 25, 1, 59, u,
		    NULL), 1);
		ck_assert_int_eq(tzfile_local_ymdhm(z, 2026, 10, 25, 3, 0, u,
		    NULL), 1);
		ck_assert(u[0] == iso("2026-10-25T02:00Z"));
		ck_assert_int_eq(tzfile_local_ymdhm(z, 2026, 2, 29, 0, 0, u,
		    NULL), -1);
		ck_assert_int_eq(tzfile_local_ymdhm(z, 2026, 1, 1, 24, 0, u,
		    NULL), -1);
		ck_assert_int_eq(tzfile_local_ymdhm(z, 2026, 13, 1, 0, 0, u,
		    NULL), -1);
		ck_assert_int_eq(tzfile_offset(z, iso("2026-07-01T00:00Z")),
		    7200);
		tzfile_free(z);
	}
	ck_assert_int_eq(tzfile_local(NULL, 12345, u, NULL), 1);
	ck_assert(u[0] == 12345);
	ck_assert_int_eq(tzfile_offset(NULL, 12345), 0);
}
END_TEST

/*
 * Every 45 minutes of 2026 and 2027 shown by the zone maps back to
 * its instant; with a rule whose summer time ends an hour after the
 * next year's starts (fuzz_cron's first find), too.
 */
START_TEST(local_round_trip)
{
	static const char *const rules[] = {
		"CET-1CEST,M3.5.0,M10.5.0/3", "EST5EDT,M3.2.0,M11.1.0",
		"AEST-10AEDT,M10.1.0,M4.1.0/3", "EST0EDT,0,J365/28",
		"<-03>3<-02>,M3.5.0/-2,M10.5.0/-1", "EST5EDT,0/0,J365/25",
		"XST3XDT,J1/-167,J365/167",
	};
	struct tzfile	*z;
	char		 err[256];
	int64_t		 t, l, u[2];
	size_t		 i;
	int		 n, k;

	for (i = 0; i < sizeof rules / sizeof rules[0] + 1; i++) {
		if (i < sizeof rules / sizeof rules[0])
			z = tzfile_from_posix(rules[i], strlen(rules[i]), err,
			    sizeof err);
		else if (!have_zoneinfo())
			break;
		else
			z = zone("Australia/Sydney");
		ck_assert_msg(z != NULL, "%s", err);
		for (t = iso("2025-12-25T00:00Z"); t < iso("2028-01-08T00:00Z");
		    t += 2700) {
			l = t + tzfile_offset(z, t);
			n = tzfile_local(z, l, u, NULL);
			for (k = 0; k < n && u[k] != t; k++)
				;
			ck_assert_msg(k < n, "%s: %lld is not among the %d "
			    "instants of its wall time", z->name,
			    (long long)t, n);
		}
		tzfile_free(z);
	}
}
END_TEST

/* Offsets from the files, against zoneinfo's, both sides of changes. */
START_TEST(zone_files)
{
	static const struct {
		const char	*zone;
		const char	*t;
		int32_t		 off;
	} cases[] = {
		{ "Europe/Berlin", "1970-01-01T00:00Z", 3600 },
		{ "Europe/Berlin", "1945-06-01T00:00Z", 10800 },	/* CEMT */
		{ "Europe/Berlin", "2027-03-28T00:59:59Z", 3600 },
		{ "Europe/Berlin", "2027-03-28T01:00Z", 7200 },
		{ "Europe/Berlin", "2027-10-31T01:00Z", 3600 },
		{ "Europe/Berlin", "2100-07-01T00:00Z", 7200 },
		{ "America/New_York", "2026-03-08T06:59:59Z", -5 * 3600 },
		{ "America/New_York", "2026-03-08T07:00Z", -4 * 3600 },
		{ "America/New_York", "2026-11-01T05:59:59Z", -4 * 3600 },
		{ "America/New_York", "2026-11-01T06:00Z", -5 * 3600 },
		{ "Australia/Sydney", "2027-04-03T15:59:59Z", 11 * 3600 },
		{ "Australia/Sydney", "2027-04-03T16:00Z", 10 * 3600 },
		{ "Australia/Sydney", "2027-10-02T16:00Z", 11 * 3600 },
		{ "Australia/Sydney", "2200-01-01T00:00Z", 11 * 3600 },
		{ "Asia/Tokyo", "2026-07-01T00:00Z", 9 * 3600 },
		{ "Asia/Tokyo", "2300-07-01T00:00Z", 9 * 3600 },
		{ "UTC", "2026-07-01T00:00Z", 0 },
	};
	struct tzfile	*z;
	size_t		 i;

	if (!have_zoneinfo())
		return;
	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		z = zone(cases[i].zone);
		ck_assert_msg(tzfile_offset(z, iso(cases[i].t)) == cases[i].off,
		    "%s at %s: %d, not %d", cases[i].zone, cases[i].t,
		    tzfile_offset(z, iso(cases[i].t)), cases[i].off);
		ck_assert_str_eq(z->name, cases[i].zone);
		tzfile_free(z);
	}
}
END_TEST

START_TEST(zone_names)
{
	static const struct {
		const char	*name;
		const char	*why;
	} bad[] = {
		{ "", "1 to 255 bytes" },
		{ "../etc/passwd", "no \"..\"" },
		{ "Europe/../../etc/passwd", "no \"..\"" },
		{ "/etc/localtime", "no leading \"/\"" },
		{ "Europe/Ber lin", "character 11" },
		{ "Europe/Berlin\n", "is not one of" },
		{ "Etc/GMT.0", "is not one of" },
		{ "Europe/Nowhere", "zone \"Europe/Nowhere\": " },
		{ "Europe", "not a regular file" },
	};
	struct tzfile	*z;
	char		 err[256], big[300];
	size_t		 i;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		if (i >= 7 && !have_zoneinfo())
			break;
		err[0] = '\0';
		z = tzfile_load(NULL, bad[i].name, err, sizeof err);
		ck_assert_msg(z == NULL, "%s was loaded", bad[i].name);
		ck_assert_msg(strstr(err, bad[i].why) != NULL,
		    "%s: want \"%s\" in \"%s\"", bad[i].name, bad[i].why, err);
	}
	memset(big, 'a', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	ck_assert_ptr_null(tzfile_load(NULL, big, err, sizeof err));
	ck_assert_int_eq(tzfile_name_check("Etc/GMT+5", err, sizeof err), 0);
	ck_assert_int_eq(tzfile_name_check("America/Port-au-Prince", err,
	    sizeof err), 0);
	/* UTC without a database. */
	z = tzfile_load("/nonexistent/zoneinfo", "UTC", err, sizeof err);
	ck_assert_ptr_nonnull(z);
	ck_assert_int_eq(tzfile_offset(z, 0), 0);
	tzfile_free(z);
	ck_assert_ptr_null(tzfile_load("/nonexistent/zoneinfo", "Etc/UTC",
	    err, sizeof err));
	ck_assert_ptr_nonnull(strstr(err, "zone \"Etc/UTC\""));
}
END_TEST

/* ---- TZif bytes ---- */

static uint8_t	*berlin;
static size_t	 berlin_len;

static void
berlin_read(void)
{
	FILE	*f;

	berlin = malloc(TZFILE_SIZE_MAX + 1);
	berlin_len = 0;
	if (berlin == NULL || !have_zoneinfo())
		return;
	if ((f = fopen(TZFILE_DIR "/Europe/Berlin", "rb")) == NULL)
		return;
	berlin_len = fread(berlin, 1, TZFILE_SIZE_MAX + 1, f);
	fclose(f);
}

static void
berlin_free(void)
{
	free(berlin);
	berlin = NULL;
}

static void
put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint32_t
get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

/* Where the v2+ header starts: after the v1 block. */
static size_t
v2_at(const uint8_t *b)
{
	return 44 + (size_t)get32(b + 32) * 5 + (size_t)get32(b + 36) * 6 +
	    get32(b + 40) + (size_t)get32(b + 28) * 8 + get32(b + 24) +
	    get32(b + 20);
}

static void
parse_fails(const uint8_t *b, size_t len, const char *why)
{
	struct tzfile	*z;
	char		 err[256];

	err[0] = '\0';
	z = tzfile_parse(b, len, err, sizeof err);
	ck_assert_msg(z == NULL, "taken, wanted \"%s\"", why);
	ck_assert_msg(strstr(err, why) != NULL, "want \"%s\" in \"%s\"", why,
	    err);
}

START_TEST(tzif_truncated)
{
	struct tzfile	*z;
	char		 err[256];
	size_t		 n;

	if (berlin_len == 0)
		return;		/* main said so */
	z = tzfile_parse(berlin, berlin_len, err, sizeof err);
	ck_assert_msg(z != NULL, "%s", err);
	ck_assert(z->has_rule && z->rule.std_off == 3600 &&
	    z->rule.dst_off == 7200);
	tzfile_free(z);
	/* Every shorter file is refused, none read past its end. */
	for (n = 0; n < berlin_len; n++) {
		err[0] = '\0';
		z = tzfile_parse(berlin, n, err, sizeof err);
		ck_assert_msg(z == NULL, "%zu of %zu bytes taken", n, berlin_len);
		ck_assert_msg(strncmp(err, "TZif", 4) == 0, "%zu: %s", n, err);
	}
	parse_fails(berlin, 10, "TZif v1 header: 10 bytes, not 44");
	parse_fails(berlin, 44, "TZif v1 data: the header's counts need");
	parse_fails(berlin, berlin_len - 1, "TZif footer");
}
END_TEST

START_TEST(tzif_corrupt)
{
	uint8_t		*b;
	struct tzfile	*z;
	char		 err[256];
	size_t		 v2, i, types;
	uint32_t	 timecnt;

	if (berlin_len == 0)
		return;		/* main said so */
	b = malloc(berlin_len + 1);
	ck_assert_ptr_nonnull(b);
	v2 = v2_at(berlin);
	ck_assert(v2 < berlin_len);
	timecnt = get32(berlin + v2 + 32);
	types = v2 + 44 + (size_t)timecnt * 9;

#define FRESH() memcpy(b, berlin, berlin_len)
	FRESH();
	b[0] = 'X';
	parse_fails(b, berlin_len, "no magic \"TZif\"");
	FRESH();
	b[v2 + 1] = 'X';
	parse_fails(b, berlin_len, "TZif v2+ header: no magic");
	FRESH();
	b[4] = '9';
	parse_fails(b, berlin_len, "version byte 0x39");
	FRESH();
	put32(b + v2 + 36, 0);
	parse_fails(b, berlin_len, "TZif v2+ header: typecnt 0");
	/* A v2+ reader skips the v1 block: its counts need only fit. */
	FRESH();
	put32(b + 20, 0);
	put32(b + 24, 0);
	put32(b + 28, 0);
	put32(b + 32, 0);
	put32(b + 36, 0);
	put32(b + 40, v2 - 44);
	z = tzfile_parse(b, berlin_len, err, sizeof err);
	ck_assert_msg(z != NULL, "%s", err);
	tzfile_free(z);
	FRESH();
	b[4] = 0;
	put32(b + 36, 257);
	parse_fails(b, berlin_len, "TZif v1 header: typecnt 257");
	FRESH();
	put32(b + v2 + 32, 0xffffffff);
	parse_fails(b, berlin_len, "TZif v2+ data: the header's counts need");
	FRESH();
	put32(b + v2 + 40, 0xffffffff);
	parse_fails(b, berlin_len, "the header's counts need");
	FRESH();
	put32(b + v2 + 20, 3);
	parse_fails(b, berlin_len, "isutcnt 3");
	FRESH();
	put32(b + v2 + 40, 0);
	parse_fails(b, berlin_len, "charcnt 0");
	FRESH();
	/* The second transition before the first. */
	memcpy(b + v2 + 44 + 8, b + v2 + 44, 8);
	parse_fails(b, berlin_len, "TZif v2+ transition 1: not after");
	FRESH();
	b[v2 + 44 + timecnt * 8 + 2] = 200;
	parse_fails(b, berlin_len, "TZif v2+ transition 2: type 200");
	FRESH();
	put32(b + types, 0x80000000);
	parse_fails(b, berlin_len, "TZif v2+ type 0: utoff -2147483648");
	FRESH();
	put32(b + types, 100000);
	parse_fails(b, berlin_len, "utoff 100000 is out of range");
	FRESH();
	b[types + 4] = 2;
	parse_fails(b, berlin_len, "TZif v2+ type 0: isdst 2");
	FRESH();
	b[types + 5] = 255;
	parse_fails(b, berlin_len, "desigidx 255");
	FRESH();
	b[berlin_len - 3] = '@';
	parse_fails(b, berlin_len, "TZif footer: TZ string");
	FRESH();
	b[berlin_len - 1] = 'x';
	parse_fails(b, berlin_len, "TZif footer: the TZ string has no newline");
	/* Leap seconds (the right/ zones) are refused, not misread. */
	FRESH();
	put32(b + v2 + 28, 1);
	parse_fails(b, berlin_len, "leap seconds");
	/* Too big. */
	parse_fails(berlin, TZFILE_SIZE_MAX + 1, "over the limit");

	/* Its v1 part alone, version 0: 32-bit times, no footer. */
	FRESH();
	b[4] = 0;
	z = tzfile_parse(b, v2, err, sizeof err);
	ck_assert_msg(z != NULL, "%s", err);
	ck_assert(!z->has_rule);
	ck_assert_int_eq(tzfile_offset(z, iso("2026-03-29T01:00Z")), 7200);
	ck_assert_int_eq(tzfile_offset(z, iso("2026-12-01T00:00Z")), 3600);
	tzfile_free(z);
	/* An empty footer: after the last transition, its type. */
	FRESH();
	{
		size_t	 foot = berlin_len - 1;

		while (b[foot - 1] != '\n')
			foot--;
		b[foot] = '\n';
		z = tzfile_parse(b, foot + 1, err, sizeof err);
		ck_assert_msg(z != NULL, "%s", err);
		ck_assert(!z->has_rule);
		tzfile_free(z);
	}
	/* Every byte changed in turn: refused or taken, never a crash. */
	for (i = 0; i < berlin_len; i++) {
		FRESH();
		b[i] ^= 0xa5;
		z = tzfile_parse(b, berlin_len, err, sizeof err);
		if (z != NULL) {
			(void)tzfile_offset(z, iso("2026-03-29T01:00Z"));
			tzfile_free(z);
		}
	}
#undef FRESH
	free(b);
}
END_TEST

/* A TZif file made here: version 1, one type, no transitions (UTC). */
START_TEST(tzif_minimal)
{
	uint8_t		 b[44 + 6 + 4];
	struct tzfile	*z;
	char		 err[256];
	int64_t		 u[2];

	memset(b, 0, sizeof b);
	memcpy(b, "TZif", 4);
	put32(b + 36, 1);
	put32(b + 40, 4);
	put32(b + 44, (uint32_t)-18000);
	memcpy(b + 50, "EST", 4);
	z = tzfile_parse(b, sizeof b, err, sizeof err);
	ck_assert_msg(z != NULL, "%s", err);
	ck_assert_int_eq(tzfile_offset(z, 0), -18000);
	ck_assert_int_eq(tzfile_local(z, 0, u, NULL), 1);
	ck_assert(u[0] == 18000);
	tzfile_free(z);
	parse_fails(b, sizeof b - 1, "the header's counts need");
}
END_TEST

static Suite *
cron_suite(void)
{
	Suite	*s = suite_create("cron");
	TCase	*tc = tcase_create("cron");
	TCase	*tz = tcase_create("tzfile");

	tcase_add_loop_test(tc, next_fire, 0,
	    sizeof next_cases / sizeof next_cases[0]);
	tcase_add_test(tc, next_fire_chain);
	tcase_add_test(tc, next_bounds);
	tcase_add_test(tc, parse_fields);
	tcase_add_loop_test(tc, parse_bad, 0,
	    sizeof bad_cases / sizeof bad_cases[0]);
	tcase_add_test(tc, parse_limits);
	tcase_add_test(tc, every);
	suite_add_tcase(s, tc);
	tcase_add_unchecked_fixture(tz, berlin_read, berlin_free);
	tcase_add_test(tz, posix_rules);
	tcase_add_test(tz, local_times);
	tcase_add_test(tz, local_round_trip);
	tcase_add_test(tz, zone_files);
	tcase_add_test(tz, zone_names);
	tcase_add_test(tz, tzif_truncated);
	tcase_add_test(tz, tzif_corrupt);
	tcase_add_test(tz, tzif_minimal);
	tcase_set_timeout(tz, 60);
	suite_add_tcase(s, tz);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(cron_suite());
	int	 failed;

	if (!have_zoneinfo())
		printf("test_cron: %s/Europe/Berlin is absent: SKIPPED are the "
		    "cases on zone files (next_fire's second run of each zone "
		    "case, local_times' and local_round_trip's, zone_files, "
		    "zone_names' lookups, tzif_truncated, tzif_corrupt); the "
		    "POSIX-rule and UTC cases run\n", TZFILE_DIR);
	fflush(stdout);	/* before Check forks */
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
