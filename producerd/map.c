/*
 * map.c: a stage's --map CMD: one long-lived `sh -c CMD` that transforms
 * the events from upstream on their way through.
 *
 * The contract (docs/pipeline.md): the process reads events on its stdin,
 * each followed by a newline (--map) or a NUL byte (--map0), and writes
 * exactly one answer per event on its stdout, in order, ended the same way.
 * An answer becomes the event this stage serves; an empty answer drops the
 * event (a filter), which counts as done for upstream.  With --map an event
 * holding a newline cannot be sent and is given back upstream (NACK): use
 * --map0 for such payloads.  The process must flush each answer (sed -u,
 * awk's fflush()).
 *
 * When it dies (or closes its stdout), it is started again after 100 ms,
 * doubling to 5 s, and every event it had not answered is sent to the new
 * one, in order: retried, not lost.
 */
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "backoff.h"
#include "clock.h"
#include "log.h"
#include "net.h"
#include "producerd.h"

#define BACKOFF_FIRST_MS	100
#define BACKOFF_MAX_MS		5000
#define READ_CHUNK		65536

struct mapreq {
	TAILQ_ENTRY(mapreq)	 entry;
	uint64_t		 origin;
	uint32_t		 len;
	unsigned char		 data[];
};

static void	map_spawn(evutil_socket_t, short, void *);

static void
map_write(struct map *m, const struct mapreq *r)
{
	char	 end = m->nul ? '\0' : '\n';

	evbuffer_add(m->out, r->data, r->len);
	evbuffer_add(m->out, &end, 1);
}

static void
map_flush(struct map *m)
{
	int	 n;

	while (m->pid != 0 && evbuffer_get_length(m->out) != 0) {
		if ((n = evbuffer_write(m->out, m->to)) == -1) {
			if (errno == EINTR)
				continue;
			break;	/* EAGAIN waits; EPIPE shows as EOF on read */
		}
	}
	if (m->wev != NULL) {
		if (evbuffer_get_length(m->out) != 0)
			event_add(m->wev, NULL);
		else
			event_del(m->wev);
	}
}

/* The process is gone (reaped: already waited for): start another soon. */
static void
map_died(struct server *srv, int reaped)
{
	struct map	*m = &srv->map;
	struct timeval	 tv;
	int		 status;

	if (m->pid != 0) {
		/* Its whole process group: sh and what it started. */
		kill(-m->pid, SIGKILL);
		while (!reaped && waitpid(m->pid, &status, 0) == -1 &&
		    errno == EINTR)
			continue;
		log_warnx("map \"%s\" stopped; %zu events to send again",
		    m->cmd, m->npending);
	}
	m->pid = 0;
	if (m->rev != NULL)
		event_free(m->rev);
	if (m->wev != NULL)
		event_free(m->wev);
	m->rev = m->wev = NULL;
	if (m->to != -1)
		close(m->to);
	if (m->from != -1)
		close(m->from);
	m->to = m->from = -1;
	evbuffer_drain(m->out, evbuffer_get_length(m->out));
	evbuffer_drain(m->in, evbuffer_get_length(m->in));
	evtimer_add(m->restart, ms_timeval(backoff_next(&m->backoff), &tv));
}

/* One answer: the event it belongs to goes on, or is dropped. */
static void
map_answer(struct server *srv, const char *p, size_t n)
{
	struct map	*m = &srv->map;
	struct mapreq	*r;

	if ((r = TAILQ_FIRST(&m->pending)) == NULL) {
		log_warnx("map \"%s\" answered more than it was sent", m->cmd);
		return;
	}
	TAILQ_REMOVE(&m->pending, r, entry);
	m->npending--;
	backoff_reset(&m->backoff);
	if (n == 0) {
		m->dropped_total++;
		upstream_answer(srv, r->origin, PS_ACK);
	} else {
		m->mapped_total++;
		upstream_take(srv, r->origin, NULL, -1, NULL, 0, p,
		    (uint32_t)n);
	}
	free(r);
}

static void
map_readcb(evutil_socket_t fd, short what, void *arg)
{
	struct server	*srv = arg;
	struct map	*m = &srv->map;
	struct evbuffer_ptr end;
	unsigned char	*p;
	size_t		 len;
	int		 n;

	(void)what;
	server_tick(srv);
	if ((n = evbuffer_read(m->in, fd, READ_CHUNK)) <= 0) {
		if (n == -1 && (errno == EAGAIN || errno == EINTR))
			return;
		map_died(srv, 0);
		server_wake(srv);
		return;
	}
	for (;;) {
		end = evbuffer_search(m->in, m->nul ? "" : "\n", 1, NULL);
		if (end.pos == -1)
			break;
		len = (size_t)end.pos;
		p = evbuffer_pullup(m->in, (ssize_t)len + 1);
		if (p == NULL)
			break;
		/* An answer as long as a frame would not fit an event. */
		map_answer(srv, (const char *)p, len > srv->max_frame - 8 ?
		    srv->max_frame - 8 : len);
		evbuffer_drain(m->in, len + 1);
	}
	upstream_dispatch(srv);		/* once for all this read answered */
	server_wake(srv);
}

/* SIGCHLD: the map's sh may have died while what it started lives on. */
static void
map_sigchld(evutil_socket_t fd, short what, void *arg)
{
	struct server	*srv = arg;
	struct map	*m = &srv->map;
	int		 status;

	(void)fd;
	(void)what;
	if (m->pid != 0 && waitpid(m->pid, &status, WNOHANG) == m->pid) {
		server_tick(srv);
		map_died(srv, 1);
		server_wake(srv);
	}
}

static void
map_writecb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	map_flush(&((struct server *)arg)->map);
}

static void
map_spawn(evutil_socket_t fd, short what, void *arg)
{
	struct server	*srv = arg;
	struct map	*m = &srv->map;
	struct mapreq	*r;
	int		 in[2], out[2];

	(void)fd;
	/* From the restart timer, not from map_init: a restart. */
	if (what != 0)
		m->restarts_total++;
	if (pipe2(in, O_CLOEXEC) == -1) {
		log_warn("map: pipe");
		map_died(srv, 0);
		return;
	}
	if (pipe2(out, O_CLOEXEC) == -1) {
		log_warn("map: pipe");
		close(in[0]);
		close(in[1]);
		map_died(srv, 0);
		return;
	}
	if ((m->pid = fork()) == -1) {
		log_warn("map: fork");
		m->pid = 0;
		close(in[0]);
		close(in[1]);
		close(out[0]);
		close(out[1]);
		map_died(srv, 0);
		return;
	}
	if (m->pid == 0) {
		(void)setpgid(0, 0);
		if (dup2(in[0], STDIN_FILENO) == -1 ||
		    dup2(out[1], STDOUT_FILENO) == -1)
			_exit(127);
		signal(SIGPIPE, SIG_DFL);
		execl("/bin/sh", "sh", "-c", m->cmd, (char *)NULL);
		_exit(127);
	}
	(void)setpgid(m->pid, m->pid);	/* whichever of the two runs first */
	close(in[0]);
	close(out[1]);
	m->to = in[1];
	m->from = out[0];
	if (net_nonblock(m->to) == -1 || net_nonblock(m->from) == -1 ||
	    (m->rev = event_new(srv->base, m->from, EV_READ | EV_PERSIST,
	    map_readcb, srv)) == NULL || (m->wev = event_new(srv->base,
	    m->to, EV_WRITE | EV_PERSIST, map_writecb, srv)) == NULL ||
	    event_add(m->rev, NULL) != 0) {
		log_warnx("map: cannot watch the process");
		map_died(srv, 0);
		return;
	}
	log_info("map \"%s\" started (pid %ld)", m->cmd, (long)m->pid);
	TAILQ_FOREACH(r, &m->pending, entry)
		map_write(m, r);
	map_flush(m);
}

int
map_init(struct server *srv)
{
	struct map	*m = &srv->map;

	TAILQ_INIT(&m->pending);
	m->to = m->from = -1;
	if (m->cmd == NULL)
		return 0;
	backoff_init(&m->backoff, BACKOFF_FIRST_MS, BACKOFF_MAX_MS);
	if ((m->out = evbuffer_new()) == NULL ||
	    (m->in = evbuffer_new()) == NULL ||
	    (m->restart = evtimer_new(srv->base, map_spawn, srv)) == NULL ||
	    (m->sigchld = evsignal_new(srv->base, SIGCHLD, map_sigchld,
	    srv)) == NULL || evsignal_add(m->sigchld, NULL) != 0)
		return -1;
	map_spawn(-1, 0, srv);
	return 0;
}

void
map_free(struct server *srv)
{
	struct map	*m = &srv->map;
	struct mapreq	*r;

	if (m->cmd == NULL)
		return;
	if (m->pid != 0) {
		close(m->to);
		m->to = -1;
		kill(-m->pid, SIGTERM);
		waitpid(m->pid, NULL, 0);
		m->pid = 0;
	}
	if (m->rev != NULL)
		event_free(m->rev);
	if (m->wev != NULL)
		event_free(m->wev);
	if (m->restart != NULL)
		event_free(m->restart);
	if (m->sigchld != NULL)
		event_free(m->sigchld);
	if (m->from != -1)
		close(m->from);
	while ((r = TAILQ_FIRST(&m->pending)) != NULL) {
		TAILQ_REMOVE(&m->pending, r, entry);
		free(r);
	}
	if (m->out != NULL)
		evbuffer_free(m->out);
	if (m->in != NULL)
		evbuffer_free(m->in);
}

/* An event from upstream, to be mapped before this stage serves it. */
void
map_event(struct server *srv, uint64_t origin, const void *data,
    uint32_t len)
{
	struct map	*m = &srv->map;
	struct mapreq	*r;

	if (memchr(data, m->nul ? '\0' : '\n', len) != NULL) {
		log_warnx("map: an event holds a %s and cannot be sent; given "
		    "back upstream (use --map0)", m->nul ? "NUL" : "newline");
		upstream_answer(srv, origin, PS_NACK);
		return;
	}
	if ((r = malloc(sizeof *r + len)) == NULL) {
		log_warnx("out of memory: event from upstream given back");
		upstream_answer(srv, origin, PS_NACK);
		return;
	}
	r->origin = origin;
	r->len = len;
	memcpy(r->data, data, len);
	TAILQ_INSERT_TAIL(&m->pending, r, entry);
	m->npending++;
	if (m->pid != 0) {
		map_write(m, r);
		map_flush(m);
	}
}

size_t
map_pending(const struct server *srv)
{
	return srv->map.npending;
}
