/*
 * counters.h: every number the daemon reports, in one table (like tmux's
 * options-table.c): its name in STATS_REPLY, its Prometheus name, kind
 * and help, where it lives, and when it is shown.  STATS_REPLY (stats.c),
 * /metrics (metrics.c), and through them pushctl stats and watch, all
 * read this table, so they cannot drift apart.
 */
#ifndef PS_COUNTERS_H
#define PS_COUNTERS_H

#include <stddef.h>
#include <stdint.h>

struct server;
struct qgroup;
struct conn;

enum counter_kind {
	COUNTER_GAUGE,		/* goes up and down */
	COUNTER_TOTAL,		/* only goes up */
	COUNTER_SETTING,	/* fixed at start: in STATS_REPLY only */
};

/* Shown only when the daemon has that part. */
enum counter_part {
	PART_ALWAYS,
	PART_QUEUE,		/* a queue's view only (not the daemon's) */
	PART_UPSTREAM,		/* --upstream */
	PART_MAP,		/* --map */
	PART_JOURNAL,		/* --data-dir */
	PART_METRICS,		/* --metrics */
	PART_CLUSTER,		/* --cluster */
};

/*
 * A queue's counter lives in struct nqueue, a group's in struct qgroup: a
 * group's view (a queue's is its shared group's) shows those of the group
 * and its queue, the daemon's the sums over them all (a queue's setting:
 * the default).
 */
enum counter_scope {
	SCOPE_SERVER,
	SCOPE_QUEUE,
	SCOPE_GROUP,
};

/*
 * How the daemon's view adds up a group's counter.  Every group counts
 * each event of its queue (an enqueue, a refusal) as its own, so such a
 * counter is taken once per queue, from its oldest group, which has
 * seen every event the others have (in a cluster each group pulls its
 * own: the oldest's); what each group does with its copy
 * (a delivery, an ack, a buffered event) is summed over the groups.
 */
enum counter_sum {
	SUM_GROUPS,		/* per copy: summed over every group */
	SUM_QUEUES,		/* per event: once per queue */
	SUM_MAX,		/* the largest of any group (an age) */
};

struct counter {
	const char		*name;		/* in STATS_REPLY */
	const char		*metric;	/* pushstage_NAME; NULL: name */
	enum counter_kind	 kind;
	enum counter_part	 part;
	const char		*help;
	enum counter_scope	 scope;
	size_t			 off;		/* in struct server or nqueue */
	size_t			 size;		/* ... of this width */
	enum counter_sum	 sum;		/* SCOPE_GROUP, daemon's view */
	uint64_t		(*fn)(const struct qgroup *); /* a group's
						   computed (size 0) */
};

/* One field of a consumer's entry in STATS_REPLY, and maybe a metric. */
enum consumer_field {
	CF_DEMAND, CF_IN_FLIGHT, CF_DELIVERED, CF_MAX_DEMAND, CF_MIN_DEMAND,
	CF_PID, CF_UID, CF_SINCE, CF_PARTITION,
};

struct consumer_counter {
	const char		*name;
	const char		*metric;	/* pushstage_consumer_NAME, or
						   NULL: not in /metrics */
	enum counter_kind	 kind;
	const char		*help;
	enum consumer_field	 field;
};

/* A group's histogram of durations (struct hist), in /metrics only. */
struct hist_counter {
	const char		*metric;	/* pushstage_NAME_seconds */
	const char		*help;
	size_t			 off;		/* in struct qgroup */
};

/*
 * One column of a group's counts per task name (tasks.h): its name in
 * TASK_STATS_REPLY and the HTTP API, and its /metrics family,
 * pushstage_task_METRIC{queue=,task=} (NULL: not a family of its own:
 * the handling-time percentiles, which the histogram
 * pushstage_task_handling_seconds gives).  A count is the field at off
 * of struct task_row; a percentile (pct 1 to 100) is worked out.
 */
struct task_counter {
	const char		*name;
	const char		*metric;
	enum counter_kind	 kind;
	const char		*help;
	size_t			 off;
	unsigned int		 pct;
};

struct task_row;

extern const struct counter		 counters[];
extern const size_t			 ncounters;
extern const struct consumer_counter	 consumer_counters[];
extern const size_t			 nconsumer_counters;
extern const struct hist_counter	 hist_counters[];
extern const size_t			 nhist_counters;
extern const struct task_counter	 task_counters[];
extern const size_t			 ntask_counters;
extern const char			 task_hist_help[];

int		 counter_of_group(const struct counter *);
int		 counter_shown(const struct server *, const struct qgroup *,
		     const struct counter *);
uint64_t	 counter_value(const struct server *, const struct qgroup *,
		     const struct counter *);
uint64_t	 consumer_value(const struct conn *,
		     const struct consumer_counter *);
uint64_t	 task_value(const struct task_row *,
		     const struct task_counter *);

#endif
