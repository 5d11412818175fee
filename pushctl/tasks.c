/*
 * tasks.c: pushctl tasks: a queue's (a group's) counts per task name
 * (TASK_STATS, docs/tasks.md): done, failed, retried, dead and the
 * handling-time percentiles of each task, as a table or JSON.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "pushctl.h"
#include "pushstage.h"

/* The table's columns: a field name and its heading. */
static const struct {
	const char	*field;
	const char	*head;
} columns[] = {
	{ "done", "DONE" }, { "failed", "FAILED" }, { "retried", "RETRIED" },
	{ "dead", "DEAD" }, { "handling_p50_ms", "P50 MS" },
	{ "handling_p90_ms", "P90 MS" }, { "handling_p99_ms", "P99 MS" },
};
#define NCOLUMNS	(sizeof columns / sizeof columns[0])
#define NAME_WIDTH	32	/* a longer name pushes its row's columns */

/* One row kept from the pages: its name and every field by name. */
struct row {
	char			*name;
	size_t			 len;
	struct pushstage_stat	*fields;
	size_t			 nfields;
};

/* A name for the terminal: a byte under 0x20 or 0x7f (none should be) as ?. */
static void
print_name(const char *s, size_t n, int width)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		putchar((unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' :
		    s[i]);
	if ((size_t)width > n)
		printf("%*s", (int)((size_t)width - n), "");
}

/* A copy of t, whose names and values the next request replaces. */
static void
keep(struct row *r, const struct pushstage_task *t)
{
	size_t	 j;

	if ((r->name = malloc(t->len + 1)) == NULL ||
	    (r->fields = calloc(t->nfields + 1, sizeof *r->fields)) == NULL)
		fatal("malloc");
	memcpy(r->name, t->name, t->len + 1);
	r->len = t->len;
	r->nfields = t->nfields;
	for (j = 0; j < t->nfields; j++) {
		if ((r->fields[j].name = strdup(t->fields[j].name)) == NULL)
			fatal("strdup");
		r->fields[j].value = t->fields[j].value;
	}
}

static void
print_json(const char *queue, const struct row *rows, size_t n)
{
	size_t	 i, j;

	printf("{\"queue\":");
	json_string(queue);
	printf(",\"tasks\":[");
	for (i = 0; i < n; i++) {
		printf("%s{\"task\":", i == 0 ? "" : ",");
		json_bytes(rows[i].name, rows[i].len);
		for (j = 0; j < rows[i].nfields; j++)
			printf(",\"%s\":%llu", rows[i].fields[j].name,
			    (unsigned long long)rows[i].fields[j].value);
		putchar('}');
	}
	printf("]}\n");
}

static void
print_table(const char *queue, const struct row *rows, size_t n)
{
	uint64_t	 v;
	size_t		 i, j, width = 4;

	if (n == 0) {
		printf("no event with a task header was acked, failed or "
		    "died in %s since the daemon started\n", queue);
		return;
	}
	for (i = 0; i < n; i++) {
		if (rows[i].len > width)
			width = rows[i].len > NAME_WIDTH ? NAME_WIDTH :
			    rows[i].len;
	}
	print_name("TASK", 4, (int)width);
	for (j = 0; j < NCOLUMNS; j++)
		printf("  %8s", columns[j].head);
	putchar('\n');
	for (i = 0; i < n; i++) {
		print_name(rows[i].name, rows[i].len, (int)width);
		for (j = 0; j < NCOLUMNS; j++) {
			if (pushstage_stat(rows[i].fields, rows[i].nfields,
			    columns[j].field, &v) == 0)
				printf("  %8llu", (unsigned long long)v);
			else
				printf("  %8s", "-");
		}
		putchar('\n');
	}
}

int
cmd_tasks(const char *path, int argc, char **argv)
{
	const struct pushstage_task	*ts;
	struct pushstage		*p;
	struct row			*rows = NULL, *nr;
	const char			*queue;
	uint32_t			 start = 0, total = 0;
	size_t				 i, j, n, nrows = 0;
	int				 json, r;

	if ((r = json_option("tasks", argc, argv, &json)) != 0)
		return r < 0 ? 0 : r;
	queue = ctl_queue != NULL ? ctl_queue : "default";
	if ((r = client_connect(path, &p)) != 0)
		return r;
	do {
		if ((r = pushstage_task_stats(p, queue, start, &ts, &n,
		    &total)) != 0) {
			r = client_fail(p, r);
			goto done;
		}
		if (n != 0 && (nr = realloc(rows, (nrows + n) *
		    sizeof *rows)) == NULL)
			fatal("realloc");
		else if (n != 0)
			rows = nr;
		for (i = 0; i < n; i++)
			keep(&rows[nrows++], &ts[i]);
		start += (uint32_t)n;
	} while (n != 0 && start < total);
	if (json)
		print_json(queue, rows, nrows);
	else
		print_table(queue, rows, nrows);
	r = 0;
done:
	for (i = 0; i < nrows; i++) {
		for (j = 0; j < rows[i].nfields; j++)
			free((char *)rows[i].fields[j].name);
		free(rows[i].fields);
		free(rows[i].name);
	}
	free(rows);
	pushstage_free(p);
	return r;
}
