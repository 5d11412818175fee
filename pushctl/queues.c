/* queues.c: pushctl queues (the list) and pushctl queue (create, set, ...). */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "opt.h"
#include "pushctl.h"
#include "pushstage.h"

/* The columns of the table; --json has every field the daemon sends. */
static const struct {
	const char	*field;
	const char	*title;
} columns[] = {
	{ "queued", "QUEUED" },
	{ "delayed", "DELAYED" },
	{ "in_flight", "IN FLIGHT" },
	{ "dead", "DEAD" },
	{ "consumers", "CONSUMERS" },
	{ "latency_ms", "LATENCY MS" },
	{ "enqueue_rate", "ENQ/S" },
	{ "deliver_rate", "DELIV/S" },
};

static uint64_t
field(const struct pushstage_queue *q, const char *name)
{
	uint64_t	 v = 0;

	(void)pushstage_stat(q->fields, q->nfields, name, &v);
	return v;
}

static void
print_json(const struct pushstage_queue *q)
{
	size_t	 i;

	printf("{\"name\":");
	json_string(q->name);
	for (i = 0; i < q->nfields; i++) {
		putchar(',');
		json_string(q->fields[i].name);
		printf(":%llu", (unsigned long long)q->fields[i].value);
	}
	printf("}\n");
}

static void
print_row(const struct pushstage_queue *q)
{
	size_t	 i;

	printf("%-24s", q->name);
	for (i = 0; i < sizeof columns / sizeof columns[0]; i++)
		printf(" %10llu", (unsigned long long)field(q,
		    columns[i].field));
	/* Why it sends nothing, or less than it could. */
	printf("  %s\n", field(q, "paused") ? "paused" :
	    field(q, "throttled") ? "throttled" : "-");
}

/* Every queue, one reply after another; one JSON object a line. */
int
cmd_queues(const char *path, int argc, char **argv)
{
	const struct pushstage_queue	*qs;
	struct pushstage		*p;
	uint32_t			 start = 0, total;
	size_t				 i, n;
	int				 json, r, status;

	if ((status = json_option("queues", argc, argv, &json)) != 0)
		return status < 0 ? 0 : status;
	if ((status = client_connect(path, &p)) != 0)
		return status;
	if (!json) {
		printf("%-24s", "QUEUE");
		for (i = 0; i < sizeof columns / sizeof columns[0]; i++)
			printf(" %10s", columns[i].title);
		printf("  STATE\n");
	}
	do {
		if ((r = pushstage_queues(p, start, &qs, &n, &total)) != 0) {
			status = client_fail(p, r);
			pushstage_free(p);
			return status;
		}
		for (i = 0; i < n; i++) {
			if (json)
				print_json(&qs[i]);
			else
				print_row(&qs[i]);
		}
		start += (uint32_t)n;
	} while (n != 0 && start < total);
	pushstage_free(p);
	return 0;
}

/* Is there a queue name?  1 or 0 from the daemon's list, or its error. */
static int
queue_exists(struct pushstage *p, const char *name)
{
	const struct pushstage_queue	*qs;
	uint32_t			 start = 0, total;
	size_t				 i, n;
	int				 r;

	do {
		if ((r = pushstage_queues(p, start, &qs, &n, &total)) != 0)
			return r;
		for (i = 0; i < n; i++) {
			if (strcmp(qs[i].name, name) == 0)
				return 1;
		}
		start += (uint32_t)n;
	} while (n != 0 && start < total);
	return 0;
}

/* pause's --for DURATION: "paused=until:MS", the wall-clock end. */
static int
pause_setting(int argc, char **argv, char *buf, size_t len)
{
	uint64_t	 ms;

	if (argc != 2 || strcmp(argv[0], "--for") != 0) {
		log_errorx("queue pause: give --for DURATION, or nothing");
		return -1;
	}
	if (opt_parse_duration(argv[1], UINT64_C(10) * 365 * 86400000,
	    &ms) != 0 || ms == 0) {
		log_errorx("queue pause --for: \"%s\" is not a duration from "
		    "1ms to 10 years (as 30s, 5m, 2h, 1d)", argv[1]);
		return -1;
	}
	snprintf(buf, len, "paused=until:%llu",
	    (unsigned long long)(clock_wall_ms() + ms));
	return 0;
}

static void
queue_usage(FILE *f)
{
	fprintf(f,
"usage: pushctl queue create NAME [KEY=VALUE...]   (exists already: said;\n"
"                                                  the settings set)\n"
"       pushctl queue set NAME KEY=VALUE...\n"
"       pushctl queue purge NAME\n"
"       pushctl queue pause NAME [--for DURATION]\n"
"       pushctl queue resume NAME\n"
"       pushctl queue delete [--force] NAME\n"
"       pushctl queue drop-group [--force] NAME GROUP|--shared\n"
"Settings (producerd's options of the same names): max-queue=N,\n"
"max-queue-bytes=BYTES, overflow=reject|drop-oldest|drop-newest|block,\n"
"delivery=at-least-once|at-most-once, ack-timeout=SECONDS|none,\n"
"max-attempts=N, dispatch=demand|key|partition:N, rate=N/PERIOD|none,\n"
"retry-backoff=BASE:MAX|none.  A change applies to what comes next\n"
"(delivery: to consumers that subscribe from now on); partitions change\n"
"only while no consumer is subscribed.  With --data-dir it is kept.\n"
"pause: the queue takes events but sends none (those in flight still\n"
"complete) until resume, or for DURATION (as 30s, 5m, 2h); kept across\n"
"restarts with --data-dir.\n");
}

int
cmd_queue(const char *path, int argc, char **argv)
{
	struct pushstage	*p;
	const char		*op, *name, *group = NULL;
	char			 pause[64] = "paused=yes", *set[1];
	uint64_t		 n = 0;
	int			 force = 0, existed = 0, r, status;

	if (argc < 2 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "--help") == 0) {
		queue_usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? EXIT_USAGE : 0;
	}
	op = argv[1];
	argc -= 2;
	argv += 2;
	if ((strcmp(op, "delete") == 0 || strcmp(op, "drop-group") == 0) &&
	    argc != 0 && strcmp(argv[0], "--force") == 0) {
		force = 1;
		argc--;
		argv++;
	}
	if (argc == 0) {
		log_errorx("queue %s: name the queue", op);
		queue_usage(stderr);
		return EXIT_USAGE;
	}
	name = argv[0];
	if (queue_option(name) != 0)
		return EXIT_USAGE;
	if (strchr(name, '/') != NULL) {
		log_errorx("queue %s: \"%s\": name the queue alone%s", op, name,
		    strcmp(op, "drop-group") == 0 ? ", then the group" : "");
		return EXIT_USAGE;
	}
	argc--;
	argv++;
	if (strcmp(op, "drop-group") == 0) {
		if (argc != 1 || (strcmp(argv[0], "--shared") != 0 &&
		    !name_ok(argv[0], strlen(argv[0])))) {
			log_errorx("queue drop-group: give the group's name "
			    "(1 to %d bytes of A-Z a-z 0-9 . _ : -), or "
			    "--shared", PUSHSTAGE_QUEUE_MAX);
			return EXIT_USAGE;
		}
		group = strcmp(argv[0], "--shared") == 0 ? "" : argv[0];
		argc = 0;
	}
	if (strcmp(op, "pause") == 0 && argc != 0 &&
	    pause_setting(argc, argv, pause, sizeof pause) != 0)
		return EXIT_USAGE;
	if (strcmp(op, "pause") == 0 || strcmp(op, "resume") == 0) {
		if (strcmp(op, "resume") == 0 && argc != 0) {
			log_errorx("queue resume: unexpected argument \"%s\"",
			    argv[0]);
			return EXIT_USAGE;
		}
		if (strcmp(op, "resume") == 0)
			snprintf(pause, sizeof pause, "paused=no");
		set[0] = pause;
		argv = set;
		argc = 1;
	}
	if ((strcmp(op, "purge") == 0 || strcmp(op, "delete") == 0) &&
	    argc != 0) {
		log_errorx("queue %s: unexpected argument \"%s\"", op, argv[0]);
		return EXIT_USAGE;
	}
	if (strcmp(op, "set") == 0 && argc == 0) {
		log_errorx("queue set: give KEY=VALUE settings");
		return EXIT_USAGE;
	}
	if (strcmp(op, "create") != 0 && strcmp(op, "set") != 0 &&
	    strcmp(op, "purge") != 0 && strcmp(op, "delete") != 0 &&
	    strcmp(op, "drop-group") != 0 && strcmp(op, "pause") != 0 &&
	    strcmp(op, "resume") != 0) {
		log_errorx("queue: \"%s\" is not create, set, purge, delete, "
		    "drop-group, pause or resume", op);
		queue_usage(stderr);
		return EXIT_USAGE;
	}
	if ((status = client_connect(path, &p)) != 0)
		return status;
	if (strcmp(op, "create") == 0) {
		/* One that is there already: said, its settings set. */
		existed = (r = queue_exists(p, name)) == 1;
		if (r >= 0)
			r = pushstage_queue_create(p, name,
			    (const char * const *)argv, (size_t)argc);
	} else if (strcmp(op, "set") == 0 || strcmp(op, "pause") == 0 ||
	    strcmp(op, "resume") == 0)
		r = pushstage_queue_set(p, name, (const char * const *)argv,
		    (size_t)argc);
	else if (strcmp(op, "purge") == 0)
		r = pushstage_queue_purge(p, name, &n);
	else if (strcmp(op, "drop-group") == 0)
		r = pushstage_group_drop(p, name, group, force);
	else
		r = pushstage_queue_delete(p, name, force);
	if (r != 0) {
		status = client_fail(p, r);
		pushstage_free(p);
		return status;
	}
	pushstage_free(p);
	if (strcmp(op, "purge") == 0)
		printf("purged %llu event%s from %s\n", (unsigned long long)n,
		    n == 1 ? "" : "s", name);
	else if (strcmp(op, "drop-group") == 0)
		printf("group %s/%s dropped\n", name, group);
	else if (strcmp(op, "pause") == 0)
		printf("queue %s paused%s\n", name, strcmp(pause,
		    "paused=yes") == 0 ? " until resumed" : "");
	else if (strcmp(op, "resume") == 0)
		printf("queue %s resumed\n", name);
	else if (existed)
		printf("queue %s exists already%s\n", name, argc != 0 ?
		    "; its settings set" : "");
	else
		printf("queue %s %s\n", name, strcmp(op, "create") == 0 ?
		    "created" : strcmp(op, "set") == 0 ? "set" : "deleted");
	return 0;
}
