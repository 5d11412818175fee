/*
 * log.h: levelled logging, one line per message written whole, and fatal
 * exits.  Daemons log key=value (text) or JSON lines, to stderr or to a
 * --log-file that log_reopen opens again (SIGHUP, after rotation); the
 * command-line tools log plain "prog: level: message" lines.
 */
#ifndef PS_LOG_H
#define PS_LOG_H

#include <stdint.h>
#include <stdnoreturn.h>
#include <time.h>

enum log_level {
	PS_LOG_ERROR = 0,
	PS_LOG_WARN,
	PS_LOG_INFO,
	PS_LOG_DEBUG,
};

enum log_format {
	PS_LOG_PLAIN = 0,	/* prog: level: message */
	PS_LOG_TEXT,		/* time=... level=... prog=... msg="..." */
	PS_LOG_JSON,		/* {"time":...,"msg":"..."} */
};

void		 log_init(const char *, int);
void		 log_set_level(int);
void		 log_set_format(int);
int		 log_level_parse(const char *);
int		 log_format_parse(const char *);
int		 log_open(const char *);
int		 log_reopen(void);

/*
 * At most one line a second about something that can happen in floods:
 * log_throttle says whether to log now; held counts those not logged
 * since, for the line to mention.
 */
struct log_throttle {
	time_t		 last;
	uint64_t	 held;
};
int		 log_throttle(struct log_throttle *, time_t);
void		 log_flush(void);
int		 log_held(void);
void		 log_errorx(const char *, ...)
		     __attribute__((format(printf, 1, 2)));
void		 log_warn(const char *, ...)
		     __attribute__((format(printf, 1, 2)));
void		 log_warnx(const char *, ...)
		     __attribute__((format(printf, 1, 2)));
void		 log_info(const char *, ...)
		     __attribute__((format(printf, 1, 2)));
void		 log_debug(const char *, ...)
		     __attribute__((format(printf, 1, 2)));
noreturn void	 fatal(const char *, ...)
		     __attribute__((format(printf, 1, 2)));
noreturn void	 fatalx(const char *, ...)
		     __attribute__((format(printf, 1, 2)));

#endif
