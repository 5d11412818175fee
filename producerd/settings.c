/*
 * settings.c: a queue's settings by name, one table for the command line
 * (every queue's defaults), `pushctl queue set NAME KEY=VALUE` and the
 * saved file DIR/queues, so that each value has one parser and one
 * message.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "opt.h"
#include "producerd.h"

#define DAY_MS		86400000u
#define HELP_COLUMN	25	/* producerd --help's second column */

static const struct {
	const char	*name;
	enum overflow	 policy;
} policies[] = {
	{ "reject", OVERFLOW_REJECT },
	{ "drop-oldest", OVERFLOW_DROP_OLDEST },
	{ "drop-newest", OVERFLOW_DROP_NEWEST },
	{ "block", OVERFLOW_BLOCK },
};

static const char *
policy_name(enum overflow o)
{
	size_t	 i;

	for (i = 0; i < sizeof policies / sizeof policies[0]; i++) {
		if (policies[i].policy == o)
			return policies[i].name;
	}
	return "reject";
}

/*
 * "HEAD<sep>TAIL": HEAD into head (a string of fewer than len bytes), and
 * TAIL; NULL if there is no sep or HEAD is too long.
 */
static const char *
split(const char *value, int sep, char *head, size_t len)
{
	const char	*at;

	if ((at = strchr(value, sep)) == NULL || (size_t)(at - value) >= len)
		return NULL;
	memcpy(head, value, (size_t)(at - value));
	head[at - value] = '\0';
	return at + 1;
}

/* rate=N/PERIOD (none: no limit): at most N events go out per PERIOD. */
static int
set_rate(struct qsettings *s, const char *value, char *err, size_t len)
{
	const char	*period;
	char		 n[16];
	uint64_t	 v, ms;

	if (strcmp(value, "none") == 0) {
		s->rate_n = s->rate_ms = 0;
		return QS_RATE;
	}
	if ((period = split(value, '/', n, sizeof n)) == NULL ||
	    opt_parse_u64(n, 1, 1000000000, &v) != 0 ||
	    opt_parse_duration(period, DAY_MS, &ms) != 0 || ms == 0)
		goto bad;
	s->rate_n = (uint32_t)v;
	s->rate_ms = (uint32_t)ms;
	return QS_RATE;
bad:
	snprintf(err, len, "rate: \"%s\" is not N/PERIOD (N from 1 to "
	    "1000000000 events, PERIOD from 1ms to 1d, as 100/1s or 5000/1m), "
	    "or none", value);
	return -1;
}

/* retry-backoff=BASE:MAX (none: retries at once), each a duration. */
static int
set_backoff(struct qsettings *s, const char *value, char *err, size_t len)
{
	const char	*max;
	char		 base[32];
	uint64_t	 b, m;

	if (strcmp(value, "none") == 0) {
		s->backoff_base = s->backoff_max = 0;
		return QS_BACKOFF;
	}
	if ((max = split(value, ':', base, sizeof base)) == NULL ||
	    opt_parse_duration(base, DAY_MS, &b) != 0 || b == 0 ||
	    opt_parse_duration(max, DAY_MS, &m) != 0 || m < b)
		goto bad;
	s->backoff_base = (uint32_t)b;
	s->backoff_max = (uint32_t)m;
	return QS_BACKOFF;
bad:
	snprintf(err, len, "retry-backoff: \"%s\" is not BASE:MAX (durations "
	    "from 1ms to 1d, BASE no more than MAX, as 1s:5m), or none", value);
	return -1;
}

/*
 * paused=yes (until resumed), no, or until:MS (wall-clock ms since 1970):
 * what pushctl queue pause and resume send, and DIR/queues keeps.
 */
static int
set_paused(struct qsettings *s, const char *value, char *err, size_t len)
{
	uint64_t	 v;

	if (strcmp(value, "no") == 0)
		s->paused_until = 0;
	else if (strcmp(value, "yes") == 0)
		s->paused_until = SCHED_FOREVER;
	else if (strncmp(value, "until:", 6) == 0 &&
	    opt_parse_u64(value + 6, 1, UINT64_MAX - 1, &v) == 0)
		s->paused_until = v;
	else {
		snprintf(err, len, "paused: \"%s\" is not yes, no or "
		    "until:MS (ms since 1970)", value);
		return -1;
	}
	return QS_PAUSED;
}

/* A whole number in its range, or the one message for the three. */
static int
set_number(const char *key, const char *value, uint64_t min, uint64_t max,
    uint64_t *v, char *err, size_t len)
{
	if (opt_parse_u64(value, min, max, v) == 0)
		return 0;
	snprintf(err, len, "%s: \"%s\" is not a whole number in its range "
	    "(max-queue 0 to 2^40, max-queue-bytes 0 to 2^50, max-attempts "
	    "1 to 65535)", key, value);
	return -1;
}

static int
set_max_queue(struct qsettings *s, const char *value, char *err, size_t len)
{
	if (set_number("max-queue", value, 0, UINT64_C(1) << 40,
	    &s->max_queue, err, len) != 0)
		return -1;
	return QS_MAX_QUEUE;
}

static int
set_max_queue_bytes(struct qsettings *s, const char *value, char *err,
    size_t len)
{
	if (set_number("max-queue-bytes", value, 0, UINT64_C(1) << 50,
	    &s->max_queue_bytes, err, len) != 0)
		return -1;
	return QS_MAX_QUEUE_BYTES;
}

static int
set_overflow(struct qsettings *s, const char *value, char *err, size_t len)
{
	size_t	 i;

	for (i = 0; i < sizeof policies / sizeof policies[0]; i++) {
		if (strcmp(value, policies[i].name) == 0) {
			s->overflow = policies[i].policy;
			return QS_OVERFLOW;
		}
	}
	snprintf(err, len, "overflow: \"%s\" is not reject, drop-oldest, "
	    "drop-newest or block", value);
	return -1;
}

static int
set_delivery(struct qsettings *s, const char *value, char *err, size_t len)
{
	if (strcmp(value, "at-least-once") == 0)
		s->acks = 1;
	else if (strcmp(value, "at-most-once") == 0)
		s->acks = 0;
	else {
		snprintf(err, len, "delivery: \"%s\" is not at-least-once or "
		    "at-most-once", value);
		return -1;
	}
	return QS_DELIVERY;
}

static int
set_ack_timeout(struct qsettings *s, const char *value, char *err,
    size_t len)
{
	if (opt_parse_seconds(value, DAY_MS, 1, &s->ack_timeout) != 0) {
		snprintf(err, len, "ack-timeout: \"%s\" is not a number of "
		    "seconds from 0 to %u, or none", value, DAY_MS / 1000);
		return -1;
	}
	return QS_ACK_TIMEOUT;
}

static int
set_max_attempts(struct qsettings *s, const char *value, char *err,
    size_t len)
{
	uint64_t	 v;

	if (set_number("max-attempts", value, 1, 65535, &v, err, len) != 0)
		return -1;
	s->max_attempts = (uint32_t)v;
	return QS_MAX_ATTEMPTS;
}

static int
set_dispatch(struct qsettings *s, const char *value, char *err, size_t len)
{
	uint64_t	 v;

	if (strcmp(value, "demand") == 0) {
		s->mode = DISPATCH_DEMAND;
		s->partitions = 0;
	} else if (strcmp(value, "key") == 0) {
		s->mode = DISPATCH_KEY;
		s->partitions = 0;
	} else if (strncmp(value, "partition:", 10) == 0 &&
	    opt_parse_u64(value + 10, 1, PS_PARTITIONS_MAX, &v) == 0) {
		s->mode = DISPATCH_PARTITION;
		s->partitions = (uint32_t)v;
	} else {
		snprintf(err, len, "dispatch: \"%s\" is not demand, key or "
		    "partition:N (N from 1 to %u)", value, PS_PARTITIONS_MAX);
		return -1;
	}
	return QS_DISPATCH;
}

static int
set_dedup(struct qsettings *s, const char *value, char *err, size_t len)
{
	if (opt_parse_duration(value, DAY_MS, &s->dedup_window) != 0) {
		snprintf(err, len, "dedup-window: \"%s\" is not a duration "
		    "from 0 to 1d (as 2m or 90s)", value);
		return -1;
	}
	return QS_DEDUP;
}

static int
set_keep_done(struct qsettings *s, const char *value, char *err, size_t len)
{
	if (opt_parse_duration(value, 30 * (uint64_t)DAY_MS, &s->keep_done) !=
	    0) {
		snprintf(err, len, "keep-done: \"%s\" is not a duration from 0 "
		    "(none kept) to 30d (as 1h or 7d)", value);
		return -1;
	}
	return QS_KEEP_DONE;
}

static int
set_keep_done_bytes(struct qsettings *s, const char *value, char *err,
    size_t len)
{
	if (opt_parse_u64(value, 1024, UINT64_C(1) << 40,
	    &s->keep_done_bytes) != 0) {
		snprintf(err, len, "keep-done-bytes: \"%s\" is not a whole "
		    "number from 1024 to 2^40", value);
		return -1;
	}
	return QS_KEEP_DONE_BYTES;
}

static int
set_max_result(struct qsettings *s, const char *value, char *err,
    size_t len)
{
	if (opt_parse_u64(value, 0, PS_RESULT_MAX, &s->max_result) != 0) {
		snprintf(err, len, "max-result: \"%s\" is not a whole number "
		    "from 0 to %u (bytes)", value, PS_RESULT_MAX);
		return -1;
	}
	return QS_MAX_RESULT;
}

static int
set_max_task_stats(struct qsettings *s, const char *value, char *err,
    size_t len)
{
	if (opt_parse_u64(value, 0, TASKS_LIMIT, &s->max_task_stats) != 0) {
		snprintf(err, len, "max-task-stats: \"%s\" is not a whole "
		    "number from 0 to %u (task names)", value, TASKS_LIMIT);
		return -1;
	}
	return QS_MAX_TASK_STATS;
}

/*
 * Every setting, in the order `queue set` lists them.  One with a section
 * is also a producerd flag, --NAME ARG, listed in that section of
 * --help: HELP's lines go in its second column, "%u" in them is DEF.
 * paused has none: pushctl queue pause and resume set it.
 */
static const struct setting {
	const char	*name;
	int		(*set)(struct qsettings *, const char *, char *,
			     size_t);
	int		 section;	/* SETTINGS_*, 0: no flag */
	const char	*arg;
	const char	*help;
	unsigned int	 def;
} settings[] = {
	{ "max-queue", set_max_queue, SETTINGS_BUFFER, "N",
	  "events buffered at most (default %u; 0: no limit);\n"
	  "events in flight do not count", CONFIG_MAX_QUEUE },
	{ "max-queue-bytes", set_max_queue_bytes, SETTINGS_BUFFER, "BYTES",
	  "their payload bytes at most (default: a quarter\n"
	  "of physical memory; 0: no limit)", 0 },
	{ "overflow", set_overflow, SETTINGS_BUFFER, "POLICY",
	  "when an ENQUEUE does not fit: reject (default; the\n"
	  "rest is refused, to be sent again), drop-oldest,\n"
	  "drop-newest, or block (stop reading the client\n"
	  "until there is room)", 0 },
	{ "delivery", set_delivery, SETTINGS_DELIVERY, "MODE",
	  "at-least-once (default): consumers ack each event\n"
	  "and what they do not ack is delivered again;\n"
	  "at-most-once: an event is done once sent", 0 },
	{ "ack-timeout", set_ack_timeout, SETTINGS_DELIVERY, "SECONDS",
	  "take back an event not acked (or touched) in\n"
	  "this long and deliver it again (default none)", 0 },
	{ "max-attempts", set_max_attempts, SETTINGS_DELIVERY, "N",
	  "deliveries before an event goes to the dead\n"
	  "letters (default %u, 1 to 65535)", CONFIG_MAX_ATTEMPTS },
	{ "dispatch", set_dispatch, SETTINGS_DELIVERY, "MODE",
	  "demand (default): each event to the consumer\n"
	  "with the most demand; key: the same, but never\n"
	  "two events of one key in flight at once, each\n"
	  "key's in the order enqueued; partition:N: each\n"
	  "event to one of N partitions by its key, and\n"
	  "only to a consumer of that partition\n"
	  "(--partition; docs/dispatch.md)", 0 },
	{ "rate", set_rate, SETTINGS_DELIVERY, "N/PERIOD",
	  "a queue sends at most N events per PERIOD, as\n"
	  "100/1s or 5000/1m (default none)", 0 },
	{ "retry-backoff", set_backoff, SETTINGS_DELIVERY, "BASE:MAX",
	  "a NACKed or timed-out event waits BASE, then\n"
	  "twice as long each attempt up to MAX (give or\n"
	  "take 20 %), as 1s:5m (default none: at once;\n"
	  "docs/scheduling.md)", 0 },
	{ "paused", set_paused, 0, NULL, NULL, 0 },
	{ "dedup-window", set_dedup, SETTINGS_DELIVERY, "DURATION",
	  "a unique id stays this long after its event\n"
	  "is done, as 2m or 30s (default 2m)", 0 },
	{ "keep-done", set_keep_done, SETTINGS_DELIVERY, "DURATION",
	  "keep each acked event's record, with its result,\n"
	  "this long (default 0: none kept; at most 30d;\n"
	  "docs/jobs.md)", 0 },
	{ "keep-done-bytes", set_keep_done_bytes, SETTINGS_DELIVERY, "BYTES",
	  "those records' memory at most, each group's:\n"
	  "the oldest go first (default %u)", (unsigned)CONFIG_KEEP_DONE_BYTES },
	{ "max-result", set_max_result, SETTINGS_DELIVERY, "BYTES",
	  "an ACK's result at most (default %u; 0: no\n"
	  "results)", CONFIG_MAX_RESULT },
	{ "max-task-stats", set_max_task_stats, SETTINGS_DELIVERY, "N",
	  "task names (the task header) counted each in a\n"
	  "row of its own, the rest as other (default %u,\n"
	  "0 to 1024; 0: none; docs/tasks.md)", CONFIG_MAX_TASK_STATS },
};
#define NSETTINGS	(sizeof settings / sizeof settings[0])

/*
 * KEY=VALUE into s: the setting's bit (QS_*), or -1 with err saying what
 * is wrong, naming the key and the value.
 */
int
settings_set(struct qsettings *s, const char *key, const char *value,
    char *err, size_t len)
{
	size_t	 i, n;

	for (i = 0; i < NSETTINGS; i++) {
		if (strcmp(key, settings[i].name) == 0)
			return settings[i].set(s, value, err, len);
	}
	n = (size_t)snprintf(err, len, "\"%s\" is not a queue setting (", key);
	for (i = 0; i < NSETTINGS && n < len; i++) {
		n += (size_t)snprintf(err + n, len - n, "%s%s",
		    settings[i].name, i + 1 < NSETTINGS ? ", " : ")");
	}
	return -1;
}

/* The i-th setting that is also a producerd flag; NULL past the last. */
const char *
settings_flag(size_t i)
{
	size_t	 j;

	for (j = 0; j < NSETTINGS; j++) {
		if (settings[j].section != 0 && i-- == 0)
			return settings[j].name;
	}
	return NULL;
}

/* The flags of one section (SETTINGS_*), as producerd --help lists them. */
void
settings_usage(FILE *f, int section)
{
	const struct setting	*st;
	const char		*p;
	size_t			 i;
	int			 n;

	for (i = 0; i < NSETTINGS; i++) {
		st = &settings[i];
		if (st->section != section)
			continue;
		n = fprintf(f, "  --%s %s", st->name, st->arg);
		fprintf(f, "%*s", n < HELP_COLUMN ? HELP_COLUMN - n : 2, "");
		for (p = st->help; *p != '\0'; p++) {
			if (*p == '\n')
				fprintf(f, "\n%*s", HELP_COLUMN, "");
			else if (p[0] == '%' && p[1] == 'u') {
				fprintf(f, "%u", st->def);
				p++;
			} else
				fputc(*p, f);
		}
		fputc('\n', f);
	}
}

/* Settings that cannot go together; -1 and err. */
int
settings_check(const struct qsettings *s, char *err, size_t len)
{
	if (!s->acks && s->ack_timeout != 0) {
		snprintf(err, len, "ack-timeout needs delivery at-least-once");
		return -1;
	}
	if (!s->acks && s->mode == DISPATCH_KEY) {
		snprintf(err, len, "dispatch key needs delivery at-least-once: "
		    "a key's next event waits for the ack of the one before");
		return -1;
	}
	return 0;
}

/* The settings in set as "key=value ..." into buf; its length. */
size_t
settings_format(const struct qsettings *s, unsigned int set, char *buf,
    size_t len)
{
	size_t	 n = 0;

	buf[0] = '\0';
#define ADD(...)	do {						\
	if (n < len)							\
		n += (size_t)snprintf(buf + n, len - n, __VA_ARGS__);	\
} while (0)
	if (set & QS_MAX_QUEUE)
		ADD(" max-queue=%llu", (unsigned long long)s->max_queue);
	if (set & QS_MAX_QUEUE_BYTES)
		ADD(" max-queue-bytes=%llu",
		    (unsigned long long)s->max_queue_bytes);
	if (set & QS_OVERFLOW)
		ADD(" overflow=%s", policy_name(s->overflow));
	if (set & QS_DELIVERY)
		ADD(" delivery=%s", s->acks ? "at-least-once" :
		    "at-most-once");
	if (set & QS_ACK_TIMEOUT)
		ADD(" ack-timeout=%u.%03u", s->ack_timeout / 1000,
		    s->ack_timeout % 1000);
	if (set & QS_MAX_ATTEMPTS)
		ADD(" max-attempts=%u", s->max_attempts);
	if ((set & QS_RATE) && s->rate_ms == 0)
		ADD(" rate=none");
	else if (set & QS_RATE)
		ADD(" rate=%u/%ums", s->rate_n, s->rate_ms);
	if ((set & QS_BACKOFF) && s->backoff_base == 0)
		ADD(" retry-backoff=none");
	else if (set & QS_BACKOFF)
		ADD(" retry-backoff=%ums:%ums", s->backoff_base,
		    s->backoff_max);
	if ((set & QS_PAUSED) && s->paused_until == 0)
		ADD(" paused=no");
	else if ((set & QS_PAUSED) && s->paused_until == SCHED_FOREVER)
		ADD(" paused=yes");
	else if (set & QS_PAUSED)
		ADD(" paused=until:%" PRIu64, s->paused_until);
	if (set & QS_DEDUP)
		ADD(" dedup-window=%" PRIu64 "ms", s->dedup_window);
	if (set & QS_KEEP_DONE)
		ADD(" keep-done=%" PRIu64 "ms", s->keep_done);
	if (set & QS_KEEP_DONE_BYTES)
		ADD(" keep-done-bytes=%" PRIu64, s->keep_done_bytes);
	if (set & QS_MAX_RESULT)
		ADD(" max-result=%" PRIu64, s->max_result);
	if (set & QS_MAX_TASK_STATS)
		ADD(" max-task-stats=%" PRIu64, s->max_task_stats);
	if ((set & QS_DISPATCH) && s->mode == DISPATCH_PARTITION)
		ADD(" dispatch=partition:%u", s->partitions);
	else if (set & QS_DISPATCH)
		ADD(" dispatch=%s", s->mode == DISPATCH_KEY ? "key" : "demand");
#undef ADD
	if (n >= len)
		n = len - 1;
	if (n != 0)
		memmove(buf, buf + 1, n--);	/* the first space */
	return n;
}
