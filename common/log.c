/*
 * log.c: one line per message, made in a buffer and written with one
 * write(2), so lines from several processes appending to one file do not
 * interleave.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fdio.h"
#include "log.h"

#define LINE_MAX_BYTES	4096

static const char	*prog = "pushstage";
static int		 level = PS_LOG_INFO;
static int		 format = PS_LOG_PLAIN;
static int		 fd = STDERR_FILENO;
static const char	*file;		/* --log-file, or NULL: stderr */

/*
 * A line the same as the last (a flood of one failure) is not written
 * again within REPEAT_SECONDS of the last written: it is counted, and the
 * next line written first says how many there were.
 */
#define REPEAT_SECONDS	1
static char		 last_msg[2048];
static int		 last_lvl = -1;
static time_t		 last_at;
static uint64_t		 repeats;

static const char *names[] = { "error", "warning", "info", "debug" };
static const char *formats[] = { "plain", "text", "json" };

void
log_init(const char *name, int lvl)
{
	prog = name;
	level = lvl;
	(void)atexit(log_flush);	/* what a flood left unsaid */
}

void
log_set_level(int lvl)
{
	level = lvl;
}

void
log_set_format(int f)
{
	format = f;
}

/* The format named by s, or -1; "plain" is the tools', not offered. */
int
log_format_parse(const char *s)
{
	int	 i;

	for (i = PS_LOG_TEXT; i <= PS_LOG_JSON; i++) {
		if (strcmp(s, formats[i]) == 0)
			return i;
	}
	return -1;
}

static int
open_file(const char *path)
{
	return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
}

/* Log to path from now on; -1 and errno if it cannot be opened. */
int
log_open(const char *path)
{
	int	 nfd;

	if ((nfd = open_file(path)) == -1)
		return -1;
	if (fd != STDERR_FILENO)
		close(fd);
	fd = nfd;
	file = path;
	return 0;
}

/*
 * Open the log file again, by name: after logrotate moved it, lines go
 * to a new file.  If that fails the old one is kept, and the failure is
 * the first line written to it.
 */
int
log_reopen(void)
{
	int	 nfd;

	if (file == NULL)
		return 0;
	if ((nfd = open_file(file)) == -1) {
		log_warn("cannot reopen log file %s; still writing to the "
		    "old one", file);
		return -1;
	}
	close(fd);
	fd = nfd;
	log_info("log file %s reopened", file);
	return 0;
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

/* 1: log now (then clear held once logged); 0: counted in held. */
int
log_throttle(struct log_throttle *t, time_t now)
{
	if (now == t->last) {
		t->held++;
		return 0;
	}
	t->last = now;
	return 1;
}

/* Append s to b (at *n, of LINE_MAX_BYTES), escaped for a quoted value. */
static void
put_quoted(char *b, size_t *n, const char *s, int json)
{
	static const char	 hex[] = "0123456789abcdef";
	unsigned char		 ch;
	char			 e[7];
	size_t			 len;

	for (; *s != '\0'; s++) {
		ch = (unsigned char)*s;
		len = 0;
		if (ch == '"' || ch == '\\') {
			e[len++] = '\\';
			e[len++] = (char)ch;
		} else if (ch == '\n') {
			e[len++] = '\\';
			e[len++] = 'n';
		} else if (ch == '\t') {
			e[len++] = '\\';
			e[len++] = 't';
		} else if (ch < 0x20 || ch == 0x7f) {
			e[len++] = '\\';
			if (json) {
				memcpy(e + len, "u00", 3);
				len += 3;
			} else
				e[len++] = 'x';
			e[len++] = hex[ch >> 4];
			e[len++] = hex[ch & 15];
		} else
			e[len++] = (char)ch;
		/* Keep room for the closing quote, brace and newline. */
		if (*n + len + 3 > LINE_MAX_BYTES)
			return;
		memcpy(b + *n, e, len);
		*n += len;
	}
}

/* One line of msg at level lvl, formatted, in one write. */
static void
emit(int lvl, const char *msg)
{
	struct timespec	 ts;
	struct tm	 tm;
	char		 stamp[40], line[LINE_MAX_BYTES];
	size_t		 n = 0, len;
	int		 r;

	if (format == PS_LOG_PLAIN) {
		if ((r = snprintf(line, sizeof line, "%s: %s: %s\n", prog,
		    names[lvl], msg)) <= 0)
			return;
		n = (size_t)r < sizeof line ? (size_t)r : sizeof line - 1;
		line[n - 1] = '\n';	/* a line cut short still ends */
	} else {
		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		len = strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
		snprintf(stamp + len, sizeof stamp - len, ".%03ldZ",
		    ts.tv_nsec / 1000000);
		if (format == PS_LOG_JSON)
			r = snprintf(line, sizeof line, "{\"time\":\"%s\","
			    "\"level\":\"%s\",\"prog\":\"%s\",\"pid\":%ld,"
			    "\"msg\":\"", stamp, names[lvl], prog,
			    (long)getpid());
		else
			r = snprintf(line, sizeof line, "time=%s level=%s "
			    "prog=%s pid=%ld msg=\"", stamp, names[lvl], prog,
			    (long)getpid());
		n = r < 0 ? 0 : (size_t)r;
		put_quoted(line, &n, msg, format == PS_LOG_JSON);
		line[n++] = '"';
		if (format == PS_LOG_JSON)
			line[n++] = '}';
		line[n++] = '\n';
	}
	/* One write, whole; a failure has nowhere to be told. */
	(void)write_all(fd, line, n);
}

/* How often the last line came again, if it did, said now. */
void
log_flush(void)
{
	char	 said[96];

	if (repeats == 0)
		return;
	snprintf(said, sizeof said, "the line before came %llu more time%s",
	    (unsigned long long)repeats, repeats > 1 ? "s" : "");
	repeats = 0;
	emit(last_lvl, said);
}

/* Has a line come again, not yet said (log_flush)? */
int
log_held(void)
{
	return repeats != 0;
}

static void
vlog(int lvl, int err, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

static void
vlog(int lvl, int err, const char *fmt, va_list ap)
{
	struct timespec	 ts;
	char		 msg[sizeof last_msg];
	int		 r;

	if (lvl > level)
		return;
	r = vsnprintf(msg, sizeof msg, fmt, ap);
	if (err != 0 && r >= 0 && (size_t)r < sizeof msg)
		snprintf(msg + r, sizeof msg - (size_t)r, ": %s",
		    strerror(err));
	clock_gettime(CLOCK_MONOTONIC, &ts);
	if (lvl == last_lvl && ts.tv_sec - last_at < REPEAT_SECONDS &&
	    strcmp(msg, last_msg) == 0) {
		repeats++;
		return;
	}
	log_flush();
	memcpy(last_msg, msg, strlen(msg) + 1);
	last_lvl = lvl;
	last_at = ts.tv_sec;
	emit(lvl, msg);
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
