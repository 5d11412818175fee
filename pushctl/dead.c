/* dead.c: pushctl dead list|retry|drop: the dead-letter list. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "escape.h"
#include "log.h"
#include "opt.h"
#include "pushctl.h"

#define PREVIEW_DEFAULT	40

static const char *
reason_name(uint8_t reason)
{
	switch (reason) {
	case PS_DEAD_NACK:
		return "nack";
	case PS_DEAD_TIMEOUT:
		return "timeout";
	case PS_DEAD_DISCONNECT:
		return "disconnect";
	default:
		return "unknown";
	}
}

static void
dead_usage(FILE *f)
{
	fprintf(f, "usage: pushctl dead list [--json] [--preview BYTES]\n"
	    "       pushctl dead retry [ID...]   (no ID: every dead event)\n"
	    "       pushctl dead drop [ID...]    (no ID: every dead event)\n");
}

static int
dead_list(const char *path, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json",	no_argument,		NULL, 'j' },
		{ "preview",	required_argument,	NULL, 'p' },
		{ "help",	no_argument,		NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct ps_dead_reply	 r;
	struct ps_dead		 d;
	struct psc		 c;
	char			 text[PS_PREVIEW_MAX * 4 + 1];
	uint32_t		 preview = PREVIEW_DEFAULT, n = 0;
	int			 ch, json = 0, status;

	while ((ch = getopt_long(argc, argv, "jp:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'j':
			json = 1;
			break;
		case 'p':
			if (opt_u32("--preview", optarg, 0, PS_PREVIEW_MAX,
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
	if ((status = client_connect(&c, path)) != 0)
		return status;
	if ((status = psc_dead_list(&c, preview, &r)) != 0) {
		log_errorx("%s", c.err);
		psc_close(&c);
		return exit_status(status);
	}
	if (json)
		printf("{\"dead\":%u,\"events\":[", r.total);
	else if (r.total != 0)
		printf("%-20s %8s  %-10s %10s  %s\n", "ID", "ATTEMPTS",
		    "REASON", "BYTES", "PREVIEW");
	while (ps_dead_next(&r, &d)) {
		escape_c(text, sizeof text, d.preview, d.preview_len);
		if (json) {
			printf("%s{\"id\":%llu,\"attempts\":%u,"
			    "\"reason\":\"%s\",\"bytes\":%u,\"preview\":",
			    n ? "," : "",
			    (unsigned long long)d.id, d.attempts,
			    reason_name(d.reason), d.len);
			json_string(text);
			putchar('}');
		} else
			printf("%-20llu %8u  %-10s %10u  %s%s\n",
			    (unsigned long long)d.id, d.attempts,
			    reason_name(d.reason), d.len, text,
			    d.preview_len < d.len ? "..." : "");
		n++;
	}
	if (json)
		printf("]}\n");
	else if (n < r.total)
		printf("(%u more not shown: the reply is limited to one "
		    "frame)\n", r.total - n);
	else if (r.total == 0)
		printf("no dead events\n");
	psc_close(&c);
	return 0;
}

/* retry or drop: the ids given, or all. */
static int
dead_act(const char *path, uint8_t type, const char *verb, int argc,
    char **argv)
{
	struct psc	 c;
	uint64_t	*ids = NULL;
	uint32_t	 n, done;
	char		*end;
	int		 i, status;

	if (argc > 1 && (strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "--help") == 0)) {
		dead_usage(stdout);
		return 0;
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
	if ((status = client_connect(&c, path)) != 0) {
		free(ids);
		return status;
	}
	if ((status = psc_dead_act(&c, type, ids, n, &done)) != 0) {
		log_errorx("%s", c.err);
		psc_close(&c);
		free(ids);
		return exit_status(status);
	}
	psc_close(&c);
	free(ids);
	printf("%s %u dead event%s\n", type == PS_DEAD_RETRY ? "retried" :
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
	if (strcmp(argv[1], "list") == 0)
		return dead_list(path, argc - 1, argv + 1);
	if (strcmp(argv[1], "retry") == 0)
		return dead_act(path, PS_DEAD_RETRY, "retry", argc - 1,
		    argv + 1);
	if (strcmp(argv[1], "drop") == 0)
		return dead_act(path, PS_DEAD_DROP, "drop", argc - 1,
		    argv + 1);
	log_errorx("dead: unknown command \"%s\"", argv[1]);
	dead_usage(stderr);
	return EXIT_USAGE;
}
