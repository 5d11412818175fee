/* log.h: levelled logging to stderr, and fatal exits. */
#ifndef PS_LOG_H
#define PS_LOG_H

#include <stdnoreturn.h>

enum log_level {
	PS_LOG_ERROR = 0,
	PS_LOG_WARN,
	PS_LOG_INFO,
	PS_LOG_DEBUG,
};

void		 log_init(const char *, int);
int		 log_level_parse(const char *);
int		 log_enabled(int);
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
