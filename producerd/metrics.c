/*
 * metrics.c: the daemon's counters in Prometheus' text format (version
 * 0.0.4), for GET /metrics (http.c).  Read-only: a scrape changes nothing
 * and costs one pass over queues and consumers.
 */
#include <stdio.h>

#include <event2/buffer.h>

#include "counters.h"
#include "producerd.h"
#include "utf8.h"

static const char *
kind_name(enum counter_kind kind)
{
	return kind == COUNTER_TOTAL ? "counter" : "gauge";
}

/* A label value, escaped as the format wants: \\, \" and \n. */
static void
label(struct evbuffer *b, const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == '\\' || *s == '"')
			evbuffer_add_printf(b, "\\%c", *s);
		else if (*s == '\n')
			evbuffer_add(b, "\\n", 2);
		else
			evbuffer_add(b, s, 1);
	}
}

/*
 * A label value of n bytes that a peer chose (a task name): escaped as
 * label() does, and a byte that is not UTF-8 as U+FFFD, for the format
 * is UTF-8 and one bad byte would spoil the scrape.
 */
static void
label_bytes(struct evbuffer *b, const void *v, size_t n)
{
	const unsigned char	*p = v;
	size_t			 i = 0, k;

	while (i < n) {
		if ((k = utf8_len(p + i, n - i)) == 0) {
			evbuffer_add(b, "\xef\xbf\xbd", 3);
			i++;
		} else if (p[i] == '\\' || p[i] == '"') {
			evbuffer_add_printf(b, "\\%c", p[i]);
			i++;
		} else if (p[i] == '\n') {
			evbuffer_add(b, "\\n", 2);
			i++;
		} else {
			evbuffer_add(b, p + i, k);
			i += k;
		}
	}
}

/* A group's labels: queue, and group unless it is the shared one. */
static void
labels(struct evbuffer *b, const struct qgroup *g)
{
	evbuffer_add_printf(b, "queue=\"%s\"", g->q->name);
	if (g->len != 0)
		evbuffer_add_printf(b, ",group=\"%s\"", g->name);
}

/* One per-consumer family: HELP and TYPE once, a line per consumer. */
static void
per_consumer(struct evbuffer *b, struct server *srv,
    const struct consumer_counter *k)
{
	struct conn	*c;

	evbuffer_add_printf(b, "# HELP pushstage_consumer_%s %s\n# TYPE "
	    "pushstage_consumer_%s %s\n", k->metric, k->help, k->metric,
	    kind_name(k->kind));
	TAILQ_FOREACH(c, &srv->conns, entry) {
		if (c->role != ROLE_CONSUMER || c->state != CONN_ACTIVE)
			continue;
		evbuffer_add_printf(b, "pushstage_consumer_%s{", k->metric);
		labels(b, c->g);
		evbuffer_add(b, ",consumer=\"", 11);
		label(b, c->name);
		evbuffer_add_printf(b, "\",conn=\"%llu\"} %llu\n",
		    (unsigned long long)c->serial,
		    (unsigned long long)consumer_value(c, k));
	}
}

/* ms as seconds, exactly: 1500 is 1.5. */
static void
seconds(struct evbuffer *b, uint64_t ms)
{
	evbuffer_add_printf(b, "%llu.%03llu", (unsigned long long)(ms / 1000),
	    (unsigned long long)(ms % 1000));
}

/* A group's labels, and its task row's (task) when r is not NULL. */
static void
row_labels(struct evbuffer *b, const struct qgroup *g,
    const struct task_row *r)
{
	labels(b, g);
	if (r != NULL) {
		evbuffer_add(b, ",task=\"", 7);
		label_bytes(b, r->name, r->nlen);
		evbuffer_add(b, "\"", 1);
	}
}

/*
 * The lines of one histogram of family pushstage_METRIC_seconds: its
 * cumulative buckets, sum and count, labelled as row_labels says.
 */
static void
hist_lines(struct evbuffer *b, const char *metric, const struct hist *h,
    const struct qgroup *g, const struct task_row *r)
{
	uint64_t	 cum;
	size_t		 i;

	for (cum = 0, i = 0; i <= HIST_BUCKETS; i++) {
		cum += h->n[i];
		evbuffer_add_printf(b, "pushstage_%s_seconds_bucket{", metric);
		row_labels(b, g, r);
		evbuffer_add(b, ",le=\"", 5);
		if (i == HIST_BUCKETS)
			evbuffer_add(b, "+Inf", 4);
		else
			seconds(b, hist_bounds[i]);
		evbuffer_add_printf(b, "\"} %llu\n", (unsigned long long)cum);
	}
	evbuffer_add_printf(b, "pushstage_%s_seconds_sum{", metric);
	row_labels(b, g, r);
	evbuffer_add(b, "} ", 2);
	seconds(b, h->sum);
	evbuffer_add_printf(b, "\npushstage_%s_seconds_count{", metric);
	row_labels(b, g, r);
	evbuffer_add_printf(b, "} %llu\n", (unsigned long long)h->count);
}

/* One histogram family: a set of lines per group. */
static void
per_group_hist(struct evbuffer *b, struct server *srv,
    const struct hist_counter *k)
{
	const struct nqueue	*q;
	const struct qgroup	*g;
	const struct hist	*h;

	evbuffer_add_printf(b, "# HELP pushstage_%s_seconds %s\n# TYPE "
	    "pushstage_%s_seconds histogram\n", k->metric, k->help,
	    k->metric);
	TAILQ_FOREACH(q, &srv->queues, entry) {
		TAILQ_FOREACH(g, &q->groups, entry) {
			h = (const struct hist *)((const char *)g + k->off);
			hist_lines(b, k->metric, h, g, NULL);
		}
	}
}

/*
 * The counts per task name (tasks.h): a family per column of the task
 * counter table that has one, a line per row of each group; then the
 * handling times, a histogram per row.
 */
static void
per_task(struct evbuffer *b, struct server *srv)
{
	const struct task_counter	*k;
	const struct task_row		*r;
	const struct nqueue		*q;
	const struct qgroup		*g;
	uint32_t			 j;
	size_t				 i;

	for (i = 0; i < ntask_counters; i++) {
		if ((k = &task_counters[i])->metric == NULL)
			continue;
		evbuffer_add_printf(b, "# HELP pushstage_%s %s\n# TYPE "
		    "pushstage_%s %s\n", k->metric, k->help, k->metric,
		    kind_name(k->kind));
		TAILQ_FOREACH(q, &srv->queues, entry) {
			TAILQ_FOREACH(g, &q->groups, entry) {
				for (j = 0; (r = tasks_at(&g->d.tasks, j)) !=
				    NULL; j++) {
					evbuffer_add_printf(b, "pushstage_%s{",
					    k->metric);
					row_labels(b, g, r);
					evbuffer_add_printf(b, "} %llu\n",
					    (unsigned long long)task_value(r,
					    k));
				}
			}
		}
	}
	evbuffer_add_printf(b, "# HELP pushstage_task_handling_seconds %s\n"
	    "# TYPE pushstage_task_handling_seconds histogram\n",
	    task_hist_help);
	TAILQ_FOREACH(q, &srv->queues, entry) {
		TAILQ_FOREACH(g, &q->groups, entry) {
			for (j = 0; (r = tasks_at(&g->d.tasks, j)) != NULL;
			    j++)
				hist_lines(b, "task_handling", &r->handled,
				    g, r);
		}
	}
}

/*
 * The counter table, less the settings: the daemon's once, a queue's a
 * line per queue (label queue), a group's a line per group (labels queue
 * and, but for a shared group, group; the names need no escaping); then
 * the histograms, a set of lines per group; then the consumers'.
 */
void
metrics_render(struct server *srv, struct evbuffer *b)
{
	const struct counter	*k;
	const struct nqueue	*q;
	const struct qgroup	*g;
	const char		*name;
	size_t			 i;

	for (i = 0; i < ncounters; i++) {
		k = &counters[i];
		if (k->kind == COUNTER_SETTING || (k->scope == SCOPE_SERVER &&
		    !counter_shown(srv, NULL, k)))
			continue;
		name = k->metric != NULL ? k->metric : k->name;
		evbuffer_add_printf(b, "# HELP pushstage_%s %s\n# TYPE "
		    "pushstage_%s %s\n", name, k->help, name,
		    kind_name(k->kind));
		if (k->scope == SCOPE_SERVER) {
			evbuffer_add_printf(b, "pushstage_%s %llu\n", name,
			    (unsigned long long)counter_value(srv, NULL, k));
			continue;
		}
		TAILQ_FOREACH(q, &srv->queues, entry) {
			TAILQ_FOREACH(g, &q->groups, entry) {
				/* A queue's own counter: once a queue. */
				if (k->scope == SCOPE_QUEUE)
					evbuffer_add_printf(b, "pushstage_%s{"
					    "queue=\"%s\"", name, q->name);
				else {
					evbuffer_add_printf(b, "pushstage_%s{",
					    name);
					labels(b, g);
				}
				evbuffer_add_printf(b, "} %llu\n",
				    (unsigned long long)counter_value(srv, g,
				    k));
				if (k->scope == SCOPE_QUEUE)
					break;
			}
		}
	}
	for (i = 0; i < nhist_counters; i++)
		per_group_hist(b, srv, &hist_counters[i]);
	per_task(b, srv);
	for (i = 0; i < nconsumer_counters; i++) {
		if (consumer_counters[i].metric != NULL)
			per_consumer(b, srv, &consumer_counters[i]);
	}
}
