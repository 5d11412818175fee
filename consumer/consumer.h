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

/* --result: what an event's ACK carries. */
enum result_mode {
	RESULT_NONE,		/* nothing: a plain ACK */
	RESULT_STDOUT,		/* the command's standard output */
};

struct work {
	const char	*id;
	const char	*exec;		/* --exec CMD, or NULL */
	const char	*queue;		/* PUSHSTAGE_QUEUE */
	const char	*group;		/* PUSHSTAGE_GROUP, or NULL */
	uint32_t	 min_ms;	/* --work-ms MIN-MAX */
	uint32_t	 max_ms;
	int		 sigfd;		/* read end of the signal pipe */
	int		 result;	/* enum result_mode */
	size_t		 result_max;	/* the queue's max-result */
	size_t		 error_max;	/* the longest error that goes whole */
};

/* work.c */
int	 signals_init(void);
int	 signals_take(int);
/*
 * What handling an event leaves to send: a failure's error (its exit
 * status, then the end of its stderr; for a task, docs/tasks.md's error
 * object), or with --result stdout the command's standard output.
 */
struct outcome {
	char		 error[PUSHSTAGE_ERROR_MAX];
	size_t		 error_len;
	char		 tail[PUSHSTAGE_ERROR_MAX];	/* stderr's end */
	size_t		 tail_len;
	char		*result;
	size_t		 result_len;	/* kept, at most result_max */
	size_t		 result_cap;
	size_t		 result_seen;	/* written, kept or not */
	int		 task;		/* the event has a task header */
};

int	 work_handle(const struct work *, const struct pushstage *,
	     const struct pushstage_event *, struct outcome *);
void	 work_fail(const struct work *, struct outcome *, const char *,
	     const char *);

#endif
