/* stats.c: pushctl stats: the daemon's counters as a table or as JSON. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "pushctl.h"
#include "pushstage.h"

static void
print_json(const struct pushstage_stats *st)
{
	const struct pushstage_consumer	*sc;
	size_t				 i, j;

	putchar('{');
	for (i = 0; i < st->ncounters; i++) {
		json_string(st->counters[i].name);
		printf(":%llu,", (unsigned long long)st->counters[i].value);
	}
	for (i = 0; i < st->ntexts; i++) {
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
	size_t				 i, j;
	int				 w = 2;

	for (i = 0; i < st->ntexts; i++)
		printf("%-24s %s\n", st->texts[i].name, st->texts[i].value);
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
	for (j = 0; j < st->consumers[0].nfields; j++)
		printf("  %*s", col(st->consumers[0].fields[j].name),
		    st->consumers[0].fields[j].name);
	putchar('\n');
	for (i = 0; i < st->nconsumers; i++) {
		sc = &st->consumers[i];
		printf("%-*s", w, sc->id);
		for (j = 0; j < sc->nfields; j++)
			printf("  %*llu", col(sc->fields[j].name),
			    (unsigned long long)sc->fields[j].value);
		putchar('\n');
	}
}

int
cmd_stats(const char *path, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json",	no_argument,	NULL, 'j' },
		{ "help",	no_argument,	NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const struct pushstage_stats	*st;
	struct pushstage		*p;
	int				 ch, json = 0, r, status;

	while ((ch = getopt_long(argc, argv, "jh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'j':
			json = 1;
			break;
		case 'h':
			printf("usage: pushctl stats [--json]\n");
			return 0;
		default:
			fprintf(stderr, "usage: pushctl stats [--json]\n");
			return EXIT_USAGE;
		}
	}
	if (optind != argc) {
		log_errorx("stats: unexpected argument \"%s\"", argv[optind]);
		return EXIT_USAGE;
	}
	if ((status = client_connect(path, &p)) != 0)
		return status;
	if ((r = pushstage_stats(p, &st)) != 0) {
		status = client_fail(p, r);
		pushstage_free(p);
		return status;
	}
	if (json)
		print_json(st);
	else
		print_table(st);
	pushstage_free(p);
	return 0;
}
