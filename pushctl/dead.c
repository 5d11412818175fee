/* dead.c: pushctl dead list|retry|drop: the dead-letter list. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "escape.h"
#include "log.h"
#include "opt.h"
#include "pushctl.h"
#include "pushstage.h"

#define PREVIEW_DEFAULT	40

static const char *
reason_name(int reason)
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
		return "unknown";
	}
}

static void
dead_usage(FILE *f)
{
	fprintf(f, "usage: pushctl dead list [-q QUEUE] [--json] [--preview "
	    "BYTES]\n"
	    "       pushctl dead retry [-q QUEUE] [ID...]   (no ID: every "
	    "dead event)\n"
	    "       pushctl dead drop [-q QUEUE] [ID...]    (no ID: every "
	    "dead event)\n"
	    "The dead letters of one queue (-q; default: the queue "
	    "default).\nWhen it has none, or does not exist, list says on "
	    "stderr which queues have some.\n");
}

/*
 * After a DEAD_LIST of a queue that does not exist (never used, or
 * deleted), or of one with no dead letter: which other queues have some,
 * from the daemon's QUEUES list (with none, said only if the queue asked
 * for is missing).  Nothing if the list cannot be had.
 */
static void
dead_elsewhere(const char *path, const char *asked, int missing)
{
	const struct pushstage_queue	*qs;
	struct pushstage		*p;
	const char			*saved = ctl_queue;
	char				 list[1024];
	uint64_t			 dead;
	uint32_t			 start = 0, total;
	size_t				 i, n, len = 0;
	int				 r;

	ctl_queue = NULL;	/* the list is the daemon's, not a queue's */
	r = client_connect(path, &p);
	ctl_queue = saved;
	if (r != 0)
		return;
	do {
		if (pushstage_queues(p, start, &qs, &n, &total) != 0) {
			pushstage_free(p);
			return;
		}
		for (i = 0; i < n && len < sizeof list; i++) {
			dead = 0;
			(void)pushstage_stat(qs[i].fields, qs[i].nfields,
			    "dead", &dead);
			if (dead == 0 || strcmp(qs[i].name, asked) == 0)
				continue;
			r = snprintf(list + len, sizeof list - len, "%s%s (%llu)",
			    len == 0 ? "" : ", ", qs[i].name,
			    (unsigned long long)dead);
			len += r < 0 ? sizeof list : (size_t)r;
		}
		start += (uint32_t)n;
	} while (n != 0 && start < total && len < sizeof list);
	pushstage_free(p);
	if (len >= sizeof list)
		memcpy(list + sizeof list - 5, " ...", 5);
	if (len != 0)
		log_info("dead letters are in: %s; pushctl dead list -q QUEUE "
		    "shows them", list);
	else if (missing)
		log_info("no queue has dead letters");
}

static int
dead_list(const char *path, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json",	no_argument,		NULL, 'j' },
		{ "preview",	required_argument,	NULL, 'p' },
		{ "queue",	required_argument,	NULL, 'q' },
		{ "help",	no_argument,		NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const struct pushstage_dead	*dead, *d;
	struct pushstage		*p;
	char				 text[PUSHSTAGE_PREVIEW_MAX * 4 + 1];
	const char			*line;
	const void			*err;
	size_t				 elen;
	uint32_t			 preview = PREVIEW_DEFAULT, total;
	size_t				 i, n;
	int				 ch, json = 0, r, status;

	while ((ch = getopt_long(argc, argv, "jp:q:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'q':
			if (queue_option(optarg) != 0)
				return EXIT_USAGE;
			break;
		case 'j':
			json = 1;
			break;
		case 'p':
			if (opt_u32("--preview", optarg, 0, PUSHSTAGE_PREVIEW_MAX,
			    &preview) != 0)
				return EXIT_USAGE;
			break;
		case 'h':
			dead_usage(stdout);
			return 0;
		default:
			dead_usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind != argc) {
		log_errorx("dead list: unexpected argument \"%s\"",
		    argv[optind]);
		return EXIT_USAGE;
	}
	if ((status = client_connect(path, &p)) != 0)
		return status;
	if ((r = pushstage_dead_list(p, preview, &dead, &n, &total)) != 0) {
		status = client_fail(p, r);
		pushstage_free(p);
		/* No such queue (the default one never used, say): where? */
		if (r == PUSHSTAGE_EPROTO)
			dead_elsewhere(path, ctl_queue != NULL ?
			    ctl_queue : "default", 1);
		return status;
	}
	if (json)
		printf("{\"dead\":%u,\"events\":[", total);
	else if (total != 0)
		printf("%-20s %8s  %-10s %10s  %s\n", "ID", "ATTEMPTS",
		    "REASON", "BYTES", "PREVIEW");
	for (i = 0; i < n; i++) {
		d = &dead[i];
		escape_c(text, sizeof text, d->preview, d->preview_len);
		if (json) {
			printf("%s{\"id\":%llu,\"attempts\":%u,"
			    "\"reason\":\"%s\",\"bytes\":%zu,\"preview\":",
			    i ? "," : "",
			    (unsigned long long)d->id, d->attempts,
			    reason_name(d->reason), d->len);
			json_string(text);
			printf(",\"error\":");
			if (pushstage_dead_error(p, i, &err, &elen))
				json_bytes(err, elen);
			else
				printf("null");
			putchar('}');
		} else {
			printf("%-20llu %8u  %-10s %10zu  %s%s\n",
			    (unsigned long long)d->id, d->attempts,
			    reason_name(d->reason), d->len, text,
			    d->preview_len < d->len ? "..." : "");
			/* Its last error's first line, below it. */
			if (pushstage_dead_error(p, i, &err, &elen)) {
				line = memchr(err, '\n', elen);
				escape_c(text, sizeof text, err, line != NULL ?
				    (size_t)(line - (const char *)err) : elen);
				printf("%20s last error: %s\n", "", text);
			}
		}
	}
	if (json)
		printf("]}\n");
	else if (n < total)
		printf("(%zu more not shown: the reply is limited to one "
		    "frame)\n", total - n);
	else if (total == 0) {
		printf("no dead events\n");
		fflush(stdout);
		dead_elsewhere(path, ctl_queue != NULL ? ctl_queue :
		    "default", 0);
	}
	pushstage_free(p);
	return 0;
}

/* retry or drop: the ids given, or all. */
static int
dead_act(const char *path, int retry, const char *verb, int argc,
    char **argv)
{
	struct pushstage	*p;
	uint64_t		*ids = NULL;
	uint32_t		 n, done;
	char			*end;
	int			 i, r, status;

	if (argc > 1 && (strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "--help") == 0)) {
		dead_usage(stdout);
		return 0;
	}
	if (argc > 2 && (strcmp(argv[1], "-q") == 0 ||
	    strcmp(argv[1], "--queue") == 0)) {
		if (queue_option(argv[2]) != 0)
			return EXIT_USAGE;
		argc -= 2;
		argv += 2;
	}
	n = (uint32_t)(argc - 1);
	if (n != 0 && (ids = calloc(n, sizeof *ids)) == NULL)
		fatal("calloc");
	for (i = 1; i < argc; i++) {
		errno = 0;
		ids[i - 1] = strtoull(argv[i], &end, 10);
		if (argv[i][0] < '1' || argv[i][0] > '9' || *end != '\0' ||
		    errno != 0) {
			log_errorx("dead %s: \"%s\" is not an event id", verb,
			    argv[i]);
			free(ids);
			return EXIT_USAGE;
		}
	}
	if ((status = client_connect(path, &p)) != 0) {
		free(ids);
		return status;
	}
	r = retry ? pushstage_dead_retry(p, ids, n, &done) :
	    pushstage_dead_drop(p, ids, n, &done);
	free(ids);
	if (r != 0) {
		status = client_fail(p, r);
		pushstage_free(p);
		return status;
	}
	pushstage_free(p);
	printf("%s %u dead event%s\n", retry ? "retried" :
	    "dropped", done, done == 1 ? "" : "s");
	if (n != 0 && done < n) {
		log_errorx("%u of the ids given %s", n - done, n - done == 1 ?
		    "is not a dead event" : "are not dead events");
		return EXIT_USAGE;
	}
	return 0;
}

int
cmd_dead(const char *path, int argc, char **argv)
{
	if (argc < 2) {
		dead_usage(stderr);
		return EXIT_USAGE;
	}
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
		dead_usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "list") == 0)
		return dead_list(path, argc - 1, argv + 1);
	if (strcmp(argv[1], "retry") == 0)
		return dead_act(path, 1, "retry", argc - 1,
		    argv + 1);
	if (strcmp(argv[1], "drop") == 0)
		return dead_act(path, 0, "drop", argc - 1,
		    argv + 1);
	log_errorx("dead: unknown command \"%s\"", argv[1]);
	dead_usage(stderr);
	return EXIT_USAGE;
}
