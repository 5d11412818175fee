/*
 * enqueue.c: pushctl enqueue: the arguments as one batch, or the records
 * of stdin in batches as large as the daemon's frame limit allows.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client.h"
#include "clock.h"
#include "log.h"
#include "opt.h"
#include "pushctl.h"

/* --retry: the first wait, and the longest, between attempts. */
#define RETRY_FIRST_MS	10
#define RETRY_MAX_MS	1000

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
count(struct tally *t, const struct ps_enqueued *r)
{
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

/*
 * Send the batch.  What a full queue refuses is sent again, after waits
 * that double from 10 ms to 1 s, until --retry's time is up; then the
 * refusal stands and enqueue stops (PSC_E_FULL).
 */
static int
send_batch(struct psc *c, struct tally *t)
{
	struct ps_enqueued	 r;
	uint64_t		 end = clock_ms() + t->retry_ms, wait, now;
	uint32_t		 pause = RETRY_FIRST_MS;
	int			 error;

	for (;;) {
		if ((error = psc_batch_send(c, &r)) != 0) {
			log_errorx("%s", c->err);
			return error;
		}
		count(t, &r);
		if (r.refused == 0)
			return 0;
		if ((now = clock_ms()) >= end) {
			t->refused += r.refused;
			return PSC_E_FULL;
		}
		wait = end - now < pause ? end - now : pause;
		sleep_ms(wait);
		if (pause < RETRY_MAX_MS)
			pause *= 2;
		psc_batch_refused(c, r.refused);
	}
}

/* Add one event, sending the batch first if the event would not fit. */
static int
add(struct psc *c, struct tally *t, const void *data, size_t len,
    const char *what, unsigned long long which)
{
	int	 error;

	if (!psc_event_fits(c, len)) {
		log_errorx("%s %llu is %zu bytes; producerd at %s takes events "
		    "of at most %zu bytes (its --max-frame is %u)", what,
		    which, len, c->path, (size_t)c->max_frame -
		    ps_enqueue_size(1, 0), c->max_frame);
		return PSC_E_TOO_BIG;
	}
	if (!psc_batch_fits(c, len) && (error = send_batch(c, t)) != 0)
		return error;
	if ((error = psc_batch_add(c, data, (uint32_t)len)) != 0) {
		log_errorx("%s", c->err);
		return error;
	}
	return 0;
}

static int
from_stdin(struct psc *c, struct tally *t, int delim)
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
		if ((error = add(c, t, line, (size_t)n, delim == '\n' ?
		    "line" : "record", lineno)) != 0)
			break;
	}
	if (error == PSC_E_FULL)
		log_errorx("stopped at %s %llu of stdin; what follows it was "
		    "not read", delim == '\n' ? "line" : "record", lineno);
	if (error == 0 && ferror(stdin)) {
		log_warn("reading stdin");
		error = PSC_E_IO;
	}
	free(line);
	return error;
}

static void
enqueue_usage(FILE *f)
{
	fprintf(f, "usage: pushctl enqueue [--retry SECONDS] EVENT...\n"
	    "       pushctl enqueue [--retry SECONDS] [-0] -     (lines, or "
	    "with -0\n"
	    "           NUL-separated records, of stdin)\n"
	    "When producerd's queue is full (--overflow reject), the events "
	    "it refuses\nare sent again with backoff for up to --retry "
	    "SECONDS; still refused,\nenqueue stops and exits 75.\n");
}

int
cmd_enqueue(const char *path, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "null",	no_argument,		NULL, '0' },
		{ "retry",	required_argument,	NULL, 'r' },
		{ "help",	no_argument,		NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct tally	 t;
	struct psc	 c;
	int		 ch, i, nul = 0, error = 0, status;

	memset(&t, 0, sizeof t);
	while ((ch = getopt_long(argc, argv, "+0r:h", longopts, NULL)) != -1) {
		switch (ch) {
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
	if (argc == 0) {
		log_errorx("enqueue: give the events, or - to read stdin");
		enqueue_usage(stderr);
		return EXIT_USAGE;
	}
	if (nul && !(argc == 1 && strcmp(argv[0], "-") == 0)) {
		log_errorx("enqueue: -0 goes with -, to read stdin");
		return EXIT_USAGE;
	}
	if ((status = client_connect(&c, path)) != 0)
		return status;

	if (argc == 1 && strcmp(argv[0], "-") == 0)
		error = from_stdin(&c, &t, nul ? '\0' : '\n');
	else {
		for (i = 0; i < argc && error == 0; i++)
			error = add(&c, &t, argv[i], strlen(argv[i]),
			    "argument", (unsigned long long)i + 1);
	}
	if (error == 0 && psc_batch_count(&c) != 0)
		error = send_batch(&c, &t);

	if (t.events == 1)
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
	else if (error == 0 || error == PSC_E_FULL)
		printf("enqueued 0 events\n");
	if (t.shed_new != 0)
		log_warnx("producerd at %s shed %llu of the events sent: its "
		    "queue was full (--overflow drop-newest)", path,
		    (unsigned long long)t.shed_new);
	if (t.shed_old != 0)
		log_warnx("producerd at %s shed %llu older buffered events to "
		    "make room (--overflow drop-oldest)", path,
		    (unsigned long long)t.shed_old);
	if (error == PSC_E_FULL)
		log_errorx("producerd at %s refused %llu events: its queue is "
		    "full (--max-queue); %s", path,
		    (unsigned long long)t.refused, t.retry_ms ?
		    "still full when --retry ran out" :
		    "send them again later, or use --retry SECONDS");
	psc_close(&c);
	if (error == PSC_E_FULL)
		return EXIT_TEMPFAIL;
	return error == 0 ? 0 : exit_status(error);
}
