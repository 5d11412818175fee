/* main.c: pushctl: global options, then one verb. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "opt.h"
#include "pushctl.h"
#include "pushstage.h"

const char	*ctl_queue;

enum { OPT_LOG_LEVEL = 256, OPT_LOG_FORMAT };

static void
usage(FILE *f)
{
	fprintf(f,
"usage: pushctl [global options] enqueue [-q QUEUE] [--key KEY]\n"
"                                        [--delay DURATION | --at TIME]\n"
"                                        [--priority N] [--unique-id ID]\n"
"                                        [--header NAME=VALUE]...\n"
"                                        [--retry SECONDS] [-0] EVENT... | -\n"
"       pushctl [global options] enqueue [options as above] --task NAME\n"
"                                        [--args JSON] [--kwargs JSON]\n"
"       pushctl [global options] stats [-q QUEUE] [--json]\n"
"       pushctl [global options] dead list [-q QUEUE] [--json]\n"
"                                          [--preview BYTES]\n"
"       pushctl [global options] dead retry|drop [-q QUEUE] [ID...]\n"
"       pushctl [global options] job show QUEUE[/GROUP] ID|--unique-id ID\n"
"       pushctl [global options] job cancel QUEUE ID...|--unique-id ID\n"
"       pushctl [global options] jobs -q QUEUE[/GROUP] [--state STATE]\n"
"                                     [--limit N] [--after CURSOR]\n"
"       pushctl [global options] job wait QUEUE[/GROUP] ID|--unique-id ID\n"
"                                         [--timeout DURATION]\n"
"       pushctl [global options] tasks [-q QUEUE[/GROUP]] [--json]\n"
"       pushctl [global options] consumers [-q QUEUE] [--json]\n"
"       pushctl [global options] watch [-q QUEUE] [--interval SECONDS]\n"
"                                      [--count N]\n"
"       pushctl [global options] queues [--json]\n"
"       pushctl [global options] queue create NAME [KEY=VALUE...]\n"
"       pushctl [global options] queue set NAME KEY=VALUE...\n"
"       pushctl [global options] queue purge NAME\n"
"       pushctl [global options] queue delete [--force] NAME\n"
"       pushctl [global options] queue drop-group [--force] NAME GROUP|--shared\n"
"       pushctl [global options] schedule add NAME -q QUEUE\n"
"                                        (--cron RULE [--tz ZONE] |\n"
"                                        --every DURATION) [options]\n"
"                                        [PAYLOAD | --task NAME ...]\n"
"       pushctl [global options] schedule list [--json]\n"
"       pushctl [global options] schedule show NAME [--json]\n"
"       pushctl [global options] schedule pause|resume|remove|run-now NAME\n"
"\n"
"Talk to producerd, the pushstage daemon.  A daemon holds many queues,\n"
"each named by 1 to 64 bytes of A-Z a-z 0-9 . _ : -; -q QUEUE picks one\n"
"(default: the queue \"default\"; for stats, consumers and watch, the\n"
"whole daemon).\n"
"\n"
"  enqueue EVENT...   enqueue the arguments as one batch (one ENQUEUE frame);\n"
"                     --key KEY gives each that key (key order)\n"
"                     --retry SECONDS retries what a full queue refuses\n"
"  enqueue -          enqueue the lines of stdin, sent in batches; with -0,\n"
"                     NUL-separated records instead of lines\n"
"  enqueue --task NAME --args JSON --kwargs JSON  enqueue a task: the\n"
"                     call NAME(*ARGS, **KWARGS), as docs/tasks.md's\n"
"                     envelope (--args a JSON array, default [];\n"
"                     --kwargs a JSON object, default {})\n"
"  stats              the daemon's counters and consumers; --json for one\n"
"                     JSON object\n"
"  dead list          events that failed --max-attempts times: id,\n"
"                     attempts, why, size and the first BYTES (default 40)\n"
"  dead retry [ID...] put dead events back on the queue, attempts reset;\n"
"                     with no ID, all of them\n"
"  dead drop [ID...]  discard dead events; with no ID, all of them\n"
"  job show Q ID      where event ID of queue Q is (queued, delayed, in\n"
"                     flight, waiting to retry, dead...), its attempts,\n"
"                     key, headers and last failures; --json\n"
"  job cancel Q ID... cancel events of queue Q: waiting ones are gone, one\n"
"                     in flight is marked and its consumer told\n"
"  job wait Q ID      wait until event ID ends: its result (done), or its\n"
"                     last error (dead)\n"
"  jobs -q Q          a page of queue Q's events in one state (queued,\n"
"                     delayed, in-flight, retrying, dead, done), lowest ids\n"
"                     first; --key, --header NAME=VALUE; --json\n"
"  tasks -q Q         counts per task name (the task header) of queue Q:\n"
"                     done, failed, retried, dead, handling time p50, p90\n"
"                     and p99 in ms; --json\n"
"  consumers          connected consumers: id, pid, uid, demand, in flight,\n"
"                     delivered, connected since; --json for JSON\n"
"  watch              a live view, redrawn every second (--interval):\n"
"                     queue, rates, consumers; q or Ctrl-C quits\n"
"  queues             every queue: queued, in flight, dead, consumers,\n"
"                     enqueue and delivery rates (events/s); --json\n"
"  queue create NAME [KEY=VALUE...]  make a queue now (it stays, even\n"
"                     empty, and under producerd --no-auto-create)\n"
"  queue set NAME KEY=VALUE...  change a queue's settings at run time:\n"
"                     max-queue, max-queue-bytes, overflow, delivery,\n"
"                     ack-timeout, max-attempts, dispatch (producerd's\n"
"                     options);\n"
"                     kept across restarts with --data-dir\n"
"  queue purge NAME   drop the events it buffers (not those in flight)\n"
"  queue delete [--force] NAME  forget a queue, its events and dead\n"
"                     letters; refused while consumers are subscribed,\n"
"                     unless --force, which disconnects them\n"
"  queue drop-group [--force] NAME GROUP  forget one group of a queue's\n"
"                     consumers and what it holds (--shared: the shared\n"
"                     group); with --force, even with consumers in it\n"
"  schedule add NAME  enqueue an event into QUEUE at each tick of a cron\n"
"                     rule (--cron \"0 6 * * *\" --tz Europe/Berlin) or an\n"
"                     interval (--every 30s); the event's options as\n"
"                     enqueue's (--key, --priority, --header, --task)\n"
"  schedule list      every schedule: queue, rule, next and last tick,\n"
"                     fired, skipped, paused; --json\n"
"  schedule show NAME one schedule, with its next fire times and event\n"
"  schedule pause|resume|remove NAME  stop, restart or forget one\n"
"  schedule run-now NAME  enqueue its event once now; prints its id\n"
"\n"
"Groups: a consumer with --queue NAME/GROUP (or --group GROUP) joins a\n"
"group; every group gets every event enqueued in the queue from when it\n"
"was made, and its consumers share them.  -q NAME/GROUP shows, and acts\n"
"on the dead letters of, one group; NAME alone is the shared group.\n"
"\n"
"Global options, before or after the command (pushctl stats --socket P):\n"
"  -q, --queue QUEUE  the queue, for every command that takes -q\n"
"  -s, --socket PATH  producerd's socket (default: $PUSHSTAGE_SOCKET,\n"
"                     else $XDG_RUNTIME_DIR/pushstage.sock,\n"
"                     else ${TMPDIR:-/tmp}/pushstage-$UID/\n"
"                         pushstage.sock, a directory of\n"
"                         this user's alone)\n"
"  --log-level LEVEL  error, warning, info (default) or debug: the least\n"
"                     severe message said\n"
"  --log-format F     errors and warnings on stderr as text (key=value) or\n"
"                     json lines (default: plain \"pushctl: message\")\n"
"  -h, --help         this help\n"
"  -V, --version      the version\n"
"\n"
"Exit status: 0 done; 1 bad usage or a protocol error; 69 no producerd\n"
"answers at the socket or it went away; 75 the queue was full and refused\n"
"events, or producerd takes none now (it drains, or its journal's disk is\n"
"full): try again later.  enqueue exits 0 only once the daemon has confirmed every event\n"
"(or shed it by its --overflow policy, which it then says on stderr).\n");
}

/* 1 to 64 bytes of A-Z a-z 0-9 . _ : - */
int
name_ok(const char *s, size_t n)
{
	size_t	 i;

	if (n == 0 || n > PUSHSTAGE_QUEUE_MAX)
		return 0;
	for (i = 0; i < n; i++) {
		if (s[i] == '\0' || strchr("abcdefghijklmnopqrstuvwxyz"
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:-", s[i]) == NULL)
			return 0;
	}
	return 1;
}

/*
 * -q QUEUE, or QUEUE/GROUP (a group of its consumers; QUEUE/: the shared
 * one): checked here, so that every verb says the same.
 */
int
queue_option(const char *name)
{
	const char	*slash = strchr(name, '/');
	size_t		 q = slash ? (size_t)(slash - name) : strlen(name);

	if (!name_ok(name, q) || (slash != NULL && slash[1] != '\0' &&
	    !name_ok(slash + 1, strlen(slash + 1)))) {
		log_errorx("-q: \"%s\" is not a queue name: QUEUE or "
		    "QUEUE/GROUP, each 1 to %d bytes of A-Z a-z 0-9 . _ : -",
		    name, PUSHSTAGE_QUEUE_MAX);
		return -1;
	}
	ctl_queue = name;
	return 0;
}

/* --unique-id ID: 1 to 128 bytes, or -1 and why. */
int
uid_option(const char *id)
{
	if (*id == '\0' || strlen(id) > PUSHSTAGE_UNIQUE_ID_MAX) {
		log_errorx("--unique-id: %zu bytes; a unique id is 1 to %d",
		    strlen(id), PUSHSTAGE_UNIQUE_ID_MAX);
		return -1;
	}
	return 0;
}

/* The stats of -q's queue, or of the whole daemon. */
int
ctl_stats(struct pushstage *p, const struct pushstage_stats **st)
{
	if (ctl_queue != NULL)
		return pushstage_queue_stats(p, ctl_queue, st);
	return pushstage_stats(p, st);
}

/* The exit status for a library error. */
int
exit_status(int r)
{
	if (r == PUSHSTAGE_ECONNECT || r == PUSHSTAGE_EIO)
		return EXIT_UNAVAILABLE;
	if (r == PUSHSTAGE_EAGAIN)
		return EXIT_TEMPFAIL;
	return EXIT_USAGE;
}

/* Say what a failed call said and return the exit status for it. */
int
client_fail(struct pushstage *p, int r)
{
	log_errorx("%s", pushstage_error(p));
	return exit_status(r);
}

/* Connect as a client; on failure say why and return the exit status. */
int
client_connect(const char *path, struct pushstage **out)
{
	struct pushstage	*p;
	int			 r;

	if ((p = pushstage_new()) == NULL)
		fatal("pushstage_new");
	if ((r = pushstage_connect(p, path, "pushctl")) != 0 ||
	    (ctl_queue != NULL && (r = pushstage_queue(p, ctl_queue)) != 0)) {
		r = client_fail(p, r);
		pushstage_free(p);
		return r;
	}
	*out = p;
	return 0;
}

/*
 * The arguments of a verb whose one option is --json: 0 and *json; -1
 * after --help (exit 0); or EXIT_USAGE, said.
 */
int
json_option(const char *verb, int argc, char **argv, int *json)
{
	static const struct option longopts[] = {
		{ "json",	no_argument,		NULL, 'j' },
		{ "queue",	required_argument,	NULL, 'q' },
		{ "help",	no_argument,		NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	int	 ch;

	*json = 0;
	while ((ch = getopt_long(argc, argv, "jq:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'j':
			*json = 1;
			break;
		case 'q':
			if (queue_option(optarg) != 0)
				return EXIT_USAGE;
			break;
		case 'h':
			printf("usage: pushctl %s [-q QUEUE] [--json]\n", verb);
			return -1;
		default:
			fprintf(stderr, "usage: pushctl %s [-q QUEUE] [--json]\n",
			    verb);
			return EXIT_USAGE;
		}
	}
	if (optind != argc) {
		log_errorx("%s: unexpected argument \"%s\"", verb,
		    argv[optind]);
		return EXIT_USAGE;
	}
	return 0;
}

/* Connect and take one STATS reply: 0, or the exit status, said. */
int
stats_fetch(const char *path, struct pushstage **out,
    const struct pushstage_stats **st)
{
	int	 r, status;

	if ((status = client_connect(path, out)) != 0)
		return status;
	if ((r = ctl_stats(*out, st)) != 0) {
		status = client_fail(*out, r);
		pushstage_free(*out);
		*out = NULL;
		return status;
	}
	return 0;
}

/* One global option: 0, or -1 said. */
static int
global_option(int ch, const char *arg, const char **path)
{
	switch (ch) {
	case 's':
		*path = arg;
		return 0;
	case OPT_LOG_LEVEL:
		return opt_log_level(arg) == -1 ? -1 : 0;
	default:
		return opt_log_format(arg) == -1 ? -1 : 0;
	}
}

/*
 * Global options after the verb (pushctl stats --socket P) are taken out
 * of its arguments here, so that no verb needs to know them.  As getopt
 * would, this stops at "--", and for enqueue at its first event; the
 * value of a verb's own option is never read as an option.  0, or
 * EXIT_USAGE said.
 */
static int
late_globals(int *argcp, char **argv, int operand_ends, const char **path)
{
	static const struct {
		const char	*name;
		int		 ch;
	} globals[] = {
		{ "socket", 's' },
		{ "log-level", OPT_LOG_LEVEL },
		{ "log-format", OPT_LOG_FORMAT },
	};
	/*
	 * The verbs' options that take a value (dead, enqueue, watch,
	 * schedule add).
	 */
	static const char *const valued[] = {
		"preview", "queue", "retry", "key", "delay", "at", "priority",
		"unique-id", "interval", "count", "header", "task", "args",
		"kwargs", "cron", "tz", "every", "catch-up", NULL
	};
	const char	*a, *eq, *arg;
	size_t		 n, k;
	int		 argc = *argcp, i, j, ch, take;

	for (i = 1; i < argc; i++) {
		a = argv[i];
		if (strcmp(a, "--") == 0)
			break;
		if (a[0] != '-' || a[1] == '\0') {
			if (operand_ends)
				break;
			continue;
		}
		ch = 0;
		if (a[1] == '-') {
			eq = strchr(a + 2, '=');
			n = eq != NULL ? (size_t)(eq - a - 2) : strlen(a + 2);
			for (k = 0; k < sizeof globals / sizeof globals[0]; k++) {
				if (strlen(globals[k].name) == n &&
				    strncmp(a + 2, globals[k].name, n) == 0)
					ch = globals[k].ch;
			}
			if (ch == 0) {
				for (k = 0; eq == NULL && valued[k] != NULL; k++) {
					if (strcmp(a + 2, valued[k]) == 0) {
						i++;
						break;
					}
				}
				continue;
			}
			arg = eq != NULL ? eq + 1 : NULL;
		} else if (a[1] == 's') {
			ch = 's';
			arg = a[2] != '\0' ? a + 2 : NULL;
		} else {
			/* Short options: one that takes a value ends them. */
			for (j = 1; a[j] != '\0'; j++) {
				if (strchr("pqrkin", a[j]) != NULL) {
					if (a[j + 1] == '\0')
						i++;
					break;
				}
			}
			continue;
		}
		take = 1;
		if (arg == NULL) {
			if (i + 1 >= argc) {
				log_errorx("%s: give its value", a);
				return EXIT_USAGE;
			}
			arg = argv[i + 1];
			take = 2;
		}
		if (global_option(ch, arg, path) != 0)
			return EXIT_USAGE;
		/* Out of the verb's arguments, with the NULL after them. */
		memmove(&argv[i], &argv[i + take],
		    (size_t)(argc - i - take + 1) * sizeof *argv);
		argc -= take;
		i--;
	}
	*argcp = argc;
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "socket",	required_argument,	NULL, 's' },
		{ "queue",	required_argument,	NULL, 'q' },
		{ "help",	no_argument,		NULL, 'h' },
		{ "version",	no_argument,		NULL, 'V' },
		{ "log-level",	required_argument,	NULL, OPT_LOG_LEVEL },
		{ "log-format",	required_argument,	NULL, OPT_LOG_FORMAT },
		{ NULL, 0, NULL, 0 }
	};
	char		 pathbuf[4096];
	const char	*path = NULL, *verb;
	int		 ch;

	log_init("pushctl", PS_LOG_INFO);
	/* "+": stop at the verb; what follows it is the verb's. */
	while ((ch = getopt_long(argc, argv, "+s:q:hV", longopts, NULL)) != -1) {
		switch (ch) {
		case 's':
		case OPT_LOG_LEVEL:
		case OPT_LOG_FORMAT:
			if (global_option(ch, optarg, &path) != 0)
				return EXIT_USAGE;
			break;
		case 'q':
			if (queue_option(optarg) != 0)
				return EXIT_USAGE;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("pushctl %s (protocol %d, libpushstage %s)\n",
			    PUSHSTAGE_VERSION, PUSHSTAGE_PROTOCOL,
			    pushstage_version());
			return 0;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind == argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	verb = argv[optind];
	argc -= optind;
	argv += optind;
	if (late_globals(&argc, argv, strcmp(verb, "enqueue") == 0,
	    &path) != 0)
		return EXIT_USAGE;
	if (path == NULL)
		path = pushstage_default_socket(pathbuf, sizeof pathbuf);
	optind = 0;	/* glibc: 0 re-initialises getopt for the verb */
	if (strcmp(verb, "enqueue") == 0)
		return cmd_enqueue(path, argc, argv);
	if (strcmp(verb, "stats") == 0)
		return cmd_stats(path, argc, argv);
	if (strcmp(verb, "dead") == 0)
		return cmd_dead(path, argc, argv);
	if (strcmp(verb, "job") == 0)
		return cmd_job(path, argc, argv);
	if (strcmp(verb, "jobs") == 0)
		return cmd_jobs(path, argc, argv);
	if (strcmp(verb, "tasks") == 0)
		return cmd_tasks(path, argc, argv);
	if (strcmp(verb, "consumers") == 0)
		return cmd_consumers(path, argc, argv);
	if (strcmp(verb, "watch") == 0)
		return cmd_watch(path, argc, argv);
	if (strcmp(verb, "queues") == 0)
		return cmd_queues(path, argc, argv);
	if (strcmp(verb, "queue") == 0)
		return cmd_queue(path, argc, argv);
	if (strcmp(verb, "schedule") == 0)
		return cmd_schedule(path, argc, argv);
	if (strcmp(verb, "help") == 0) {
		usage(stdout);
		return 0;
	}
	log_errorx("unknown command \"%s\"", verb);
	usage(stderr);
	return EXIT_USAGE;
}
