/* opt.c: parse option values strictly; say which option and value are bad. */
#include <errno.h>
#include <stdlib.h>

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

/* A whole number from min to max, or -1 and a message naming option. */
int
opt_u32(const char *option, const char *arg, uint32_t min, uint32_t max,
    uint32_t *out)
{
	const char	*end;

	if (parse(arg, &end, min, max, out) != 0 || *end != '\0') {
		log_errorx("%s: \"%s\" is not a whole number from %u to %u",
		    option, arg, min, max);
		return -1;
	}
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

/* --log-level: set prog's log level by name, or -1 and a message. */
int
opt_log_level(const char *prog, const char *arg)
{
	int	 level;

	if ((level = log_level_parse(arg)) == -1) {
		log_errorx("--log-level: \"%s\" is not error, warning, info or "
		    "debug", arg);
		return -1;
	}
	log_init(prog, level);
	return 0;
}
