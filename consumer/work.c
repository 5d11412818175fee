/*
 * work.c: handling one event: sleep a while, or run a command with the
 * payload on its stdin.  Signals arrive through a self-pipe so that every
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
#include "log.h"
#include "net.h"

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

static void
child(const struct work *w, const struct pushstage *p,
    const struct pushstage_event *e, int in, int err)
{
	char	 id[32], attempt[16];

	if (dup2(in, STDIN_FILENO) == -1 || dup2(err, STDERR_FILENO) == -1)
		_exit(127);
	close(in);
	close(err);
	snprintf(id, sizeof id, "%llu", (unsigned long long)e->id);
	snprintf(attempt, sizeof attempt, "%u", e->attempt);
	if (setenv("PUSHSTAGE_EVENT_ID", id, 1) != 0 ||
	    setenv("PUSHSTAGE_ATTEMPT", attempt, 1) != 0 ||
	    setenv("PUSHSTAGE_CONSUMER_ID", w->id, 1) != 0 ||
	    header_env(p, e) != 0)
		_exit(127);
	signal(SIGPIPE, SIG_DFL);
	execl("/bin/sh", "sh", "-c", w->exec, (char *)NULL);
	_exit(127);
}

/*
 * What the command wrote to its stderr, n bytes at p: passed on to ours
 * as it comes, and its end kept in f for the error of a failure (the
 * first line, its status, is written after).
 */
#define TAIL_MAX	(PUSHSTAGE_ERROR_MAX - 64)
static void
tail_add(struct failure *f, const char *p, size_t n)
{
	size_t	 keep;

	(void)!write(STDERR_FILENO, p, n);	/* a log: best effort */
	if (n >= TAIL_MAX) {
		memcpy(f->text, p + n - TAIL_MAX, TAIL_MAX);
		f->len = TAIL_MAX;
		return;
	}
	if (f->len + n > TAIL_MAX) {
		keep = TAIL_MAX - n;
		memmove(f->text, f->text + f->len - keep, keep);
		f->len = keep;
	}
	memcpy(f->text + f->len, p, n);
	f->len += n;
}

/* The failure's error: "exit status N" (or the signal), then the tail. */
static void
failure_text(struct failure *f, const char *what, int v)
{
	char	 head[64];
	int	 n;

	n = snprintf(head, sizeof head, "%s %d\n", what, v);
	if (n < 0 || (size_t)n >= sizeof head)
		n = 0;
	if ((size_t)n + f->len > sizeof f->text)
		f->len = sizeof f->text - (size_t)n;
	memmove(f->text + n, f->text, f->len);
	memcpy(f->text, head, (size_t)n);
	f->len += (size_t)n;
}

/*
 * Run sh -c CMD with the payload on its stdin.  The payload is written as
 * the command takes it, while signals are watched; a command that never
 * reads its stdin simply gets EOF-less silence until it exits.  Its
 * stderr is passed on, and its end kept for a failure's error (f).
 */
static int
work_exec(const struct work *w, const struct pushstage *ps,
    const struct pushstage_event *e, struct failure *f)
{
	struct pollfd	 pfd[3];
	const uint8_t	*data = e->data;
	size_t		 len = e->len;
	unsigned long long id = e->id;
	size_t		 done = 0;
	ssize_t		 n;
	pid_t		 pid, r;
	char		 buf[4096];
	int		 p[2], ep[2], status, stop = 0, nfds, reaped, k;

	f->len = 0;
	if (pipe2(p, O_CLOEXEC) == -1) {
		log_warn("event %llu: pipe", id);
		return WORK_FAILED;
	}
	if (pipe2(ep, O_CLOEXEC) == -1) {
		log_warn("event %llu: pipe", id);
		close(p[0]);
		close(p[1]);
		return WORK_FAILED;
	}
	fflush(stdout);
	if ((pid = fork()) == -1) {
		log_warn("event %llu: fork", id);
		close(p[0]);
		close(p[1]);
		close(ep[0]);
		close(ep[1]);
		return WORK_FAILED;
	}
	if (pid == 0) {
		close(p[1]);
		close(ep[0]);
		child(w, ps, e, p[0], ep[1]);
	}
	close(p[0]);
	close(ep[1]);
	if (net_nonblock(p[1]) == -1 || net_nonblock(ep[0]) == -1)
		fatal("fcntl");
	if (len == 0) {
		close(p[1]);
		p[1] = -1;
	}
	/*
	 * Until it exits and its stderr is read to its end (or it is killed):
	 * once it is reaped, what it left in the pipe is read on, waiting at
	 * most 100 ms at a time for a child of its that holds the pipe.
	 */
	reaped = 0;
	while (!reaped || ep[0] != -1) {
		if (!reaped) {
			if ((r = waitpid(pid, &status, WNOHANG)) == -1)
				fatal("waitpid");
			reaped = r == pid;
		}
		nfds = 0;
		pfd[nfds].fd = w->sigfd;
		pfd[nfds++].events = POLLIN;
		pfd[nfds].fd = ep[0];
		pfd[nfds++].events = POLLIN;
		pfd[nfds].fd = p[1];
		pfd[nfds++].events = POLLOUT;
		if ((k = poll(pfd, (nfds_t)nfds, reaped ? 100 : -1)) == -1 &&
		    errno != EINTR)
			fatal("poll");
		if ((pfd[0].revents & POLLIN) && signals_take(w->sigfd) &&
		    !stop) {
			/* Stop the command too, then wait for it. */
			stop = 1;
			if (!reaped)
				kill(pid, SIGTERM);
		}
		if (ep[0] != -1 && (pfd[1].revents & (POLLIN | POLLHUP |
		    POLLERR))) {
			if ((n = read(ep[0], buf, sizeof buf)) > 0)
				tail_add(f, buf, (size_t)n);
			else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
				close(ep[0]);
				ep[0] = -1;
			}
		} else if (reaped && k == 0 && ep[0] != -1) {
			close(ep[0]);	/* held open elsewhere, silent: done */
			ep[0] = -1;
		}
		if (p[1] != -1 && (pfd[2].revents & (POLLOUT | POLLERR |
		    POLLHUP))) {
			n = write(p[1], data + done, len - done);
			if (n > 0)
				done += (size_t)n;
			if ((n == -1 && errno != EAGAIN && errno != EINTR) ||
			    done == len) {
				close(p[1]);
				p[1] = -1;
			}
		}
		if (reaped && p[1] != -1) {
			close(p[1]);	/* it will not read it now */
			p[1] = -1;
		}
	}
	if (p[1] != -1)
		close(p[1]);
	if (ep[0] != -1)
		close(ep[0]);
	if (stop)
		return WORK_STOP;
	if (WIFEXITED(status) && WEXITSTATUS(status) == EX_TEMPFAIL) {
		log_warnx("event %llu (attempt %u): command exited with "
		    "status %d (EX_TEMPFAIL): again after the queue's backoff",
		    id, e->attempt, EX_TEMPFAIL);
		failure_text(f, "exit status (EX_TEMPFAIL)", EX_TEMPFAIL);
		return WORK_TEMPFAIL;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) != 0) {
		log_warnx("event %llu (attempt %u): command exited with "
		    "status %d", id, e->attempt, WEXITSTATUS(status));
		failure_text(f, "exit status", WEXITSTATUS(status));
		return WORK_FAILED;
	}
	if (WIFSIGNALED(status)) {
		log_warnx("event %llu (attempt %u): command killed by signal "
		    "%d", id, e->attempt, WTERMSIG(status));
		failure_text(f, "killed by signal", WTERMSIG(status));
		return WORK_FAILED;
	}
	return WORK_DONE;
}

int
work_handle(const struct work *w, const struct pushstage *p,
    const struct pushstage_event *e, struct failure *f)
{
	uint32_t	 ms;

	f->len = 0;
	if (w->exec != NULL)
		return work_exec(w, p, e, f);
	if (w->max_ms == 0)
		return WORK_DONE;
	ms = w->min_ms;
	if (w->max_ms > w->min_ms)
		ms += (uint32_t)(random() % (w->max_ms - w->min_ms + 1));
	return work_sleep(w, ms);
}
