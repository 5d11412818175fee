/*
 * procstat.h: one line of /proc/PID/stat read (procstat.c), no I/O, so a
 * unit test holds the field numbers still.
 */
#ifndef PROCSTAT_H
#define PROCSTAT_H

#include <stdint.h>

struct procstat {
	uint64_t	 minflt;	/* field 10: minor page faults */
	uint64_t	 majflt;	/* field 12 */
	uint64_t	 utime;		/* field 14: user time, clock ticks */
	uint64_t	 stime;		/* field 15: system time, clock ticks */
};

int	 procstat_parse(const char *, struct procstat *);

#endif
