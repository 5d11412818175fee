/* consumers.c: pushctl consumers: who is connected, as a table or JSON. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "pushctl.h"
#include "pushstage.h"

/* A consumer's field, or 0 when an older daemon does not send it. */
uint64_t
consumer_field(const struct pushstage_consumer *c, const char *name)
{
	uint64_t	 v;

	if (pushstage_stat(c->fields, c->nfields, name, &v) != 0)
		return 0;
	return v;
}

/*
 * The queue (QUEUE or QUEUE/GROUP) of the i-th consumer of st: the i-th
 * text "consumer_queue" (docs/protocol.md); NULL from an older daemon.
 */
const char *
consumer_queue(const struct pushstage_stats *st, size_t i)
{
	size_t	 t;

	for (t = 0; t < st->ntexts; t++) {
		if (strcmp(st->texts[t].name, "consumer_queue") == 0 &&
		    i-- == 0)
			return st->texts[t].value;
	}
	return NULL;
}

/*
 * How wide a QUEUE column must be, or 0 for none: every consumer takes
 * from "default" (or the daemon does not say), as PARTITION is left out
 * when none has one.
 */
int
queue_width(const struct pushstage_stats *st)
{
	const char	*queue;
	size_t		 i;
	int		 w = 5, other = 0;

	for (i = 0; i < st->nconsumers; i++) {
		if ((queue = consumer_queue(st, i)) == NULL)
			continue;
		if (strcmp(queue, "default") != 0)
			other = 1;
		if ((int)strlen(queue) > w)
			w = (int)strlen(queue);
	}
	return other ? w : 0;
}

/* "2026-11-24 10:22:01", local time, or "-" when unknown. */
const char *
time_text(uint64_t t, char *buf, size_t len)
{
	struct tm	 tm;
	time_t		 tt = (time_t)t;

	if (t == 0 || localtime_r(&tt, &tm) == NULL ||
	    strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm) == 0)
		return "-";
	return buf;
}

/* c's partition of a partitioned queue; -1 none (or an older daemon). */
static long
partition_of(const struct pushstage_consumer *c)
{
	uint64_t	 v;

	if (pushstage_stat(c->fields, c->nfields, "partition", &v) != 0 ||
	    v >= PUSHSTAGE_PARTITIONS_MAX)
		return -1;
	return (long)v;
}

int
cmd_consumers(const char *path, int argc, char **argv)
{
	const struct pushstage_stats	*st;
	const struct pushstage_consumer	*c;
	struct pushstage		*p;
	const char			*queue;
	char				 since[32], part[16];
	uint64_t			 connected = 0;
	size_t				 i;
	int				 json, w = 2, wq = 0, status, parts = 0;

	if ((status = json_option("consumers", argc, argv, &json)) != 0)
		return status == -1 ? 0 : status;
	if ((status = stats_fetch(path, &p, &st)) != 0)
		return status;
	pushstage_stat(st->counters, st->ncounters, "consumers_connected",
	    &connected);
	for (i = 0; i < st->nconsumers; i++) {
		if ((int)strlen(st->consumers[i].id) > w)
			w = (int)strlen(st->consumers[i].id);
		if (partition_of(&st->consumers[i]) >= 0)
			parts = 1;
	}
	wq = queue_width(st);
	if (json)
		printf("{\"consumers_connected\":%llu,\"consumers\":[",
		    (unsigned long long)connected);
	else if (st->nconsumers != 0)
		printf("%-*s%s%-*s %8s %10s %8s %10s %12s%s  %s\n", w, "ID",
		    wq ? " " : "", wq, wq ? "QUEUE" : "", "PID", "UID",
		    "DEMAND", "IN_FLIGHT", "DELIVERED",
		    parts ? " PARTITION" : "", "CONNECTED SINCE");
	for (i = 0; i < st->nconsumers; i++) {
		c = &st->consumers[i];
		queue = consumer_queue(st, i);
		if (json) {
			printf("%s{\"id\":", i ? "," : "");
			json_string(c->id);
			printf(",\"queue\":");
			if (queue != NULL)
				json_string(queue);
			else
				printf("null");
			printf(",\"pid\":%llu,\"uid\":%llu,\"demand\":%llu,"
			    "\"in_flight\":%llu,\"delivered\":%llu,"
			    "\"connected_since\":%llu",
			    (unsigned long long)consumer_field(c, "pid"),
			    (unsigned long long)consumer_field(c, "uid"),
			    (unsigned long long)consumer_field(c, "demand"),
			    (unsigned long long)consumer_field(c, "in_flight"),
			    (unsigned long long)consumer_field(c, "delivered"),
			    (unsigned long long)consumer_field(c,
			    "connected_since"));
			if (partition_of(c) >= 0)
				printf(",\"partition\":%ld}", partition_of(c));
			else
				printf(",\"partition\":null}");
			continue;
		}
		if (partition_of(c) >= 0)
			snprintf(part, sizeof part, " %9ld", partition_of(c));
		else
			snprintf(part, sizeof part, " %9s", "-");
		printf("%-*s%s%-*s %8llu %10llu %8llu %10llu %12llu%s  %s\n",
		    w, c->id, wq ? " " : "", wq, wq == 0 ? "" : queue != NULL ?
		    queue : "-",
		    (unsigned long long)consumer_field(c, "pid"),
		    (unsigned long long)consumer_field(c, "uid"),
		    (unsigned long long)consumer_field(c, "demand"),
		    (unsigned long long)consumer_field(c, "in_flight"),
		    (unsigned long long)consumer_field(c, "delivered"),
		    parts ? part : "", time_text(consumer_field(c,
		    "connected_since"), since, sizeof since));
	}
	if (json)
		printf("]}\n");
	else if (st->nconsumers == 0)
		printf("no consumers connected\n");
	else if (st->nconsumers < connected)
		printf("(%llu more not shown: the reply is limited to one "
		    "frame)\n", (unsigned long long)(connected -
		    st->nconsumers));
	pushstage_free(p);
	return 0;
}
