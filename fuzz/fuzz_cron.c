/*
 * fuzz_cron.c: libFuzzer over what the schedules take from outside: any
 * bytes as a cron expression and an --every duration (common/cron.c),
 * as a TZif file and as a POSIX TZ string (common/tzfile.c), and the
 * next firing of what parsed in what parsed, from an instant the input
 * gives.  It checks what it can: a firing is after its instant, a wall
 * time maps to at most 2 instants, each showing that wall time.
 * The first byte says where the input splits; the next 8, the instant.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cron.h"
#include "tzfile.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cron	 c;
	struct tzfile	*z, *zp;
	struct tz_posix	 r;
	char		 err[256];
	int64_t		 t, next, every, u[2], gap;
	uint64_t	 raw = 0;
	size_t		 cut, i;
	int		 n, ok;

	if (size < 9)
		return 0;
	for (i = 1; i < 9; i++)
		raw = raw << 8 | data[i];
	t = (int64_t)raw;
	/* Mostly inside cron_next's years, sometimes anywhere. */
	if (data[0] & 1)
		t = CRON_T_MIN + (int64_t)(raw % (uint64_t)(CRON_T_MAX -
		    CRON_T_MIN + 1));
	cut = data[0] >> 1;
	data += 9;
	size -= 9;
	if (cut > size)
		cut = size;

	/* Not NUL-terminated: a read past the end is the sanitizer's. */
	ok = cron_parse(&c, (const char *)data, cut, err, sizeof err) == 0;
	if (!ok && memchr(err, '\0', sizeof err) == NULL)
		abort();
	if (cron_every((const char *)data, cut, &every, err, sizeof err) == 0 &&
	    (every <= 0 || every > CRON_EVERY_MAX))
		abort();

	z = tzfile_parse(data + cut, size - cut, err, sizeof err);
	zp = NULL;
	if (tz_posix_parse(&r, (const char *)data + cut, size - cut, err,
	    sizeof err) == 0) {
		(void)tz_posix_offset(&r, t, NULL);
		zp = tzfile_from_posix((const char *)data + cut, size - cut,
		    err, sizeof err);
	}
	if (z == NULL) {
		z = zp;
		zp = NULL;
	}
	if (z != NULL) {
		(void)tzfile_offset(z, t);
		n = tzfile_local(z, t, u, &gap);
		if (n < 0 || n > 2)
			abort();
		for (i = 0; i < (size_t)n; i++)
			if (u[i] + tzfile_offset(z, u[i]) != (t < TZ_T_MIN ?
			    TZ_T_MIN : t > TZ_T_MAX ? TZ_T_MAX : t))
				abort();
		if (n == 2 && u[0] >= u[1])
			abort();
	}
	if (ok) {
		if (cron_next(&c, z, t, &next) == 1 && next <= t)
			abort();
		if (cron_next(&c, NULL, t, &next) == 1 && next <= t)
			abort();
	}
	tzfile_free(z);
	tzfile_free(zp);
	return 0;
}
