/* opt.c: parse option values strictly; say which option and value are bad. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "opt.h"

static int
parse(const char *arg, const char **end, uint32_t min, uint32_t max,
    uint32_t *out)
{
	unsigned long long	 v;
	char			*ep;

	if (*arg < '0' || *arg > '9')
		return -1;
	errno = 0;
	v = strtoull(arg, &ep, 10);
	if (errno != 0 || ep == arg || v < min || v > max)
		return -1;
	*end = ep;
	*out = (uint32_t)v;
	return 0;
}

/* A whole number from min to max; -1 and nothing said if not. */
int
opt_parse_u64(const char *arg, uint64_t min, uint64_t max, uint64_t *out)
{
	unsigned long long	 v;
	char			*ep;

	errno = 0;
	v = strtoull(arg, &ep, 10);
	if (*arg < '0' || *arg > '9' || errno != 0 || *ep != '\0' ||
	    v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

/* A whole number from min to max, or -1 and a message naming option. */
int
opt_u64(const char *option, const char *arg, uint64_t min, uint64_t max,
    uint64_t *out)
{
	if (opt_parse_u64(arg, min, max, out) != 0) {
		log_errorx("%s: \"%s\" is not a whole number from %llu to "
		    "%llu", option, arg, (unsigned long long)min,
		    (unsigned long long)max);
		return -1;
	}
	return 0;
}

int
opt_u32(const char *option, const char *arg, uint32_t min, uint32_t max,
    uint32_t *out)
{
	uint64_t	 v;

	if (opt_u64(option, arg, min, max, &v) != 0)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

/* "A-B" or "A" (milliseconds), A <= B. */
int
opt_range(const char *option, const char *arg, uint32_t *lo, uint32_t *hi)
{
	const char	*end;

	if (parse(arg, &end, 0, 86400000, lo) != 0)
		goto bad;
	if (*end == '\0') {
		*hi = *lo;
		return 0;
	}
	if (*end != '-' || parse(end + 1, &end, *lo, 86400000, hi) != 0 ||
	    *end != '\0')
		goto bad;
	return 0;
bad:
	log_errorx("%s: \"%s\" is not a range MIN-MAX of milliseconds "
	    "(0 to 86400000, MIN <= MAX)", option, arg);
	return -1;
}

/* --log-level: set the log level by name, or -1 and a message. */
int
opt_log_level(const char *arg)
{
	int	 level;

	if ((level = log_level_parse(arg)) == -1) {
		log_errorx("--log-level: \"%s\" is not error, warning, info or "
		    "debug", arg);
		return -1;
	}
	log_set_level(level);
	return 0;
}

/* --log-format: text or json, or -1 and a message. */
int
opt_log_format(const char *arg)
{
	int	 f;

	if ((f = log_format_parse(arg)) == -1) {
		log_errorx("--log-format: \"%s\" is not text or json", arg);
		return -1;
	}
	log_set_format(f);
	return 0;
}

/*
 * Seconds, with up to three decimals ("30", "0.25"), as milliseconds from
 * 0 to max_ms; none_ok also takes "none" (as 0).  -1 and nothing said if
 * not.
 */
int
opt_parse_seconds(const char *arg, uint32_t max_ms, int none_ok,
    uint32_t *ms)
{
	const char	*end;
	uint32_t	 whole, frac = 0, scale = 100;

	if (none_ok && strcmp(arg, "none") == 0) {
		*ms = 0;
		return 0;
	}
	if (parse(arg, &end, 0, max_ms / 1000, &whole) != 0)
		goto bad;
	if (*end == '.') {
		for (end++; *end >= '0' && *end <= '9' && scale != 0; end++) {
			frac += (uint32_t)(*end - '0') * scale;
			scale /= 10;
		}
		if (end[-1] == '.')
			goto bad;
	}
	if (*end != '\0' || (uint64_t)whole * 1000 + frac > max_ms)
		goto bad;
	*ms = whole * 1000 + frac;
	return 0;
bad:
	return -1;
}

/*
 * A span of time: a number with up to three decimals and a unit, ms, s,
 * m, h or d (none: seconds), as "250ms", "30s", "1.5m", "2h"; from 0 to
 * max_ms, in ms.  -1 and nothing said if not.
 */
int
opt_parse_duration(const char *arg, uint64_t max_ms, uint64_t *ms)
{
	static const struct {
		const char	*unit;
		uint64_t	 ms;
	} units[] = { { "ms", 1 }, { "s", 1000 }, { "", 1000 },
	    { "m", 60000 }, { "h", 3600000 }, { "d", 86400000 } };
	const char	*end;
	uint64_t	 whole = 0, frac = 0, scale = 1000, v;
	size_t		 i;

	if (*arg < '0' || *arg > '9')
		return -1;
	for (end = arg; *end >= '0' && *end <= '9'; end++) {
		if (whole > UINT64_MAX / 10 / 86400000)
			return -1;
		whole = whole * 10 + (uint64_t)(*end - '0');
	}
	if (*end == '.') {
		for (end++; *end >= '0' && *end <= '9' && scale > 1; end++) {
			scale /= 10;
			frac += (uint64_t)(*end - '0') * scale;
		}
		if (end[-1] == '.' || (*end >= '0' && *end <= '9'))
			return -1;
	}
	for (i = 0; i < sizeof units / sizeof units[0]; i++) {
		if (strcmp(end, units[i].unit) != 0)
			continue;
		/* frac is in thousandths of the unit. */
		v = whole * units[i].ms + frac * units[i].ms / 1000;
		if (v > max_ms)
			return -1;
		*ms = v;
		return 0;
	}
	return -1;
}

int
opt_seconds(const char *option, const char *arg, uint32_t max_ms,
    int none_ok, uint32_t *ms)
{
	if (opt_parse_seconds(arg, max_ms, none_ok, ms) != 0) {
		log_errorx("%s: \"%s\" is not a number of seconds from 0 to "
		    "%u%s", option, arg, max_ms / 1000, none_ok ? ", or none" :
		    "");
		return -1;
	}
	return 0;
}

/* A file mode in octal, such as 0660. */
int
opt_mode(const char *option, const char *arg, unsigned int *mode)
{
	unsigned long	 v;
	char		*end;

	errno = 0;
	v = strtoul(arg, &end, 8);
	if (*arg < '0' || *arg > '7' || errno != 0 || *end != '\0' ||
	    v > 0777) {
		log_errorx("%s: \"%s\" is not an octal file mode such as 0660",
		    option, arg);
		return -1;
	}
	*mode = (unsigned int)v;
	return 0;
}
