/*
 * tzfile.c: the tz database's files read without the C library's
 * process-global TZ: the TZif transitions (RFC 8536) to the last one,
 * then the footer's POSIX TZ rule, computed year by year.  The local
 * time to UTC walk looks only at the offsets in effect within the
 * zone's widest offsets of the wall time, so it is bounded by the file.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tzfile.h"

/* RFC 8536 3.2: "utoff SHOULD be in the range -89999 to 93599". */
#define UTOFF_MIN	(-89999)
#define UTOFF_MAX	93599

static int64_t
fdiv(int64_t a, int64_t b)
{
	return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

static int64_t
clamp(int64_t t)
{
	return t < TZ_T_MIN ? TZ_T_MIN : t > TZ_T_MAX ? TZ_T_MAX : t;
}

/* Days since 1970-01-01 of y-m-d (H. Hinnant's days_from_civil). */
int64_t
tz_days(int64_t y, int m, int d)
{
	int64_t	 era, yoe, doy, doe;

	y -= m <= 2;
	era = fdiv(y, 400);
	yoe = y - era * 400;
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

void
tz_civil(int64_t z, int64_t *y, int *m, int *d)
{
	int64_t	 era, doe, yoe, doy, mp;

	z += 719468;
	era = fdiv(z, 146097);
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

/* 0 Sunday to 6 Saturday; 1970-01-01 was a Thursday. */
int
tz_weekday(int64_t days)
{
	return (int)((days % 7 + 11) % 7);
}

static int
leap(int64_t y)
{
	return y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
}

int
tz_month_days(int64_t y, int m)
{
	static const int	 n[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30,
	    31, 30, 31 };

	if (m < 1 || m > 12)
		return 0;
	return n[m - 1] + (m == 2 && leap(y));
}

/* ---- POSIX TZ strings ---- */

struct cur {
	const char	*p;
	const char	*end;
};

static int
peek(struct cur *c)
{
	return c->p < c->end ? (unsigned char)*c->p : -1;
}

/* A zone abbreviation: 3 or more letters, or <...> of [A-Za-z0-9+-]. */
static int
posix_name(struct cur *c)
{
	size_t	 n = 0;
	int	 ch;

	if (peek(c) == '<') {
		c->p++;
		while ((ch = peek(c)) != '>') {
			if (!isalpha(ch) && !isdigit(ch) && ch != '+' &&
			    ch != '-')
				return -1;
			c->p++;
			n++;
		}
		c->p++;
	} else {
		while (isalpha(peek(c))) {
			c->p++;
			n++;
		}
	}
	return n >= 3 ? 0 : -1;
}

/* An unsigned number of at most 3 digits: at most max. */
static int
posix_num(struct cur *c, int max, int *v)
{
	int	 n = 0;

	*v = 0;
	while (isdigit(peek(c)) && n < 4) {
		*v = *v * 10 + (*c->p++ - '0');
		n++;
	}
	return n == 0 || n > 3 || *v > max ? -1 : 0;
}

/* [+-]hh[:mm[:ss]], hh at most maxh: seconds, signed. */
static int
posix_hms(struct cur *c, int maxh, int32_t *v)
{
	int	 sign = 1, h, m = 0, s = 0;

	if (peek(c) == '+' || peek(c) == '-')
		sign = *c->p++ == '-' ? -1 : 1;
	if (posix_num(c, maxh, &h) == -1)
		return -1;
	if (peek(c) == ':') {
		c->p++;
		if (posix_num(c, 59, &m) == -1)
			return -1;
		if (peek(c) == ':') {
			c->p++;
			if (posix_num(c, 59, &s) == -1)
				return -1;
		}
	}
	*v = sign * (h * 3600 + m * 60 + s);
	return 0;
}

static int
posix_when(struct cur *c, struct tz_when *w)
{
	int	 v;

	memset(w, 0, sizeof *w);
	if (peek(c) == 'J') {
		c->p++;
		w->kind = TZ_JULIAN1;
		if (posix_num(c, 365, &w->day) == -1 || w->day < 1)
			return -1;
	} else if (peek(c) == 'M') {
		c->p++;
		w->kind = TZ_MWD;
		if (posix_num(c, 12, &w->month) == -1 || w->month < 1 ||
		    peek(c) != '.')
			return -1;
		c->p++;
		if (posix_num(c, 5, &w->week) == -1 || w->week < 1 ||
		    peek(c) != '.')
			return -1;
		c->p++;
		if (posix_num(c, 6, &v) == -1)
			return -1;
		w->day = v;
	} else {
		w->kind = TZ_JULIAN0;
		if (posix_num(c, 365, &w->day) == -1)
			return -1;
	}
	w->time = 2 * 3600;
	if (peek(c) == '/') {
		c->p++;
		/* RFC 8536 3.3.1: hours from -167 to 167. */
		if (posix_hms(c, 167, &w->time) == -1)
			return -1;
	}
	return 0;
}

int
tz_posix_parse(struct tz_posix *r, const char *s, size_t len, char *err,
    size_t errlen)
{
	struct cur	 c = { s, s + len };
	const char	*why;
	int32_t		 off;

	memset(r, 0, sizeof *r);
	why = "standard time's name";
	if (posix_name(&c) == -1)
		goto bad;
	why = "standard time's offset";
	if (posix_hms(&c, 24, &off) == -1)
		goto bad;
	r->std_off = r->dst_off = -off;
	if (peek(&c) == -1)
		return 0;
	r->has_dst = 1;
	why = "summer time's name";
	if (posix_name(&c) == -1)
		goto bad;
	r->dst_off = r->std_off + 3600;
	why = "summer time's offset";
	if (peek(&c) != ',' && peek(&c) != -1) {
		if (posix_hms(&c, 24, &off) == -1)
			goto bad;
		r->dst_off = -off;
	}
	if (peek(&c) == -1) {
		/* No rule: the default of tzcode and glibc, the US's. */
		r->start = (struct tz_when){ TZ_MWD, 0, 2, 3, 7200 };
		r->end = (struct tz_when){ TZ_MWD, 0, 1, 11, 7200 };
		return 0;
	}
	why = "summer time's start";
	if (peek(&c) != ',')
		goto bad;
	c.p++;
	if (posix_when(&c, &r->start) == -1)
		goto bad;
	why = "summer time's end";
	if (peek(&c) != ',')
		goto bad;
	c.p++;
	if (posix_when(&c, &r->end) == -1)
		goto bad;
	why = "text after the rule";
	if (peek(&c) != -1)
		goto bad;
	return 0;
bad:
	snprintf(err, errlen, "TZ string \"%.*s\": bad %s at offset %zu",
	    (int)(len > TZ_POSIX_MAX ? TZ_POSIX_MAX : len), s, why,
	    (size_t)(c.p - s));
	return -1;
}

/* The local day (days since 1970-01-01) on which w falls in year y. */
static int64_t
when_day(const struct tz_when *w, int64_t y)
{
	int64_t	 jan1 = tz_days(y, 1, 1), first;
	int	 d, mdays;

	switch (w->kind) {
	case TZ_JULIAN1:
		return jan1 + w->day - 1 + (leap(y) && w->day >= 60);
	case TZ_JULIAN0:
		return jan1 + w->day;
	default:
		first = tz_days(y, w->month, 1);
		mdays = tz_month_days(y, w->month);
		d = 1 + (w->day - tz_weekday(first) + 7) % 7 +
		    (w->week - 1) * 7;
		while (d > mdays)
			d -= 7;
		return first + d - 1;
	}
}

struct ptrans {
	int64_t	 at;
	int	 dst;		/* the state it starts */
};

/*
 * The rule's changes in the years around t's, sorted; at one instant an
 * end sorts before a start, so "0/0,J365/25" is summer time all year.
 * A change falls within 8 days of its year (times up to 167h), so years
 * y-3 to y+2 hold the last change at or before t whatever the rule: the
 * state at t is the same whichever t's list it is read from (a rule
 * whose summer time ends after the next one starts stays consistent).
 */
#define PT_YEARS	6
#define PT_N		(2 * PT_YEARS)

static void
posix_list(const struct tz_posix *r, int64_t t, struct ptrans l[PT_N])
{
	struct ptrans	 x;
	int64_t		 y, yy;
	int		 m, d, i, j;

	tz_civil(fdiv(clamp(t) + r->std_off, 86400), &y, &m, &d);
	for (i = 0; i < PT_YEARS; i++) {
		yy = y - 3 + i;
		l[2 * i].at = when_day(&r->start, yy) * 86400 +
		    r->start.time - r->std_off;
		l[2 * i].dst = 1;
		l[2 * i + 1].at = when_day(&r->end, yy) * 86400 +
		    r->end.time - r->dst_off;
		l[2 * i + 1].dst = 0;
	}
	for (i = 1; i < PT_N; i++) {
		x = l[i];
		for (j = i; j > 0 && (l[j - 1].at > x.at ||
		    (l[j - 1].at == x.at && l[j - 1].dst > x.dst)); j--)
			l[j] = l[j - 1];
		l[j] = x;
	}
}

static int
posix_state(const struct ptrans l[PT_N], int64_t t)
{
	int	 i, dst = !l[0].dst;

	for (i = 0; i < PT_N && l[i].at <= t; i++)
		dst = l[i].dst;
	return dst;
}

int32_t
tz_posix_offset(const struct tz_posix *r, int64_t t, int *isdst)
{
	struct ptrans	 l[PT_N];
	int		 dst = 0;

	if (r->has_dst) {
		posix_list(r, t, l);
		dst = posix_state(l, t);
	}
	if (isdst != NULL)
		*isdst = dst;
	return dst ? r->dst_off : r->std_off;
}

/* The first instant after t at which the rule's offset changes. */
static int64_t
posix_next(const struct tz_posix *r, int64_t t)
{
	struct ptrans	 l[PT_N];
	int		 i, cur, now;

	if (!r->has_dst || r->std_off == r->dst_off)
		return INT64_MAX;
	posix_list(r, t, l);
	cur = posix_state(l, t);
	for (i = 0; i < PT_N; i++) {
		if (l[i].at <= t)
			continue;
		now = l[i].dst;
		while (i + 1 < PT_N && l[i + 1].at == l[i].at)
			now = l[++i].dst;
		if (now != cur)
			return l[i].at;
	}
	return INT64_MAX;
}

/* ---- zones ---- */

static struct tzfile *
tz_alloc(size_t ntrans, size_t ntypes)
{
	struct tzfile	*z;

	if ((z = calloc(1, sizeof *z)) == NULL)
		return NULL;
	z->ntrans = ntrans;
	z->ntypes = ntypes;
	z->trans = malloc((ntrans ? ntrans : 1) * sizeof *z->trans);
	z->idx = malloc(ntrans ? ntrans : 1);
	z->offs = malloc((ntypes ? ntypes : 1) * sizeof *z->offs);
	if (z->trans == NULL || z->idx == NULL || z->offs == NULL) {
		tzfile_free(z);
		return NULL;
	}
	return z;
}

void
tzfile_free(struct tzfile *z)
{
	if (z == NULL)
		return;
	free(z->trans);
	free(z->idx);
	free(z->offs);
	free(z);
}

static void
tz_bounds(struct tzfile *z)
{
	size_t	 i;

	z->min_off = z->max_off = z->offs[0];
	for (i = 1; i < z->ntypes; i++) {
		if (z->offs[i] < z->min_off)
			z->min_off = z->offs[i];
		if (z->offs[i] > z->max_off)
			z->max_off = z->offs[i];
	}
	if (z->has_rule) {
		if (z->rule.std_off < z->min_off)
			z->min_off = z->rule.std_off;
		if (z->rule.dst_off < z->min_off)
			z->min_off = z->rule.dst_off;
		if (z->rule.std_off > z->max_off)
			z->max_off = z->rule.std_off;
		if (z->rule.dst_off > z->max_off)
			z->max_off = z->rule.dst_off;
	}
}

struct tzfile *
tzfile_utc(void)
{
	struct tzfile	*z;

	if ((z = tz_alloc(0, 1)) == NULL)
		return NULL;
	z->offs[0] = 0;
	tz_bounds(z);
	strcpy(z->name, "UTC");
	return z;
}

struct tzfile *
tzfile_from_posix(const char *s, size_t len, char *err, size_t errlen)
{
	struct tzfile	*z;
	struct tz_posix	 r;

	if (tz_posix_parse(&r, s, len, err, errlen) == -1)
		return NULL;
	if ((z = tz_alloc(0, 1)) == NULL) {
		snprintf(err, errlen, "TZ string: out of memory");
		return NULL;
	}
	z->offs[0] = r.std_off;
	z->has_rule = 1;
	z->rule = r;
	tz_bounds(z);
	snprintf(z->name, sizeof z->name, "%.*s",
	    (int)(len > TZ_POSIX_MAX ? TZ_POSIX_MAX : len), s);
	return z;
}

static uint32_t
be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

static int64_t
be64(const uint8_t *p)
{
	return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

struct hdr {
	int		 version;	/* 1 to 4 */
	uint32_t	 isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt;
	uint64_t	 datalen;	/* of the block after the header */
};

#define HDR_LEN	44

/*
 * A header at off and the length of the block after it.  The counts are
 * checked in full (strict) only for the block that will be read: a v2+
 * reader skips the v1 block, whatever it holds (RFC 8536 4).
 */
static int
tz_header(const uint8_t *b, size_t len, size_t off, int tsize, int strict,
    struct hdr *h, char *err, size_t errlen)
{
	const char	*which = tsize == 4 ? "v1" : "v2+";

	if (len - off < HDR_LEN) {
		snprintf(err, errlen, "TZif %s header: %zu bytes, not 44",
		    which, len - off);
		return -1;
	}
	b += off;
	if (memcmp(b, "TZif", 4) != 0) {
		snprintf(err, errlen, "TZif %s header: no magic \"TZif\"",
		    which);
		return -1;
	}
	if (b[4] == 0)
		h->version = 1;
	else if (b[4] >= '2' && b[4] <= '4')
		h->version = b[4] - '0';
	else {
		snprintf(err, errlen, "TZif %s header: version byte 0x%02x",
		    which, b[4]);
		return -1;
	}
	h->isutcnt = be32(b + 20);
	h->isstdcnt = be32(b + 24);
	h->leapcnt = be32(b + 28);
	h->timecnt = be32(b + 32);
	h->typecnt = be32(b + 36);
	h->charcnt = be32(b + 40);
	if (strict && (h->typecnt == 0 || h->typecnt > 256)) {
		snprintf(err, errlen, "TZif %s header: typecnt %u, not 1 to "
		    "256", which, h->typecnt);
		return -1;
	}
	if (strict && h->charcnt == 0) {
		snprintf(err, errlen, "TZif %s header: charcnt 0", which);
		return -1;
	}
	if (strict && ((h->isutcnt != 0 && h->isutcnt != h->typecnt) ||
	    (h->isstdcnt != 0 && h->isstdcnt != h->typecnt))) {
		snprintf(err, errlen, "TZif %s header: isutcnt %u and "
		    "isstdcnt %u must be 0 or typecnt %u", which, h->isutcnt,
		    h->isstdcnt, h->typecnt);
		return -1;
	}
	/* Each count is below 2^32 and each size at most 12: no overflow. */
	h->datalen = (uint64_t)h->timecnt * (uint64_t)(tsize + 1) +
	    (uint64_t)h->typecnt * 6 + h->charcnt +
	    (uint64_t)h->leapcnt * (uint64_t)(tsize + 4) + h->isstdcnt +
	    h->isutcnt;
	if (h->datalen > len - off - HDR_LEN) {
		snprintf(err, errlen, "TZif %s data: the header's counts need "
		    "%llu bytes, %zu left", which,
		    (unsigned long long)h->datalen, len - off - HDR_LEN);
		return -1;
	}
	return 0;
}

static struct tzfile *
tz_block(const uint8_t *b, const struct hdr *h, int tsize, char *err,
    size_t errlen)
{
	const char	*which = tsize == 4 ? "v1" : "v2+";
	const uint8_t	*types, *p;
	struct tzfile	*z;
	uint32_t	 i;
	int32_t		 off;

	if (h->leapcnt != 0) {
		snprintf(err, errlen, "TZif %s data: leapcnt %u: zones that "
		    "count leap seconds (right/) are not supported", which,
		    h->leapcnt);
		return NULL;
	}
	if ((z = tz_alloc(h->timecnt, h->typecnt)) == NULL) {
		snprintf(err, errlen, "TZif: out of memory");
		return NULL;
	}
	types = b + (size_t)h->timecnt * (size_t)(tsize + 1);
	for (i = 0; i < h->typecnt; i++) {
		p = types + (size_t)i * 6;
		off = (int32_t)be32(p);
		if (off < UTOFF_MIN || off > UTOFF_MAX) {
			snprintf(err, errlen, "TZif %s type %u: utoff %d is "
			    "out of range %d to %d", which, i, off, UTOFF_MIN,
			    UTOFF_MAX);
			goto fail;
		}
		if (p[4] > 1) {
			snprintf(err, errlen, "TZif %s type %u: isdst %u",
			    which, i, p[4]);
			goto fail;
		}
		if (p[5] >= h->charcnt) {
			snprintf(err, errlen, "TZif %s type %u: desigidx %u "
			    "past charcnt %u", which, i, p[5], h->charcnt);
			goto fail;
		}
		z->offs[i] = off;
	}
	for (i = 0; i < h->timecnt; i++) {
		p = b + (size_t)i * (size_t)tsize;
		z->trans[i] = tsize == 4 ? (int64_t)(int32_t)be32(p) :
		    be64(p);
		if (i > 0 && z->trans[i] <= z->trans[i - 1]) {
			snprintf(err, errlen, "TZif %s transition %u: not after "
			    "the one before", which, i);
			goto fail;
		}
		z->idx[i] = b[(size_t)h->timecnt * (size_t)tsize + i];
		if (z->idx[i] >= h->typecnt) {
			snprintf(err, errlen, "TZif %s transition %u: type %u "
			    "of %u", which, i, z->idx[i], h->typecnt);
			goto fail;
		}
	}
	return z;
fail:
	tzfile_free(z);
	return NULL;
}

struct tzfile *
tzfile_parse(const void *buf, size_t len, char *err, size_t errlen)
{
	const uint8_t	*b = buf;
	struct tzfile	*z;
	struct hdr	 h;
	const uint8_t	*nl;
	size_t		 off = 0, left;
	char		 e[200];

	if (len > TZFILE_SIZE_MAX) {
		snprintf(err, errlen, "TZif: %zu bytes, over the limit of %d",
		    len, TZFILE_SIZE_MAX);
		return NULL;
	}
	if (tz_header(b, len, 0, 4, len >= 5 && b[4] == 0, &h, err,
	    errlen) == -1)
		return NULL;
	if (h.version == 1) {
		if ((z = tz_block(b + HDR_LEN, &h, 4, err, errlen)) == NULL)
			return NULL;
		tz_bounds(z);
		return z;
	}
	off = HDR_LEN + (size_t)h.datalen;
	if (tz_header(b, len, off, 8, 1, &h, err, errlen) == -1)
		return NULL;
	if ((z = tz_block(b + off + HDR_LEN, &h, 8, err, errlen)) == NULL)
		return NULL;
	off += HDR_LEN + (size_t)h.datalen;
	left = len - off;
	if (left < 2 || b[off] != '\n') {
		snprintf(err, errlen, "TZif footer: no newline before the TZ "
		    "string");
		goto fail;
	}
	off++;
	left--;
	if ((nl = memchr(b + off, '\n', left > TZ_POSIX_MAX + 1 ?
	    TZ_POSIX_MAX + 1 : left)) == NULL) {
		snprintf(err, errlen, "TZif footer: the TZ string has no "
		    "newline within %d bytes", TZ_POSIX_MAX + 1);
		goto fail;
	}
	if (nl > b + off) {
		if (tz_posix_parse(&z->rule, (const char *)b + off,
		    (size_t)(nl - (b + off)), e, sizeof e) == -1) {
			snprintf(err, errlen, "TZif footer: %s", e);
			goto fail;
		}
		z->has_rule = 1;
	}
	tz_bounds(z);
	return z;
fail:
	tzfile_free(z);
	return NULL;
}

int
tzfile_name_check(const char *name, char *err, size_t errlen)
{
	size_t	 i, len = strlen(name);
	char	 ch;

	if (len == 0 || len > TZFILE_NAME_MAX) {
		snprintf(err, errlen, "zone name \"%.*s\": 1 to %d bytes",
		    TZFILE_NAME_MAX, name, TZFILE_NAME_MAX);
		return -1;
	}
	if (name[0] == '/' || strstr(name, "..") != NULL) {
		snprintf(err, errlen, "zone name \"%s\": no leading \"/\" and "
		    "no \"..\"", name);
		return -1;
	}
	for (i = 0; i < len; i++) {
		ch = name[i];
		if (!isalpha(ch) && !isdigit(ch) && ch != '_' && ch != '+' &&
		    ch != '-' && ch != '/') {
			snprintf(err, errlen, "zone name \"%s\": character %zu "
			    "is not one of A-Z a-z 0-9 _ + - /", name, i + 1);
			return -1;
		}
	}
	return 0;
}

struct tzfile *
tzfile_load(const char *dir, const char *name, char *err, size_t errlen)
{
	struct tzfile	*z = NULL;
	struct stat	 st;
	char		 path[PATH_MAX], e[256];
	uint8_t		*buf = NULL;
	size_t		 n = 0;
	ssize_t		 r;
	int		 fd;

	if (tzfile_name_check(name, err, errlen) == -1)
		return NULL;
	if (dir == NULL)
		dir = TZFILE_DIR;
	if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >=
	    sizeof path) {
		snprintf(err, errlen, "zone \"%s\": path too long", name);
		return NULL;
	}
	/* O_NONBLOCK: a FIFO put in the way must not hold the caller. */
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)) == -1) {
		if (errno == ENOENT && strcmp(name, "UTC") == 0)
			return tzfile_utc();
		snprintf(err, errlen, "zone \"%s\": %s: %s", name, path,
		    strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) == -1) {
		snprintf(err, errlen, "zone \"%s\": %s: %s", name, path,
		    strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "zone \"%s\": %s: not a regular file",
		    name, path);
		goto out;
	}
	if ((buf = malloc(TZFILE_SIZE_MAX + 1)) == NULL) {
		snprintf(err, errlen, "zone \"%s\": out of memory", name);
		goto out;
	}
	/* Read to the end, whatever fstat said: one byte over is too big. */
	while (n < TZFILE_SIZE_MAX + 1) {
		r = read(fd, buf + n, TZFILE_SIZE_MAX + 1 - n);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1) {
			snprintf(err, errlen, "zone \"%s\": %s: %s", name,
			    path, strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	if ((z = tzfile_parse(buf, n, e, sizeof e)) == NULL) {
		snprintf(err, errlen, "zone \"%s\": %s", name, e);
		goto out;
	}
	snprintf(z->name, sizeof z->name, "%s", name);
out:
	free(buf);
	close(fd);
	return z;
}

/* ---- instants and wall clocks ---- */

/* The last transition at or before t: -1 if none. */
static ssize_t
tz_find(const struct tzfile *z, int64_t t)
{
	size_t	 lo = 0, hi = z->ntrans, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (z->trans[mid] <= t)
			lo = mid + 1;
		else
			hi = mid;
	}
	return (ssize_t)lo - 1;
}

int32_t
tzfile_offset(const struct tzfile *z, int64_t t)
{
	ssize_t	 i;

	if (z == NULL)
		return 0;
	if (z->ntrans == 0)
		return z->has_rule ? tz_posix_offset(&z->rule, t, NULL) :
		    z->offs[0];
	if ((i = tz_find(z, t)) == -1)
		return z->offs[0];
	if ((size_t)i == z->ntrans - 1 && z->has_rule)
		return tz_posix_offset(&z->rule, t, NULL);
	return z->offs[z->idx[i]];
}

/* The first instant after t at which the offset may change. */
static int64_t
tz_next_change(const struct tzfile *z, int64_t t)
{
	ssize_t	 i;

	if (z->ntrans > 0) {
		i = tz_find(z, t);
		if ((size_t)(i + 1) < z->ntrans)
			return z->trans[i + 1];
	}
	return z->has_rule ? posix_next(&z->rule, t) : INT64_MAX;
}

/*
 * Each stretch of one offset o between the zone's widest offsets of the
 * wall time: L - o is an instant showing L if it lies in its stretch.
 * A stretch whose instant is past its end followed by one whose instant
 * is before its start is a gap, ending where the second starts.
 */
int
tzfile_local(const struct tzfile *z, int64_t local, int64_t utc[2],
    int64_t *gap_end)
{
	int64_t	 s, e, c, hi, prev = 0;
	int	 n = 0, first = 1, gap = 0;

	local = clamp(local);
	if (z == NULL) {
		utc[0] = local;
		return 1;
	}
	s = local - z->max_off;
	hi = local - z->min_off;
	for (;;) {
		c = local - tzfile_offset(z, s);
		e = tz_next_change(z, s);
		if (c >= s && c < e) {
			if (n < 2)
				utc[n++] = c;
		} else if (!first && !gap && prev >= s && c < s) {
			gap = 1;
			if (gap_end != NULL)
				*gap_end = s;
		}
		first = 0;
		prev = c;
		if (e > hi)
			break;
		s = e;
	}
	if (n == 0 && !gap && gap_end != NULL)
		*gap_end = hi + 1;	/* not for a zone that is consistent */
	return n;
}

int
tzfile_local_ymdhm(const struct tzfile *z, int y, int mon, int day, int h,
    int min, int64_t utc[2], int64_t *gap_end)
{
	if (mon < 1 || mon > 12 || day < 1 || day > tz_month_days(y, mon) ||
	    h < 0 || h > 23 || min < 0 || min > 59)
		return -1;
	return tzfile_local(z, tz_days(y, mon, day) * 86400 + h * 3600 +
	    min * 60, utc, gap_end);
}
