/*
 * cron.c: cron expressions as Vixie cron reads them, and when they next
 * fire.  The search walks local days, then the rule's hours and minutes
 * of a matching day, asking tzfile.c which instants show each: at most
 * CRON_SEARCH_DAYS days, so a rule that never matches ends.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "cron.h"

struct field {
	const char		*name;
	int			 min;
	int			 max;
	const char *const	*names;		/* names[i] is min + i */
};

static const char *const months[] = { "jan", "feb", "mar", "apr", "may",
    "jun", "jul", "aug", "sep", "oct", "nov", "dec", NULL };
static const char *const days[] = { "sun", "mon", "tue", "wed", "thu",
    "fri", "sat", NULL };

static const struct field fields[5] = {
	{ "minute", 0, 59, NULL },
	{ "hour", 0, 23, NULL },
	{ "day-of-month", 1, 31, NULL },
	{ "month", 1, 12, months },
	{ "day-of-week", 0, 7, days },
};

static const struct {
	const char	*name;
	const char	*rule;
} macros[] = {
	{ "@yearly", "0 0 1 1 *" },
	{ "@annually", "0 0 1 1 *" },
	{ "@monthly", "0 0 1 * *" },
	{ "@weekly", "0 0 * * 0" },
	{ "@daily", "0 0 * * *" },
	{ "@midnight", "0 0 * * *" },
	{ "@hourly", "0 * * * *" },
};

/* A number or (where the field has them) a name at s[*i]: 0 or -1. */
static int
value(int fn, const char *s, size_t len, size_t *i, int *v, char *err,
    size_t errlen)
{
	const struct field	*f = &fields[fn];
	size_t			 start = *i, k;
	int			 n;

	if (*i < len && isdigit((unsigned char)s[*i])) {
		for (n = 0; *i < len && isdigit((unsigned char)s[*i]); (*i)++)
			if (n <= 9999)
				n = n * 10 + (s[*i] - '0');
		if (n < f->min || n > f->max) {
			snprintf(err, errlen, "cron field %d (%s): %.*s is out of "
			    "range %d-%d", fn + 1, f->name,
			    (int)(*i - start > 20 ? 20 : *i - start), s + start,
			    f->min, f->max);
			return -1;
		}
		*v = n;
		return 0;
	}
	while (*i < len && isalpha((unsigned char)s[*i]))
		(*i)++;
	if (*i == start) {
		if (*i < len)
			snprintf(err, errlen, "cron field %d (%s): unexpected "
			    "\"%c\"", fn + 1, f->name, s[*i]);
		else
			snprintf(err, errlen, "cron field %d (%s): a number "
			    "is missing at the end", fn + 1, f->name);
		return -1;
	}
	for (k = 0; f->names != NULL && f->names[k] != NULL; k++) {
		if (*i - start == 3 &&
		    tolower((unsigned char)s[start]) == f->names[k][0] &&
		    tolower((unsigned char)s[start + 1]) == f->names[k][1] &&
		    tolower((unsigned char)s[start + 2]) == f->names[k][2]) {
			*v = f->min + (int)k;
			return 0;
		}
	}
	snprintf(err, errlen, "cron field %d (%s): unknown name \"%.*s\"",
	    fn + 1, f->name, (int)(*i - start > 20 ? 20 : *i - start),
	    s + start);
	return -1;
}

/* One field's text: its bits in *bits, and whether it starts with "*". */
static int
field(int fn, const char *s, size_t len, uint64_t *bits, int *star,
    char *err, size_t errlen)
{
	const struct field	*f = &fields[fn];
	size_t			 i = 0;
	int			 lo, hi, step, v;

	*bits = 0;
	*star = len > 0 && s[0] == '*';
	for (;;) {
		if (i == len || s[i] == ',') {
			snprintf(err, errlen, "cron field %d (%s): empty field",
			    fn + 1, f->name);
			return -1;
		}
		if (s[i] == '*') {
			i++;
			lo = f->min;
			hi = f->max;
		} else {
			if (value(fn, s, len, &i, &lo, err, errlen) == -1)
				return -1;
			hi = lo;
			if (i < len && s[i] == '-') {
				i++;
				if (value(fn, s, len, &i, &hi, err, errlen) ==
				    -1)
					return -1;
				if (hi < lo) {
					snprintf(err, errlen, "cron field %d "
					    "(%s): range %d-%d is backwards",
					    fn + 1, f->name, lo, hi);
					return -1;
				}
			} else if (i < len && s[i] == '/')
				hi = f->max;
		}
		step = 1;
		if (i < len && s[i] == '/') {
			i++;
			if (i == len || !isdigit((unsigned char)s[i])) {
				snprintf(err, errlen, "cron field %d (%s): a "
				    "step is a number", fn + 1, f->name);
				return -1;
			}
			for (step = 0; i < len && isdigit((unsigned char)s[i]);
			    i++)
				if (step <= 9999)
					step = step * 10 + (s[i] - '0');
			if (step == 0) {
				snprintf(err, errlen, "cron field %d (%s): step "
				    "0", fn + 1, f->name);
				return -1;
			}
			if (step > f->max) {
				snprintf(err, errlen, "cron field %d (%s): step "
				    "%d is out of range 1-%d", fn + 1, f->name,
				    step, f->max);
				return -1;
			}
		}
		for (v = lo; v <= hi; v += step)
			*bits |= (uint64_t)1 << v;
		if (i == len)
			return 0;
		if (s[i] != ',') {
			snprintf(err, errlen, "cron field %d (%s): unexpected "
			    "\"%c\"", fn + 1, f->name, s[i]);
			return -1;
		}
		i++;
	}
}

int
cron_parse(struct cron *c, const char *s, size_t len, char *err,
    size_t errlen)
{
	const char	*f[5];
	size_t		 flen[5], i, n, k;
	uint64_t	 bits[5];
	int		 star[5];

	memset(c, 0, sizeof *c);
	if (len > CRON_LINE_MAX) {
		snprintf(err, errlen, "cron: %zu bytes, over the limit of %d",
		    len, CRON_LINE_MAX);
		return -1;
	}
	while (len > 0 && isblank((unsigned char)*s)) {
		s++;
		len--;
	}
	while (len > 0 && isblank((unsigned char)s[len - 1]))
		len--;
	if (len == 0) {
		snprintf(err, errlen, "cron: empty expression");
		return -1;
	}
	if (s[0] == '@') {
		for (k = 0; k < sizeof macros / sizeof macros[0]; k++) {
			if (strlen(macros[k].name) != len)
				continue;
			for (i = 0; i < len &&
			    tolower((unsigned char)s[i]) == macros[k].name[i]; i++)
				;
			if (i == len)
				return cron_parse(c, macros[k].rule,
				    strlen(macros[k].rule), err, errlen);
		}
		snprintf(err, errlen, "cron: unknown macro \"%.*s\" (@yearly, "
		    "@annually, @monthly, @weekly, @daily, @midnight, "
		    "@hourly)", (int)(len > 20 ? 20 : len), s);
		return -1;
	}
	for (i = 0, n = 0; i < len; ) {
		if (n == 5) {
			snprintf(err, errlen, "cron: more than 5 fields "
			    "(minute hour day-of-month month day-of-week)");
			return -1;
		}
		f[n] = s + i;
		while (i < len && !isblank((unsigned char)s[i]))
			i++;
		flen[n] = (size_t)(s + i - f[n]);
		n++;
		while (i < len && isblank((unsigned char)s[i]))
			i++;
	}
	if (n != 5) {
		snprintf(err, errlen, "cron: %zu field%s, not 5 (minute hour "
		    "day-of-month month day-of-week)", n, n == 1 ? "" : "s");
		return -1;
	}
	for (k = 0; k < 5; k++)
		if (field((int)k, f[k], flen[k], &bits[k], &star[k], err,
		    errlen) == -1)
			return -1;
	c->minute = bits[0];
	c->hour = (uint32_t)bits[1];
	c->dom = (uint32_t)bits[2];
	c->month = (uint16_t)bits[3];
	c->dow = (uint8_t)((bits[4] | bits[4] >> 7) & 0x7f);
	c->flags = (star[0] ? CRON_MIN_STAR : 0) |
	    (star[1] ? CRON_HOUR_STAR : 0) | (star[2] ? CRON_DOM_STAR : 0) |
	    (star[4] ? CRON_DOW_STAR : 0);
	return 0;
}

/* Does the rule's day part (month, day of month, day of week) match? */
static int
day_match(const struct cron *c, int64_t y, int m, int d)
{
	int	 dom, dow;

	if (m < 1 || m > 12 || !(c->month >> m & 1))
		return 0;
	dom = c->dom >> d & 1;
	dow = c->dow >> tz_weekday(tz_days(y, m, d)) & 1;
	if (c->flags & (CRON_DOM_STAR | CRON_DOW_STAR))
		return dom && dow;
	return dom || dow;
}

static int64_t
fdiv(int64_t a, int64_t b)
{
	return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

int
cron_next(const struct cron *c, const struct tzfile *z, int64_t t,
    int64_t *next)
{
	int64_t	 local, day, day0, y, u[2], gap, f;
	int	 m, d, h, mi, from, fixed, n;

	if (t < CRON_T_MIN || t > CRON_T_MAX)
		return 0;
	fixed = !(c->flags & (CRON_MIN_STAR | CRON_HOUR_STAR));
	/*
	 * Start at t's own wall-clock minute: every earlier wall time fires
	 * at or before t (first occurrences, gaps' ends), so none is missed.
	 */
	local = t + tzfile_offset(z, t);
	day0 = fdiv(local, 86400);
	from = (int)((local - day0 * 86400) / 60);
	for (day = day0; day <= day0 + CRON_SEARCH_DAYS; day++) {
		tz_civil(day, &y, &m, &d);
		if (!day_match(c, y, m, d))
			continue;
		for (h = 0; h < 24; h++) {
			if (!(c->hour >> h & 1) ||
			    (day == day0 && h * 60 + 59 < from))
				continue;
			for (mi = 0; mi < 60; mi++) {
				if (!(c->minute >> mi & 1) ||
				    (day == day0 && h * 60 + mi < from))
					continue;
				n = tzfile_local(z, day * 86400 + h * 3600 +
				    mi * 60, u, &gap);
				if (n > 0)
					f = u[0];
				else if (fixed)
					f = gap;
				else
					continue;
				if (f > t) {
					*next = f;
					return 1;
				}
			}
		}
	}
	return 0;
}

int
cron_every(const char *s, size_t len, int64_t *secs, char *err,
    size_t errlen)
{
	int64_t	 total = 0, v, unit;
	size_t	 i = 0, start;
	int	 pl = (int)(len > 40 ? 40 : len);

	*secs = 0;
	if (len == 0) {
		snprintf(err, errlen, "every: empty duration (30s, 5m, 2h, 1d, "
		    "1h30m)");
		return -1;
	}
	while (i < len) {
		start = i;
		for (v = 0; i < len && isdigit((unsigned char)s[i]); i++) {
			v = v * 10 + (s[i] - '0');
			if (v > CRON_EVERY_MAX)
				goto long_;
		}
		if (i == start) {
			snprintf(err, errlen, "every \"%.*s\": a number must "
			    "come before each unit", pl, s);
			return -1;
		}
		if (i == len) {
			snprintf(err, errlen, "every \"%.*s\": a number needs "
			    "a unit: s, m, h or d", pl, s);
			return -1;
		}
		switch (s[i++]) {
		case 's': unit = 1; break;
		case 'm': unit = 60; break;
		case 'h': unit = 3600; break;
		case 'd': unit = 86400; break;
		default:
			snprintf(err, errlen, "every \"%.*s\": unknown unit "
			    "\"%c\" (s, m, h or d)", pl, s, s[i - 1]);
			return -1;
		}
		if (v > (CRON_EVERY_MAX - total) / unit)
			goto long_;
		total += v * unit;
	}
	if (total == 0) {
		snprintf(err, errlen, "every \"%.*s\": a duration of 0", pl, s);
		return -1;
	}
	*secs = total;
	return 0;
long_:
	snprintf(err, errlen, "every \"%.*s\": longer than %lldd", pl, s,
	    (long long)(CRON_EVERY_MAX / 86400));
	return -1;
}
