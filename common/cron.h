/*
 * cron.h: standard 5-field cron expressions (Vixie cron's syntax) and
 * --every durations, and the next instant a rule fires in a time zone
 * of tzfile.h.  Pure: no clock, no I/O; the caller gives the instant.
 */
#ifndef PS_CRON_H
#define PS_CRON_H

#include <stddef.h>
#include <stdint.h>

#include "tzfile.h"

#define CRON_LINE_MAX		1024		/* bytes of an expression */
/* How far cron_next looks: 8 years, past the longest wait for a
 * February 29 (2096 to 2104), so "0 0 30 2 *" ends in bounded work. */
#define CRON_SEARCH_DAYS	(8 * 366 + 1)
#define CRON_EVERY_MAX		((int64_t)3650 * 86400)	/* 3650d */
/* The instants cron_next takes: years 0001 to 9999, UTC. */
#define CRON_T_MIN		(-62135596800LL)
#define CRON_T_MAX		253402300799LL

/* The fields that start with "*" (Vixie cron's MIN_STAR and so on). */
#define CRON_MIN_STAR	0x01
#define CRON_HOUR_STAR	0x02
#define CRON_DOM_STAR	0x04
#define CRON_DOW_STAR	0x08

struct cron {
	uint64_t	 minute;	/* bit n: minute n, 0 to 59 */
	uint32_t	 hour;		/* 0 to 23 */
	uint32_t	 dom;		/* 1 to 31 */
	uint16_t	 month;		/* 1 to 12 */
	uint8_t		 dow;		/* 0 Sunday to 6 (7 is stored as 0) */
	int		 flags;		/* CRON_*_STAR */
};

/*
 * cron_parse: "minute hour day-of-month month day-of-week", fields
 * apart by spaces or tabs, each a list of "*", N or A-B, any of them
 * followed by "/S", a step of 1 to the field's largest value (N/S: N
 * to the field's last value, as cronie); month names JAN-DEC and day
 * names SUN-SAT in any case; day-of-week 7 is Sunday.  Or a macro, in
 * any case: @yearly (@annually), @monthly, @weekly, @daily (@midnight),
 * @hourly.  At most CRON_LINE_MAX bytes, not NUL-terminated.  0, or -1
 * and a message naming the field in err ("cron field 2 (hour): 24 is
 * out of range 0-23").
 *
 * The day: when day-of-month and day-of-week both are restricted
 * (neither starts with "*"), a day matches if either matches, as Vixie
 * cron does; else both must ("*" matches every day).
 *
 * cron_next: the first instant strictly after t at which the rule
 * fires in zone z (NULL: UTC), in *next: 1; 0 if it never fires within
 * CRON_SEARCH_DAYS, or if t is outside CRON_T_MIN to CRON_T_MAX.  The
 * rule is matched against local wall-clock minutes; where the zone's
 * offset changes:
 * - a wall time shown twice (a fold, summer time ending) fires once, at
 *   its first occurrence, whatever the rule;
 * - a wall time never shown (a gap, summer time starting) fires once at
 *   the first instant after the gap if the rule is fixed-time (neither
 *   its minute nor its hour field starts with "*", Vixie cron's test:
 *   "30 2 * * *" fires at 03:00 on the day Berlin skips 02:00-02:59;
 *   all the gap's matching minutes make that one firing); a rule whose
 *   minute or hour field starts with "*" (every 15 minutes, @hourly,
 *   "* 2 * * *") does not fire for minutes that do not exist.
 * (Vixie and ISC cron also run wildcard rules again in the repeated
 * hour of a fold; issue 35 asks for one firing, so this does not.)
 */
int	 cron_parse(struct cron *, const char *, size_t, char *, size_t);
int	 cron_next(const struct cron *, const struct tzfile *, int64_t,
	     int64_t *);

/*
 * cron_every: a duration such as "30s", "5m", "2h", "1d" or "1h30m"
 * (terms of digits and a unit s, m, h or d, added) in seconds, 1 to
 * CRON_EVERY_MAX: 0, or -1 and why in err.
 */
int	 cron_every(const char *, size_t, int64_t *, char *, size_t);

#endif
