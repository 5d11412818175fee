/*
 * event.c: the options that make an event, shared by pushctl enqueue
 * and pushctl schedule add so that an event is built one way: --key,
 * --priority, --header NAME=VALUE, and --task NAME with --args and
 * --kwargs, the task envelope of docs/tasks.md.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "escape.h"
#include "jsoncheck.h"
#include "log.h"
#include "opt.h"
#include "pushctl.h"
#include "pushstage.h"
#include "task.h"

void
event_init(struct event_opts *e)
{
	struct pushstage_attrs	 init = PUSHSTAGE_ATTRS_INIT;

	memset(e, 0, sizeof *e);
	e->a = init;
}

/* --task's NAME: 0, or -1 said. */
static int
task_name_option(const char *name)
{
	const char	*why;
	char		 shown[4 * TASK_NAME_MAX + 1];
	size_t		 len = strlen(name), off;

	if ((why = task_name_check(name, len, &off)) == NULL)
		return 0;
	if (len == 0 || len > TASK_NAME_MAX) {
		log_errorx("--task: %zu bytes: %s", len, len == 0 ?
		    "a task name is 1 to 255 bytes" : why);
		return -1;
	}
	escape_c(shown, sizeof shown, name, len);
	log_errorx("--task \"%s\": %s at byte %zu; a task name is 1 to 255 "
	    "bytes of UTF-8 without control characters", shown, why, off);
	return -1;
}

/* --args or --kwargs: JSON of the type wanted, or -1 said. */
static int
task_json_option(const char *option, const char *text, int want)
{
	struct json_fault	 f;
	char			 near[64];
	size_t			 len = strlen(text), n;
	int			 type;

	if (jsoncheck(text, len, &type, &f) != 0) {
		n = len - f.off < 16 ? len - f.off : 16;
		escape_c(near, sizeof near, text + f.off, n);
		log_errorx("%s: not JSON at byte %zu: %s%s%s%s", option, f.off,
		    f.why, n != 0 ? " (at \"" : "", near, n != 0 ? "\")" : "");
		return -1;
	}
	if (type != want) {
		log_errorx("%s must be a JSON %s, not %s", option,
		    want == JSON_ARRAY ? "array" : "object",
		    jsoncheck_type_name(type));
		return -1;
	}
	return 0;
}

/*
 * One option of a verb's getopt_long loop: 1 if it is an event's (taken,
 * or -1 said: a usage error), 0 if it is not.
 */
int
event_option(struct event_opts *e, int ch, const char *arg)
{
	uint64_t	 v;

	switch (ch) {
	case 'k':
		if (strlen(arg) > PUSHSTAGE_KEY_MAX) {
			log_errorx("--key: %zu bytes; a key is at most %d",
			    strlen(arg), PUSHSTAGE_KEY_MAX);
			return -1;
		}
		e->a.key = arg;
		e->a.klen = strlen(arg);
		e->attrs = 1;
		return 1;
	case 'P':
		if (opt_parse_u64(arg, 0, 65535, &v) != 0) {
			log_errorx("--priority: \"%s\" is not a whole number "
			    "from 0 to 65535", arg);
			return -1;
		}
		e->a.priority = (int32_t)v;
		e->attrs = 1;
		return 1;
	case 'H':
		if (strchr(arg, '=') == NULL) {
			log_errorx("--header: \"%s\" is not NAME=VALUE", arg);
			return -1;
		}
		if (e->nheaders == PUSHSTAGE_HEADERS_MAX) {
			log_errorx("--header %s: more than %d headers", arg,
			    PUSHSTAGE_HEADERS_MAX);
			return -1;
		}
		/* getopt's argv is the process's, writable. */
		e->headers[e->nheaders++] = (char *)arg;
		return 1;
	case OPT_TASK:
		if (task_name_option(arg) != 0)
			return -1;
		e->task = arg;
		return 1;
	case OPT_ARGS:
		if (task_json_option("--args", arg, JSON_ARRAY) != 0)
			return -1;
		e->args = arg;
		return 1;
	case OPT_KWARGS:
		if (task_json_option("--kwargs", arg, JSON_OBJECT) != 0)
			return -1;
		e->kwargs = arg;
		return 1;
	default:
		return 0;
	}
}

/* A --header (NAME=VALUE, checked) to the library for the next event. */
static int
give_header(struct pushstage *p, char *arg)
{
	char	*eq = strchr(arg, '=');
	int	 error;

	*eq = '\0';
	error = pushstage_header(p, arg, eq + 1, strlen(eq + 1));
	*eq = '=';
	return error;
}

/*
 * The headers, for the next event added or schedule defined: those
 * given before and not taken (an add that failed) go first.
 */
int
event_headers(struct pushstage *p, const struct event_opts *e)
{
	size_t	 i;
	int	 error;

	pushstage_headers_clear(p);
	for (i = 0; i < e->nheaders; i++) {
		if ((error = give_header(p, e->headers[i])) != 0)
			return error;
	}
	return 0;
}

/*
 * The --headers as the library checks them (names, lengths, each once),
 * before anything is sent: -1 and a message naming the one at fault.
 */
static int
check_headers(const struct event_opts *e)
{
	struct pushstage	*p;
	size_t			 i;
	int			 error = 0;

	if (e->nheaders == 0)
		return 0;
	if ((p = pushstage_new()) == NULL) {
		log_errorx("out of memory");
		return -1;
	}
	for (i = 0; i < e->nheaders && error == 0; i++) {
		if ((error = give_header(p, e->headers[i])) != 0)
			log_errorx("--header %s: %s", e->headers[i],
			    pushstage_error(p));
	}
	pushstage_free(p);
	return error != 0 ? -1 : 0;
}

/*
 * A task's two headers before the user's: task: NAME and content-type:
 * application/json, unless --header gave that content type already (as
 * task_json_type reads it: "application/json; charset=utf-8" too).
 * Another content type, or a task header, contradicts --task: refused.
 * 0, or -1 said.
 */
static int
task_headers(struct event_opts *e)
{
	static char	 ctype[] = "content-type=application/json";
	char		*own[2];
	size_t		 i, n = 0;
	int		 has_type = 0;

	for (i = 0; i < e->nheaders; i++) {
		if (strncmp(e->headers[i], "task=", 5) == 0) {
			log_errorx("--header %s: --task names the task",
			    e->headers[i]);
			return -1;
		}
		if (strncmp(e->headers[i], "content-type=", 13) != 0)
			continue;
		if (!task_json_type(e->headers[i] + 13,
		    strlen(e->headers[i] + 13))) {
			log_errorx("--header %s: a task's payload is "
			    "application/json (pushctl sets it: leave this "
			    "header out)", e->headers[i]);
			return -1;
		}
		has_type = 1;
	}
	snprintf(e->task_header, sizeof e->task_header, "task=%s", e->task);
	own[n++] = e->task_header;
	if (!has_type)
		own[n++] = ctype;
	if (e->nheaders + n > PUSHSTAGE_HEADERS_MAX) {
		log_errorx("--task: with its task%s header%s, more than %d "
		    "headers", has_type ? "" : " and content-type",
		    n == 1 ? "" : "s", PUSHSTAGE_HEADERS_MAX);
		return -1;
	}
	memmove(e->headers + n, e->headers, e->nheaders * sizeof *e->headers);
	memcpy(e->headers, own, n * sizeof *own);
	e->nheaders += n;
	return 0;
}

/*
 * Once a verb's options are read: --args and --kwargs go with --task,
 * which makes the payload (so the verb's own payload, first, if any, is
 * refused, called what), and the headers are checked.  0, or -1 said.
 */
int
event_finish(struct event_opts *e, const char *verb, const char *payload,
    const char *what)
{
	if (e->task == NULL && (e->args != NULL || e->kwargs != NULL)) {
		log_errorx("%s: %s goes with --task NAME", verb,
		    e->args != NULL ? "--args" : "--kwargs");
		return -1;
	}
	if (e->task != NULL && payload != NULL) {
		log_errorx("%s: --task makes the payload from --args and "
		    "--kwargs: leave out %s \"%s\"", verb, what, payload);
		return -1;
	}
	if (e->task != NULL && task_headers(e) != 0)
		return -1;
	return check_headers(e);
}

/* The payload {"args":ARGS,"kwargs":KWARGS}: the caller's to free. */
char *
event_task_payload(const struct event_opts *e, size_t *len)
{
	const char	*args = e->args != NULL ? e->args : "[]";
	const char	*kwargs = e->kwargs != NULL ? e->kwargs : "{}";
	char		*buf;

	*len = task_payload(NULL, 0, args, strlen(args), kwargs,
	    strlen(kwargs));
	if ((buf = malloc(*len)) == NULL)
		fatal("malloc");
	task_payload(buf, *len, args, strlen(args), kwargs, strlen(kwargs));
	return buf;
}
