/*
 * procstat.c: the fields pushbench reads of /proc/PID/stat (proc(5)).  The
 * second field, the command in parentheses, may hold spaces and
 * parentheses of its own, so fields are counted from the last ')'.
 */
#include <stdlib.h>
#include <string.h>

#include "procstat.h"

/* 0, or -1 if line is not a stat line with fields up to 15. */
int
procstat_parse(const char *line, struct procstat *ps)
{
	const char		*p;
	char			*end;
	unsigned long long	 v[16];
	int			 field;

	memset(ps, 0, sizeof *ps);
	if ((p = strrchr(line, ')')) == NULL)
		return -1;
	p++;
	/* After ')': field 3 (state, one letter), then numbers. */
	while (*p == ' ')
		p++;
	if (*p == '\0' || p[1] != ' ')
		return -1;
	p += 2;
	for (field = 4; field <= 15; field++) {
		v[field] = strtoull(p, &end, 10);
		if (end == p)
			return -1;
		p = end;
	}
	ps->minflt = v[10];
	ps->majflt = v[12];
	ps->utime = v[14];
	ps->stime = v[15];
	return 0;
}
