/* stats.c: pushctl stats: the daemon's counters as a table or as JSON. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "pushctl.h"
#include "pushstage.h"

static void
print_json(const struct pushstage_stats *st)
{
	const struct pushstage_consumer	*sc;
	const char			*queue;
	size_t				 i, j;

	putchar('{');
	for (i = 0; i < st->ncounters; i++) {
		json_string(st->counters[i].name);
		printf(":%llu,", (unsigned long long)st->counters[i].value);
	}
	for (i = 0; i < st->ntexts; i++) {
		if (strcmp(st->texts[i].name, "consumer_queue") == 0)
			continue;	/* in each consumer's object */
		json_string(st->texts[i].name);
		putchar(':');
		json_string(st->texts[i].value);
		putchar(',');
	}
	printf("\"consumers\":[");
	for (i = 0; i < st->nconsumers; i++) {
		sc = &st->consumers[i];
		printf("%s{\"id\":", i ? "," : "");
		json_string(sc->id);
		printf(",\"queue\":");
		if ((queue = consumer_queue(st, i)) != NULL)
			json_string(queue);
		else
			printf("null");
		for (j = 0; j < sc->nfields; j++) {
			putchar(',');
			json_string(sc->fields[j].name);
			printf(":%llu", (unsigned long long)
			    sc->fields[j].value);
		}
		putchar('}');
	}
	printf("]}\n");
}

/* A column as wide as its name, and at least 10. */
static int
col(const char *name)
{
	return strlen(name) > 10 ? (int)strlen(name) : 10;
}

static void
print_table(const struct pushstage_stats *st)
{
	const struct pushstage_consumer	*sc;
	const char			*queue;
	size_t				 i, j;
	int				 w = 2, wq = queue_width(st);

	for (i = 0; i < st->ntexts; i++) {
		if (strcmp(st->texts[i].name, "consumer_queue") != 0)
			printf("%-24s %s\n", st->texts[i].name,
			    st->texts[i].value);
	}
	for (i = 0; i < st->ncounters; i++)
		printf("%-24s %llu\n", st->counters[i].name,
		    (unsigned long long)st->counters[i].value);
	if (st->nconsumers == 0)
		return;
	for (i = 0; i < st->nconsumers; i++) {
		if ((int)strlen(st->consumers[i].id) > w)
			w = (int)strlen(st->consumers[i].id);
	}
	/* Every consumer carries the same fields; the first names them. */
	printf("\n%-*s", w, "ID");
	if (wq != 0)
		printf("  %-*s", wq, "queue");
	for (j = 0; j < st->consumers[0].nfields; j++)
		printf("  %*s", col(st->consumers[0].fields[j].name),
		    st->consumers[0].fields[j].name);
	putchar('\n');
	for (i = 0; i < st->nconsumers; i++) {
		sc = &st->consumers[i];
		printf("%-*s", w, sc->id);
		if (wq != 0) {
			queue = consumer_queue(st, i);
			printf("  %-*s", wq, queue != NULL ? queue : "-");
		}
		/* 4294967295 is the daemon's "unknown" or "none": "-". */
		for (j = 0; j < sc->nfields; j++) {
			if (sc->fields[j].value == UINT32_MAX)
				printf("  %*s", col(sc->fields[j].name), "-");
			else
				printf("  %*llu", col(sc->fields[j].name),
				    (unsigned long long)sc->fields[j].value);
		}
		putchar('\n');
	}
}

int
cmd_stats(const char *path, int argc, char **argv)
{
	const struct pushstage_stats	*st;
	struct pushstage		*p;
	int				 json, status;

	if ((status = json_option("stats", argc, argv, &json)) != 0)
		return status == -1 ? 0 : status;
	if ((status = stats_fetch(path, &p, &st)) != 0)
		return status;
	if (json)
		print_json(st);
	else
		print_table(st);
	pushstage_free(p);
	return 0;
}
