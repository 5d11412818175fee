/*
 * job.c: pushctl job show: where one event of a queue (or group) is and
 * what it carries (protocol version 5, JOB; docs/protocol.md); pushctl
 * job cancel: events of a queue cancelled (JOB_CANCEL; docs/jobs.md).
 */
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "escape.h"
#include "log.h"
#include "opt.h"
#include "pushctl.h"
#include "pushstage.h"

#define PREVIEW_DEFAULT	200

static void
job_usage(FILE *f)
{
	fprintf(f, "usage: pushctl job show QUEUE[/GROUP] ID [--json] "
	    "[--preview BYTES]\n"
	    "       pushctl job show QUEUE[/GROUP] --unique-id ID [--json] "
	    "[--preview BYTES]\n"
	    "Where one event of the queue (or group) is: queued, delayed, "
	    "in flight,\nwaiting to retry, dead...; its attempts, key, "
	    "headers, its last failures\n(when, which attempt, which "
	    "consumer, the error) and its payload's first\nBYTES (default "
	    "%d, at most %d).  Exit status 1 if the queue has no such\n"
	    "event now (never enqueued, or done with).\n", PREVIEW_DEFAULT,
	    PUSHSTAGE_PREVIEW_MAX);
	fprintf(f, "       pushctl job wait QUEUE[/GROUP] ID [--timeout DURATION] "
	    "[--json]\n"
	    "       pushctl job wait QUEUE[/GROUP] --unique-id ID "
	    "[--timeout DURATION] [--json]\n"
	    "Wait until the event ends, as the daemon says it does: done "
	    "(its result on\nstandard output, exit 0), dead (its last error "
	    "on standard error, exit 1),\ncancelled or unknown (exit 1); "
	    "still going after the timeout: exit 75.\n");
	fprintf(f, "       pushctl job cancel QUEUE ID... [--json]\n"
	    "       pushctl job cancel QUEUE --unique-id ID [--json]\n"
	    "Cancel events of the queue, in every group: one waiting "
	    "(queued, delayed,\nbehind its key, for its partition, to "
	    "retry) is gone; one in flight is\nmarked, its consumer told, "
	    "and not sent again.  An id the queue does not\nhold waiting "
	    "or in flight, or a dead letter, cancels none (exit status "
	    "1).\n");
}

static const char *
reason_text(int reason)
{
	switch (reason) {
	case PUSHSTAGE_DEAD_NACK:
		return "nack";
	case PUSHSTAGE_DEAD_TIMEOUT:
		return "timeout";
	case PUSHSTAGE_DEAD_DISCONNECT:
		return "disconnect";
	case PUSHSTAGE_DEAD_REJECTED:
		return "rejected";
	default:
		return "";
	}
}

/* What at_ms means in each state, for the table. */
static const char *
at_label(int state)
{
	switch (state) {
	case PUSHSTAGE_JOB_DELAYED:
	case PUSHSTAGE_JOB_RETRY_WAIT:
		return "due";
	case PUSHSTAGE_JOB_IN_FLIGHT:
	case PUSHSTAGE_JOB_CANCELLED:
		return "delivered";
	case PUSHSTAGE_JOB_DONE:
		return "done";
	default:
		return "ready since";
	}
}

static void
print_json(const struct pushstage_job *j)
{
	char	 t[40];
	size_t	 i;

	printf("{\"id\":%llu,\"state\":", (unsigned long long)j->id);
	json_string(j->state_name);
	printf(",\"attempts\":%u,\"at\":", j->attempts);
	if (j->at_ms != 0)
		json_string(iso_time(1, j->at_ms, t, sizeof t));
	else
		printf("null");
	printf(",\"reason\":");
	if (j->state == PUSHSTAGE_JOB_DEAD)
		json_string(reason_text(j->reason));
	else
		printf("null");
	printf(",\"priority\":%u,\"consumer\":", j->priority);
	if (j->consumer != NULL)
		json_bytes(j->consumer, j->consumer_len);
	else
		printf("null");
	printf(",\"key\":");
	if (j->key != NULL)
		json_bytes(j->key, j->key_len);
	else
		printf("null");
	printf(",\"headers\":{");
	for (i = 0; i < j->nheaders; i++) {
		printf("%s", i ? "," : "");
		json_bytes(j->headers[i].name, j->headers[i].name_len);
		putchar(':');
		json_bytes(j->headers[i].value, j->headers[i].value_len);
	}
	printf("},\"bytes\":%zu,\"preview\":", j->len);
	json_bytes(j->preview, j->preview_len);
	printf(",\"failures\":[");
	for (i = 0; i < j->nfailures; i++) {
		printf("%s{\"at\":", i ? "," : "");
		json_string(iso_time(1, j->failures[i].at_ms, t, sizeof t));
		printf(",\"attempt\":%u,\"consumer\":", j->failures[i].attempt);
		json_bytes(j->failures[i].consumer,
		    j->failures[i].consumer_len);
		printf(",\"error\":");
		json_bytes(j->failures[i].error, j->failures[i].error_len);
		putchar('}');
	}
	printf("],\"result\":");
	if (j->state == PUSHSTAGE_JOB_DONE)
		json_bytes(j->result, j->result_len);
	else
		printf("null");
	printf("}\n");
}

/* An error's lines, each indented under its failure. */
static void
print_lines(const char *indent, const void *v, size_t n)
{
	const char	*p = v, *end = p + n, *nl;
	char		 text[4 * 4096 + 1];

	while (p < end) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
		escape_c(text, sizeof text, p, (size_t)(nl - p));
		printf("%s%s\n", indent, text);
		p = nl + 1;
	}
}

static void
print_text(const char *queue, const struct pushstage_job *j)
{
	char	 t[40], text[4 * PUSHSTAGE_PREVIEW_MAX + 1];
	size_t	 i;

	printf("event %llu of %s: %s", (unsigned long long)j->id, queue,
	    j->state_name);
	if (j->state == PUSHSTAGE_JOB_DEAD)
		printf(" (%s)", reason_text(j->reason));
	printf("\n");
	printf("  %-12s %u\n", "attempts", j->attempts);
	if (j->at_ms != 0)
		printf("  %-12s %s\n", at_label(j->state),
		    iso_time(1, j->at_ms, t, sizeof t));
	if (j->consumer != NULL) {
		escape_c(text, sizeof text, j->consumer, j->consumer_len);
		printf("  %-12s %s\n", "consumer", text);
	}
	printf("  %-12s %u\n", "priority", j->priority);
	if (j->key != NULL) {
		escape_c(text, sizeof text, j->key, j->key_len);
		printf("  %-12s %s\n", "key", text);
	}
	for (i = 0; i < j->nheaders; i++) {
		escape_c(text, sizeof text, j->headers[i].value,
		    j->headers[i].value_len);
		printf("  %-12s %.*s: %s\n", i == 0 ? "headers" : "",
		    (int)j->headers[i].name_len, j->headers[i].name, text);
	}
	if (j->state == PUSHSTAGE_JOB_DONE) {
		escape_c(text, sizeof text, j->result, j->result_len <
		    PUSHSTAGE_PREVIEW_MAX ? j->result_len :
		    PUSHSTAGE_PREVIEW_MAX);
		printf("  %-12s %zu bytes: %s%s\n", "result", j->len, text,
		    j->result_len > PUSHSTAGE_PREVIEW_MAX ? "..." : "");
	} else {
		escape_c(text, sizeof text, j->preview, j->preview_len);
		printf("  %-12s %zu bytes: %s%s\n", "payload", j->len, text,
		    j->preview_len < j->len ? "..." : "");
	}
	for (i = 0; i < j->nfailures; i++) {
		escape_c(text, sizeof text, j->failures[i].consumer,
		    j->failures[i].consumer_len);
		printf("  %-12s %s, attempt %u, by %s%s\n", i == 0 ?
		    "failures" : "",
		    iso_time(1, j->failures[i].at_ms, t, sizeof t),
		    j->failures[i].attempt, text, j->failures[i].error_len ?
		    ":" : " (no error said)");
		print_lines("                 ", j->failures[i].error,
		    j->failures[i].error_len);
	}
}

/*
 * What follows a job verb's options: QUEUE ID, or QUEUE alone with
 * --unique-id (uid).  0, or -1 said.
 */
static int
queue_and_id(const char *verb, int argc, char **argv, const char *uid,
    const char **queue, uint64_t *id)
{
	if (argc != (uid == NULL ? 2 : 1)) {
		log_errorx("%s: give the queue and the event's id (or "
		    "--unique-id)", verb);
		job_usage(stderr);
		return -1;
	}
	*queue = argv[0];
	if (uid == NULL && opt_parse_u64(argv[1], 1, UINT64_MAX, id) != 0) {
		log_errorx("%s: \"%s\" is not an event id (a whole number "
		    "from 1)", verb, argv[1]);
		return -1;
	}
	return queue_option(*queue);
}

static int
job_show(const char *path, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json",	no_argument,		NULL, 'j' },
		{ "preview",	required_argument,	NULL, 'p' },
		{ "unique-id",	required_argument,	NULL, 'U' },
		{ "help",	no_argument,		NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const struct pushstage_job	*j;
	struct pushstage		*p;
	const char			*uid = NULL, *queue;
	uint64_t			 id = 0;
	uint32_t			 preview = PREVIEW_DEFAULT;
	int				 ch, json = 0, r, status;

	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'j':
			json = 1;
			break;
		case 'p':
			if (opt_u32("--preview", optarg, 0,
			    PUSHSTAGE_PREVIEW_MAX, &preview) != 0)
				return EXIT_USAGE;
			break;
		case 'U':
			if (uid_option(optarg) != 0)
				return EXIT_USAGE;
			uid = optarg;
			break;
		case 'h':
			job_usage(stdout);
			return 0;
		default:
			job_usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (queue_and_id("job show", argc - optind, argv + optind, uid, &queue,
	    &id) != 0)
		return EXIT_USAGE;
	if ((status = client_connect(path, &p)) != 0)
		return status;
	if ((r = pushstage_job(p, id, uid, uid != NULL ? strlen(uid) : 0,
	    preview, &j)) != 0) {
		status = client_fail(p, r);
		pushstage_free(p);
		return status;
	}
	if (j->state == PUSHSTAGE_JOB_UNKNOWN) {
		if (uid != NULL)
			log_errorx("%s has no event of unique id %s now "
			    "(never enqueued, or done with)", queue, uid);
		else
			log_errorx("%s has no event %llu now (never enqueued, "
			    "or done with)", queue, (unsigned long long)id);
		pushstage_free(p);
		return EXIT_USAGE;
	}
	if (json)
		print_json(j);
	else
		print_text(queue, j);
	pushstage_free(p);
	return 0;
}

static int
job_cancel(const char *path, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json",	no_argument,		NULL, 'j' },
		{ "unique-id",	required_argument,	NULL, 'U' },
		{ "help",	no_argument,		NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct pushstage_cancel	*out;
	struct pushstage	*p;
	const char		*uid = NULL, *queue;
	uint64_t		*ids;
	size_t			 i, n;
	int			 ch, json = 0, r, status;

	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'j':
			json = 1;
			break;
		case 'U':
			if (uid_option(optarg) != 0)
				return EXIT_USAGE;
			uid = optarg;
			break;
		case 'h':
			job_usage(stdout);
			return 0;
		default:
			job_usage(stderr);
			return EXIT_USAGE;
		}
	}
	argc -= optind;
	argv += optind;
	if (uid != NULL ? argc != 1 : argc < 2) {
		log_errorx("job cancel: give the queue and the events' ids (or "
		    "one --unique-id)");
		job_usage(stderr);
		return EXIT_USAGE;
	}
	queue = argv[0];
	if (strchr(queue, '/') != NULL) {
		log_errorx("job cancel: %s is a group; a job is cancelled in "
		    "every group of its queue: name the queue", queue);
		return EXIT_USAGE;
	}
	if (queue_option(queue) != 0)
		return EXIT_USAGE;
	n = uid != NULL ? 1 : (size_t)argc - 1;
	if ((ids = calloc(n, sizeof *ids)) == NULL ||
	    (out = calloc(n, sizeof *out)) == NULL)
		fatal("calloc");
	for (i = 0; uid == NULL && i < n; i++) {
		if (opt_parse_u64(argv[i + 1], 1, UINT64_MAX, &ids[i]) != 0) {
			log_errorx("job cancel: \"%s\" is not an event id (a "
			    "whole number from 1)", argv[i + 1]);
			free(ids);
			free(out);
			return EXIT_USAGE;
		}
	}
	if ((status = client_connect(path, &p)) != 0)
		goto done;
	if ((r = pushstage_job_cancel(p, uid != NULL ? NULL : ids,
	    uid != NULL ? 0 : n, uid, uid != NULL ? strlen(uid) : 0,
	    out)) != 0) {
		status = client_fail(p, r);
		pushstage_free(p);
		goto done;
	}
	if (json)
		printf("[");
	for (i = 0; i < n; i++) {
		if (json)
			printf("%s{\"id\":%llu,\"outcome\":%d,\"cancelled\":"
			    "\"%s\"}", i ? "," : "",
			    (unsigned long long)out[i].id, out[i].outcome,
			    pushstage_cancel_outcome_name(out[i].outcome));
		else
			printf("%llu\t%s\n", (unsigned long long)out[i].id,
			    pushstage_cancel_outcome_name(out[i].outcome));
	}
	if (json)
		printf("]\n");
	pushstage_free(p);
done:
	free(ids);
	free(out);
	return status;
}

static int
job_wait(const char *path, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json",	no_argument,		NULL, 'j' },
		{ "timeout",	required_argument,	NULL, 't' },
		{ "unique-id",	required_argument,	NULL, 'U' },
		{ "help",	no_argument,		NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct pushstage_wait	 w;
	struct pushstage	*p;
	const char		*uid = NULL, *queue;
	char			 t[40], text[4 * PUSHSTAGE_ERROR_MAX + 1];
	uint64_t		 id = 0, ms = UINT32_MAX, left, start, now;
	int			 ch, json = 0, r, status;

	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'j':
			json = 1;
			break;
		case 't':
			if (opt_parse_duration(optarg, UINT32_MAX - 1, &ms) !=
			    0) {
				log_errorx("--timeout: \"%s\" is not a duration "
				    "(as 30s, 5m or 1h; at most 49d)", optarg);
				return EXIT_USAGE;
			}
			break;
		case 'U':
			if (uid_option(optarg) != 0)
				return EXIT_USAGE;
			uid = optarg;
			break;
		case 'h':
			job_usage(stdout);
			return 0;
		default:
			job_usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (queue_and_id("job wait", argc - optind, argv + optind, uid, &queue,
	    &id) != 0)
		return EXIT_USAGE;
	left = ms;
	if ((status = client_connect(path, &p)) != 0)
		return status;
	start = clock_ms();
	/*
	 * A daemon that goes away (a restart) is asked again, once it is
	 * back, for what is left of the timeout (a minute without one).
	 */
	while ((r = pushstage_job_wait(p, id, uid, uid != NULL ? strlen(uid) :
	    0, (uint32_t)left, &w)) == PUSHSTAGE_EIO) {
		pushstage_free(p);
		p = NULL;
		do {
			now = clock_ms();
			if (now - start >= (ms != UINT32_MAX ? ms : 60000)) {
				log_errorx("job wait: producerd at %s went away "
				    "and is not back", path != NULL ? path :
				    "the default socket");
				return EXIT_UNAVAILABLE;
			}
			(void)poll(NULL, 0, 100);
			if ((p = pushstage_new()) == NULL)
				fatal("pushstage_new");
			if (pushstage_connect(p, path, "pushctl") != 0 ||
			    pushstage_queue(p, queue) != 0) {
				pushstage_free(p);
				p = NULL;
			}
		} while (p == NULL);
		if (ms != UINT32_MAX)
			left = ms - (now - start);
	}
	if (r != 0) {
		status = client_fail(p, r);
		pushstage_free(p);
		return status;
	}
	status = w.timed_out ? EXIT_TEMPFAIL : w.state == PUSHSTAGE_JOB_DONE ?
	    0 : EXIT_USAGE;
	if (json) {
		printf("{\"id\":%llu,\"state\":", (unsigned long long)w.id);
		json_string(w.state_name);
		printf(",\"timed_out\":%s,\"attempts\":%u,\"at\":",
		    w.timed_out ? "true" : "false", w.attempts);
		if (w.at_ms != 0 && !w.timed_out)
			json_string(iso_time(1, w.at_ms, t, sizeof t));
		else
			printf("null");
		printf(",\"reason\":");
		if (w.state == PUSHSTAGE_JOB_DEAD)
			json_string(reason_text(w.reason));
		else
			printf("null");
		printf(",\"result\":");
		if (w.state == PUSHSTAGE_JOB_DONE)
			json_bytes(w.data, w.len);
		else
			printf("null");
		printf(",\"error\":");
		if (w.state == PUSHSTAGE_JOB_DEAD)
			json_bytes(w.data, w.len);
		else
			printf("null");
		printf("}\n");
	} else if (w.timed_out)
		log_errorx("event %llu of %s: still %s after the timeout",
		    (unsigned long long)w.id, queue, w.state_name);
	else if (w.state == PUSHSTAGE_JOB_DONE) {
		if (w.len != 0 && fwrite(w.data, 1, w.len, stdout) != w.len)
			status = EXIT_USAGE;
	} else if (w.state == PUSHSTAGE_JOB_DEAD) {
		escape_c(text, sizeof text, w.data, w.len);
		log_errorx("event %llu of %s is dead (%s) after %u attempt%s%s%s",
		    (unsigned long long)w.id, queue, reason_text(w.reason),
		    w.attempts, w.attempts == 1 ? "" : "s", w.len ? ": " : "",
		    text);
	} else if (w.state == PUSHSTAGE_JOB_UNKNOWN && uid != NULL)
		log_errorx("%s has no event of unique id %s now (never enqueued, "
		    "or done with and no record kept: keep-done)", queue, uid);
	else if (w.state == PUSHSTAGE_JOB_UNKNOWN)
		log_errorx("%s has no event %llu now (never enqueued, or done "
		    "with and no record kept: keep-done)", queue,
		    (unsigned long long)id);
	else
		log_errorx("event %llu of %s was cancelled",
		    (unsigned long long)w.id, queue);
	pushstage_free(p);
	return status;
}

static const struct {
	const char	*name;
	int		 state;
} list_states[] = {
	{ "queued", PUSHSTAGE_JOB_QUEUED },
	{ "delayed", PUSHSTAGE_JOB_DELAYED },
	{ "in-flight", PUSHSTAGE_JOB_IN_FLIGHT },
	{ "retrying", PUSHSTAGE_JOB_RETRY_WAIT },
	{ "dead", PUSHSTAGE_JOB_DEAD },
	{ "done", PUSHSTAGE_JOB_DONE },
};

static void
jobs_usage(FILE *f)
{
	fprintf(f, "usage: pushctl jobs -q QUEUE[/GROUP] [--state STATE] "
	    "[--limit N] [--after CURSOR]\n"
	    "                    [--key KEY | --header NAME=VALUE] "
	    "[--preview BYTES] [--json]\n"
	    "A page of the queue's events in one state, lowest ids first: "
	    "queued (the\ndefault; with those behind their key or waiting "
	    "for their partition),\ndelayed, in-flight, retrying, dead or "
	    "done (keep-done: their results);\n--limit of them (default "
	    "50, at most 1000); those of a key, or of a\nheader's value, "
	    "alone.  When more may follow, the last line on standard\n"
	    "error gives the --after CURSOR of the next page.\n");
}

/* The page's cursor as hex, or back. */
static void
cursor_hex(const unsigned char *c, char *out)
{
	size_t	 i;

	for (i = 0; i < PUSHSTAGE_CURSOR_LEN; i++)
		snprintf(out + 2 * i, 3, "%02x", c[i]);
}

static int
cursor_parse(const char *s, unsigned char *c)
{
	size_t		 i;
	unsigned int	 v;

	if (strlen(s) != 2 * PUSHSTAGE_CURSOR_LEN)
		return -1;
	for (i = 0; i < PUSHSTAGE_CURSOR_LEN; i++) {
		if (sscanf(s + 2 * i, "%2x", &v) != 1 ||
		    strspn(s + 2 * i, "0123456789abcdefABCDEF") < 2)
			return -1;
		c[i] = (unsigned char)v;
	}
	return 0;
}

int
cmd_jobs(const char *path, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "after",	required_argument,	NULL, 'a' },
		{ "header",	required_argument,	NULL, 'H' },
		{ "json",	no_argument,		NULL, 'j' },
		{ "key",	required_argument,	NULL, 'k' },
		{ "limit",	required_argument,	NULL, 'l' },
		{ "preview",	required_argument,	NULL, 'p' },
		{ "queue",	required_argument,	NULL, 'q' },
		{ "state",	required_argument,	NULL, 's' },
		{ "help",	no_argument,		NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct pushstage_jobs_ask	 ja;
	const struct pushstage_listed	*v;
	struct pushstage		*p;
	unsigned char			 cursor[PUSHSTAGE_CURSOR_LEN];
	unsigned char			 next[PUSHSTAGE_CURSOR_LEN];
	char				 hex[2 * PUSHSTAGE_CURSOR_LEN + 1], t[40];
	char				 text[4 * PUSHSTAGE_PREVIEW_MAX + 1];
	const char			*eq, *queue = NULL;
	size_t				 i, n;
	int				 ch, json = 0, more, r, status;

	memset(&ja, 0, sizeof ja);
	ja.state = PUSHSTAGE_JOB_QUEUED;
	ja.limit = 50;
	ja.preview = 40;
	while ((ch = getopt_long(argc, argv, "hq:", longopts, NULL)) != -1) {
		switch (ch) {
		case 'a':
			if (cursor_parse(optarg, cursor) != 0) {
				log_errorx("--after: \"%s\" is not a cursor (the "
				    "%d hex digits a page gave)", optarg,
				    2 * PUSHSTAGE_CURSOR_LEN);
				return EXIT_USAGE;
			}
			ja.cursor = cursor;
			break;
		case 'H':
			if ((eq = strchr(optarg, '=')) == NULL ||
			    eq == optarg) {
				log_errorx("--header: \"%s\" is not NAME=VALUE",
				    optarg);
				return EXIT_USAGE;
			}
			ja.header = strndup(optarg, (size_t)(eq - optarg));
			if (ja.header == NULL)
				fatal("strndup");
			ja.value = eq + 1;
			ja.value_len = strlen(eq + 1);
			break;
		case 'j':
			json = 1;
			break;
		case 'k':
			ja.key = optarg;
			ja.key_len = strlen(optarg);
			ja.has_key = 1;
			break;
		case 'l':
			if (opt_u32("--limit", optarg, 1, 1000, &ja.limit) != 0)
				return EXIT_USAGE;
			break;
		case 'p':
			if (opt_u32("--preview", optarg, 0,
			    PUSHSTAGE_PREVIEW_MAX, &ja.preview) != 0)
				return EXIT_USAGE;
			break;
		case 'q':
			queue = optarg;
			break;
		case 's':
			for (i = 0; i < sizeof list_states /
			    sizeof list_states[0]; i++)
				if (strcmp(optarg, list_states[i].name) == 0)
					break;
			if (i == sizeof list_states / sizeof list_states[0]) {
				log_errorx("--state: \"%s\" is not queued, "
				    "delayed, in-flight, retrying, dead or done",
				    optarg);
				return EXIT_USAGE;
			}
			ja.state = list_states[i].state;
			break;
		case 'h':
			jobs_usage(stdout);
			return 0;
		default:
			jobs_usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind != argc || queue == NULL) {
		log_errorx("jobs: give the queue with -q QUEUE[/GROUP], and no "
		    "other arguments");
		jobs_usage(stderr);
		return EXIT_USAGE;
	}
	if (ja.has_key && ja.header != NULL) {
		log_errorx("jobs: --key or --header, not both");
		return EXIT_USAGE;
	}
	if (queue_option(queue) != 0)
		return EXIT_USAGE;
	if ((status = client_connect(path, &p)) != 0)
		return status;
	if ((r = pushstage_jobs(p, &ja, &v, &n, next, &more)) != 0) {
		status = client_fail(p, r);
		pushstage_free(p);
		return status;
	}
	cursor_hex(next, hex);
	if (json)
		printf("{\"events\":[");
	else if (n != 0)
		printf("%-10s %-24s %8s %-24s %8s %s\n", "ID", "STATE",
		    "ATTEMPTS", "AT", "BYTES", ja.state == PUSHSTAGE_JOB_DONE ?
		    "RESULT" : "PREVIEW");
	for (i = 0; i < n; i++) {
		if (json) {
			printf("%s{\"id\":%llu,\"state\":", i ? "," : "",
			    (unsigned long long)v[i].id);
			json_string(v[i].state_name);
			printf(",\"attempts\":%u,\"at\":", v[i].attempts);
			if (v[i].at_ms != 0)
				json_string(iso_time(1, v[i].at_ms, t,
				    sizeof t));
			else
				printf("null");
			printf(",\"key\":");
			if (v[i].key != NULL)
				json_bytes(v[i].key, v[i].key_len);
			else
				printf("null");
			printf(",\"bytes\":%zu,\"preview\":", v[i].len);
			json_bytes(v[i].preview, v[i].preview_len);
			putchar('}');
			continue;
		}
		escape_c(text, sizeof text, v[i].preview, v[i].preview_len);
		printf("%-10llu %-24s %8u %-24s %8zu %s%s\n",
		    (unsigned long long)v[i].id, v[i].state_name,
		    v[i].attempts, iso_time(1, v[i].at_ms, t, sizeof t),
		    v[i].len,
		    text, v[i].preview_len < v[i].len ? "..." : "");
	}
	if (json) {
		printf("],\"next\":");
		if (more)
			json_string(hex);
		else
			printf("null");
		printf("}\n");
	} else if (more)
		fprintf(stderr, "more: pushctl jobs -q %s --after %s\n", queue,
		    hex);
	pushstage_free(p);
	free((char *)ja.header);
	return 0;
}

int
cmd_job(const char *path, int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "--help") == 0) {
		job_usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? EXIT_USAGE : 0;
	}
	if (strcmp(argv[1], "show") == 0)
		return job_show(path, argc - 1, argv + 1);
	if (strcmp(argv[1], "cancel") == 0)
		return job_cancel(path, argc - 1, argv + 1);
	if (strcmp(argv[1], "wait") == 0)
		return job_wait(path, argc - 1, argv + 1);
	log_errorx("job: unknown command \"%s\" (show, cancel, wait)",
	    argv[1]);
	job_usage(stderr);
	return EXIT_USAGE;
}
