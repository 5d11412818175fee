/* when.c: times as pushctl shows them: ISO 8601, UTC. */
#include <stdio.h>
#include <time.h>

#include "pushctl.h"

/*
 * ms since 1970 into buf as 2026-12-08T06:00:00Z, with .mmm when ms says
 * so or the time has some; "-" for 0 (none) or a time gmtime cannot show.
 */
const char *
iso_time(int ms, uint64_t t, char *buf, size_t len)
{
	struct tm	 tm;
	time_t		 sec = (time_t)(t / 1000);
	char		 s[32];

	if (t == 0 || gmtime_r(&sec, &tm) == NULL ||
	    strftime(s, sizeof s, "%Y-%m-%dT%H:%M:%S", &tm) == 0)
		return "-";
	if (!ms && t % 1000 == 0)
		snprintf(buf, len, "%sZ", s);
	else
		snprintf(buf, len, "%s.%03uZ", s, (unsigned)(t % 1000));
	return buf;
}
