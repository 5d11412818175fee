/* pushctl.h: the verbs of pushctl and the exit statuses they share. */
#ifndef PS_PUSHCTL_H
#define PS_PUSHCTL_H

#include <stddef.h>
#include <stdint.h>

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

/* json.c */
void	 json_string(const char *);
void	 json_bytes(const void *, size_t);

#endif
