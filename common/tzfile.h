/*
 * tzfile.h: a time zone from the system's tz database (TZif, RFC 8536,
 * versions 1 to 4) and its POSIX TZ footer, without TZ/tzset/localtime,
 * which are process-global: each schedule holds a zone of its own.
 * tzfile_parse is pure (bytes to struct, no I/O); tzfile_load reads one
 * file, bounded, and hands its bytes to it.
 */
#ifndef PS_TZFILE_H
#define PS_TZFILE_H

#include <stddef.h>
#include <stdint.h>

#ifndef TZFILE_DIR
#define TZFILE_DIR	"/usr/share/zoneinfo"
#endif
#define TZFILE_SIZE_MAX	(256 * 1024)	/* bytes of a TZif file */
#define TZFILE_NAME_MAX	255		/* bytes of a zone's name */
#define TZ_POSIX_MAX	255		/* bytes of a footer's TZ string */

/*
 * Instants are seconds since 1970-01-01 00:00 UTC, leap seconds not
 * counted; those outside TZ_T_MIN to TZ_T_MAX (about 2 billion years
 * either way) are clamped where a date is computed from them.
 */
#define TZ_T_MAX	((int64_t)1 << 56)
#define TZ_T_MIN	(-TZ_T_MAX)

/* One end of a POSIX rule's summer time: Jn, n or Mm.w.d, then /time. */
enum tz_when_kind {
	TZ_JULIAN1 = 1,		/* Jn: 1 to 365, February 29 never counted */
	TZ_JULIAN0,		/* n: 0 to 365, February 29 counted */
	TZ_MWD,			/* Mm.w.d: day d of week w (5: last) of m */
};

struct tz_when {
	int		 kind;
	int		 day;		/* Jn's or n's n; Mm.w.d's d, 0 Sunday */
	int		 week;		/* 1 to 5 */
	int		 month;		/* 1 to 12 */
	int32_t		 time;		/* s after local midnight, -167h..167h */
};

/* A POSIX TZ string such as "CET-1CEST,M3.5.0,M10.5.0/3", parsed. */
struct tz_posix {
	int32_t		 std_off;	/* s east of UTC (POSIX's sign flipped) */
	int32_t		 dst_off;
	int		 has_dst;
	struct tz_when	 start;		/* in standard time */
	struct tz_when	 end;		/* in summer time */
};

struct tzfile {
	char		 name[TZFILE_NAME_MAX + 1];
	size_t		 ntrans;
	int64_t		*trans;		/* strictly ascending */
	uint8_t		*idx;		/* each transition's type */
	size_t		 ntypes;	/* 1 to 256 */
	int32_t		*offs;		/* each type's s east of UTC */
	int		 has_rule;	/* after the last transition: rule */
	struct tz_posix	 rule;
	int32_t		 min_off;	/* of all types and the rule */
	int32_t		 max_off;
};

/*
 * tzfile_load: the zone name (such as "Europe/Berlin", at most 255 bytes
 * of [A-Za-z0-9_+-/], no "..", no leading "/") from dir (NULL:
 * TZFILE_DIR).  "UTC" is built in when its file is absent.
 * tzfile_parse: a TZif file's bytes; the v2+ 64-bit data and footer when
 * present.  tzfile_from_posix: a zone that is only a POSIX rule.
 * Each returns NULL with a message in err naming the zone or the field
 * at fault; tzfile_free frees what they return.
 */
struct tzfile	*tzfile_load(const char *, const char *, char *, size_t);
struct tzfile	*tzfile_parse(const void *, size_t, char *, size_t);
struct tzfile	*tzfile_from_posix(const char *, size_t, char *, size_t);
struct tzfile	*tzfile_utc(void);
void		 tzfile_free(struct tzfile *);
int		 tzfile_name_check(const char *, char *, size_t);

/* A NULL zone is UTC throughout. */
int32_t		 tzfile_offset(const struct tzfile *, int64_t);
/*
 * The UTC instants at which the local wall-clock time (seconds since
 * 1970-01-01 00:00 local, or y-m-d h:m) is shown, ascending, in utc[]:
 * returns 0 in a gap (then *gap_end, if not NULL, is the instant the gap
 * ends: the first instant after it), 1 normally, 2 in a fold (a
 * corrupt zone with more is cut to its first 2); tzfile_local_ymdhm
 * returns -1 for a date or time that is not one (February 30, 24:00).
 */
int		 tzfile_local(const struct tzfile *, int64_t, int64_t[2],
		     int64_t *);
int		 tzfile_local_ymdhm(const struct tzfile *, int, int, int, int,
		     int, int64_t[2], int64_t *);

int		 tz_posix_parse(struct tz_posix *, const char *, size_t,
		     char *, size_t);
int32_t		 tz_posix_offset(const struct tz_posix *, int64_t, int *);

/* The proleptic Gregorian calendar, on days since 1970-01-01. */
int64_t		 tz_days(int64_t, int, int);
void		 tz_civil(int64_t, int64_t *, int *, int *);
int		 tz_weekday(int64_t);
int		 tz_month_days(int64_t, int);

#endif
