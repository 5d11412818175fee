/* log.c: one line per message on stderr, prefixed with the program name. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

static const char	*prog = "pushstage";
static int		 level = PS_LOG_INFO;

static const char *names[] = { "error", "warning", "info", "debug" };

void
log_init(const char *name, int lvl)
{
	prog = name;
	level = lvl;
}

/* The level named by s, or -1. */
int
log_level_parse(const char *s)
{
	int	 i;

	for (i = 0; i <= PS_LOG_DEBUG; i++) {
		if (strcmp(s, names[i]) == 0)
			return i;
	}
	if (strcmp(s, "warn") == 0)
		return PS_LOG_WARN;
	return -1;
}

int
log_enabled(int lvl)
{
	return lvl <= level;
}

static void
vlog(int lvl, int err, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

static void
vlog(int lvl, int err, const char *fmt, va_list ap)
{
	char	 msg[1024];

	if (lvl > level)
		return;
	vsnprintf(msg, sizeof msg, fmt, ap);
	if (err != 0)
		fprintf(stderr, "%s: %s: %s: %s\n", prog, names[lvl], msg,
		    strerror(err));
	else
		fprintf(stderr, "%s: %s: %s\n", prog, names[lvl], msg);
}

void
log_errorx(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vlog(PS_LOG_ERROR, 0, fmt, ap);
	va_end(ap);
}

void
log_warn(const char *fmt, ...)
{
	va_list	 ap;
	int	 err = errno;

	va_start(ap, fmt);
	vlog(PS_LOG_WARN, err, fmt, ap);
	va_end(ap);
}

void
log_warnx(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vlog(PS_LOG_WARN, 0, fmt, ap);
	va_end(ap);
}

void
log_info(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vlog(PS_LOG_INFO, 0, fmt, ap);
	va_end(ap);
}

void
log_debug(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vlog(PS_LOG_DEBUG, 0, fmt, ap);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	va_list	 ap;
	int	 err = errno;

	va_start(ap, fmt);
	vlog(PS_LOG_ERROR, err, fmt, ap);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vlog(PS_LOG_ERROR, 0, fmt, ap);
	va_end(ap);
	exit(1);
}
