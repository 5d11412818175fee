/*
 * work.c: handling one event: sleep a while, or run a command with the
 * payload on its stdin (and its stdout, with --result stdout, as the
 * event's result).  Signals arrive through a self-pipe so that every
 * wait here is one poll() that a SIGTERM can end.
 */
#include <sys/types.h>
#include <sys/wait.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "consumer.h"
#include "jsoncheck.h"
#include "log.h"
#include "net.h"
#include "task.h"

static int	sigpipe_w = -1;

static void
on_signal(int sig)
{
	unsigned char	 b = (unsigned char)sig;
	int		 saved = errno;
	ssize_t		 n;

	/* A full pipe already holds a wake-up; losing this byte is fine. */
	n = write(sigpipe_w, &b, 1);
	(void)n;
	errno = saved;
}

/* Route SIGTERM, SIGINT and SIGCHLD to a pipe; its read end, or -1. */
int
signals_init(void)
{
	struct sigaction	 sa;
	int			 p[2];

	if (pipe2(p, O_CLOEXEC | O_NONBLOCK) == -1)
		return -1;
	sigpipe_w = p[1];
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	if (sigaction(SIGTERM, &sa, NULL) == -1 ||
	    sigaction(SIGINT, &sa, NULL) == -1 ||
	    sigaction(SIGHUP, &sa, NULL) == -1 ||
	    sigaction(SIGCHLD, &sa, NULL) == -1)
		return -1;
	if (signal(SIGPIPE, SIG_IGN) == SIG_ERR)
		return -1;
	return p[0];
}

/*
 * Drain the pipe: 1 if a SIGTERM or SIGINT was among what came.  A SIGHUP
 * reopens --log-file.
 */
int
signals_take(int fd)
{
	unsigned char	 buf[64];
	ssize_t		 n, i;
	int		 stop = 0;

	while ((n = read(fd, buf, sizeof buf)) > 0) {
		for (i = 0; i < n; i++) {
			if (buf[i] == SIGTERM || buf[i] == SIGINT)
				stop = 1;
			else if (buf[i] == SIGHUP)
				log_reopen();
		}
	}
	return stop;
}

/* Sleep ms milliseconds unless told to stop. */
static int
work_sleep(const struct work *w, uint32_t ms)
{
	struct pollfd	 pfd = { w->sigfd, POLLIN, 0 };
	int64_t		 end = (int64_t)clock_ms() + ms, left;

	while ((left = end - (int64_t)clock_ms()) > 0) {
		if (poll(&pfd, 1, (int)left) == -1 && errno != EINTR)
			fatal("poll");
		if ((pfd.revents & POLLIN) && signals_take(w->sigfd))
			return WORK_STOP;
	}
	return WORK_DONE;
}

/*
 * The event's headers into the command's environment: content-type as
 * PUSHSTAGE_HEADER_CONTENT_TYPE (upper case, - and . as _).  A value
 * with a NUL byte cannot be a variable's, and is left out.  In the child.
 */
static int
header_env(const struct pushstage *p, const struct pushstage_event *e)
{
	const char	*name;
	const void	*value;
	char		 var[sizeof "PUSHSTAGE_HEADER_" + 64], *v;
	size_t		 i, k, nlen, vlen, n;

	for (i = 0; pushstage_event_header_at(p, e, i, &name, &nlen, &value,
	    &vlen); i++) {
		if (memchr(value, '\0', vlen) != NULL)
			continue;
		n = (size_t)snprintf(var, sizeof var, "PUSHSTAGE_HEADER_");
		for (k = 0; k < nlen && n + 1 < sizeof var; k++)
			var[n++] = name[k] == '-' || name[k] == '.' ? '_' :
			    (char)toupper((unsigned char)name[k]);
		var[n] = '\0';
		if ((v = strndup(value, vlen)) == NULL ||
		    setenv(var, v, 1) != 0)
			return -1;
		free(v);
	}
	return 0;
}

/* PUSHSTAGE_TASK: the task header's value, when it can be a variable's. */
static int
task_env(const struct pushstage *p, const struct pushstage_event *e)
{
	const void	*value;
	char		*v;
	size_t		 vlen;
	int		 r;

	if (!pushstage_event_header(p, e, "task", &value, &vlen) ||
	    memchr(value, '\0', vlen) != NULL)
		return 0;
	if ((v = strndup(value, vlen)) == NULL)
		return -1;
	r = setenv("PUSHSTAGE_TASK", v, 1);
	free(v);
	return r;
}

static void
child(const struct work *w, const struct pushstage *p,
    const struct pushstage_event *e, int in, int out, int err)
{
	char	 id[32], attempt[16];

	if (dup2(in, STDIN_FILENO) == -1 || dup2(err, STDERR_FILENO) == -1 ||
	    (out != -1 && dup2(out, STDOUT_FILENO) == -1))
		_exit(127);
	close(in);
	close(err);
	if (out != -1)
		close(out);
	snprintf(id, sizeof id, "%llu", (unsigned long long)e->id);
	snprintf(attempt, sizeof attempt, "%u", e->attempt);
	if (setenv("PUSHSTAGE_EVENT_ID", id, 1) != 0 ||
	    setenv("PUSHSTAGE_ATTEMPT", attempt, 1) != 0 ||
	    setenv("PUSHSTAGE_CONSUMER_ID", w->id, 1) != 0 ||
	    setenv("PUSHSTAGE_QUEUE", w->queue, 1) != 0 ||
	    (w->group != NULL && setenv("PUSHSTAGE_GROUP", w->group, 1) != 0) ||
	    header_env(p, e) != 0 || task_env(p, e) != 0)
		_exit(127);
	signal(SIGPIPE, SIG_DFL);
	execl("/bin/sh", "sh", "-c", w->exec, (char *)NULL);
	_exit(127);
}

/*
 * What the command wrote to its stderr, n bytes at p: passed on to ours
 * as it comes, and its end kept in o for the error of a failure.
 */
static void
tail_add(struct outcome *o, const char *p, size_t n)
{
	size_t	 keep, max = sizeof o->tail;

	(void)!write(STDERR_FILENO, p, n);	/* a log: best effort */
	if (n >= max) {
		memcpy(o->tail, p + n - max, max);
		o->tail_len = max;
		return;
	}
	if (o->tail_len + n > max) {
		keep = max - n;
		memmove(o->tail, o->tail + o->tail_len - keep, keep);
		o->tail_len = keep;
	}
	memcpy(o->tail + o->tail_len, p, n);
	o->tail_len += n;
}

/*
 * One read of the command's stdout (--result stdout) into o->result, up
 * to the queue's max-result; past it, read and counted but not kept, so
 * that the command is not held up and the failure can say how much.
 * The bytes read, 0 at its end, -1 on an error (errno).
 */
static ssize_t
result_read(const struct work *w, struct outcome *o, int fd)
{
	char	 scratch[4096], *dst, *grown;
	size_t	 room, cap;
	ssize_t	 n;

	if (o->result_len < w->result_max) {
		if (o->result_len == o->result_cap) {
			cap = o->result_cap < 65536 ? 65536 :
			    o->result_cap * 2;
			if (cap > w->result_max)
				cap = w->result_max;
			if ((grown = realloc(o->result, cap)) == NULL)
				fatal("realloc");
			o->result = grown;
			o->result_cap = cap;
		}
		dst = o->result + o->result_len;
		room = o->result_cap - o->result_len;
	} else {
		dst = scratch;
		room = sizeof scratch;
	}
	if ((n = read(fd, dst, room)) > 0) {
		if (dst != scratch)
			o->result_len += (size_t)n;
		o->result_seen += (size_t)n;
	}
	return n;
}

/* A plain error's stderr: at most this much, as before tasks. */
#define PLAIN_TAIL_MAX	(PUSHSTAGE_ERROR_MAX - 64)

/*
 * A failure's error in o: for a task (docs/tasks.md), the error object
 * {"type":TYPE,"message":MESSAGE,"traceback":the end of stderr}; for any
 * other event, as before tasks: MESSAGE, a newline, the end of stderr.
 * Either within w->error_max bytes, keeping the end of stderr.
 */
static void
fail_as(const struct work *w, struct outcome *o, const char *type,
    const char *message, const char *plain)
{
	size_t	 max = w->error_max, hl, keep;

	if (max > sizeof o->error)
		max = sizeof o->error;
	if (o->task) {
		o->error_len = task_error(o->error, max, type, message,
		    strlen(message), o->tail, o->tail_len);
		return;
	}
	if ((hl = strlen(plain)) >= max)
		hl = max - 1;
	memcpy(o->error, plain, hl);
	o->error[hl++] = '\n';
	keep = o->tail_len < max - hl ? o->tail_len : max - hl;
	if (keep > PLAIN_TAIL_MAX)
		keep = PLAIN_TAIL_MAX;
	memcpy(o->error + hl, o->tail + o->tail_len - keep, keep);
	o->error_len = hl + keep;
}

/* A failure found after the command ran (a result refused): say why. */
void
work_fail(const struct work *w, struct outcome *o, const char *type,
    const char *message)
{
	fail_as(w, o, type, message, message);
}

/*
 * With --result stdout, is what the command wrote a result to send?
 * Over the queue's max-result it is not (the event fails; a cut result
 * would be a wrong one).  A task's must be JSON (docs/tasks.md: its
 * content type's, application/json, unless the event says another); one
 * only of spaces is no result, read as null.  0, or -1 with the failure
 * in o.
 */
static int
result_check(const struct work *w, const struct pushstage *p,
    const struct pushstage_event *e, struct outcome *o)
{
	struct json_fault	 f;
	const void		*ct;
	size_t			 ctlen, i;
	char			 msg[256];
	int			 type;

	if (o->result_seen > w->result_max) {
		snprintf(msg, sizeof msg, "the command's standard output, "
		    "%zu bytes, is over queue %s's max-result (%zu bytes): "
		    "not sent as its result", o->result_seen, w->queue,
		    w->result_max);
		fail_as(w, o, "ResultTooLarge", msg, msg);
		log_warnx("event %llu (attempt %u): %s",
		    (unsigned long long)e->id, e->attempt, msg);
		return -1;
	}
	if (!o->task)
		return 0;
	if (pushstage_event_header(p, e, "content-type", &ct, &ctlen) &&
	    !task_json_type(ct, ctlen))
		return 0;
	for (i = 0; i < o->result_len; i++) {
		if (strchr(" \t\r\n", o->result[i]) == NULL ||
		    o->result[i] == '\0')
			break;
	}
	if (i == o->result_len) {
		o->result_len = 0;
		return 0;
	}
	if (jsoncheck(o->result, o->result_len, &type, &f) == 0)
		return 0;
	snprintf(msg, sizeof msg, "the command's standard output is not "
	    "JSON: at byte %zu: %s", f.off, f.why);
	fail_as(w, o, "BadResult", msg, msg);
	log_warnx("event %llu (attempt %u): %s", (unsigned long long)e->id,
	    e->attempt, msg);
	return -1;
}

/* Close *fd if open. */
static void
close_fd(int *fd)
{
	if (*fd != -1) {
		close(*fd);
		*fd = -1;
	}
}

/*
 * Run sh -c CMD with the payload on its stdin.  The payload is written as
 * the command takes it, while signals are watched; a command that never
 * reads its stdin simply gets EOF-less silence until it exits.  Its
 * stderr is passed on, and its end kept for a failure's error; with
 * --result stdout, its stdout is read to its end as the event's result.
 */
static int
work_exec(const struct work *w, const struct pushstage *ps,
    const struct pushstage_event *e, struct outcome *o)
{
	struct pollfd	 pfd[4];
	const uint8_t	*data = e->data;
	size_t		 len = e->len;
	unsigned long long id = e->id;
	size_t		 done = 0;
	ssize_t		 n;
	pid_t		 pid, r;
	char		 buf[4096], msg[64];
	int		 in[2] = { -1, -1 }, out[2] = { -1, -1 };
	int		 err[2] = { -1, -1 }, status, stop = 0, reaped, k;
	const void	*v;
	size_t		 vlen;

	o->task = pushstage_event_header(ps, e, "task", &v, &vlen);
	if (pipe2(in, O_CLOEXEC) == -1 || pipe2(err, O_CLOEXEC) == -1 ||
	    (w->result == RESULT_STDOUT && pipe2(out, O_CLOEXEC) == -1)) {
		log_warn("event %llu: pipe", id);
		goto cannot;
	}
	fflush(stdout);
	if ((pid = fork()) == -1) {
		log_warn("event %llu: fork", id);
		goto cannot;
	}
	if (pid == 0) {
		close(in[1]);
		close(err[0]);
		if (out[0] != -1)
			close(out[0]);
		child(w, ps, e, in[0], out[1], err[1]);
	}
	close_fd(&in[0]);
	close_fd(&err[1]);
	close_fd(&out[1]);
	if (net_nonblock(in[1]) == -1 || net_nonblock(err[0]) == -1 ||
	    (out[0] != -1 && net_nonblock(out[0]) == -1))
		fatal("fcntl");
	if (len == 0)
		close_fd(&in[1]);
	/*
	 * Until it exits and its stderr and stdout are read to their ends
	 * (or it is killed): once it is reaped, what it left in the pipes
	 * is read on, waiting at most 100 ms at a time for a child of its
	 * that holds them.
	 */
	reaped = 0;
	while (!reaped || err[0] != -1 || out[0] != -1) {
		if (!reaped) {
			if ((r = waitpid(pid, &status, WNOHANG)) == -1)
				fatal("waitpid");
			reaped = r == pid;
		}
		pfd[0].fd = w->sigfd;
		pfd[0].events = POLLIN;
		pfd[1].fd = err[0];
		pfd[1].events = POLLIN;
		pfd[2].fd = in[1];
		pfd[2].events = POLLOUT;
		pfd[3].fd = out[0];
		pfd[3].events = POLLIN;
		if ((k = poll(pfd, 4, reaped ? 100 : -1)) == -1) {
			if (errno != EINTR)
				fatal("poll");
			continue;
		}
		if ((pfd[0].revents & POLLIN) && signals_take(w->sigfd) &&
		    !stop) {
			/* Stop the command too, then wait for it. */
			stop = 1;
			if (!reaped && kill(pid, SIGTERM) == -1)
				log_warn("event %llu: kill", id);
		}
		if (err[0] != -1 && (pfd[1].revents & (POLLIN | POLLHUP |
		    POLLERR))) {
			if ((n = read(err[0], buf, sizeof buf)) > 0)
				tail_add(o, buf, (size_t)n);
			else if (n == 0 || (errno != EAGAIN && errno != EINTR))
				close_fd(&err[0]);
		}
		if (out[0] != -1 && (pfd[3].revents & (POLLIN | POLLHUP |
		    POLLERR))) {
			n = result_read(w, o, out[0]);
			if (n == 0 || (n == -1 && errno != EAGAIN &&
			    errno != EINTR)) {
				if (n == -1)
					log_warn("event %llu: reading its "
					    "stdout", id);
				close_fd(&out[0]);
			}
		}
		if (reaped && k == 0) {
			/* Held open elsewhere, silent: done. */
			close_fd(&err[0]);
			close_fd(&out[0]);
		}
		if (in[1] != -1 && (pfd[2].revents & (POLLOUT | POLLERR |
		    POLLHUP))) {
			n = write(in[1], data + done, len - done);
			if (n > 0)
				done += (size_t)n;
			if ((n == -1 && errno != EAGAIN && errno != EINTR) ||
			    done == len)
				close_fd(&in[1]);
		}
		if (reaped)
			close_fd(&in[1]);	/* it will not read it now */
	}
	close_fd(&in[1]);
	if (stop)
		return WORK_STOP;
	if (WIFEXITED(status) && WEXITSTATUS(status) == EX_TEMPFAIL) {
		log_warnx("event %llu (attempt %u): command exited with "
		    "status %d (EX_TEMPFAIL): again after the queue's backoff",
		    id, e->attempt, EX_TEMPFAIL);
		snprintf(msg, sizeof msg, "exit status %d", EX_TEMPFAIL);
		fail_as(w, o, "ExitStatus", msg, "exit status (EX_TEMPFAIL) 75");
		return WORK_TEMPFAIL;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) != 0) {
		log_warnx("event %llu (attempt %u): command exited with "
		    "status %d", id, e->attempt, WEXITSTATUS(status));
		snprintf(msg, sizeof msg, "exit status %d",
		    WEXITSTATUS(status));
		fail_as(w, o, "ExitStatus", msg, msg);
		return WORK_FAILED;
	}
	if (WIFSIGNALED(status)) {
		log_warnx("event %llu (attempt %u): command killed by signal "
		    "%d", id, e->attempt, WTERMSIG(status));
		snprintf(msg, sizeof msg, "killed by signal %d",
		    WTERMSIG(status));
		fail_as(w, o, "Signal", msg, msg);
		return WORK_FAILED;
	}
	if (w->result == RESULT_STDOUT && result_check(w, ps, e, o) != 0)
		return WORK_FAILED;
	return WORK_DONE;

cannot:
	close_fd(&in[0]);
	close_fd(&in[1]);
	close_fd(&err[0]);
	close_fd(&err[1]);
	close_fd(&out[0]);
	close_fd(&out[1]);
	return WORK_FAILED;
}

int
work_handle(const struct work *w, const struct pushstage *p,
    const struct pushstage_event *e, struct outcome *o)
{
	uint32_t	 ms;

	o->error_len = o->tail_len = 0;
	o->result_len = o->result_seen = 0;
	o->task = 0;
	if (w->exec != NULL)
		return work_exec(w, p, e, o);
	if (w->max_ms == 0)
		return WORK_DONE;
	ms = w->min_ms;
	if (w->max_ms > w->min_ms)
		ms += (uint32_t)(random() % (w->max_ms - w->min_ms + 1));
	return work_sleep(w, ms);
}
