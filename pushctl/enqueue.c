/*
 * enqueue.c: pushctl enqueue: the arguments as one batch, or the records
 * of stdin in batches as large as the daemon's frame limit allows.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backoff.h"
#include "clock.h"
#include "log.h"
#include "opt.h"
#include "pushctl.h"
#include "pushstage.h"

/* The queue stayed full: what enqueue returns then (not a library code). */
#define FULL		1

/* --retry: the first wait, and the longest, between attempts. */
#define RETRY_FIRST_MS	10
#define RETRY_MAX_MS	1000

/*
 * Batches in flight without --retry: the daemon always has the next to
 * read (docs/libpushstage.md, "Pipelining").  With --retry a refused rest
 * is sent again before anything after it, so one batch at a time.
 */
#define WINDOW		4

/* What the daemon confirmed, for the closing lines. */
struct tally {
	uint64_t	 events;
	uint64_t	 first_id;
	uint64_t	 last_id;
	int		 contiguous;
	uint64_t	 refused;	/* and given up on */
	uint64_t	 shed_new;
	uint64_t	 shed_old;
	uint32_t	 retry_ms;	/* --retry; 0: none */
	int		 full;		/* a batch was refused: stop */
	uint64_t	 duplicates;
	struct event_opts ev;		/* the event's options, and --delay,
					   --at, --unique-id */
};

static void
sleep_ms(uint64_t ms)
{
	struct timespec	 ts = { (time_t)(ms / 1000),
	    (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) == -1)
		continue;
}

static void
count(struct tally *t, const struct pushstage_enqueued *r)
{
	t->duplicates += r->duplicates;
	t->shed_new += r->shed_new;
	t->shed_old += r->shed_old;
	if (r->accepted == 0)
		return;
	if (t->events == 0) {
		t->first_id = r->first_id;
		t->contiguous = 1;
	} else if (r->first_id != t->last_id + 1)
		t->contiguous = 0;
	t->last_id = r->first_id + r->accepted - 1;
	t->events += r->accepted;
}

/* A pipelined batch's answer (no --retry): a refusal stands. */
static void
answered(void *arg, uint64_t seq, const struct pushstage_enqueued *r)
{
	struct tally	*t = arg;

	(void)seq;
	count(t, r);
	if (r->refused != 0) {
		t->refused += r->refused;
		t->full = 1;
	}
}

/*
 * Send the batch.  Without --retry it is posted, not waited for, and a
 * refusal stops enqueue (FULL).  With --retry what a full queue refuses
 * is sent again, after waits that double from 10 ms to 1 s, until
 * --retry's time is up; then the refusal stands (FULL).
 */
static int
send_batch(struct pushstage *p, struct tally *t)
{
	struct pushstage_enqueued	 r;
	struct backoff			 b;
	uint64_t			 end, wait, now, pause;
	int				 error;

	if (t->retry_ms == 0) {
		if ((error = pushstage_post(p, NULL)) != 0 ||
		    (error = pushstage_answers(p)) < 0) {
			log_errorx("%s", pushstage_error(p));
			return error;
		}
		return t->full ? FULL : 0;
	}
	backoff_init(&b, RETRY_FIRST_MS, RETRY_MAX_MS);
	end = clock_ms() + t->retry_ms;
	for (;;) {
		if ((error = pushstage_send(p, &r)) != 0) {
			log_errorx("%s", pushstage_error(p));
			return error;
		}
		count(t, &r);
		if (r.refused == 0)
			return 0;
		if ((now = clock_ms()) >= end) {
			t->refused += r.refused;
			pushstage_clear(p);
			return FULL;
		}
		pause = backoff_next(&b);
		wait = end - now < pause ? end - now : pause;
		sleep_ms(wait);
	}
}

static int
add_one(struct pushstage *p, const struct tally *t, const void *data,
    size_t len)
{
	int	 error;

	/* An add that failed (a full batch) left them: give them again. */
	if ((error = event_headers(p, &t->ev)) != 0)
		return error;
	if (t->ev.attrs)
		return pushstage_add_with(p, &t->ev.a, data, len);
	return pushstage_add(p, data, len);
}

/*
 * --at: an ISO 8601 UTC time, 2026-12-24T18:00:00Z (seconds optional, a
 * fraction to ms allowed), or @MS, ms since 1970.  -1 if it is neither.
 */
static int
parse_at(const char *arg, uint64_t *ms)
{
	struct tm	 tm;
	const char	*end;
	uint64_t	 frac = 0, scale = 1000;
	time_t		 t;

	if (arg[0] == '@')
		return opt_parse_u64(arg + 1, 1, UINT64_MAX / 2, ms);
	memset(&tm, 0, sizeof tm);
	if ((end = strptime(arg, "%Y-%m-%dT%H:%M", &tm)) == NULL)
		return -1;
	if (*end == ':' && (end = strptime(end, ":%S", &tm)) == NULL)
		return -1;
	if (*end == '.') {
		for (end++; *end >= '0' && *end <= '9'; end++) {
			scale /= 10;
			frac += (uint64_t)(*end - '0') * scale;
		}
	}
	if (strcmp(end, "Z") != 0 || (t = timegm(&tm)) == (time_t)-1 ||
	    t < 0)
		return -1;
	*ms = (uint64_t)t * 1000 + frac;
	return 0;
}

/* Add one event, sending the batch first if the event would not fit. */
static int
add(struct pushstage *p, struct tally *t, const void *data, size_t len,
    const char *what, unsigned long long which)
{
	int	 error;

	if (len > pushstage_max_event(p)) {
		if (which == 0)
			log_errorx("%s is %zu bytes; producerd takes events "
			    "of at most %u bytes (its --max-frame)", what, len,
			    pushstage_max_event(p));
		else
			log_errorx("%s %llu is %zu bytes; producerd takes "
			    "events of at most %u bytes (its --max-frame)",
			    what, which, len, pushstage_max_event(p));
		return PUSHSTAGE_ETOOBIG;
	}
	if ((error = add_one(p, t, data, len)) == PUSHSTAGE_ETOOBIG) {
		if ((error = send_batch(p, t)) != 0)
			return error;
		error = add_one(p, t, data, len);
	}
	if (error != 0)
		log_errorx("%s", pushstage_error(p));
	return error;
}

static int
from_stdin(struct pushstage *p, struct tally *t, int delim)
{
	char			*line = NULL;
	size_t			 cap = 0;
	ssize_t			 n;
	unsigned long long	 lineno = 0;
	int			 error = 0;

	while ((n = getdelim(&line, &cap, delim, stdin)) != -1) {
		lineno++;
		if (n > 0 && line[n - 1] == delim)
			n--;
		if ((error = add(p, t, line, (size_t)n, delim == '\n' ?
		    "line" : "record", lineno)) != 0)
			break;
	}
	if (error == FULL)
		log_errorx("stopped at %s %llu of stdin; what follows it was "
		    "not read", delim == '\n' ? "line" : "record", lineno);
	if (error == 0 && ferror(stdin)) {
		log_warn("reading stdin");
		error = PUSHSTAGE_EIO;
	}
	free(line);
	return error;
}

static void
enqueue_usage(FILE *f)
{
	fprintf(f, "usage: pushctl enqueue [-q QUEUE] [--key KEY] [--delay "
	    "DURATION | --at TIME]\n"
	    "           [--priority N] [--unique-id ID] [--header NAME=VALUE]"
	    "...\n"
	    "           [--retry SECONDS] EVENT...\n"
	    "       pushctl enqueue [options as above] [-0] -\n"
	    "           (lines, or with -0 NUL-separated records, of stdin)\n"
	    "       pushctl enqueue [options as above] --task NAME [--args "
	    "JSON]\n"
	    "           [--kwargs JSON]\n"
	    "           (one task: docs/tasks.md)\n"
	    "The events go to QUEUE (default: the queue default), made on "
	    "first use\nunless producerd says otherwise; with --key, each "
	    "with that key (a queue\nwith dispatch key hands out a key's "
	    "events one at a time, in order).\n"
	    "  --delay DURATION  not delivered before then, as 30s, 5m, 2h "
	    "(at most 10 years)\n"
	    "  --at TIME         not before TIME: 2026-12-24T18:00:00Z (UTC), "
	    "or @MS since 1970\n"
	    "  --priority N      0 to 65535, smaller first (default 32768)\n"
	    "  --unique-id ID    1 to 128 bytes: not enqueued while an event "
	    "with ID is in\n"
	    "                    the queue or its dedup window "
	    "(a duplicate, counted, exit 0)\n"
	    "  --header NAME=VALUE  a header of each event (repeatable, up to "
	    "16): NAME\n"
	    "                    1 to 64 bytes of a-z 0-9 - _ ., VALUE up to "
	    "1024 bytes\n"
	    "  --task NAME       enqueue one task: headers task: NAME and "
	    "content-type:\n"
	    "                    application/json, the payload "
	    "{\"args\":ARGS,\"kwargs\":KWARGS}\n"
	    "                    with the JSON of --args and --kwargs as "
	    "given; NAME is 1 to\n"
	    "                    255 bytes of UTF-8 without control "
	    "characters\n"
	    "  --args JSON       the positional arguments, a JSON array "
	    "(default [])\n"
	    "  --kwargs JSON     the keyword arguments, a JSON object "
	    "(default {})\n"
	    "                    (a --header content-type other than "
	    "application/json is\n"
	    "                    refused with --task)\n"
	    "When producerd's queue is full (--overflow reject), the events "
	    "it refuses\nare sent again with backoff for up to --retry "
	    "SECONDS; still refused,\nenqueue stops and exits 75.\n");
}

int
cmd_enqueue(const char *path, int argc, char **argv)
{
	static const struct option longopts[] = {
		EVENT_LONGOPTS,
		{ "null",	no_argument,		NULL, '0' },
		{ "retry",	required_argument,	NULL, 'r' },
		{ "queue",	required_argument,	NULL, 'q' },
		{ "delay",	required_argument,	NULL, 'D' },
		{ "at",		required_argument,	NULL, 'A' },
		{ "unique-id",	required_argument,	NULL, 'U' },
		{ "help",	no_argument,		NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct tally		 t;
	struct pushstage	*p;
	char			*payload;
	size_t			 plen;
	int			 ch, i, nul = 0, error = 0, status, wait, r;

	memset(&t, 0, sizeof t);
	event_init(&t.ev);
	while ((ch = getopt_long(argc, argv, "+0r:q:k:h", longopts,
	    NULL)) != -1) {
		if ((r = event_option(&t.ev, ch, optarg)) != 0) {
			if (r < 0)
				return EXIT_USAGE;
			continue;
		}
		switch (ch) {
		case 'D':
			if (opt_parse_duration(optarg, 10ull * 366 * 86400000,
			    &t.ev.a.delay_ms) != 0) {
				log_errorx("--delay: \"%s\" is not a duration "
				    "from 0 to 10 years (as 30s, 5m, 2h, 7d)",
				    optarg);
				return EXIT_USAGE;
			}
			t.ev.attrs = 1;
			break;
		case 'A':
			if (parse_at(optarg, &t.ev.a.not_before_ms) != 0) {
				log_errorx("--at: \"%s\" is not a UTC time "
				    "as 2026-12-24T18:00:00Z, or @MS (ms since "
				    "1970)", optarg);
				return EXIT_USAGE;
			}
			if (t.ev.a.not_before_ms > clock_wall_ms() +
			    10ull * 366 * 86400000) {
				log_errorx("--at: %s is more than 10 years "
				    "from now", optarg);
				return EXIT_USAGE;
			}
			t.ev.attrs = 1;
			break;
		case 'U':
			if (uid_option(optarg) != 0)
				return EXIT_USAGE;
			t.ev.a.unique_id = optarg;
			t.ev.a.unique_id_len = strlen(optarg);
			t.ev.attrs = 1;
			break;
		case 'q':
			if (queue_option(optarg) != 0)
				return EXIT_USAGE;
			break;
		case '0':
			nul = 1;
			break;
		case 'r':
			if (opt_seconds("--retry", optarg, 86400000, 0,
			    &t.retry_ms) != 0)
				return EXIT_USAGE;
			break;
		case 'h':
			enqueue_usage(stdout);
			return 0;
		default:
			enqueue_usage(stderr);
			return EXIT_USAGE;
		}
	}
	argc -= optind;
	argv += optind;
	if (event_finish(&t.ev, "enqueue", argc != 0 ? argv[0] : NULL,
	    "the event") != 0)
		return EXIT_USAGE;
	if (argc == 0 && t.ev.task == NULL) {
		log_errorx("enqueue: give the events, or - to read stdin");
		enqueue_usage(stderr);
		return EXIT_USAGE;
	}
	if (t.ev.a.delay_ms != 0 && t.ev.a.not_before_ms != 0) {
		log_errorx("enqueue: --delay and --at: give one");
		return EXIT_USAGE;
	}
	if (nul && !(argc == 1 && strcmp(argv[0], "-") == 0)) {
		log_errorx("enqueue: -0 goes with -, to read stdin");
		return EXIT_USAGE;
	}
	if (ctl_queue != NULL && strchr(ctl_queue, '/') != NULL) {
		log_errorx("enqueue: -q %s: events go to a queue, and every "
		    "group of it gets them; name the queue alone", ctl_queue);
		return EXIT_USAGE;
	}
	if ((status = client_connect(path, &p)) != 0)
		return status;
	if (t.retry_ms == 0 && pushstage_pipeline(p, WINDOW, answered, &t) != 0) {
		log_errorx("%s", pushstage_error(p));
		pushstage_free(p);
		return EXIT_USAGE;
	}

	if (t.ev.task != NULL) {
		payload = event_task_payload(&t.ev, &plen);
		error = add(p, &t, payload, plen, "the task's payload", 0);
		free(payload);
	} else if (argc == 1 && strcmp(argv[0], "-") == 0)
		error = from_stdin(p, &t, nul ? '\0' : '\n');
	else {
		for (i = 0; i < argc && error == 0; i++)
			error = add(p, &t, argv[i], strlen(argv[i]),
			    "argument", (unsigned long long)i + 1);
	}
	if (error == 0 && pushstage_batch_count(p) != 0)
		error = send_batch(p, &t);
	/* What is still in flight is answered before the closing lines. */
	if ((error == 0 || error == FULL) && (wait = pushstage_wait(p)) != 0) {
		log_errorx("%s", pushstage_error(p));
		error = wait;
	}
	if (error == 0 && t.full)
		error = FULL;

	if (t.events != 0 && t.first_id == 0)	/* a cluster's: ids later */
		printf("enqueued %llu event%s\n", (unsigned long long)t.events,
		    t.events == 1 ? "" : "s");
	else if (t.events == 1)
		printf("enqueued 1 event: id %llu\n",
		    (unsigned long long)t.first_id);
	else if (t.events != 0 && t.contiguous)
		printf("enqueued %llu events: ids %llu-%llu\n",
		    (unsigned long long)t.events,
		    (unsigned long long)t.first_id,
		    (unsigned long long)t.last_id);
	else if (t.events != 0)
		printf("enqueued %llu events: first id %llu, last id %llu\n",
		    (unsigned long long)t.events,
		    (unsigned long long)t.first_id,
		    (unsigned long long)t.last_id);
	else if (error == 0 || error == FULL)
		printf("enqueued 0 events\n");
	if (t.duplicates != 0)
		printf("%llu duplicate%s not enqueued: unique id %.*s is held "
		    "in the queue\n", (unsigned long long)t.duplicates,
		    t.duplicates == 1 ? "" : "s", (int)t.ev.a.unique_id_len,
		    (const char *)t.ev.a.unique_id);
	if (t.shed_new != 0)
		log_warnx("producerd at %s shed %llu of the events sent: its "
		    "queue was full (--overflow drop-newest)", path,
		    (unsigned long long)t.shed_new);
	if (t.shed_old != 0)
		log_warnx("producerd at %s shed %llu older buffered events to "
		    "make room (--overflow drop-oldest)", path,
		    (unsigned long long)t.shed_old);
	if (error == FULL)
		log_errorx("producerd at %s refused %llu events: its queue is "
		    "full (--max-queue); %s", path,
		    (unsigned long long)t.refused, t.retry_ms ?
		    "still full when --retry ran out" :
		    "send them again later, or use --retry SECONDS");
	pushstage_free(p);
	if (error == FULL)
		return EXIT_TEMPFAIL;
	return error == 0 ? 0 : exit_status(error);
}
