/*
 * main.c: consumer: a worker with an id.  It asks producerd for up to
 * max-demand events, handles each (print, sleep, or run a command), and
 * tops its demand back up as GenStage does when it falls to min-demand.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "consumer.h"
#include "escape.h"
#include "log.h"
#include "opt.h"
#include "pushstage.h"

#define EX_UNAVAILABLE	69

static void
usage(FILE *f)
{
	fprintf(f,
"usage: consumer --id ID [--socket PATH] [--queue NAME [--group NAME]]\n"
"                [--partition K] [--max-demand N] [--min-demand N]\n"
"                [--work-ms MIN-MAX | --exec CMD [--result none|stdout]]\n"
"                [--log-level LEVEL] [--log-format text|json]\n"
"                [--log-file PATH]\n"
"\n"
"A pushstage worker.  Registers demand with producerd, handles each event\n"
"it is pushed, and asks for more.  Prints, one line each:\n"
"  ID: received EVENT      when an event arrives\n"
"  ID: finished EVENT      when its handling is done\n"
"with non-printable bytes of EVENT escaped C-style (\\n, \\xHH).\n"
"When producerd delivers at least once, each handled event is acked; one\n"
"whose --exec command fails (non-zero exit, or a signal) is nacked, and\n"
"producerd delivers it again at once, up to its --max-attempts, then it\n"
"is a dead letter.  Exit status 75 (EX_TEMPFAIL) means \"not now\": the\n"
"event is nacked to come back after the queue's retry-backoff\n"
"(pushctl queue set NAME retry-backoff=1s:5m; without one, at once).\n"
"A failure's error is its exit status (or signal) and the end of its\n"
"stderr; for a task (an event with a task header) it is the task\n"
"envelope's {\"type\":\"ExitStatus\",\"message\":\"exit status N\",\n"
"\"traceback\":\"...\"} (docs/tasks.md).\n"
"\n"
"  -i, --id ID            this worker's id (1..255 printable bytes)\n"
"  -s, --socket PATH      producerd's socket (default: $PUSHSTAGE_SOCKET,\n"
"                         else $XDG_RUNTIME_DIR/pushstage.sock,\n"
"                         else ${TMPDIR:-/tmp}/pushstage-$UID/\n"
"                             pushstage.sock, a directory of\n"
"                             this user's alone)\n"
"  -q, --queue NAME       the queue to take events from (default: default;\n"
"                         made on first use unless producerd says not)\n"
"  -g, --group NAME       join this group of the queue's consumers (made on\n"
"                         first use): every group gets every event of the\n"
"                         queue, and its consumers share them (default:\n"
"                         the queue's shared group)\n"
"  -k, --partition K      take the events of partition K (0 to N-1) of a\n"
"                         queue with dispatch=partition:N: those whose key\n"
"                         hashes to K (docs/dispatch.md)\n"
"  -M, --max-demand N     events asked for at once (default 1, at most %u)\n"
"  -m, --min-demand N     ask again when held events fall to N (default 0,\n"
"                         below max-demand)\n"
"  -w, --work-ms MIN-MAX  sleep a random MIN..MAX ms per event (default 0)\n"
"  -e, --exec CMD         run sh -c CMD per event, the payload on its stdin,\n"
"                         PUSHSTAGE_EVENT_ID, PUSHSTAGE_ATTEMPT (1 on first\n"
"                         delivery), PUSHSTAGE_CONSUMER_ID, PUSHSTAGE_QUEUE\n"
"                         (and PUSHSTAGE_GROUP in a group) set, each header\n"
"                         as PUSHSTAGE_HEADER_NAME (content-type:\n"
"                         PUSHSTAGE_HEADER_CONTENT_TYPE), and a task's name\n"
"                         (its task header) as PUSHSTAGE_TASK\n"
"  --result MODE          with --exec, what an ACK carries: none (default),\n"
"                         or stdout: the command's standard output, read to\n"
"                         its end, as the event's result (pushctl job wait\n"
"                         prints it); over the queue's max-result the event\n"
"                         fails instead, and a task's must be JSON\n"
"  -l, --log-level LEVEL  error, warning, info or debug (default info)\n"
"  --log-format FORMAT    text (default: time=... level=... msg=\"...\") or\n"
"                         json (one object per line)\n"
"  --log-file PATH        log to PATH (appended) instead of stderr; SIGHUP\n"
"                         opens it again, for log rotation\n"
"  -h, --help             this help\n"
"  -V, --version          the version\n"
"\n"
"Event lines go to stdout, log lines to stderr (or --log-file).\n"
"Exit status: 0 on SIGTERM or SIGINT; 1 on bad options, a protocol error,\n"
"or when producerd goes away; 69 when no producerd answers at the start.\n",
	    PUSHSTAGE_DEMAND_MAX);
}

/*
 * Lines go out once per read, not once per event, when handling is fast;
 * before and after each slow event otherwise.  A full disk or a closed
 * pipe on stdout is not a reason to stop handling events.
 */
static void
flush_out(void)
{
	if (fflush(stdout) == EOF)
		clearerr(stdout);
}

/* One line, "ID: what EVENT", written whole. */
static void
say(const char *id, const char *what, const void *data, size_t len)
{
	static char	*buf;
	static size_t	 size;
	size_t		 need = len * 4 + 1;	/* \xHH at worst */

	if (need > size) {
		if ((buf = realloc(buf, need)) == NULL)
			fatal("realloc");
		size = need;
	}
	escape_c(buf, size, data, len);
	printf("%s: %s %s\n", id, what, buf);
}

/*
 * Events of one read, handled in order once they are all announced, and
 * the answers owed for them: ids to ack and to nack, and demand to ask.
 */
struct batch {
	struct pushstage_event *ev;
	size_t		 n;
	size_t		 cap;
	uint64_t	*ack;		/* done, not yet acked */
	uint64_t	*nack;		/* failed: again at once */
	uint64_t	*later;		/* failed for now: after backoff */
	uint32_t	 ack_n;
	uint32_t	 nack_n;
	uint32_t	 later_n;
	uint32_t	 ask;		/* demand not yet asked */
};

static void
batch_add(struct batch *b, const struct pushstage_event *e)
{
	if (b->n == b->cap) {
		b->cap = b->cap ? b->cap * 2 : 64;
		if ((b->ev = reallocarray(b->ev, b->cap, sizeof *b->ev)) ==
		    NULL)
			fatal("reallocarray");
		/* The answer lists grow with it, on their next use. */
		free(b->ack);
		free(b->nack);
		free(b->later);
		b->ack = b->nack = b->later = NULL;
	}
	b->ev[b->n++] = *e;
}

/*
 * Owe the answer for the event just handled (status WORK_*): an ACK, a
 * NACK for at once (a failure, toward the dead letters as it repeats), or
 * a NACK that the queue's retry-backoff delays (exit 75, EX_TEMPFAIL).
 */
static void
batch_answer(struct batch *b, uint64_t id, int status)
{
	/* At most one answer per event of the batch: room for all. */
	if (b->ack == NULL && ((b->ack = calloc(b->cap, sizeof *b->ack)) ==
	    NULL || (b->nack = calloc(b->cap, sizeof *b->nack)) == NULL ||
	    (b->later = calloc(b->cap, sizeof *b->later)) == NULL))
		fatal("calloc");
	if (status == WORK_DONE)
		b->ack[b->ack_n++] = id;
	else if (status == WORK_TEMPFAIL)
		b->later[b->later_n++] = id;
	else
		b->nack[b->nack_n++] = id;
}

/* Send what is owed in one write: ACK, NACKs, then DEMAND. */
static int
batch_send(struct batch *b, struct pushstage *p)
{
	int	 r;

	if ((r = pushstage_ack(p, b->ack, b->ack_n)) != 0 ||
	    (r = pushstage_nack_later(p, b->nack, b->nack_n, 0)) != 0 ||
	    (r = pushstage_nack(p, b->later, b->later_n)) != 0)
		return r;
	if (b->ask != 0 && (r = pushstage_demand(p, b->ask)) != 0)
		return r;
	b->ack_n = b->nack_n = b->later_n = b->ask = 0;
	return pushstage_flush(p);
}

static void
batch_free(struct batch *b)
{
	free(b->ev);
	free(b->ack);
	free(b->nack);
	free(b->later);
}

/* The command line, checked (config_parse); main wires the rest. */
struct config {
	struct work	 work;		/* --id, --exec, --work-ms */
	const char	*path;		/* the socket */
	const char	*queue;		/* QUEUE or QUEUE/GROUP; NULL: default */
	uint32_t	 max_demand;
	uint32_t	 min_demand;
	int		 partition;	/* -1: none */
	char		 pathbuf[4096];
	char		 qpath[2 * PUSHSTAGE_QUEUE_MAX + 2];
	char		 qname[PUSHSTAGE_QUEUE_MAX + 1];	/* its parts */
	char		 gname[PUSHSTAGE_QUEUE_MAX + 1];
};

/*
 * Fill c from argv, every value checked, and open --log-file: 0 to run,
 * 1 to exit 0 (--help, --version), -1 to exit 1 after saying what is
 * wrong.
 */
static int
config_parse(struct config *c, int argc, char **argv)
{
	enum { OPT_LOG_FORMAT = 256, OPT_LOG_FILE, OPT_RESULT };
	static const struct option longopts[] = {
		{ "id",		required_argument,	NULL, 'i' },
		{ "socket",	required_argument,	NULL, 's' },
		{ "queue",	required_argument,	NULL, 'q' },
		{ "group",	required_argument,	NULL, 'g' },
		{ "partition",	required_argument,	NULL, 'k' },
		{ "max-demand",	required_argument,	NULL, 'M' },
		{ "min-demand",	required_argument,	NULL, 'm' },
		{ "work-ms",	required_argument,	NULL, 'w' },
		{ "exec",	required_argument,	NULL, 'e' },
		{ "log-level",	required_argument,	NULL, 'l' },
		{ "log-format",	required_argument,	NULL, OPT_LOG_FORMAT },
		{ "log-file",	required_argument,	NULL, OPT_LOG_FILE },
		{ "result",	required_argument,	NULL, OPT_RESULT },
		{ "help",	no_argument,		NULL, 'h' },
		{ "version",	no_argument,		NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	const char	*log_file = NULL, *group = NULL;
	uint32_t	 part;
	int		 ch;

	memset(c, 0, sizeof *c);
	c->work.sigfd = -1;
	c->max_demand = 1;
	c->partition = -1;
	while ((ch = getopt_long(argc, argv, "i:s:q:g:k:M:m:w:e:l:hV", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'i':
			c->work.id = optarg;
			break;
		case 's':
			c->path = optarg;
			break;
		case 'q':
			c->queue = optarg;
			break;
		case 'g':
			group = optarg;
			break;
		case 'k':
			if (opt_u32("--partition", optarg, 0,
			    PUSHSTAGE_PARTITIONS_MAX - 1, &part) != 0)
				return -1;
			c->partition = (int)part;
			break;
		case 'M':
			if (opt_u32("--max-demand", optarg, 1, PUSHSTAGE_DEMAND_MAX,
			    &c->max_demand) != 0)
				return -1;
			break;
		case 'm':
			if (opt_u32("--min-demand", optarg, 0,
			    PUSHSTAGE_DEMAND_MAX - 1, &c->min_demand) != 0)
				return -1;
			break;
		case 'w':
			if (opt_range("--work-ms", optarg, &c->work.min_ms,
			    &c->work.max_ms) != 0)
				return -1;
			break;
		case 'e':
			c->work.exec = optarg;
			break;
		case 'l':
			if (opt_log_level(optarg) != 0)
				return -1;
			break;
		case OPT_LOG_FORMAT:
			if (opt_log_format(optarg) != 0)
				return -1;
			break;
		case OPT_LOG_FILE:
			log_file = optarg;
			break;
		case OPT_RESULT:
			if (strcmp(optarg, "stdout") == 0)
				c->work.result = RESULT_STDOUT;
			else if (strcmp(optarg, "none") == 0)
				c->work.result = RESULT_NONE;
			else {
				log_errorx("--result: \"%s\" is not none or "
				    "stdout", optarg);
				return -1;
			}
			break;
		case 'h':
			usage(stdout);
			return 1;
		case 'V':
			printf("consumer %s (protocol %d, libpushstage %s)\n",
			    PUSHSTAGE_VERSION, PUSHSTAGE_PROTOCOL,
			    pushstage_version());
			return 1;
		default:
			usage(stderr);
			return -1;
		}
	}
	if (optind != argc) {
		log_errorx("unexpected argument \"%s\"", argv[optind]);
		return -1;
	}
	if (c->work.id == NULL) {
		log_errorx("--id is required");
		usage(stderr);
		return -1;
	}
	if (c->work.id[0] == '\0' || strlen(c->work.id) > PUSHSTAGE_ID_MAX) {
		log_errorx("--id: must be 1 to %d bytes", PUSHSTAGE_ID_MAX);
		return -1;
	}
	if (c->min_demand >= c->max_demand) {
		log_errorx("--min-demand %u must be below --max-demand %u",
		    c->min_demand, c->max_demand);
		return -1;
	}
	if (c->work.exec != NULL && c->work.max_ms != 0) {
		log_errorx("--exec and --work-ms do not go together");
		return -1;
	}
	if (c->work.result == RESULT_STDOUT && c->work.exec == NULL) {
		log_errorx("--result stdout goes with --exec CMD: the "
		    "command's standard output is the result");
		return -1;
	}
	if (c->path == NULL)
		c->path = pushstage_default_socket(c->pathbuf,
		    sizeof c->pathbuf);
	if (log_file != NULL && log_open(log_file) == -1)
		fatal("--log-file: cannot open %s", log_file);
	if (group != NULL) {
		if (strchr(group, '/') != NULL || *group == '\0' ||
		    (size_t)snprintf(c->qpath, sizeof c->qpath, "%s/%s",
		    c->queue != NULL ? c->queue : "default", group) >=
		    sizeof c->qpath) {
			log_errorx("--group: \"%s\" is not 1 to %d bytes of A-Z "
			    "a-z 0-9 . _ : -", group, PUSHSTAGE_QUEUE_MAX);
			return -1;
		}
		c->queue = c->qpath;
	}
	return 0;
}

/*
 * --result stdout: the queue's max-result, asked before any event comes
 * (a STATS answer cannot then be taken for an EVENT).  A queue that
 * cannot carry results is refused now, not found out event by event: at
 * most once (no ACK), max-result=0, or a daemon without protocol
 * version 5 (whose ACK has no result).  A later change of max-result is
 * seen at the next start; a result over a lowered one is refused by the
 * daemon, which ends the connection.  0, or -1 said.
 */
static int
result_setup(struct pushstage *p, struct config *c, const char *path)
{
	const struct pushstage_stats	*st;
	uint64_t			 v;

	if (!pushstage_acks(p)) {
		log_errorx("--result stdout: queue %s delivers at most once: "
		    "no ACK carries a result", c->work.queue);
		return -1;
	}
	if (pushstage_queue_stats(p, pushstage_queue_name(p), &st) != 0) {
		log_errorx("--result stdout: %s", pushstage_error(p));
		return -1;
	}
	if (pushstage_stat(st->counters, st->ncounters, "max_result",
	    &v) != 0) {
		log_errorx("--result stdout: producerd at %s keeps no results "
		    "(it speaks a protocol older than version 5)", path);
		return -1;
	}
	if (v == 0) {
		log_errorx("--result stdout: queue %s takes no results "
		    "(max-result=0)", c->work.queue);
		return -1;
	}
	c->work.result_max = (size_t)v;
	return 0;
}

/*
 * What the work needs of the connection: the queue and group names, the
 * room for a whole error, and with --result stdout the room for a
 * result.  0, or -1 said.
 */
static int
work_setup(struct pushstage *p, struct config *c, const char *path)
{
	const char	*q = pushstage_queue_name(p), *slash;
	size_t		 n, room;

	slash = strchr(q, '/');
	n = slash != NULL ? (size_t)(slash - q) : strlen(q);
	snprintf(c->qname, sizeof c->qname, "%.*s", (int)n, q);
	c->work.queue = c->qname;
	if (slash != NULL && slash[1] != '\0') {
		snprintf(c->gname, sizeof c->gname, "%s", slash + 1);
		c->work.group = c->gname;
	}
	/*
	 * The library cuts an error over the daemon's frame limit at its
	 * start, which would break a task's JSON: keep errors within it.
	 * The largest event is a little under what a frame holds, so this
	 * errs on the safe side (a --max-frame under 4200 or so).
	 */
	room = pushstage_max_event(p);
	room = room > 14 ? room - 14 : 0;
	c->work.error_max = room < PUSHSTAGE_ERROR_MAX ? room :
	    PUSHSTAGE_ERROR_MAX;
	if (c->work.result == RESULT_STDOUT)
		return result_setup(p, c, path);
	return 0;
}

/*
 * A connection to producerd as c says, its demand asked; NULL and
 * *status, the exit status, after saying why not.
 */
static struct pushstage *
consumer_connect(struct config *c, int *status)
{
	struct pushstage	*p;
	int			 r;

	*status = 1;
	if ((p = pushstage_new()) == NULL)
		fatal("pushstage_new");
	if (c->queue != NULL && pushstage_queue(p, c->queue) != 0) {
		log_errorx("--queue: %s", pushstage_error(p));
		goto fail;
	}
	if (pushstage_partition(p, c->partition) != 0) {
		log_errorx("--partition: %s", pushstage_error(p));
		goto fail;
	}
	if ((r = pushstage_connect_consumer(p, c->path, c->work.id,
	    c->max_demand, c->min_demand)) != 0) {
		log_errorx("%s", pushstage_error(p));
		if (r == PUSHSTAGE_ECONNECT)
			*status = EX_UNAVAILABLE;
		goto fail;
	}
	/* Before any demand: nothing but answers comes yet. */
	if (work_setup(p, c, c->path) != 0)
		goto fail;
	if (pushstage_demand(p, c->max_demand) != 0 ||
	    pushstage_flush(p) != 0) {
		log_errorx("id %s: %s", c->work.id, pushstage_error(p));
		goto fail;
	}
	return p;
fail:
	pushstage_free(p);
	return NULL;
}

/*
 * Handle events as they come until a signal (0) or an error (1, said):
 * each read's events printed, handled in turn and answered.
 */
static int
consume(struct pushstage *p, const struct work *w)
{
	static struct outcome	 out;
	struct pushstage_event	 e;
	struct batch		 b;
	struct pollfd		 pfd[2];
	size_t			 i;
	uint64_t		 id;
	int			 acks, slow, r, status, sent;

	memset(&b, 0, sizeof b);
	acks = pushstage_acks(p);
	/* Slow handling sends each answer at once; fast, one per read. */
	slow = w->exec != NULL || w->max_ms != 0;
	for (;;) {
		pfd[0].fd = w->sigfd;
		pfd[0].events = POLLIN;
		pfd[1].fd = pushstage_fd(p);
		pfd[1].events = POLLIN;
		if (poll(pfd, 2, -1) == -1) {
			if (errno == EINTR)
				continue;
			fatal("poll");
		}
		if ((pfd[0].revents & POLLIN) && signals_take(w->sigfd))
			goto stop;
		if (!(pfd[1].revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		if ((r = pushstage_read(p)) != 0)
			goto fail;
		b.n = 0;
		while ((r = pushstage_poll_event(p, &e)) == 1) {
			say(w->id, "received", e.data, e.len);
			batch_add(&b, &e);
		}
		if (r < 0)
			goto fail;
		flush_out();
		for (i = 0; i < b.n; i++) {
			/* Cancelled before it started: not run, but acked. */
			if (acks && pushstage_cancelled(p, b.ev[i].id)) {
				log_info("id %s: event %llu was cancelled: not "
				    "run", w->id,
				    (unsigned long long)b.ev[i].id);
				batch_answer(&b, b.ev[i].id, WORK_DONE);
				b.ask += pushstage_done(p);
				continue;
			}
			status = work_handle(w, p, &b.ev[i], &out);
			if (status == WORK_STOP)
				goto stop;
			say(w->id, "finished", b.ev[i].data, b.ev[i].len);
			id = b.ev[i].id;
			/* A result goes in its own ACK (protocol 5). */
			sent = 0;
			if (acks && status == WORK_DONE && out.result_len != 0) {
				r = pushstage_ack_result(p, id, out.result,
				    out.result_len);
				if (r == PUSHSTAGE_EINVAL) {
					/* Over what one frame holds. */
					log_warnx("event %llu (attempt %u): %s",
					    (unsigned long long)id,
					    b.ev[i].attempt, pushstage_error(p));
					work_fail(w, &out, "ResultTooLarge",
					    pushstage_error(p));
					status = WORK_FAILED;
				} else if (r != 0)
					goto fail;
				else
					sent = 1;
			}
			/* A failure says why (protocol 5; a NACK before). */
			if (sent)
				;
			else if (acks && status != WORK_DONE &&
			    out.error_len != 0) {
				if ((r = pushstage_nack_error(p, id,
				    status == WORK_TEMPFAIL ?
				    PUSHSTAGE_NACK_BACKOFF : 0, out.error,
				    out.error_len)) != 0)
					goto fail;
			} else if (acks)
				batch_answer(&b, id, status);
			b.ask += pushstage_done(p);
			if (slow) {
				flush_out();
				if ((r = batch_send(&b, p)) != 0)
					goto fail;
			}
		}
		flush_out();
		if ((r = batch_send(&b, p)) != 0)
			goto fail;
	}
stop:
	log_debug("id %s: stopping on a signal", w->id);
	batch_free(&b);
	free(out.result);
	return 0;
fail:
	log_errorx("id %s: %s", w->id, pushstage_error(p));
	batch_free(&b);
	free(out.result);
	return 1;
}

int
main(int argc, char **argv)
{
	struct config		 c;
	struct pushstage	*p;
	int			 status;

	log_init("consumer", PS_LOG_INFO);
	log_set_format(PS_LOG_TEXT);
	if ((status = config_parse(&c, argc, argv)) != 0)
		return status == 1 ? 0 : 1;
	srandom((unsigned)time(NULL) ^ (unsigned)getpid());
	/* Whole lines, flushed once per read or slow event: flush_out. */
	setvbuf(stdout, NULL, _IOFBF, 1 << 16);
	if ((c.work.sigfd = signals_init()) == -1)
		fatal("signal set-up");
	if ((p = consumer_connect(&c, &status)) == NULL)
		return status;
	status = consume(p, &c.work);
	pushstage_free(p);
	return status;
}
