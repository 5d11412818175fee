/* consumer.h: what consumer's main loop and its work share. */
#ifndef PS_CONSUMER_H
#define PS_CONSUMER_H

#include <stdint.h>

#include "pushstage.h"

/* How handling an event ended. */
enum work_result {
	WORK_DONE,
	WORK_STOP,		/* SIGTERM or SIGINT came: exit */
	WORK_FAILED,		/* the command failed, or could not run */
	WORK_TEMPFAIL,		/* it exited 75: try again later */
};

struct work {
	const char	*id;
	const char	*exec;		/* --exec CMD, or NULL */
	uint32_t	 min_ms;	/* --work-ms MIN-MAX */
	uint32_t	 max_ms;
	int		 sigfd;		/* read end of the signal pipe */
};

/* work.c */
int	 signals_init(void);
int	 signals_take(int);
/* Why a command failed: its exit status, then the end of its stderr. */
struct failure {
	char		 text[PUSHSTAGE_ERROR_MAX];
	size_t		 len;
};

int	 work_handle(const struct work *, const struct pushstage *,
	     const struct pushstage_event *, struct failure *);

#endif
