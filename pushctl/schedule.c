/*
 * schedule.c: pushctl schedule: define, list, show, pause, resume,
 * remove and run the daemon's schedules (SCHEDULE, docs/protocol.md;
 * docs/scheduling.md).  The rule's words (cron fields, time zones,
 * durations) are the daemon's to check: only what needs no parser is
 * caught here, and the daemon's ERROR text is shown for the rest.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "escape.h"
#include "log.h"
#include "pushctl.h"
#include "pushstage.h"

static void
schedule_usage(FILE *f)
{
	fprintf(f,
"usage: pushctl schedule add NAME -q QUEUE (--cron RULE [--tz ZONE] |\n"
"                            --every DURATION) [--catch-up none|last|all]\n"
"                            [--unique] [--paused] [--replace] [--key KEY]\n"
"                            [--priority N] [--header NAME=VALUE]...\n"
"                            [--task NAME [--args JSON] [--kwargs JSON] |\n"
"                            PAYLOAD]\n"
"       pushctl schedule list [--json]\n"
"       pushctl schedule show NAME [--json]\n"
"       pushctl schedule pause|resume|remove NAME\n"
"       pushctl schedule run-now NAME\n"
"A schedule enqueues an event into QUEUE at each tick of a cron rule (in\n"
"ZONE's wall-clock time, default UTC) or every DURATION (ticks at the\n"
"multiples of it since 1970, UTC).  Its events carry the headers\n"
"pushstage-schedule: NAME and pushstage-tick: the tick's ms since 1970.\n"
"Times are shown in UTC.  pushctl schedule COMMAND --help says more.\n");
}

/* The first two lines alone after a mistake; all of it for --help. */
static void
add_usage(FILE *f, int all)
{
	fprintf(f,
"usage: pushctl schedule add NAME -q QUEUE (--cron RULE [--tz ZONE] |\n"
"                            --every DURATION) [options] [PAYLOAD]\n");
	if (!all)
		return;
	fprintf(f,
"Define the schedule NAME (1 to 64 bytes of A-Z a-z 0-9 . _ : -), whose\n"
"event, PAYLOAD (default: empty), goes to QUEUE at each tick.  Its first\n"
"tick is the first after now.  The same definition again changes\n"
"nothing; another is refused unless --replace, which keeps its progress.\n"
"  --cron RULE       minute hour day-of-month month day-of-week, as\n"
"                    \"0 6 * * *\", or @daily, @hourly, ...\n"
"  --tz ZONE         the time zone of --cron's times, as Europe/Berlin\n"
"                    (default UTC)\n"
"  --every DURATION  as 30s, 5m, 1h30m, 1d (1s to 3650d)\n"
"  --catch-up WHICH  ticks missed while the daemon was down or busy: none,\n"
"                    last (the default) or all\n"
"  --unique          skip a tick while the previous tick's event is still\n"
"                    waiting or in flight\n"
"  --paused          define it paused: nothing fires until resume\n"
"  --replace         replace a schedule of that name defined otherwise\n"
"  --key KEY, --priority N, --header NAME=VALUE (repeatable)\n"
"                    the event's key, priority and headers, as enqueue's\n"
"  --task NAME [--args JSON] [--kwargs JSON]\n"
"                    the event is a task, as enqueue --task makes it\n");
}

/* A name given, as the daemon takes one: 0, or -1 said. */
static int
schedule_name(const char *verb, int argc, char **argv, const char **name)
{
	if (argc == 0) {
		log_errorx("schedule %s: name the schedule", verb);
		return -1;
	}
	if (!name_ok(argv[0], strlen(argv[0]))) {
		log_errorx("schedule %s: \"%s\" is not a schedule name: 1 to %d "
		    "bytes of A-Z a-z 0-9 . _ : -", verb, argv[0],
		    PUSHSTAGE_SCHEDULE_NAME_MAX);
		return -1;
	}
	*name = argv[0];
	return 0;
}

/*
 * A refusal said: the two that name the schedule in the daemon's own
 * code, in pushctl's words; any other as the daemon put it.
 */
static int
schedule_fail(struct pushstage *p, const char *name, int r)
{
	switch (pushstage_error_code(p)) {
	case PUSHSTAGE_ERR_NO_SCHEDULE:
		log_errorx("schedule \"%s\": no such schedule", name);
		return EXIT_USAGE;
	case PUSHSTAGE_ERR_EXISTS:
		log_errorx("schedule \"%s\" exists, defined otherwise (--replace "
		    "replaces its definition and keeps its progress)", name);
		return EXIT_USAGE;
	default:
		return client_fail(p, r);
	}
}

/* A field's decimal value; 0 when it has none. */
static uint64_t
number(const struct pushstage_schedule *s, const char *key)
{
	const char	*v = pushstage_schedule_field(s, key);

	return v != NULL ? strtoull(v, NULL, 10) : 0;
}

/* The i-th of the next fire times (0: none). */
static uint64_t
next_at(const struct pushstage_schedule *s, size_t i)
{
	const char	*v = pushstage_schedule_field(s, "next");

	for (; v != NULL && *v != '\0' && i != 0; i--) {
		if ((v = strchr(v, ',')) != NULL)
			v++;
	}
	return v != NULL && *v >= '0' && *v <= '9' ? strtoull(v, NULL, 10) :
	    0;
}

/* "0 6 * * * (Europe/Berlin)", or "every 30s". */
static void
rule_text(const struct pushstage_schedule *s, char *buf, size_t len)
{
	const char	*cron = pushstage_schedule_field(s, "cron");
	const char	*tz = pushstage_schedule_field(s, "tz");
	const char	*every = pushstage_schedule_field(s, "every");

	if (cron != NULL)
		snprintf(buf, len, "%s (%s)", cron, tz != NULL ? tz : "UTC");
	else if (every != NULL)
		snprintf(buf, len, "every %s", every);
	else
		snprintf(buf, len, "-");
}

/* Bytes for the terminal, escaped: the caller's to free. */
static char *
escaped(const void *v, size_t n)
{
	char	*s;
	size_t	 len = escape_c((char [1]){ 0 }, 1, v, n) + 1;

	if ((s = malloc(len)) == NULL)
		fatal("malloc");
	escape_c(s, len, v, n);
	return s;
}

/*
 * One schedule as a JSON object: its name, queue, every field by its key
 * (times as ISO 8601 UTC, counts as numbers, yes/no as booleans, next as
 * an array, others as text), then its event.
 */
static void
print_json(const struct pushstage_schedule *s)
{
	const struct pushstage_text	*f;
	char				 t[40];
	size_t				 i, j;
	uint64_t			 v;

	printf("{\"name\":");
	json_string(s->name);
	printf(",\"queue\":");
	json_string(s->queue);
	for (i = 0; i < s->nfields; i++) {
		f = &s->fields[i];
		putchar(',');
		json_string(f->name);
		putchar(':');
		if (strcmp(f->name, "next") == 0) {
			putchar('[');
			for (j = 0; (v = next_at(s, j)) != 0; j++) {
				printf("%s", j != 0 ? "," : "");
				json_string(iso_time(0, v, t, sizeof t));
			}
			putchar(']');
		} else if (strcmp(f->name, "created") == 0 ||
		    strcmp(f->name, "last") == 0) {
			if ((v = strtoull(f->value, NULL, 10)) != 0)
				json_string(iso_time(0, v, t, sizeof t));
			else
				printf("null");
		} else if (strcmp(f->name, "fired") == 0 ||
		    strcmp(f->name, "skipped") == 0 ||
		    strcmp(f->name, "last-id") == 0 ||
		    strcmp(f->name, "enqueued") == 0)
			printf("%llu", strtoull(f->value, NULL, 10));
		else if ((strcmp(f->name, "unique") == 0 ||
		    strcmp(f->name, "paused") == 0) &&
		    (strcmp(f->value, "yes") == 0 ||
		    strcmp(f->value, "no") == 0))
			printf("%s", strcmp(f->value, "yes") == 0 ? "true" :
			    "false");
		else
			json_string(f->value);
	}
	printf(",\"key\":");
	if (s->key != NULL)
		json_bytes(s->key, s->key_len);
	else
		printf("null");
	printf(",\"priority\":%u,\"headers\":{", s->priority);
	for (i = 0; i < s->nheaders; i++) {
		printf("%s", i != 0 ? "," : "");
		json_bytes(s->headers[i].name, s->headers[i].name_len);
		putchar(':');
		json_bytes(s->headers[i].value, s->headers[i].value_len);
	}
	printf("},\"payload\":");
	json_bytes(s->data, s->len);
	printf("}\n");
}

/* One field a line, the next fire times each on its own. */
static void
print_text(const struct pushstage_schedule *s)
{
	const struct pushstage_text	*f;
	char				 t[40], *e;
	size_t				 i, j;
	uint64_t			 v;

	printf("schedule %s\n", s->name);
	printf("  %-12s %s\n", "queue", s->queue);
	for (i = 0; i < s->nfields; i++) {
		f = &s->fields[i];
		if (strcmp(f->name, "next") == 0) {
			if (next_at(s, 0) == 0)
				printf("  %-12s %s\n", "next", "- (never)");
			for (j = 0; (v = next_at(s, j)) != 0; j++)
				printf("  %-12s %s\n", j == 0 ? "next" : "",
				    iso_time(0, v, t, sizeof t));
		} else if (strcmp(f->name, "created") == 0 ||
		    strcmp(f->name, "last") == 0)
			printf("  %-12s %s\n", f->name, iso_time(0,
			    strtoull(f->value, NULL, 10), t, sizeof t));
		else if (strcmp(f->name, "last-id") == 0)
			printf("  %-12s %s\n", f->name, strcmp(f->value,
			    "0") == 0 ? "-" : f->value);
		else {
			e = escaped(f->value, strlen(f->value));
			printf("  %-12s %s\n", f->name, e);
			free(e);
		}
	}
	if (s->key != NULL) {
		e = escaped(s->key, s->key_len);
		printf("  %-12s %s\n", "key", e);
		free(e);
	}
	printf("  %-12s %u\n", "priority", s->priority);
	for (i = 0; i < s->nheaders; i++) {
		e = escaped(s->headers[i].value, s->headers[i].value_len);
		printf("  %-12s %.*s: %s\n", i == 0 ? "headers" : "",
		    (int)s->headers[i].name_len, s->headers[i].name, e);
		free(e);
	}
	e = escaped(s->data, s->len);
	printf("  %-12s %zu bytes%s%s\n", "payload", s->len, s->len != 0 ?
	    ": " : "", e);
	free(e);
}

/* A row of the list's table, its texts kept past the next page. */
#define NCOLUMNS	8
struct row {
	char	*col[NCOLUMNS];
};

static void
keep_row(struct row *r, const struct pushstage_schedule *s)
{
	char	 rule[2 * PUSHSTAGE_SCHEDULE_SETTING_MAX + 16], t[40];
	int	 i, n = 0;

	rule_text(s, rule, sizeof rule);
	r->col[n++] = strdup(s->name);
	r->col[n++] = strdup(s->queue);
	r->col[n++] = escaped(rule, strlen(rule));
	r->col[n++] = strdup(iso_time(0, next_at(s, 0), t, sizeof t));
	r->col[n++] = strdup(iso_time(0, number(s, "last"), t, sizeof t));
	snprintf(t, sizeof t, "%llu", (unsigned long long)number(s, "fired"));
	r->col[n++] = strdup(t);
	snprintf(t, sizeof t, "%llu", (unsigned long long)number(s,
	    "skipped"));
	r->col[n++] = strdup(t);
	r->col[n++] = strdup(pushstage_schedule_field(s, "paused") != NULL &&
	    strcmp(pushstage_schedule_field(s, "paused"), "yes") == 0 ?
	    "yes" : "no");
	for (i = 0; i < NCOLUMNS; i++) {
		if (r->col[i] == NULL)
			fatal("strdup");
	}
}

static void
print_table(const struct row *rows, size_t n)
{
	static const char *const head[NCOLUMNS] = { "NAME", "QUEUE", "RULE",
	    "NEXT", "LAST", "FIRED", "SKIPPED", "PAUSED" };
	size_t	 width[NCOLUMNS], i, j;

	if (n == 0) {
		printf("no schedules\n");
		return;
	}
	for (j = 0; j < NCOLUMNS; j++) {
		width[j] = strlen(head[j]);
		for (i = 0; i < n; i++) {
			if (strlen(rows[i].col[j]) > width[j])
				width[j] = strlen(rows[i].col[j]);
		}
	}
	for (j = 0; j < NCOLUMNS; j++)
		printf("%-*s%s", j + 1 < NCOLUMNS ? (int)width[j] : 0, head[j],
		    j + 1 < NCOLUMNS ? "  " : "\n");
	for (i = 0; i < n; i++) {
		for (j = 0; j < NCOLUMNS; j++)
			printf("%-*s%s", j + 1 < NCOLUMNS ? (int)width[j] : 0,
			    rows[i].col[j], j + 1 < NCOLUMNS ? "  " : "\n");
	}
}

/* What each verb but add does, for its --help. */
static const struct {
	const char	*verb;
	const char	*args;
	const char	*help;
} verbs[] = {
	{ "list", " [--json]", "Every schedule: its name, queue, rule, next fire "
	    "time and last tick (UTC),\nticks fired and skipped, and whether it "
	    "is paused; --json: one JSON\nobject a line, every field.\n" },
	{ "show", " NAME [--json]", "The schedule: its queue, rule, state, "
	    "counts, its next fire times (UTC)\nand its event.\n" },
	{ "pause", " NAME", "Nothing fires until resume; the ticks missed "
	    "meanwhile are skipped.\n" },
	{ "resume", " NAME", "It fires again from its next tick; those missed "
	    "while paused are skipped.\n" },
	{ "remove", " NAME", "Forget it; the events it enqueued stay.\n" },
	{ "run-now", " NAME", "Enqueue its event once now, beside its ticks, "
	    "paused or not; prints the\nevent's id.  Exit status 75 if the "
	    "queue did not take it (full).\n" },
};

/*
 * The options of a verb but add: --help, and --json for list and show.
 * 0, -1 after --help (exit 0), or EXIT_USAGE said.
 */
static int
verb_options(const char *verb, int argc, char **argv, int *json)
{
	static const struct option longopts[] = {
		{ "json",	no_argument,		NULL, 'j' },
		{ "help",	no_argument,		NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	size_t	 v;
	int	 ch;

	for (v = 0; strcmp(verbs[v].verb, verb) != 0; v++)
		;
	*json = 0;
	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		if (ch == 'h') {
			printf("usage: pushctl schedule %s%s\n%s", verb,
			    verbs[v].args, verbs[v].help);
			return -1;
		}
		if (ch != 'j' || strstr(verbs[v].args, "--json") == NULL) {
			fprintf(stderr, "usage: pushctl schedule %s%s\n", verb,
			    verbs[v].args);
			return EXIT_USAGE;
		}
		*json = 1;
	}
	return 0;
}

static int
schedule_list(const char *path, int argc, char **argv)
{
	const struct pushstage_schedule	*ss;
	struct pushstage		*p;
	struct row			*rows = NULL, *grown;
	uint32_t			 start = 0, total;
	size_t				 i, j, n, nrows = 0;
	int				 json, r, status = 0;

	if ((r = verb_options("list", argc, argv, &json)) != 0)
		return r < 0 ? 0 : r;
	if (optind != argc) {
		log_errorx("schedule list: unexpected argument \"%s\"",
		    argv[optind]);
		return EXIT_USAGE;
	}
	if ((status = client_connect(path, &p)) != 0)
		return status;
	do {
		if ((r = pushstage_schedules(p, start, &ss, &n, &total)) != 0) {
			status = client_fail(p, r);
			break;
		}
		if (!json && n != 0) {
			if ((grown = reallocarray(rows, nrows + n,
			    sizeof *rows)) == NULL)
				fatal("reallocarray");
			rows = grown;
		}
		for (i = 0; i < n; i++) {
			if (json)
				print_json(&ss[i]);
			else
				keep_row(&rows[nrows++], &ss[i]);
		}
		start += (uint32_t)n;
	} while (n != 0 && start < total);
	if (status == 0 && !json)
		print_table(rows, nrows);
	for (i = 0; i < nrows; i++) {
		for (j = 0; j < NCOLUMNS; j++)
			free(rows[i].col[j]);
	}
	free(rows);
	pushstage_free(p);
	return status;
}

/* show, pause, resume, remove, run-now: NAME, and show's --json. */
static int
schedule_one(const char *path, const char *verb, int argc, char **argv)
{
	const struct pushstage_schedule	*s;
	struct pushstage		*p;
	const char			*name;
	char				 t[40];
	uint64_t			 id = 0;
	int				 json, r, status;
	int				 show = strcmp(verb, "show") == 0;

	if ((r = verb_options(verb, argc, argv, &json)) != 0)
		return r < 0 ? 0 : r;
	argc -= optind;
	argv += optind;
	if (schedule_name(verb, argc, argv, &name) != 0)
		return EXIT_USAGE;
	if (argc > 1) {
		log_errorx("schedule %s: unexpected argument \"%s\"", verb,
		    argv[1]);
		return EXIT_USAGE;
	}
	if ((status = client_connect(path, &p)) != 0)
		return status;
	if (show)
		r = pushstage_schedule_get(p, name, &s);
	else if (strcmp(verb, "pause") == 0)
		r = pushstage_schedule_pause(p, name, &s);
	else if (strcmp(verb, "resume") == 0)
		r = pushstage_schedule_resume(p, name, &s);
	else if (strcmp(verb, "remove") == 0)
		r = pushstage_schedule_remove(p, name, &s);
	else
		r = pushstage_schedule_run_now(p, name, &id, &s);
	if (r != 0) {
		status = schedule_fail(p, name, r);
		pushstage_free(p);
		return status;
	}
	status = 0;
	if (json)
		print_json(s);
	else if (show)
		print_text(s);
	else if (strcmp(verb, "pause") == 0)
		printf("schedule %s paused\n", name);
	else if (strcmp(verb, "resume") == 0)
		printf("schedule %s resumed; next %s\n", name,
		    iso_time(0, next_at(s, 0), t, sizeof t));
	else if (strcmp(verb, "remove") == 0)
		printf("schedule %s removed\n", name);
	else if (id != 0)
		printf("enqueued 1 event: id %llu\n", (unsigned long long)id);
	else {
		log_errorx("schedule \"%s\": queue %s did not take the event "
		    "(it is full): try again later", name, s->queue);
		status = EXIT_TEMPFAIL;
	}
	pushstage_free(p);
	return status;
}

/* "KEY=VALUE" into set[*n]. */
static void
setting(char **set, size_t *n, const char *key, const char *value)
{
	if (asprintf(&set[(*n)++], "%s=%s", key, value) == -1)
		fatal("asprintf");
}

static int
schedule_add(const char *path, int argc, char **argv)
{
	enum { OPT_CRON = OPT_VERB, OPT_TZ, OPT_EVERY, OPT_CATCH_UP,
	    OPT_UNIQUE, OPT_PAUSED, OPT_REPLACE };
	static const struct option longopts[] = {
		EVENT_LONGOPTS,
		{ "queue",	required_argument,	NULL, 'q' },
		{ "cron",	required_argument,	NULL, OPT_CRON },
		{ "tz",		required_argument,	NULL, OPT_TZ },
		{ "every",	required_argument,	NULL, OPT_EVERY },
		{ "catch-up",	required_argument,	NULL, OPT_CATCH_UP },
		{ "unique",	no_argument,		NULL, OPT_UNIQUE },
		{ "paused",	no_argument,		NULL, OPT_PAUSED },
		{ "replace",	no_argument,		NULL, OPT_REPLACE },
		{ "help",	no_argument,		NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const struct pushstage_schedule	*s;
	struct event_opts		 ev;
	struct pushstage		*p;
	const char			*name, *cron = NULL, *tz = NULL;
	const char			*every = NULL, *catch_up = NULL;
	char				*set[6], *payload = NULL, t[40];
	char				 rule[2 * PUSHSTAGE_SCHEDULE_SETTING_MAX +
					     16];
	size_t				 nset = 0, plen = 0, i;
	int				 ch, r, status, unique = 0, paused = 0;
	int				 replace = 0;

	event_init(&ev);
	while ((ch = getopt_long(argc, argv, "q:h", longopts, NULL)) != -1) {
		if ((r = event_option(&ev, ch, optarg)) != 0) {
			if (r < 0)
				return EXIT_USAGE;
			continue;
		}
		switch (ch) {
		case 'q':
			if (queue_option(optarg) != 0)
				return EXIT_USAGE;
			break;
		case OPT_CRON:
			cron = optarg;
			break;
		case OPT_TZ:
			tz = optarg;
			break;
		case OPT_EVERY:
			every = optarg;
			break;
		case OPT_CATCH_UP:
			catch_up = optarg;
			break;
		case OPT_UNIQUE:
			unique = 1;
			break;
		case OPT_PAUSED:
			paused = 1;
			break;
		case OPT_REPLACE:
			replace = 1;
			break;
		case 'h':
			add_usage(stdout, 1);
			return 0;
		default:
			add_usage(stderr, 0);
			return EXIT_USAGE;
		}
	}
	argc -= optind;
	argv += optind;
	if (schedule_name("add", argc, argv, &name) != 0) {
		add_usage(stderr, 0);
		return EXIT_USAGE;
	}
	if (argc > 2) {
		log_errorx("schedule add: one payload; \"%s\" and \"%s\" given",
		    argv[1], argv[2]);
		return EXIT_USAGE;
	}
	if (ctl_queue == NULL) {
		log_errorx("schedule add: -q QUEUE: name the queue its events "
		    "go to");
		return EXIT_USAGE;
	}
	if (strchr(ctl_queue, '/') != NULL) {
		log_errorx("schedule add: -q %s: its events go to a queue, and "
		    "every group of it gets them; name the queue alone",
		    ctl_queue);
		return EXIT_USAGE;
	}
	if (cron != NULL && every != NULL) {
		log_errorx("schedule add: --cron and --every: give one");
		return EXIT_USAGE;
	}
	if (cron == NULL && every == NULL) {
		log_errorx("schedule add: give --cron RULE or --every DURATION");
		return EXIT_USAGE;
	}
	if (tz != NULL && cron == NULL) {
		log_errorx("schedule add: --tz goes with --cron (--every's ticks "
		    "are UTC's)");
		return EXIT_USAGE;
	}
	if (event_finish(&ev, "schedule add", argc > 1 ? argv[1] : NULL,
	    "the payload") != 0)
		return EXIT_USAGE;

	if (cron != NULL)
		setting(set, &nset, "cron", cron);
	if (tz != NULL)
		setting(set, &nset, "tz", tz);
	if (every != NULL)
		setting(set, &nset, "every", every);
	if (catch_up != NULL)
		setting(set, &nset, "catch-up", catch_up);
	if (unique)
		setting(set, &nset, "unique", "yes");
	if (paused)
		setting(set, &nset, "paused", "yes");
	if (ev.task != NULL)
		payload = event_task_payload(&ev, &plen);
	else if (argc > 1) {
		if ((payload = strdup(argv[1])) == NULL)
			fatal("strdup");
		plen = strlen(payload);
	}

	if ((status = client_connect(path, &p)) != 0)
		goto out;
	if ((r = event_headers(p, &ev)) != 0 ||
	    (r = pushstage_schedule_add(p, name, ctl_queue, replace ?
	    PUSHSTAGE_SCHEDULE_REPLACE : 0, (const char * const *)set, nset,
	    ev.attrs ? &ev.a : NULL, payload, plen, &s)) != 0)
		status = schedule_fail(p, name, r);
	else {
		rule_text(s, rule, sizeof rule);
		printf("schedule %s: %s, to queue %s; %s %s\n", s->name, rule,
		    s->queue, pushstage_schedule_field(s, "paused") != NULL &&
		    strcmp(pushstage_schedule_field(s, "paused"), "yes") == 0 ?
		    "paused, next tick" : "next", iso_time(0, next_at(s, 0), t,
		    sizeof t));
	}
	pushstage_free(p);
out:
	for (i = 0; i < nset; i++)
		free(set[i]);
	free(payload);
	return status;
}

int
cmd_schedule(const char *path, int argc, char **argv)
{
	const char	*verb;

	if (argc < 2 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "--help") == 0) {
		schedule_usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? EXIT_USAGE : 0;
	}
	verb = argv[1];
	argc--;
	argv++;
	if (strcmp(verb, "add") == 0)
		return schedule_add(path, argc, argv);
	if (strcmp(verb, "list") == 0)
		return schedule_list(path, argc, argv);
	if (strcmp(verb, "show") == 0 || strcmp(verb, "pause") == 0 ||
	    strcmp(verb, "resume") == 0 || strcmp(verb, "remove") == 0 ||
	    strcmp(verb, "run-now") == 0)
		return schedule_one(path, verb, argc, argv);
	log_errorx("schedule: \"%s\" is not add, list, show, pause, resume, "
	    "remove or run-now", verb);
	schedule_usage(stderr);
	return EXIT_USAGE;
}
