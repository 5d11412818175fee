/*
 * tasks.h: a group's counts per task name (docs/tasks.md, "Per-task
 * counts"): the value of an event's `task` header, looked up when the
 * event is acked, failed, delivered again or dies, so that an event
 * without headers costs one test of its hlen and nothing more.  Bounded:
 * at most max names of their own (the queue's max-task-stats), the rest
 * in the row named "other".  Pure: no I/O, no clock.
 */
#ifndef PS_TASKS_H
#define PS_TASKS_H

#include <stddef.h>
#include <stdint.h>

#include "hist.h"

#define TASKS_DEFAULT	32	/* max-task-stats unless set */
#define TASKS_LIMIT	1024	/* ... and at most */
#define TASK_NAME_MAX	255	/* a name of a row of its own */
#define TASKS_OTHER	"other"
#define TASK_HEADER	"task"

/*
 * One task name's counts.  handled: delivery to ACK, ms, with its least
 * and largest so that a quantile of a bucket holding them all is exact.
 */
struct task_row {
	struct task_row	*next;		/* in the table's chain */
	uint64_t	 done;		/* acked */
	uint64_t	 failed;	/* nacked, timed out */
	uint64_t	 retried;	/* delivered again */
	uint64_t	 dead;
	struct hist	 handled;
	uint64_t	 hmin;
	uint64_t	 hmax;
	uint8_t		 nlen;
	char		 name[TASK_NAME_MAX + 1];
};

/* A group's rows: named ones in the order they came, then other. */
struct tasks {
	struct task_row	**rows;
	uint32_t	  n;
	uint32_t	  cap;
	struct task_row	**hash;		/* chain.h, by name */
	uint64_t	  mask;
	struct task_row	 *other;	/* NULL until needed */
	struct task_row	 *last;		/* the last found: runs of a task */
};

void		 tasks_free(struct tasks *);
struct task_row	*tasks_row(struct tasks *, const uint8_t *, uint16_t,
		     uint32_t);
uint32_t	 tasks_count(const struct tasks *);
const struct task_row *tasks_at(const struct tasks *, uint32_t);
uint64_t	 tasks_quantile(const struct task_row *, unsigned int);

static inline void
tasks_handled(struct task_row *r, uint64_t ms)
{
	if (r->handled.count == 0 || ms < r->hmin)
		r->hmin = ms;
	if (ms > r->hmax)
		r->hmax = ms;
	hist_add(&r->handled, ms);
}

#endif
