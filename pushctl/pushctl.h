/* pushctl.h: the verbs of pushctl and the exit statuses they share. */
#ifndef PS_PUSHCTL_H
#define PS_PUSHCTL_H

#include <stddef.h>
#include <stdint.h>

#include "pushstage.h"
#include "task.h"

#define EXIT_USAGE		1	/* bad arguments or a protocol error */
#define EXIT_UNAVAILABLE	69	/* no daemon answers (EX_UNAVAILABLE) */
#define EXIT_TEMPFAIL		75	/* queue full: try later (EX_TEMPFAIL) */

struct pushstage;
struct pushstage_stats;

/* -q NAME, before the verb or among its options: the queue, or NULL. */
extern const char	*ctl_queue;

int	 name_ok(const char *, size_t);
int	 queue_option(const char *);
int	 uid_option(const char *);
int	 ctl_stats(struct pushstage *, const struct pushstage_stats **);
int	 exit_status(int);
int	 client_fail(struct pushstage *, int);
int	 client_connect(const char *, struct pushstage **);
int	 json_option(const char *, int, char **, int *);
int	 stats_fetch(const char *, struct pushstage **,
	     const struct pushstage_stats **);

/* enqueue.c */
int	 cmd_enqueue(const char *, int, char **);

/*
 * event.c: an event's options, for enqueue and schedule add.  A verb
 * puts EVENT_LONGOPTS in its getopt_long table and hands each option to
 * event_option.
 */
enum { OPT_TASK = 256, OPT_ARGS, OPT_KWARGS, OPT_VERB };	/* OPT_VERB on:
								   a verb's */
#define EVENT_LONGOPTS							\
	{ "key",	required_argument,	NULL, 'k' },		\
	{ "priority",	required_argument,	NULL, 'P' },		\
	{ "header",	required_argument,	NULL, 'H' },		\
	{ "task",	required_argument,	NULL, OPT_TASK },	\
	{ "args",	required_argument,	NULL, OPT_ARGS },	\
	{ "kwargs",	required_argument,	NULL, OPT_KWARGS }
struct event_opts {
	struct pushstage_attrs	 a;	/* --key, --priority; enqueue's
					   --delay, --at, --unique-id */
	int			 attrs;	/* any of them given */
	/* --header NAME=VALUE, as given (a task's two first). */
	char			*headers[PUSHSTAGE_HEADERS_MAX + 1];
	size_t			 nheaders;
	const char		*task;	/* --task NAME, or NULL */
	const char		*args;	/* NULL: [] */
	const char		*kwargs; /* NULL: {} */
	char			 task_header[sizeof "task=" + TASK_NAME_MAX];
};
void	 event_init(struct event_opts *);
int	 event_option(struct event_opts *, int, const char *);
int	 event_finish(struct event_opts *, const char *, const char *,
	     const char *);
int	 event_headers(struct pushstage *, const struct event_opts *);
char	*event_task_payload(const struct event_opts *, size_t *);

/* schedule.c */
int	 cmd_schedule(const char *, int, char **);

/* stats.c */
int	 cmd_stats(const char *, int, char **);

/* dead.c */
int	 cmd_dead(const char *, int, char **);

/* consumers.c */
struct pushstage_consumer;
int		 cmd_consumers(const char *, int, char **);
uint64_t	 consumer_field(const struct pushstage_consumer *, const char *);
const char	*consumer_queue(const struct pushstage_stats *, size_t);
int		 queue_width(const struct pushstage_stats *);
const char	*time_text(uint64_t, char *, size_t);

/* queues.c */
int	 cmd_queues(const char *, int, char **);
int	 cmd_queue(const char *, int, char **);

/* job.c */
int	 cmd_job(const char *, int, char **);
int	 cmd_jobs(const char *, int, char **);

/* tasks.c */
int	 cmd_tasks(const char *, int, char **);

/* watch.c */
int	 cmd_watch(const char *, int, char **);

/* when.c */
const char *iso_time(int, uint64_t, char *, size_t);

/* json.c */
void	 json_string(const char *);
void	 json_bytes(const void *, size_t);

#endif
